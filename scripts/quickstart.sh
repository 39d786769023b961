#!/usr/bin/env bash
# Installs the `drydock` binary (cargo install), builds the key-value test canister, and
# runs a first canister on drydock's embedded default state directory:
# create → install → update call → query call → status. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command -v cargo >/dev/null 2>&1 || { echo "quickstart.sh: cargo not found: install Rust with rustup" >&2; exit 1; }
cargo install --locked --quiet --path crates/cli
scripts/build-test-canisters.sh --rust-only
BIN="${CARGO_HOME:-$HOME/.cargo}/bin/drydock"

set -x
ID=$("$BIN" canister create)
"$BIN" canister install "$ID" target/test-canisters/kv.wasm
"$BIN" canister call "$ID" put '("hello", "world")'
"$BIN" canister call "$ID" get '("hello")'
"$BIN" canister status "$ID"
