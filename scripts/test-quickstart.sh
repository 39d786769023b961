#!/usr/bin/env bash
# Runs scripts/quickstart.sh as a new user whose cargo builds and installs elsewhere would,
# in a clean environment (`env -i`), and checks that it ends with the canister answering
# (opt "world"):
#   HOME                a new empty directory, so the default state directory is new
#   CARGO_INSTALL_ROOT  a new empty directory, not on PATH: the script must find the binary
#                       there and not take a `drydock` from PATH
#   CARGO_TARGET_DIR    set explicitly to the workspace's target directory (the one
#                       `cargo test` built into), so kv.wasm must be copied from where cargo
#                       put it, not from canisters/target
#   TEST_CANISTERS_OUT  a new empty directory, so kv.wasm is copied afresh
#   CARGO_HOME, RUSTUP_HOME  the caller's (the registry cache and toolchains)
# It runs `quickstart.sh --debug`: the dev-profile build `cargo test` has already made, so
# CI pays for no second (release) build of wasmtime. scripts/test.sh runs it after cargo test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

die() { echo "test-quickstart: FAIL: $*" >&2; exit 1; }
CARGO="$(command -v cargo)" || die "cargo not found on PATH: install Rust with rustup"
NODE="$(command -v node)" || die "node not found on PATH: install Node.js >= 18"

TARGET="$(cargo metadata --format-version 1 --no-deps --locked \
  | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).target_directory))')" \
  || die "cargo metadata failed"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/home" "$TMP/install" "$TMP/canisters"

vars=(
  "HOME=$TMP/home"
  "PATH=$(dirname "$CARGO"):$(dirname "$NODE"):/usr/local/bin:/usr/bin:/bin"
  "CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}"
  "CARGO_TARGET_DIR=$TARGET"
  "CARGO_INSTALL_ROOT=$TMP/install"
  "TEST_CANISTERS_OUT=$TMP/canisters"
)
[ -d "${RUSTUP_HOME:-$HOME/.rustup}" ] && vars+=("RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}")
[ -n "${RUSTUP_TOOLCHAIN:-}" ] && vars+=("RUSTUP_TOOLCHAIN=$RUSTUP_TOOLCHAIN")

echo "test-quickstart: running scripts/quickstart.sh --debug with CARGO_TARGET_DIR=$TARGET CARGO_INSTALL_ROOT=$TMP/install HOME=$TMP/home"
started=$(date +%s)
env -i "${vars[@]}" scripts/quickstart.sh --debug >"$TMP/out" 2>&1 \
  || { cat "$TMP/out"; die "scripts/quickstart.sh failed (its output is above)"; }

check() { grep -qF -- "$1" "$TMP/out" || { cat "$TMP/out"; die "$2"; }; }
check "using $TMP/install/bin/drydock" "the quickstart did not run the binary it installed in CARGO_INSTALL_ROOT"
[ -x "$TMP/install/bin/drydock" ] || die "no binary in CARGO_INSTALL_ROOT/bin"
[ -f "$TMP/canisters/kv.wasm" ] || die "kv.wasm was not copied to TEST_CANISTERS_OUT"
check '(opt "world")' 'the canister did not answer (opt "world")'
[ -d "$TMP/home/.local/share/drydock/state" ] || { cat "$TMP/out"; die "the default state directory (HOME/.local/share/drydock/state) was not used"; }
grep -E '^(quickstart:|\(opt)' "$TMP/out" | sed 's/^/  /'
# What `cargo install` compiled: nothing of drydock's dependencies while the features match the
# build cargo test made (ARCHITECTURE.md, "Test canisters"); a drift shows here.
compiled=$(sed -n '/step 1\/3/,/step 2\/3/ s/^ *Compiling \([^ ]*\) .*/\1/p' "$TMP/out" | tr '\n' ' ')
echo "test-quickstart: cargo install compiled $(wc -w <<<"$compiled") crates: ${compiled:-none}"
echo "test-quickstart: ok in $(( $(date +%s) - started )) s: the quickstart ends with (opt \"world\")"
