#!/usr/bin/env bash
# Runs every drydock test on this machine, installing what it needs first (idempotent):
#   1. the test canisters (Rust for wasm32 with ic-cdk, Motoko with moc.js from npm),
#      built from canisters/ and motoko/ into target/test-canisters/ (cargo builds the Rust
#      ones in the workspace's target directory, target/ or CARGO_TARGET_DIR);
#   1b. the real clients for the end-to-end tests (icp-cli 1.5, agent-js) from npm, in clients/;
#   2. cargo test for the whole workspace (unit, integration, CLI and crash tests), then
#      scripts/test-quickstart.sh: the quickstart in a clean environment, with
#      CARGO_TARGET_DIR and CARGO_INSTALL_ROOT set, on the build cargo test made; then the
#      PocketIC suites (clients/pocket-ic-rust with the `pocket-ic` crate, clients/pic-js with
#      @dfinity/pic, clients/pocket-ic-py with Python pocket-ic) with POCKET_IC_BIN=drydock;
#   3. the standards: rustfmt and clippy with warnings denied;
#   4. the fuzz targets (scripts/fuzz.sh; installs cargo-fuzz on first use): the HTTP
#      envelope decoder for 60 s, then module intake, Candid arguments, .most signatures and
#      snapshot uploads and PocketIC request bodies for 20 s each.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p drydock-state`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command -v cargo >/dev/null 2>&1 || { echo "test.sh: cargo not found: install Rust with rustup" >&2; exit 1; }
command -v node >/dev/null 2>&1 || { echo "test.sh: node not found: install Node.js >= 18 (apt-get install nodejs npm)" >&2; exit 1; }

# One target directory for everything cargo builds here, as a user's CARGO_TARGET_DIR would
# make it; the quickstart test then reuses both builds (drydock's and kv.wasm's).
TARGET="$(cargo metadata --format-version 1 --no-deps --locked \
  | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).target_directory))')" \
  || { echo "test.sh: cargo metadata failed" >&2; exit 1; }
# Each step says how long it took, so a slow run shows where its time went.
step() {
  local start=$SECONDS
  "$@"
  echo "test.sh: $((SECONDS - start)) s: $*"
}
step env CARGO_TARGET_DIR="$TARGET" scripts/build-test-canisters.sh
step scripts/clients.sh
step cargo test --workspace --locked "$@"
if [ "$#" -eq 0 ]; then
  step scripts/test-quickstart.sh
  # A PocketIC test suite with the unmodified `pocket-ic` crate, its own project and lock
  # file, with POCKET_IC_BIN naming drydock (README, "Testing with PocketIC clients").
  step env POCKET_IC_BIN="$TARGET/debug/drydock" CARGO_TARGET_DIR="$TARGET" \
    cargo test --locked --manifest-path clients/pocket-ic-rust/Cargo.toml
  step env POCKET_IC_BIN="$TARGET/debug/drydock" npm test --prefix clients/pic-js
  (cd clients/pocket-ic-py && step env POCKET_IC_BIN="$TARGET/debug/drydock" .venv/bin/python -W ignore::ResourceWarning -m unittest -v test_suite)
else
  echo "test.sh: not running scripts/test-quickstart.sh and the PocketIC suite: cargo test ran a subset ($*), so drydock may not be built"
fi
step cargo fmt --all -- --check
step cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
step scripts/fuzz.sh envelope
step env DRYDOCK_FUZZ_SECONDS="${DRYDOCK_FUZZ_SECONDS:-20}" scripts/fuzz.sh module_intake candid_args most snapshot_upload pocketic
echo "test.sh: all passed in $SECONDS s"
