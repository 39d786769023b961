#!/usr/bin/env node
// Compiles the Motoko test actors in src/ with moc.js (npm `motoko`, pinned in
// package.json) and writes NAME.wasm, NAME.did and NAME.most to OUT_DIR.
//
//   node build.js [OUT_DIR]        (default: ../target/test-canisters)
//   node build.js OUT_DIR NAME...  (only these actors)
//
// Each actor gets the public metadata sections `icp:public candid:service` and
// `icp:public motoko:stable-types`. EOP actors use moc's default (enhanced
// orthogonal persistence, memory64); classic ones use gcFlags('classicOP')
// (wasm32, serialising persistence).
//
// The `core` library (mo:core/...) that ships inside the npm package
// (packages/latest/core.json) is loaded as package `core`; `mo:base` is not shipped.
'use strict';

const fs = require('fs');
const path = require('path');

// [name (src/NAME.mo), persistence, output name (default: name)]
const ACTORS = [
  ['counter_eop', 'enhancedOP'],
  ['counter_eop_v2', 'enhancedOP'],
  ['counter_eop_incompatible', 'enhancedOP'],
  ['counter_classic', 'classicOP'],
  ['counter_classic_v2', 'classicOP'],
  // Candid-change family: shop + one interface change each (classic: compiles faster).
  ['shop', 'classicOP'],
  ['shop_required_field', 'classicOP'],
  ['shop_result_tag', 'classicOP'],
  ['shop_removed_method', 'classicOP'],
  ['shop_opt_field', 'classicOP'],
  ['shop_added_method', 'classicOP'],
  ['shop_nat_to_int', 'classicOP'],
  // Stable-type family.
  ['stable_nat', 'classicOP'],
  ['stable_int', 'classicOP'],
  ['stable_dropped', 'classicOP'],
  // Inter-canister calls (uses mo:core). Output pingpong_mo: pingpong.wasm is the Rust canister.
  ['pingpong', 'enhancedOP', 'pingpong_mo'],
  ['heartbeat', 'enhancedOP'],
  // Asks drydock's upgrader canister for its own upgrade (canisters/upgrader), in two versions.
  ['selfup_mo', 'enhancedOP'],
  ['selfup_mo_v2', 'enhancedOP'],
];

// [old, new, expect compatible?, expected error code] — checked with moc's
// stable-compatibility oracle.
const UPGRADES = [
  ['counter_eop', 'counter_eop_v2', true],
  ['counter_classic', 'counter_classic_v2', true],
  ['counter_eop', 'counter_eop_incompatible', false, 'M0170'],
  ['stable_int', 'stable_nat', false, 'M0170'], // Int -> Nat: not a subtype
  ['stable_nat', 'stable_int', true], // Nat <: Int
  ['stable_nat', 'stable_dropped', false, 'M0169'], // a stable variable dropped
];

function main() {
  const outDir = path.resolve(process.argv[2] || path.join(__dirname, '..', 'target', 'test-canisters'));
  const only = process.argv.slice(3);
  fs.mkdirSync(outDir, { recursive: true });

  let mo;
  try {
    mo = require('motoko');
  } catch (e) {
    console.error('build.js: cannot load npm package `motoko`; run `npm ci` in motoko/ first');
    process.exit(2);
  }
  mo.setPublicMetadata(['candid:service', 'motoko:stable-types']);
  const corePath = path.join(path.dirname(require.resolve('motoko/package.json')), 'packages', 'latest', 'core.json');
  mo.loadPackage(JSON.parse(fs.readFileSync(corePath, 'utf8')));

  const srcDir = path.join(__dirname, 'src');
  const mosts = {};
  // EOP actors first: moc.js keeps compiler state between compiles, and an EOP
  // compile after a classic one fails ("Fatal error (exit 1)"), while classic after
  // EOP works. (Array.prototype.sort is stable, so the order is otherwise kept.)
  const ordered = [...ACTORS].sort((a, b) => (a[1] === 'enhancedOP' ? 0 : 1) - (b[1] === 'enhancedOP' ? 0 : 1));
  for (const [name, persistence, outName = name] of ordered) {
    const file = `${name}.mo`;
    mo.write(file, fs.readFileSync(path.join(srcDir, file), 'utf8'));
    if (only.length && !only.includes(name) && !only.includes(outName)) continue;

    const diags = mo.check(file);
    const errors = diags.filter((d) => d.severity === 1);
    for (const d of diags) {
      const where = `${d.source}:${d.range.start.line + 1}:${d.range.start.character + 1}`;
      console.error(`${where}: ${d.severity === 1 ? 'error' : 'warning'} [${d.code}] ${d.message}`);
    }
    if (errors.length) {
      console.error(`build.js: ${file} has ${errors.length} error(s)`);
      process.exit(1);
    }

    mo.compiler.gcFlags(persistence);
    const t0 = Date.now();
    const { wasm, candid, stable } = mo.wasm(file, 'ic');
    fs.writeFileSync(path.join(outDir, `${outName}.wasm`), wasm);
    fs.writeFileSync(path.join(outDir, `${outName}.did`), candid);
    fs.writeFileSync(path.join(outDir, `${outName}.most`), stable);
    mosts[name] = stable;
    console.log(`motoko: ${outName}.wasm (${persistence}, ${wasm.length} bytes, ${Date.now() - t0} ms)`);
  }
  mo.compiler.gcFlags('enhancedOP');

  // Stable-compatibility sanity checks (static; the runtime re-checks on upgrade).
  for (const [oldName, newName, expectOk, expectCode] of UPGRADES) {
    if (!(oldName in mosts) || !(newName in mosts)) continue;
    mo.write(`${oldName}.most`, mosts[oldName]);
    mo.write(`${newName}.most`, mosts[newName]);
    const diags = mo.compiler.stableCompatible(`${oldName}.most`, `${newName}.most`);
    const list = (diags && diags.diagnostics) || diags || [];
    const errs = list.filter((d) => d.severity === 1);
    const ok = errs.length === 0;
    const codes = list.map((d) => d.code).join(',') || 'none';
    console.log(`motoko: stable-compatible ${oldName} -> ${newName}: ${ok} (diagnostics: ${codes})`);
    if (ok !== expectOk) {
      console.error(`build.js: expected ${oldName} -> ${newName} compatible=${expectOk}`);
      process.exit(1);
    }
    if (expectCode && !errs.some((d) => d.code === expectCode)) {
      console.error(`build.js: expected ${oldName} -> ${newName} to be refused with ${expectCode}, got ${codes}`);
      process.exit(1);
    }
  }
}

main();
