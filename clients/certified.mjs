// Checks a value certified by the `certified` test canister with agent-js (@icp-sdk/core), as
// a dapp does: the query's data certificate is verified against the root key
// (Certificate.create), the witness's root hash must be the certified data the certificate
// holds, and the value must be in the witness. Prints one JSON object of what it saw (for
// crates/cli/tests/agent_js.rs).
//
// usage: node clients/certified.mjs URL CANISTER_ID
import { HttpAgent, Actor, Certificate, Cbor, reconstruct, lookup_path, lookupResultToBuffer } from '@icp-sdk/core/agent';
import { Principal } from '@icp-sdk/core/principal';

const [host, canisterId] = process.argv.slice(2);
if (!host || !canisterId) {
  console.error('usage: node certified.mjs URL CANISTER_ID');
  process.exit(2);
}

const idlFactory = ({ IDL }) => {
  const CertifiedValue = IDL.Record({
    value: IDL.Text,
    certificate: IDL.Vec(IDL.Nat8),
    witness: IDL.Vec(IDL.Nat8),
  });
  return IDL.Service({
    put: IDL.Func([IDL.Text, IDL.Text], [], []),
    get: IDL.Func([IDL.Text], [IDL.Opt(CertifiedValue)], ['query']),
  });
};

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const out = {};
try {
  const agent = await HttpAgent.create({ host, shouldFetchRootKey: true });
  const actor = Actor.createActor(idlFactory, { agent, canisterId });
  const id = Principal.fromText(canisterId);
  await actor.put('greeting', 'certified hello');
  const [got] = await actor.get('greeting');
  out.value = got.value;
  const cert = await Certificate.create({
    certificate: new Uint8Array(got.certificate),
    rootKey: agent.rootKey,
    principal: { canisterId: id },
  });
  out.certificate_verified = true;
  const certified = lookupResultToBuffer(
    cert.lookup_path(['canister', id.toUint8Array(), 'certified_data']),
  );
  out.certified_data = certified ? hex(certified) : null;
  const witness = Cbor.decode(new Uint8Array(got.witness));
  out.witness_root = hex(await reconstruct(witness));
  const inWitness = lookupResultToBuffer(
    lookup_path([new TextEncoder().encode('kv'), new TextEncoder().encode('greeting')], witness),
  );
  out.value_in_witness = inWitness ? new TextDecoder().decode(inWitness) : null;
} catch (e) {
  out.error = String(e && e.message ? e.message : e);
}
console.log(JSON.stringify(out));
