// A PocketIC suite written with @dfinity/pic as its documentation shows, against the server
// POCKET_IC_BIN names (drydock, in scripts/test.sh), with the repo's canisters: Rust `kv` and
// `pingpong`, Motoko `counter_eop`. Run with `npm test --prefix clients/pic-js`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PocketIc, PocketIcServer } from '@dfinity/pic';
import { Principal } from '@icp-sdk/core/principal';
import { Actor, HttpAgent } from '@icp-sdk/core/agent';

const here = dirname(fileURLToPath(import.meta.url));
const canisters = process.env.TEST_CANISTERS_OUT ?? resolve(here, '../../target/test-canisters');

function wasm(name) {
  assert.ok(process.env.POCKET_IC_BIN, 'POCKET_IC_BIN is not set: point it at the drydock binary (scripts/test.sh does)');
  const path = resolve(canisters, `${name}.wasm`);
  assert.ok(existsSync(path), `${path} is missing: run scripts/build-test-canisters.sh first`);
  return path;
}

const kvIdl = ({ IDL }) =>
  IDL.Service({
    put: IDL.Func([IDL.Text, IDL.Text], [], []),
    get: IDL.Func([IDL.Text], [IDL.Opt(IDL.Text)], ['query']),
    len: IDL.Func([], [IDL.Nat64], ['query']),
    trap_after_write: IDL.Func([IDL.Text], [], []),
    set_timer: IDL.Func([IDL.Nat64], [IDL.Nat64], []),
    timer_fired: IDL.Func([], [IDL.Nat64], ['query']),
    stable_read: IDL.Func([IDL.Nat64, IDL.Nat64], [IDL.Vec(IDL.Nat8)], ['query']),
  });
const counterIdl = ({ IDL }) =>
  IDL.Service({
    get: IDL.Func([], [IDL.Nat], ['query']),
    inc: IDL.Func([], [IDL.Nat], []),
  });
const pingpongIdl = ({ IDL }) =>
  IDL.Service({
    chain: IDL.Func([IDL.Vec(IDL.Principal)], [IDL.Text], []),
    fan_out: IDL.Func([IDL.Principal, IDL.Nat32], [IDL.Nat32], []),
  });

let server;
let pic;

before(async () => {
  wasm('kv');
  server = await PocketIcServer.start();
});

after(async () => {
  await server?.stop();
});

test('a Rust canister is set up and called', async () => {
  pic = await PocketIc.create(server.getUrl());
  const { actor } = await pic.setupCanister({ idlFactory: kvIdl, wasm: wasm('kv') });
  for (let i = 0; i < 3; i++) {
    await actor.put(`k${i}`, 'v');
    assert.deepEqual(await actor.get(`k${i}`), ['v']);
    assert.equal(await actor.len(), BigInt(i + 1));
  }
  await assert.rejects(actor.trap_after_write('x'), /trap/);
  assert.deepEqual(await actor.get('x'), [], 'the trapped update changed nothing');
  const subnets = await pic.getApplicationSubnets();
  assert.equal(subnets.length, 1);
  assert.equal((await pic.getTopology()).length, 1, 'one subnet, an application one');
  await pic.tearDown();
});

test('a Motoko canister keeps its state across an EOP upgrade', async () => {
  pic = await PocketIc.create(server.getUrl());
  const { actor, canisterId } = await pic.setupCanister({ idlFactory: counterIdl, wasm: wasm('counter_eop') });
  for (let n = 1n; n <= 3n; n++) {
    assert.equal(await actor.inc(), n);
  }
  await pic.upgradeCanister({
    canisterId,
    wasm: wasm('counter_eop_v2'),
    upgradeModeOptions: { wasm_memory_persistence: [{ keep: null }], skip_pre_upgrade: [] },
  });
  assert.equal(await actor.get(), 3n);
  await pic.tearDown();
});

test('canisters call each other', async () => {
  pic = await PocketIc.create(server.getUrl());
  const ids = [];
  let first;
  for (let i = 0; i < 3; i++) {
    const { actor, canisterId } = await pic.setupCanister({ idlFactory: pingpongIdl, wasm: wasm('pingpong') });
    ids.push(canisterId);
    first ??= actor;
  }
  for (let i = 0; i < 2; i++) {
    const text = await first.chain([ids[1], ids[2]]);
    assert.ok(text.length > 0);
  }
  assert.equal(await first.fan_out(ids[1], 20), 20);
  await pic.tearDown();
});

test('time moves when the test moves it, and timers fire', async () => {
  pic = await PocketIc.create(server.getUrl());
  const { actor } = await pic.setupCanister({ idlFactory: kvIdl, wasm: wasm('kv') });
  const t0 = await pic.getTime();
  await actor.set_timer(10n);
  await pic.tick();
  assert.equal(await actor.timer_fired(), 0n);
  await pic.advanceTime(11_000);
  await pic.tick(2);
  assert.ok((await pic.getTime()) >= t0 + 11_000);
  assert.ok((await actor.timer_fired()) >= 1n);
  await pic.tearDown();
});

test('cycles, controllers and stable memory', async () => {
  pic = await PocketIc.create(server.getUrl());
  const { actor, canisterId } = await pic.setupCanister({ idlFactory: kvIdl, wasm: wasm('kv') });
  const before = await pic.getCyclesBalance(canisterId);
  const after = await pic.addCycles(canisterId, 1_000_000);
  assert.equal(BigInt(after), BigInt(before) + 1_000_000n);
  const controllers = await pic.getControllers(canisterId);
  assert.deepEqual(controllers.map(p => p.toText()), [Principal.anonymous().toText()]);
  await pic.setStableMemory(canisterId, new TextEncoder().encode('world'));
  assert.deepEqual(Array.from(await actor.stable_read(0n, 5n)), Array.from(new TextEncoder().encode('world')));
  const memory = await pic.getStableMemory(canisterId);
  assert.equal(memory.byteLength, 65536);
  await pic.tearDown();
});

test('a topology drydock cannot serve is refused with a clear error', async () => {
  await assert.rejects(
    PocketIc.create(server.getUrl(), { nns: { state: { type: 'new' } } }),
    /NNS subnet/,
  );
});

test('an agent talks to a live instance through its HTTP gateway', async () => {
  pic = await PocketIc.create(server.getUrl());
  const { actor: direct, canisterId } = await pic.setupCanister({ idlFactory: kvIdl, wasm: wasm('kv') });
  const port = await pic.makeLive();
  const agent = await HttpAgent.create({ host: `http://127.0.0.1:${port}`, shouldFetchRootKey: true });
  const actor = Actor.createActor(kvIdl, { agent, canisterId });
  for (let i = 0; i < 2; i++) {
    await actor.put(`via-agent-${i}`, 'v');
    assert.deepEqual(await actor.get(`via-agent-${i}`), ['v']);
  }
  // The instance's own calls still work while it is live, and see the same state.
  assert.equal(await direct.len(), 2n);
  await pic.stopLive();
  await direct.put('after', 'live');
  assert.equal(await direct.len(), 3n);
  await pic.tearDown();
});
