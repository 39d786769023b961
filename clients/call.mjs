// Drives the kv test canister on an IC HTTP endpoint with agent-js (@icp-sdk/core), as a
// browser or Node dapp would, and prints one JSON object of what it saw (for
// crates/cli/tests/agent_js.rs to assert on).
//
// usage: node clients/call.mjs URL CANISTER_ID
//
// Everything goes through the agent's defaults: the root key fetched from /api/v2/status,
// update calls on /api/v4/.../call with certificates checked against that key, queries on
// /api/v3/.../query with node signatures verified (verifyQuerySignatures defaults to true,
// which also reads the subnet's node keys with read_state [["subnet"]]).
// A step that fails is reported as {"error": message} in its field rather than ending the
// script, so the test can say which step broke.
import { HttpAgent, Actor } from '@icp-sdk/core/agent';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';

const [host, canisterId] = process.argv.slice(2);
if (!host || !canisterId) {
  console.error('usage: node call.mjs URL CANISTER_ID');
  process.exit(2);
}

const idlFactory = ({ IDL }) =>
  IDL.Service({
    put: IDL.Func([IDL.Text, IDL.Text], [], []),
    get: IDL.Func([IDL.Text], [IDL.Opt(IDL.Text)], ['query']),
    len: IDL.Func([], [IDL.Nat64], ['query']),
    whoami: IDL.Func([], [IDL.Principal], ['query']),
    trap_after_write: IDL.Func([IDL.Text], [], []),
    no_such_method: IDL.Func([], [], ['query']),
  });

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const errorOf = (e) => ({ error: String(e && e.message ? e.message : e) });
async function step(f) {
  try {
    return await f();
  } catch (e) {
    return errorOf(e);
  }
}

const identity = Ed25519KeyIdentity.generate();
const out = { principal: identity.getPrincipal().toText() };

const agent = await HttpAgent.create({ host, identity, shouldFetchRootKey: true });
out.root_key = hex(agent.rootKey);
const kv = Actor.createActor(idlFactory, { agent, canisterId });

out.put = await step(async () => {
  await kv.put('greeting', 'hello from agent-js');
  return 'ok';
});
out.get = await step(async () => (await kv.get('greeting'))[0] ?? null);
out.get_missing = await step(async () => (await kv.get('no such key'))[0] ?? null);
out.len = await step(async () => (await kv.len()).toString());
out.whoami = await step(async () => (await kv.whoami()).toText());
// A trapping update: a certified reject, and the write before the trap is rolled back.
out.trap_after_write = await step(async () => {
  await kv.trap_after_write('trapped');
  return 'replied';
});
out.get_trapped = await step(async () => (await kv.get('trapped'))[0] ?? null);
// A query the canister does not export: a node-signed reject.
out.no_such_method = await step(async () => {
  await kv.no_such_method();
  return 'replied';
});

// The same update through an agent that trusts another root key must be refused: the
// certificate is checked, not just decoded.
out.wrong_root_key = await step(async () => {
  const other = await HttpAgent.create({ host, identity, shouldFetchRootKey: false });
  // The DER prefix is 37 bytes, then the compressed G2 point; flipping its sign flag gives
  // the point's negation, a valid key of which the server holds no secret.
  const key = new Uint8Array(agent.rootKey);
  key[37] ^= 0x20;
  other.rootKey = key;
  const actor = Actor.createActor(idlFactory, { agent: other, canisterId });
  await actor.put('forged', 'must not verify');
  return 'replied';
});

console.log(JSON.stringify(out));
