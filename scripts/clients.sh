#!/usr/bin/env bash
# Installs the real IC clients that the end-to-end tests drive (crates/cli/tests/agent_js.rs,
# crates/cli/tests/icp_cli.rs) into clients/node_modules/, pinned by clients/package-lock.json:
#   @icp-sdk/core              agent-js (HttpAgent, Actor, Candid), used by clients/call.mjs
#   @icp-sdk/icp-cli-linux-x64 icp-cli 1.5.0 (bin/icp)
# Idempotent: runs `npm ci` only when node_modules is missing or older than the lock file.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/clients"
command -v npm >/dev/null 2>&1 || { echo "clients.sh: npm not found: install Node.js >= 18 (apt-get install nodejs npm)" >&2; exit 1; }
if [ ! -f "$DIR/node_modules/.package-lock.json" ] \
   || [ "$DIR/package-lock.json" -nt "$DIR/node_modules/.package-lock.json" ] \
   || [ ! -x "$DIR/node_modules/@icp-sdk/icp-cli-linux-x64/bin/icp" ] \
   || [ ! -f "$DIR/node_modules/@icp-sdk/core/package.json" ]; then
  echo "clients.sh: npm ci in clients/"
  npm ci --prefix "$DIR" --no-audit --no-fund || { echo "clients.sh: npm ci in clients/ failed" >&2; exit 1; }
else
  echo "clients.sh: clients/node_modules up to date"
fi
