#!/usr/bin/env node
// Minimal Wasm inspector for the test canisters (no external tools: Node's own
// WebAssembly API cannot load memory64/table64 modules without flags, so this
// parses the binary directly).
//
//   node scripts/inspect-wasm.js [--json] [--sigs] FILE.wasm...   print a summary
//   node scripts/inspect-wasm.js --check DIR             verify DIR/*.wasm (see checkDir)
'use strict';

const fs = require('fs');
const path = require('path');

function parse(buf) {
  let p = 0;
  const u8 = () => buf[p++];
  const leb = () => {
    let result = 0n, shift = 0n, b;
    do { b = buf[p++]; result |= BigInt(b & 0x7f) << shift; shift += 7n; } while (b & 0x80);
    return Number(result);
  };
  const name = () => { const n = leb(); const s = buf.toString('utf8', p, p + n); p += n; return s; };
  const limits = () => {
    const flags = u8();
    const min = leb();
    const max = flags & 1 ? leb() : null;
    return { flags, min, max, is64: !!(flags & 4), shared: !!(flags & 2) };
  };
  const tableType = () => { const elem = u8(); return { elem, ...limits() }; };

  if (buf.readUInt32LE(0) !== 0x6d736100) throw new Error('not a wasm module');
  p = 8;
  const out = { size: buf.length, imports: [], exports: [], custom: [], memories: [], tables: [], hasStart: false, types: [] };
  const VT = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };
  const valtypes = () => { const n = leb(); const v = []; for (let i = 0; i < n; i++) v.push(VT[u8()] || '?'); return v; };
  const KIND = ['func', 'table', 'memory', 'global', 'tag'];
  while (p < buf.length) {
    const id = u8();
    const len = leb();
    const end = p + len;
    if (id === 0) {
      const n = name();
      out.custom.push({ name: n, size: end - p, data: buf.subarray(p, end) });
    } else if (id === 1) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        const form = u8();
        if (form !== 0x60) { out.types = null; break; } // GC/rec types: not needed here
        const params = valtypes(), results = valtypes();
        out.types.push(`(${params.join(',')})->(${results.join(',')})`);
      }
    } else if (id === 2) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        const module = name(), field = name(), kind = u8();
        let sig;
        if (kind === 0) { const t = leb(); sig = out.types ? out.types[t] : undefined; }
        else if (kind === 1) out.tables.push({ imported: true, ...tableType() });
        else if (kind === 2) out.memories.push({ imported: true, ...limits() });
        else if (kind === 3) { u8(); u8(); }
        else if (kind === 4) { u8(); leb(); }
        out.imports.push({ module, name: field, kind: KIND[kind], sig });
      }
    } else if (id === 4) {
      const count = leb();
      for (let i = 0; i < count; i++) out.tables.push(tableType());
    } else if (id === 5) {
      const count = leb();
      for (let i = 0; i < count; i++) out.memories.push(limits());
    } else if (id === 7) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        const n = name(), kind = u8(); leb();
        out.exports.push({ name: n, kind: KIND[kind] });
      }
    } else if (id === 8) {
      out.hasStart = true;
    }
    p = end;
  }
  return out;
}

function summary(file) {
  const m = parse(fs.readFileSync(file));
  return {
    file: path.basename(file),
    size: m.size,
    memory: m.memories.map((x) => (x.is64 ? 'memory64' : 'wasm32')).join(',') || 'none',
    table64: m.tables.some((t) => t.is64),
    imports: m.imports.map((i) => `${i.module}.${i.name}`),
    importSigs: m.imports.map((i) => `${i.module}.${i.name}: ${i.sig || i.kind}`),
    exports: m.exports.map((e) => e.name),
    methods: m.exports.filter((e) => e.kind === 'func').map((e) => e.name),
    custom: m.custom.map((c) => `${c.name} (${c.size} B)`),
    _custom: m.custom,
  };
}

// Method names and modes from a .did service (simple: one `name : (...) -> (...) [mode];` per line).
function didMethods(text) {
  const body = text.replace(/\/\/.*$/gm, '');
  const svc = body.slice(body.indexOf('service'));
  const start = svc.indexOf('{');
  const methods = {};
  const re = /^\s*("?[A-Za-z_][A-Za-z0-9_]*"?)\s*:\s*(\(.*?\))\s*->\s*(\(.*?\))\s*(query|composite_query|oneway)?\s*;/gm;
  let m;
  const s = svc.slice(start);
  while ((m = re.exec(s))) methods[m[1].replace(/"/g, '')] = m[4] || 'update';
  return methods;
}

function checkDir(dir) {
  const failures = [];
  const fail = (f, msg) => failures.push(`${f}: ${msg}`);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.wasm')).sort();
  const unionImports = new Set();
  for (const f of files) {
    const s = summary(path.join(dir, f));
    s.imports.forEach((i) => unionImports.add(i));
    const names = s._custom.map((c) => c.name);
    const cand = s._custom.find((c) => c.name === 'icp:public candid:service');
    if (!cand) fail(f, 'missing custom section icp:public candid:service');
    const nonIc0 = s.imports.filter((i) => !i.startsWith('ic0.'));
    if (nonIc0.length) fail(f, `non-ic0 imports: ${nonIc0.join(' ')}`);
    const isMotoko = f.startsWith('counter_');
    if (isMotoko) {
      const eop = f.startsWith('counter_eop');
      const hasEop = names.some((n) => n.endsWith('enhanced-orthogonal-persistence'));
      if (eop && (s.memory !== 'memory64' || !hasEop)) fail(f, `expected memory64 + EOP section, got ${s.memory}, [${names}]`);
      if (!eop && (s.memory !== 'wasm32' || hasEop)) fail(f, `expected wasm32 without EOP section, got ${s.memory}, [${names}]`);
    } else if (s.memory !== 'wasm32') {
      fail(f, `expected wasm32, got ${s.memory}`);
    }
    // Embedded / sibling .did must match the exported methods.
    if (cand) {
      const did = didMethods(cand.data.toString('utf8'));
      const sibling = path.join(dir, f.replace(/\.wasm$/, '.did'));
      if (fs.existsSync(sibling) && fs.readFileSync(sibling, 'utf8') !== cand.data.toString('utf8')) {
        fail(f, `${path.basename(sibling)} differs from the embedded candid:service`);
      }
      const exported = {};
      for (const e of s.methods) {
        const m = /^canister_(query|update|composite_query) (.*)$/.exec(e);
        if (m && !/^(__|@)/.test(m[2])) exported[m[2]] = m[1]; // skip moc-internal methods
      }
      for (const [n, mode] of Object.entries(did)) {
        if (!(n in exported)) fail(f, `.did method ${n} is not exported`);
        else if (exported[n] !== mode) fail(f, `method ${n}: .did says ${mode}, export says ${exported[n]}`);
      }
      for (const n of Object.keys(exported)) if (!(n in did)) fail(f, `exported ${n} is missing from the .did`);
      if (Object.keys(did).length === 0) fail(f, 'no methods parsed from candid:service');
    }
  }
  return { files, failures, unionImports: [...unionImports].sort() };
}

function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--check') {
    const { files, failures, unionImports } = checkDir(args[1]);
    if (!files.length) { console.error(`inspect-wasm: no .wasm files in ${args[1]}`); process.exit(1); }
    for (const f of failures) console.error(`FAIL ${f}`);
    console.log(`inspect-wasm: checked ${files.length} modules, ${failures.length} problem(s); union of imports (${unionImports.length}): ${unionImports.join(' ')}`);
    process.exit(failures.length ? 1 : 0);
  }
  const json = args[0] === '--json';
  const files = json ? args.slice(1) : args;
  const sigs = args.includes('--sigs');
  const all = files.filter((f) => !f.startsWith('--')).map(summary).map(({ _custom, ...s }) => s);
  if (json) { console.log(JSON.stringify(all, null, 2)); return; }
  for (const s of all) {
    console.log(`${s.file}: ${s.size} bytes, ${s.memory}${s.table64 ? ' table64' : ''}`);
    console.log(`  custom sections: ${s.custom.join(', ')}`);
    console.log(`  imports (${s.imports.length}): ${(sigs ? s.importSigs : s.imports).join(sigs ? '\n    ' : ' ')}`);
    console.log(`  exports: ${s.methods.join(', ')}`);
  }
}

if (require.main === module) main();
module.exports = { parse, summary, didMethods, checkDir };
