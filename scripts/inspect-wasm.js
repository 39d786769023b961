#!/usr/bin/env node
// Minimal Wasm inspector for the test canisters (no external tools: Node's own
// WebAssembly API cannot load memory64/table64 modules without flags, so this
// parses the binary directly).
//
//   node scripts/inspect-wasm.js [--json] [--sigs] FILE.wasm...   print a summary
//   node scripts/inspect-wasm.js --check DIR             verify DIR/*.wasm (see checkDir)
//   node scripts/inspect-wasm.js --same-layout A.wasm B.wasm
//       exit 0 when A and B have identical memories, tables, globals (types and
//       init expressions), data segments (offsets and bytes) and element segments
//       (function-table layout), i.e. only code (and imports/exports/custom
//       sections) may differ; otherwise print the first difference and exit 1.
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

// Raw sections and decoded data/element segments, for --same-layout.
function layout(buf) {
  let p = 0;
  const leb = () => {
    let result = 0n, shift = 0n, b;
    do { b = buf[p++]; result |= BigInt(b & 0x7f) << shift; shift += 7n; } while (b & 0x80);
    return Number(result);
  };
  const sleb = () => {
    let result = 0n, shift = 0n, b;
    do { b = buf[p++]; result |= BigInt(b & 0x7f) << shift; shift += 7n; } while (b & 0x80);
    if (b & 0x40) result -= 1n << shift;
    return result;
  };
  const skipName = () => { const n = leb(); p += n; };
  // Constant expression -> text, e.g. "i32.const 1048576".
  const expr = () => {
    const parts = [];
    for (;;) {
      const op = buf[p++];
      if (op === 0x0b) break;
      if (op === 0x41) parts.push(`i32.const ${sleb()}`);
      else if (op === 0x42) parts.push(`i64.const ${sleb()}`);
      else if (op === 0x23) parts.push(`global.get ${leb()}`);
      else if (op === 0xd2) parts.push(`ref.func ${leb()}`);
      else if (op === 0xd0) parts.push(`ref.null ${buf[p++]}`);
      else if (op === 0x43) { parts.push(`f32.const 0x${buf.toString('hex', p, p + 4)}`); p += 4; }
      else if (op === 0x44) { parts.push(`f64.const 0x${buf.toString('hex', p, p + 8)}`); p += 8; }
      else if (op === 0x6a || op === 0x6b || op === 0x7c || op === 0x7d) parts.push(`op 0x${op.toString(16)}`);
      else throw new Error(`unsupported opcode 0x${op.toString(16)} in a constant expression at ${p - 1}`);
    }
    return parts.join('; ');
  };
  if (buf.readUInt32LE(0) !== 0x6d736100) throw new Error('not a wasm module');
  p = 8;
  const out = { importedLayout: [], sections: {}, data: [], elements: [] };
  while (p < buf.length) {
    const id = buf[p++];
    const len = leb();
    const end = p + len;
    if (id === 2) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        skipName(); skipName();
        const kind = buf[p++];
        const start = p;
        if (kind === 0) { leb(); continue; }
        if (kind === 1) { p++; const f = buf[p++]; leb(); if (f & 1) leb(); }
        else if (kind === 2) { const f = buf[p++]; leb(); if (f & 1) leb(); }
        else if (kind === 3) p += 2;
        else if (kind === 4) { p++; leb(); }
        out.importedLayout.push(`${['func', 'table', 'memory', 'global', 'tag'][kind]} ${buf.toString('hex', start, p)}`);
      }
    } else if (id === 4 || id === 5 || id === 6) {
      out.sections[id] = buf.subarray(p, end);
    } else if (id === 9) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        const start = p;
        const flags = leb();
        if (flags === 0) {
          const offset = expr();
          const n = leb(); const funcs = [];
          for (let j = 0; j < n; j++) funcs.push(leb());
          out.elements.push({ offset, funcs });
        } else {
          // Other encodings: compare the rest of the section raw.
          out.elements.push({ offset: `flags ${flags} (raw)`, raw: buf.toString('hex', start, end) });
          break;
        }
      }
    } else if (id === 11) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        const flags = leb();
        let mem = 0, offset = 'passive';
        if (flags === 2) mem = leb();
        if (flags !== 1) offset = expr();
        const n = leb();
        out.data.push({ mem, offset, bytes: buf.subarray(p, p + n) });
        p += n;
      }
    }
    p = end;
  }
  return out;
}

// First layout difference between two modules, or null.
function layoutDiff(fileA, fileB) {
  const a = layout(fs.readFileSync(fileA)), b = layout(fs.readFileSync(fileB));
  const ia = a.importedLayout.join(', '), ib = b.importedLayout.join(', ');
  if (ia !== ib) return `imported tables/memories/globals differ: [${ia}] vs [${ib}]`;
  const names = { 4: 'table', 5: 'memory', 6: 'global' };
  for (const id of [4, 5, 6]) {
    const x = a.sections[id] || Buffer.alloc(0), y = b.sections[id] || Buffer.alloc(0);
    if (!x.equals(y)) {
      let i = 0;
      while (i < x.length && i < y.length && x[i] === y[i]) i++;
      return `${names[id]} section differs at byte ${i}: ${x.length} vs ${y.length} bytes (${x.toString('hex', i, i + 16)} vs ${y.toString('hex', i, i + 16)})`;
    }
  }
  if (a.data.length !== b.data.length) return `data segment count: ${a.data.length} vs ${b.data.length}`;
  for (let k = 0; k < a.data.length; k++) {
    const x = a.data[k], y = b.data[k];
    if (x.mem !== y.mem || x.offset !== y.offset) return `data segment ${k}: placed at memory ${x.mem} ${x.offset} vs memory ${y.mem} ${y.offset}`;
    if (!x.bytes.equals(y.bytes)) {
      let i = 0;
      while (i < x.bytes.length && i < y.bytes.length && x.bytes[i] === y.bytes[i]) i++;
      const ctx = (buf) => JSON.stringify(buf.toString('latin1', Math.max(0, i - 24), i + 24));
      return `data segment ${k} (${x.offset}): ${x.bytes.length} vs ${y.bytes.length} bytes, first difference at segment byte ${i}: ${ctx(x.bytes)} vs ${ctx(y.bytes)}`;
    }
  }
  if (a.elements.length !== b.elements.length) return `element segment count: ${a.elements.length} vs ${b.elements.length}`;
  for (let k = 0; k < a.elements.length; k++) {
    const x = a.elements[k], y = b.elements[k];
    if (x.offset !== y.offset) return `element segment ${k}: offset ${x.offset} vs ${y.offset}`;
    if (x.raw !== undefined || y.raw !== undefined) {
      if (x.raw !== y.raw) return `element segment ${k}: raw bytes differ`;
      continue;
    }
    if (x.funcs.length !== y.funcs.length) return `element segment ${k}: ${x.funcs.length} vs ${y.funcs.length} functions`;
    for (let i = 0; i < x.funcs.length; i++) {
      if (x.funcs[i] !== y.funcs[i]) return `element segment ${k}, table slot ${i}: function ${x.funcs[i]} vs ${y.funcs[i]}`;
    }
  }
  return null;
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

// Method names and modes from a .did service. Methods may span several lines
// (moc pretty-prints records); entries are split at top-level `;`.
function didMethods(text) {
  const body = text.replace(/\/\/.*$/gm, '');
  const svc = body.slice(body.indexOf('service'));
  // The service body: the first `{` outside the init arguments' parentheses.
  let depth = 0, start = -1;
  for (let i = 0; i < svc.length; i++) {
    const c = svc[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '{' && depth === 0) { start = i + 1; break; }
  }
  const methods = {};
  if (start < 0) return methods;
  const entries = [];
  let cur = '';
  depth = 0;
  for (let i = start; i < svc.length; i++) {
    const c = svc[i];
    if (c === '(' || c === '{') depth++;
    else if (c === ')' || c === '}') {
      if (depth === 0) break; // end of the service body
      depth--;
    }
    if (c === ';' && depth === 0) { entries.push(cur); cur = ''; } else cur += c;
  }
  if (cur.trim()) entries.push(cur);
  const re = /^\s*("[^"]*"|[A-Za-z_][A-Za-z0-9_]*)\s*:\s*\(([\s\S]*)\)\s*->\s*\(([\s\S]*)\)\s*(query|composite_query|oneway)?\s*$/;
  for (const e of entries) {
    const m = re.exec(e);
    if (m) methods[m[1].replace(/"/g, '')] = m[4] || 'update';
  }
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
    // Motoko: moc always adds `icp:private motoko:compiler`. counter_eop* must be EOP and
    // counter_classic* classic; any Motoko module must be memory64 exactly when EOP.
    const isMotoko = f.startsWith('counter_') || names.some((n) => n.endsWith('motoko:compiler'));
    if (isMotoko) {
      const hasEop = names.some((n) => n.endsWith('enhanced-orthogonal-persistence'));
      const eop = f.startsWith('counter_eop') || (!f.startsWith('counter_classic') && hasEop);
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
  if (args[0] === '--same-layout') {
    if (args.length !== 3) { console.error('usage: inspect-wasm.js --same-layout A.wasm B.wasm'); process.exit(2); }
    const diff = layoutDiff(args[1], args[2]);
    const pair = `${path.basename(args[1])} vs ${path.basename(args[2])}`;
    if (diff) { console.error(`FAIL same-layout ${pair}: ${diff}`); process.exit(1); }
    const l = layout(fs.readFileSync(args[1]));
    const dataBytes = l.data.reduce((n, d) => n + d.bytes.length, 0);
    const slots = l.elements.reduce((n, e) => n + (e.funcs ? e.funcs.length : 0), 0);
    console.log(`inspect-wasm: same layout ${pair}: memories, tables, globals, ${l.data.length} data segment(s) (${dataBytes} bytes), ${l.elements.length} element segment(s) (${slots} table slots) identical`);
    return;
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
module.exports = { parse, summary, didMethods, checkDir, layout, layoutDiff };
