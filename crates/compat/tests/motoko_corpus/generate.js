#!/usr/bin/env node
// Generates the differential corpus for crates/compat/tests/motoko.rs: random Motoko actor
// families (a base and several evolutions of it), compiled with moc.js (npm `motoko`, pinned in
// motoko/package.json) to get the REAL `.most` stable signatures, and moc's own verdict on
// each upgrade pair from `mo.compiler.stableCompatible`.
//
//   node crates/compat/tests/motoko_corpus/generate.js [SEED] [FAMILIES]
//
// Writes NNN/{old.most,new.most,moc.json} next to this script (removing old NNN/ dirs).
// moc.json = {"compatible", "codes" (sorted distinct error codes), "diagnostics" (raw), "what"}.
// Reproducible: a seeded RNG drives every choice. Each compile takes ~2-3 s and ~600 MB.
'use strict';

const fs = require('fs');
const path = require('path');

const SEED = Number(process.argv[2] || 20240611);
const FAMILIES = Number(process.argv[3] || 34);
const VARIANTS = 5;
const OUT = __dirname;

let mo;
try {
  mo = require(path.join(__dirname, '..', '..', '..', '..', 'motoko', 'node_modules', 'motoko'));
} catch (e) {
  console.error('generate.js: cannot load npm package `motoko`; run `npm ci` in motoko/');
  process.exit(2);
}

// mulberry32
let state = SEED >>> 0;
function rnd() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rnd() * n);
const pick = (xs) => xs[int(xs.length)];
const chance = (p) => rnd() < p;
const clone = (x) => JSON.parse(JSON.stringify(x));

const PRIMS = ['Nat', 'Int', 'Nat8', 'Nat16', 'Nat32', 'Nat64', 'Int8', 'Int16', 'Int32', 'Int64',
  'Text', 'Blob', 'Bool', 'Principal', 'Float', 'Char', 'Null'];
const LABELS = ['a', 'b', 'c', 'd', 'e', 'owner', 'count', 'name'];
const TAGS = ['red', 'green', 'blue', 'none', 'some', 'ok', 'err'];
const VARS = ['count', 'map', 'users', 'owner', 'log', 'cfg', 'items', 'state', 'flag', 'data'];

// ---- types -------------------------------------------------------------------------------
function genType(depth) {
  const r = rnd();
  if (depth <= 0 || r < 0.4) {
    if (chance(0.4)) return { k: 'prim', n: pick(['Nat', 'Int']) };
    return { k: 'prim', n: pick(PRIMS) };
  }
  if (r < 0.55) {
    const labs = shuffle(LABELS).slice(0, 1 + int(3));
    return { k: 'rec', fields: labs.map((n) => ({ n, t: genType(depth - 1), mut: chance(0.15) })) };
  }
  if (r < 0.65) {
    const tags = shuffle(TAGS).slice(0, 1 + int(3));
    return { k: 'variant', tags: tags.map((n) => ({ n, t: chance(0.5) ? genType(depth - 1) : null })) };
  }
  if (r < 0.73) return { k: 'opt', t: genType(depth - 1) };
  if (r < 0.8) return { k: 'arr', mut: chance(0.4), t: genType(depth - 1) };
  if (r < 0.86) return { k: 'tup', ts: [genType(depth - 1), genType(depth - 1)] };
  if (r < 0.9) return { k: 'list', t: genType(depth - 1) };
  if (r < 0.93) return { k: 'alias', name: 'R', t: genType(depth - 1) };
  if (r < 0.95) return { k: 'any' };
  if (r < 0.98) return { k: 'func', q: chance(0.5) };
  return { k: 'tree' };
}

function shuffle(xs) {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// Aliases: every `alias` node defines its own named type (numbered when printed).
function show(t, defs) {
  switch (t.k) {
    case 'prim': return t.n;
    case 'any': return 'Any';
    case 'none': return 'None';
    case 'rec': {
      const fs = t.fields.slice().sort((x, y) => (x.n < y.n ? -1 : 1));
      return '{' + fs.map((f) => `${f.mut ? 'var ' : ''}${f.n} : ${show(f.t, defs)}`).join('; ') + '}';
    }
    case 'variant': {
      if (!t.tags.length) return '{#}';
      return '{' + t.tags.map((g) => (g.t ? `#${g.n} : ${show(g.t, defs)}` : `#${g.n}`)).join('; ') + '}';
    }
    case 'opt': return '?' + atom(t.t, defs);
    case 'arr': return `[${t.mut ? 'var ' : ''}${show(t.t, defs)}]`;
    case 'tup': return '(' + t.ts.map((x) => show(x, defs)).join(', ') + ')';
    case 'list': return `List<${show(t.t, defs)}>`;
    case 'tree': return 'Tree';
    case 'func': return t.q ? 'shared query Nat -> async Nat' : 'shared () -> async ()';
    case 'alias': {
      const body = show(t.t, defs);
      let name = defs.get(body);
      if (!name) {
        name = `${t.name}${defs.size}`;
        defs.set(body, name);
      }
      return name;
    }
  }
  throw new Error('show ' + t.k);
}
function atom(t, defs) {
  const s = show(t, defs);
  return t.k === 'func' ? `(${s})` : s;
}

// One random evolution of a type; returns [newType, description].
function mutateType(t, depth = 0) {
  const opts = [];
  if (t.k === 'prim') {
    if (t.n === 'Nat') opts.push(() => [{ k: 'prim', n: 'Int' }, 'Nat -> Int']);
    if (t.n === 'Int') opts.push(() => [{ k: 'prim', n: 'Nat' }, 'Int -> Nat']);
    if (t.n === 'Null') opts.push(() => [{ k: 'opt', t: genType(1) }, 'Null -> ?T']);
    opts.push(() => { const n = pick(PRIMS); return [{ k: 'prim', n }, `${t.n} -> ${n}`]; });
  }
  if (t.k === 'rec') {
    if (t.fields.length > 1) {
      opts.push(() => { const u = clone(t); const f = u.fields.splice(int(u.fields.length), 1)[0]; return [u, `drop record field ${f.n}`]; });
      opts.push(() => { const u = clone(t); const f = u.fields.splice(int(u.fields.length), 1)[0]; return [u, `drop record field ${f.n}`]; });
    }
    opts.push(() => {
      const u = clone(t); const free = LABELS.filter((l) => !u.fields.some((f) => f.n === l));
      if (!free.length) return [u, 'same record'];
      const n = pick(free); u.fields.push({ n, t: genType(1), mut: false }); return [u, `add record field ${n}`];
    });
    opts.push(() => { const u = clone(t); const f = pick(u.fields); const [nt, d] = mutateType(f.t, depth + 1); f.t = nt; return [u, `field ${f.n}: ${d}`]; });
    opts.push(() => { const u = clone(t); const f = pick(u.fields); f.mut = !f.mut; return [u, `field ${f.n}: toggle var`]; });
  }
  if (t.k === 'variant') {
    opts.push(() => {
      const u = clone(t); const free = TAGS.filter((l) => !u.tags.some((f) => f.n === l));
      if (!free.length) return [u, 'same variant'];
      const n = pick(free); u.tags.push({ n, t: chance(0.5) ? genType(1) : null }); return [u, `add tag ${n}`];
    });
    if (t.tags.length > 1) opts.push(() => { const u = clone(t); const g = u.tags.splice(int(u.tags.length), 1)[0]; return [u, `drop tag ${g.n}`]; });
    if (t.tags.some((g) => g.t)) opts.push(() => { const u = clone(t); const g = pick(u.tags.filter((g) => g.t)); const [nt, d] = mutateType(g.t, depth + 1); g.t = nt; return [u, `tag ${g.n}: ${d}`]; });
  }
  if (t.k === 'opt') {
    opts.push(() => { const [nt, d] = mutateType(t.t, depth + 1); return [{ k: 'opt', t: nt }, `option: ${d}`]; });
    opts.push(() => [t.t, 'unwrap option']);
  }
  if (t.k === 'arr') {
    opts.push(() => { const [nt, d] = mutateType(t.t, depth + 1); return [{ k: 'arr', mut: t.mut, t: nt }, `array element: ${d}`]; });
    opts.push(() => [{ k: 'arr', mut: !t.mut, t: t.t }, 'toggle array mutability']);
  }
  if (t.k === 'tup') {
    opts.push(() => { const u = clone(t); const i = int(u.ts.length); const [nt, d] = mutateType(u.ts[i], depth + 1); u.ts[i] = nt; return [u, `tuple ${i}: ${d}`]; });
    opts.push(() => { const u = clone(t); u.ts.push(genType(0)); return [u, 'longer tuple']; });
  }
  if (t.k === 'list') opts.push(() => { const [nt, d] = mutateType(t.t, depth + 1); return [{ k: 'list', t: nt }, `list element: ${d}`]; });
  if (t.k === 'alias') {
    opts.push(() => [t.t, 'inline alias']);
    opts.push(() => { const [nt, d] = mutateType(t.t, depth + 1); return [{ k: 'alias', name: 'S', t: nt }, `alias body: ${d}`]; });
  }
  if (t.k !== 'alias' && t.k !== 'func') opts.push(() => [{ k: 'alias', name: 'A', t }, 'name through alias']);
  opts.push(() => [{ k: 'opt', t }, 'wrap in option']);
  if (depth === 0 || chance(0.3)) opts.push(() => [{ k: 'any' }, 'to Any']);
  opts.push(() => [genType(2), 'replace type']);
  return pick(opts)();
}

// ---- programs ----------------------------------------------------------------------------
// prog = {vars: [{n, t, mut}], mig3: null | {dom: [{n,t}], cod: [{n,t}]}, mig4: null | [...]}
function genProg() {
  const names = shuffle(VARS).slice(0, 2 + int(3));
  return { vars: names.map((n) => ({ n, t: genType(2), mut: chance(0.75) })) };
}

function typeDecs(defs) {
  return [
    'type List<T> = ?(T, List<T>);',
    'type Tree = {#leaf; #node : (Tree, Nat, Tree)};',
    ...[...defs.entries()].map(([body, name]) => `type ${name} = ${body};`),
  ].join('\n  ');
}

function source(prog, enhanced) {
  const defs = new Map();
  const decls = prog.vars.map((v) => `${v.mut ? 'var' : 'let'} ${v.n} : ${show(v.t, defs)}${enhanced ? '' : ' = Prim.trap("")'};`);
  let mig = '';
  if (prog.mig3) {
    const rec = (fs) => '{' + fs.map((f) => `${f.n} : ${show(f.t, defs)}`).join('; ') + '}';
    mig = `(with migration = func (_old : ${rec(prog.mig3.dom)}) : ${rec(prog.mig3.cod)} { Prim.trap("") })\n`;
  }
  // Type declarations go into the actor (they must precede their uses only textually).
  return `import Prim "mo:prim";\n${mig}persistent actor {\n  ${typeDecs(defs)}\n  ${decls.join('\n  ')}\n};\n`;
}

function migModule(dom, cod) {
  const defs = new Map();
  const rec = (fs) => '{' + fs.map((f) => `${f.n} : ${show(f.t, defs)}`).join('; ') + '}';
  const d = rec(dom), c = rec(cod);
  return `import Prim "mo:prim";\nmodule {\n  ${typeDecs(defs)}\n  public func migration(_old : ${d}) : ${c} { Prim.trap("") }\n}\n`;
}

let compiles = 0;
function compile(name, src) {
  mo.write(`${name}.mo`, src);
  compiles++;
  try {
    return mo.wasm(`${name}.mo`, 'ic').stable;
  } catch (e) {
    return null; // not a valid program (e.g. a migration that does not fit): skip it
  }
}

// An evolution of `base`: returns [prog, what].
function evolve(base, kind) {
  const p = clone(base);
  const what = [];
  const n = 1 + (chance(0.35) ? 1 : 0);
  const changedOld = new Map(); // var name -> old var (for migrations)
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.5 && p.vars.length) {
      const v = pick(p.vars);
      if (!changedOld.has(v.n)) changedOld.set(v.n, clone(v));
      const [nt, d] = mutateType(v.t);
      v.t = nt;
      what.push(`${v.n}: ${d}`);
    } else if (r < 0.65 && p.vars.length > 1) {
      const v = p.vars.splice(int(p.vars.length), 1)[0];
      if (!changedOld.has(v.n)) changedOld.set(v.n, clone(v));
      what.push(`drop ${v.n}`);
    } else if (r < 0.8) {
      const free = VARS.filter((x) => !p.vars.some((v) => v.n === x));
      const nv = { n: pick(free), t: genType(2), mut: chance(0.7) };
      p.vars.push(nv);
      what.push(`add ${nv.n}`);
    } else if (p.vars.length) {
      const v = pick(p.vars);
      v.mut = !v.mut;
      what.push(`${v.n}: toggle var/let`);
    }
  }
  if (kind === 'mig3' && changedOld.size && chance(0.85)) {
    // consume the changed/dropped variables (sometimes not all of them), produce the new ones
    const dom = [...changedOld.values()].filter(() => chance(0.85)).map((v) => ({ n: v.n, t: v.t }));
    if (chance(0.12)) dom.push({ n: 'ghost', t: { k: 'prim', n: 'Nat' } });
    const cod = p.vars.filter((v) => dom.some((d) => d.n === v.n)).map((v) => ({ n: v.n, t: v.t }));
    p.mig3 = { dom, cod };
    what.push(`migration ${dom.map((d) => d.n).join(',')} -> ${cod.map((d) => d.n).join(',')}`);
  }
  if (kind === 'mig4') {
    const dom = [...changedOld.values()].filter(() => chance(0.85)).map((v) => ({ n: v.n, t: v.t }));
    if (chance(0.1)) dom.push({ n: 'ghost', t: { k: 'prim', n: 'Nat' } });
    // the new variables and the changed ones must be initialised by the migration
    const cod = p.vars.filter((v) => dom.some((d) => d.n === v.n) || !base.vars.some((b) => b.n === v.n))
      .map((v) => ({ n: v.n, t: v.t }));
    p.mig4 = { dom, cod };
    what.push(`migration module ${dom.map((d) => d.n).join(',')} -> ${cod.map((d) => d.n).join(',')}`);
  }
  return [p, what.join('; ')];
}

function main() {
  for (const d of fs.readdirSync(OUT)) {
    if (/^\d{3}$/.test(d)) fs.rmSync(path.join(OUT, d), { recursive: true });
  }
  mo.compiler.gcFlags('enhancedOP');
  const families = [];
  const t0 = Date.now();
  // Plain and (with migration = ...) families first: --enhanced-migration cannot be unset.
  const kinds = [];
  for (let f = 0; f < FAMILIES; f++) kinds.push(f % 6 === 4 ? 'mig3' : f % 6 === 5 ? 'mig4' : 'plain');
  kinds.sort((a, b) => (a === 'mig4') - (b === 'mig4'));
  for (let f = 0; f < kinds.length; f++) {
    const kind = kinds[f];
    const base = genProg();
    const members = [];
    if (kind === 'mig4') {
      const dir = `mig${f}`;
      mo.compiler.setExtraFlags(['--enhanced-migration', dir]);
      mo.write(`${dir}/001_init.mo`, migModule([], base.vars.map((v) => ({ n: v.n, t: v.t }))));
      const most = compile(`f${f}_base`, source(base, true));
      if (!most) continue;
      members.push({ most, what: 'base (enhanced migration)' });
      for (let v = 0; v < VARIANTS; v++) {
        const [p, what] = evolve(base, kind);
        const vdir = `mig${f}_${v}`;
        mo.compiler.setExtraFlags(['--enhanced-migration', vdir]);
        mo.write(`${vdir}/001_init.mo`, migModule([], base.vars.map((x) => ({ n: x.n, t: x.t }))));
        mo.write(`${vdir}/002_step.mo`, migModule(p.mig4.dom, p.mig4.cod));
        const m = compile(`f${f}_v${v}`, source(p, true));
        if (m) members.push({ most: m, what });
      }
    } else {
      const most = compile(`f${f}_base`, source(base, false));
      if (!most) continue;
      members.push({ most, what: 'base' });
      for (let v = 0; v < VARIANTS; v++) {
        const [p, what] = evolve(base, kind);
        const m = compile(`f${f}_v${v}`, source(p, false));
        if (m) members.push({ most: m, what });
      }
    }
    families.push(members);
    console.error(`family ${f} (${kind}): ${members.length} programs, ${compiles} compiles, ${Math.round((Date.now() - t0) / 1000)} s`);
  }

  let n = 0;
  const stats = { ok: 0, bad: 0, codes: {} };
  const seen = new Set();
  for (const members of families) {
    const pairs = [];
    for (let i = 1; i < members.length; i++) {
      pairs.push([members[0], members[i]], [members[i], members[0]]);
      if (i + 1 < members.length) pairs.push([members[i], members[i + 1]]);
    }
    for (const [o, nw] of pairs) {
      const key = o.most + '\u0000' + nw.most;
      if (seen.has(key)) continue;
      seen.add(key);
      mo.write('old.most', o.most);
      mo.write('new.most', nw.most);
      const res = mo.compiler.stableCompatible('old.most', 'new.most');
      const diagnostics = res.diagnostics;
      const errors = diagnostics.filter((d) => d.severity === 1);
      const codes = [...new Set(errors.map((d) => d.code))].sort();
      const dir = path.join(OUT, String(n).padStart(3, '0'));
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'old.most'), o.most);
      fs.writeFileSync(path.join(dir, 'new.most'), nw.most);
      const json = { compatible: errors.length === 0, codes, diagnostics, what: { old: o.what, new: nw.what } };
      fs.writeFileSync(path.join(dir, 'moc.json'), JSON.stringify(json, null, 1) + '\n');
      if (json.compatible) stats.ok++; else stats.bad++;
      for (const c of codes) stats.codes[c] = (stats.codes[c] || 0) + 1;
      n++;
    }
  }
  console.log(JSON.stringify({ pairs: n, compiles, seconds: Math.round((Date.now() - t0) / 1000), ...stats }));
}

main();
