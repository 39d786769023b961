"""A PocketIC suite written with Python `pocket-ic` as its documentation shows, against the
server POCKET_IC_BIN names (drydock, in scripts/test.sh), with the repo's canisters: Rust `kv`
and `pingpong`, Motoko `counter_eop`. Run with `.venv/bin/python -m unittest -v test_suite`.
"""

import os
import unittest

import ic
from ic.candid import Types, encode
from pocket_ic import PocketIC, SubnetConfig

HERE = os.path.dirname(os.path.abspath(__file__))
CANISTERS = os.environ.get(
    "TEST_CANISTERS_OUT", os.path.join(HERE, "..", "..", "target", "test-canisters")
)


def artefact(name):
    if "POCKET_IC_BIN" not in os.environ:
        raise AssertionError(
            "POCKET_IC_BIN is not set: point it at the drydock binary (scripts/test.sh does)"
        )
    path = os.path.join(CANISTERS, name)
    if not os.path.isfile(path):
        raise AssertionError(f"{path} is missing: run scripts/build-test-canisters.sh first")
    with open(path, "rb") as f:
        return f.read()


def wasm(name):
    return artefact(f"{name}.wasm")


def did(name):
    return artefact(f"{name}.did").decode()


# The methods of pingpong this suite calls (its full .did names an ic-cdk internal method
# that ic-py's Candid parser does not take).
PINGPONG_DID = """service : {
  chain : (vec principal) -> (text);
  fan_out : (principal, nat32) -> (nat32);
}"""


class DrydockAsPocketIC(unittest.TestCase):
    def test_a_rust_canister_is_created_installed_and_called(self):
        pic = PocketIC()
        kv = pic.create_and_install_canister_with_candid(did("kv"), wasm("kv"))
        for i in range(3):
            kv.put(f"k{i}", "v")
            self.assertEqual(kv.get(f"k{i}"), [["v"]])
            self.assertEqual(kv.len(), [i + 1])
        with self.assertRaisesRegex(ValueError, "CanisterError"):
            kv.trap_after_write("x")
        self.assertEqual(kv.get("x"), [[]], "the trapped update changed nothing")

    def test_a_motoko_canister_counts(self):
        pic = PocketIC()
        counter = pic.create_and_install_canister_with_candid(
            did("counter_eop"), wasm("counter_eop")
        )
        for n in range(1, 4):
            self.assertEqual(counter.inc(), [n])
        self.assertEqual(counter.get(), [3])

    def test_canisters_call_each_other(self):
        pic = PocketIC()
        ids = [
            pic.create_and_install_canister_with_candid(PINGPONG_DID, wasm("pingpong"))
            for _ in range(3)
        ]
        a = ids[0]
        for _ in range(2):
            text = a.chain([ids[1].canister_id.to_str(), ids[2].canister_id.to_str()])
            self.assertTrue(text[0], text)
        self.assertEqual(a.fan_out(ids[1].canister_id.to_str(), 20), [20])

    def test_time_moves_when_the_test_moves_it_and_timers_fire(self):
        pic = PocketIC()
        kv = pic.create_and_install_canister_with_candid(did("kv"), wasm("kv"))
        t0 = pic.get_time()["nanos_since_epoch"]
        kv.set_timer(10)
        pic.tick()
        self.assertEqual(kv.timer_fired(), [0])
        pic.advance_time(11 * 10**9)
        pic.tick()
        pic.tick()
        self.assertGreaterEqual(pic.get_time()["nanos_since_epoch"], t0 + 11 * 10**9)
        self.assertGreaterEqual(kv.timer_fired()[0], 1)

    def test_cycles_and_stable_memory(self):
        pic = PocketIC()
        kv = pic.create_and_install_canister_with_candid(did("kv"), wasm("kv"))
        before = pic.get_cycles_balance(kv.canister_id)
        self.assertEqual(pic.add_cycles(kv.canister_id, 1_000_000), before + 1_000_000)
        self.assertTrue(pic.check_canister_exists(kv.canister_id))
        pic.set_stable_memory(kv.canister_id, b"world")
        self.assertEqual(bytes(kv.stable_read(0, 5)[0]), b"world")
        memory = pic.get_stable_memory(kv.canister_id)
        self.assertEqual(len(memory), 65536)

    def test_a_topology_drydock_cannot_serve_is_refused_with_a_clear_error(self):
        artefact("kv.wasm")
        with self.assertRaisesRegex(Exception, "NNS subnet"):
            PocketIC(SubnetConfig(nns=True, application=1))


if __name__ == "__main__":
    unittest.main()
