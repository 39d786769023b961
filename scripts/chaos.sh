#!/usr/bin/env bash
# Chaos: `drydock start` killed with SIGKILL at random moments under 4 clients sending updates
# and replaying answered requests, then started again on the same state directory, N times.
# Fails unless nothing acknowledged is lost, nothing runs twice, replays never run, and every
# restart comes up (crates/cli/tests/chaos.rs). Builds what it needs first (the test
# canisters, then the test itself, with cargo).
#
#   scripts/chaos.sh                 # 100 trials
#   scripts/chaos.sh --trials 1000   # about 10 minutes
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TRIALS=100
while [ "$#" -gt 0 ]; do
    case "$1" in
        --trials) TRIALS="${2:?chaos.sh: --trials needs a number}"; shift 2 ;;
        *) echo "chaos.sh: unknown argument $1 (usage: scripts/chaos.sh [--trials N])" >&2; exit 2 ;;
    esac
done
case "$TRIALS" in
    ''|*[!0-9]*) echo "chaos.sh: --trials takes a whole number, not $TRIALS" >&2; exit 2 ;;
esac
command -v cargo >/dev/null 2>&1 || { echo "chaos.sh: cargo not found: install Rust with rustup" >&2; exit 1; }

TARGET="$(cargo metadata --format-version 1 --no-deps --locked \
  | node -e 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).target_directory))')"
CARGO_TARGET_DIR="$TARGET" scripts/build-test-canisters.sh >/dev/null
DRYDOCK_CHAOS_TRIALS="$TRIALS" cargo test --locked -p drydock-cli --test chaos -- --nocapture
