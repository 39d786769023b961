#!/usr/bin/env bash
# Installs the real IC clients that the end-to-end tests drive (crates/cli/tests/agent_js.rs,
# crates/cli/tests/icp_cli.rs) into clients/node_modules/, pinned by clients/package-lock.json:
#   @icp-sdk/core              agent-js (HttpAgent, Actor, Candid), used by clients/call.mjs
#   @icp-sdk/icp-cli-linux-x64 icp-cli 1.5.0 (bin/icp)
# and the PocketIC client suites' own projects:
#   clients/pic-js             @dfinity/pic 0.23.0, pinned by clients/pic-js/package-lock.json,
#                              installed with --ignore-scripts (its postinstall downloads a
#                              PocketIC server, which drydock replaces)
#   clients/pocket-ic-py       Python pocket-ic, in a virtual environment (.venv)
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
PIC="$ROOT/clients/pic-js"
if [ ! -f "$PIC/node_modules/.package-lock.json" ] \
   || [ "$PIC/package-lock.json" -nt "$PIC/node_modules/.package-lock.json" ] \
   || [ ! -f "$PIC/node_modules/@dfinity/pic/package.json" ]; then
  echo "clients.sh: npm ci in clients/pic-js/"
  npm ci --prefix "$PIC" --ignore-scripts --no-audit --no-fund || { echo "clients.sh: npm ci in clients/pic-js/ failed" >&2; exit 1; }
else
  echo "clients.sh: clients/pic-js/node_modules up to date"
fi
PY="$ROOT/clients/pocket-ic-py"
command -v python3 >/dev/null 2>&1 || { echo "clients.sh: python3 not found: install Python >= 3.10 with venv (apt-get install python3 python3-venv)" >&2; exit 1; }
if [ ! -x "$PY/.venv/bin/python" ] || [ ! -f "$PY/.venv/installed" ] \
   || [ "$PY/requirements.txt" -nt "$PY/.venv/installed" ]; then
  echo "clients.sh: Python pocket-ic into clients/pocket-ic-py/.venv"
  python3 -m venv "$PY/.venv" || { echo "clients.sh: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
  "$PY/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$PY/requirements.txt" \
    || { echo "clients.sh: pip install in clients/pocket-ic-py/.venv failed" >&2; exit 1; }
  touch "$PY/.venv/installed"
else
  echo "clients.sh: clients/pocket-ic-py/.venv up to date"
fi
