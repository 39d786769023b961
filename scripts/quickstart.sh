#!/usr/bin/env bash
# Installs the `drydock` binary (cargo install), builds the key-value test canister, and
# runs a first canister on drydock's embedded default state directory:
# create → install → update call → query call → status. Idempotent.
#
# Works in any cargo environment:
#   CARGO_TARGET_DIR    where cargo builds (drydock and the canister) [default: target/]
#   CARGO_INSTALL_ROOT  where `cargo install` puts the binary: $CARGO_INSTALL_ROOT/bin,
#   CARGO_HOME            else $CARGO_HOME/bin, else ~/.cargo/bin
# The commands run the binary just installed there, else the first `drydock` on PATH.
#   TEST_CANISTERS_OUT  where kv.wasm goes [default: target/test-canisters/]
#
# Options:
#   --debug  install a dev-profile (unoptimised) build instead of a release one: seconds
#            instead of minutes when `cargo test` has built drydock into the same target
#            directory, and drydock runs slower. scripts/test.sh runs the quickstart this way.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

profile=release
for a in "$@"; do
  case "$a" in
    --debug) profile=debug ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "quickstart.sh: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "quickstart: $*"; }
die() { echo "quickstart: error: $*" >&2; exit 1; }
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v node >/dev/null 2>&1 || die "node not found: install Node.js >= 18 (e.g. apt-get install nodejs npm)"

# drydock carries its upgrader canister, built for wasm32 while drydock builds (crates/cli/build.rs).
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the Rust target wasm32-unknown-unknown (rustup target add; once)"
    rustup target add wasm32-unknown-unknown || die "rustup target add wasm32-unknown-unknown failed"
  fi
else
  say "rustup not found: the Rust target wasm32-unknown-unknown must be installed some other way"
fi

# 1. The binary. Where `cargo install` puts it, in cargo's own order.
INSTALL_ROOT="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}"
install_args=(--locked --path crates/cli)
if [ "$profile" = debug ]; then
  install_args+=(--debug)
  say "step 1/3: cargo install --debug --path crates/cli into $INSTALL_ROOT/bin"
  say "  (a dev-profile build: seconds if cargo test has built drydock in ${CARGO_TARGET_DIR:-target/}, else 10 to 20 minutes)"
else
  say "step 1/3: cargo install --path crates/cli into $INSTALL_ROOT/bin"
  say "  (a release build of about 390 crates, wasmtime among them: the first one takes 15 to 30"
  say "  minutes on 2 cores, less on more; later runs take seconds. Cargo's progress follows.)"
fi
started=$(date +%s)
cargo install "${install_args[@]}" || die "cargo install failed (above)"
say "  installed in $(( $(date +%s) - started )) s"

# As a shell would find it: the install root first (it may not be on PATH), then PATH.
if [ -x "$INSTALL_ROOT/bin/drydock" ]; then
  BIN="$INSTALL_ROOT/bin/drydock"
elif BIN="$(command -v drydock)"; then
  say "  not in $INSTALL_ROOT/bin (a cargo config install.root?): using the drydock on PATH"
else
  die "cargo installed drydock, but it is neither in $INSTALL_ROOT/bin nor on PATH; set CARGO_INSTALL_ROOT to where cargo installs"
fi
say "  using $BIN"
case ":$PATH:" in
  *":$(dirname "$BIN"):"*) ;;
  *) say "  (add $(dirname "$BIN") to PATH to type \`drydock\` alone)" ;;
esac

# 2. The canister.
say "step 2/3: building the key-value canister kv.wasm (wasm32; the first build takes about a minute)"
scripts/build-test-canisters.sh --kv-only || die "building kv.wasm failed (above)"
KV="${TEST_CANISTERS_OUT:-$ROOT/target/test-canisters}/kv.wasm"
[ -f "$KV" ] || die "build-test-canisters.sh did not write $KV"

# 3. A first canister, on the default state directory (or DRYDOCK_STATE_DIR).
say "step 3/3: a first canister"
set -x
ID=$("$BIN" canister create)
"$BIN" canister install "$ID" "$KV"
"$BIN" canister call "$ID" put '("hello", "world")'
"$BIN" canister call "$ID" get '("hello")'
"$BIN" canister status "$ID"
