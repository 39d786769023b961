#!/usr/bin/env node
// Re-asks moc.js (npm `motoko`, installed in motoko/node_modules) for its verdict on every
// pair of the committed corpus, and prints one JSON object:
//   {"NNN": {"compatible": bool, "codes": [sorted distinct error codes]}, ...}
// Used by crates/compat/tests/motoko.rs to check that moc.json is still what moc says.
//
//   node crates/compat/tests/motoko_corpus/oracle.js [CORPUS_DIR]
'use strict';

const fs = require('fs');
const path = require('path');

const dir = path.resolve(process.argv[2] || __dirname);
let mo;
try {
  mo = require(path.join(__dirname, '..', '..', '..', '..', 'motoko', 'node_modules', 'motoko'));
} catch (e) {
  console.error('oracle.js: cannot load npm package `motoko` from motoko/node_modules; run scripts/build-test-canisters.sh, which runs npm ci in motoko/');
  process.exit(2);
}

const out = {};
for (const d of fs.readdirSync(dir).filter((d) => /^\d{3}$/.test(d)).sort()) {
  mo.write('old.most', fs.readFileSync(path.join(dir, d, 'old.most'), 'utf8'));
  mo.write('new.most', fs.readFileSync(path.join(dir, d, 'new.most'), 'utf8'));
  const errors = mo.compiler.stableCompatible('old.most', 'new.most').diagnostics.filter((x) => x.severity === 1);
  out[d] = { compatible: errors.length === 0, codes: [...new Set(errors.map((x) => x.code))].sort() };
}
process.stdout.write(JSON.stringify(out) + '\n');
