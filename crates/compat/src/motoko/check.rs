//! moc 4.10's stable-compatibility relation, re-implemented over parsed signatures.
//!
//! This module owns the rules: subtyping and *stable* subtyping of Motoko types (moc's
//! `Type.rel_typ` with and without `is_stable_sub`), and matching an old signature's post
//! fields against a new signature's pre fields (moc's `Stability.match_stab_sig`, extended
//! for 4.0.0 migration chains as moc.js 4.10 does):
//!
//! - an old variable missing from the new pre signature: M0169;
//! - old type not a subtype of the new (mutability ignored): M0170;
//! - a subtype, but one that loses data (a dropped record or actor field, a promotion to
//!   `Any`): M0216;
//! - a field the new migration requires (`in x`, or consumed by a 4.0.0 chain) that the old
//!   version lacks: M0263;
//! - an old 4.0.0 signature upgraded to a signature without migration chain: M0255; a 4.0.0
//!   signature with an empty chain: M0253.

use std::collections::{BTreeMap, HashSet};

use super::types::{Field, Migration, Signature, StabSig, StableField, Type, TypeDef};
use crate::{Area, Finding, Severity};

/// Recursion bound; moc gives up ("undecided") at 10 000, we refuse earlier to save stack.
const MAX_DEPTH: usize = 1_000;

/// One run of the relation: moc's `RelArg` plus the memo tables.
struct Rel<'a> {
    defs: [&'a BTreeMap<String, TypeDef>; 2],
    /// The definitions that mean the same on both sides (see [`shared_defs`]).
    shared: &'a HashSet<String>,
    stable: bool,
    /// Inside an odd number of contravariant positions (function parameters), the left type
    /// comes from the new signature.
    flipped: bool,
    depth: usize,
    sub_memo: HashSet<(bool, Type, Type)>,
    eq_memo: HashSet<(bool, Type, Type)>,
    /// Where we are, from the outside in ("record field `a`", "variant tag `#b`", ...).
    path: Vec<String>,
    /// The first failure: (path, explanation).
    failure: Option<(String, String)>,
}

impl Rel<'_> {
    fn fail(&mut self, why: String) -> bool {
        if self.failure.is_none() {
            self.failure = Some((self.path.join(", "), why));
        }
        false
    }

    fn expand(&self, side: usize, t: &Type) -> Option<Type> {
        match t {
            Type::Con(n, args) => {
                let d = self.defs[side ^ usize::from(self.flipped)].get(n)?;
                Some(d.body.subst(args))
            }
            _ => None,
        }
    }

    /// Whether every definition `t` uses means the same on both sides.
    fn only_shared(&self, t: &Type) -> bool {
        let mut ok = true;
        t.for_each_con(&mut |n, _| ok = ok && self.shared.contains(n));
        ok
    }

    /// `t1 <: t2` (or `t1 = t2` when `eq`).
    fn rel(&mut self, eq: bool, t1: &Type, t2: &Type) -> bool {
        self.depth += 1;
        let r = self.rel_inner(eq, t1, t2);
        self.depth -= 1;
        r
    }

    fn rel_inner(&mut self, eq: bool, t1: &Type, t2: &Type) -> bool {
        if self.depth > MAX_DEPTH {
            return self.fail("the types are too deeply nested to compare".into());
        }
        // Every type is a (stable) subtype of itself; this also spares deep unchanged types
        // the depth bound.
        if t1 == t2 && self.only_shared(t1) {
            return true;
        }
        // Type definitions are per side, so equal texts only mean equal types without Cons.
        let memo_key = (self.flipped, t1.clone(), t2.clone());
        let memo = if eq {
            &mut self.eq_memo
        } else {
            &mut self.sub_memo
        };
        if !memo.insert(memo_key) {
            return true; // co-inductive hypothesis
        }
        // Old definitions expand first, then new ones (moc's order of `Con` cases).
        if let Some(t1x) = self.expand(0, t1) {
            return self.rel(eq, &t1x, t2);
        }
        if matches!(t1, Type::Con(..)) {
            return self.fail(format!("unknown type {t1}"));
        }
        if let Some(t2x) = self.expand(1, t2) {
            return self.rel(eq, t1, &t2x);
        }
        if matches!(t2, Type::Con(..)) {
            return self.fail(format!("unknown type {t2}"));
        }
        use Type::*;
        match (t1, t2) {
            (Mut(a), Mut(b)) => {
                self.path.push("mutable".into());
                let r = self.rel(true, a, b);
                self.path.pop();
                r
            }
            (Mut(_), _) | (_, Mut(_)) => self.fail(format!("{t1} and {t2} differ in mutability")),
            (Any, Any) => true,
            (_, Any) if !eq => {
                !self.stable
                    || self.fail(format!(
                        "{t1} would be promoted to Any, which loses its data"
                    ))
            }
            (Non, Non) => true,
            (Non, _) if !eq => true,
            (Prim(p1), Prim(p2)) if p1 == p2 => true,
            (Prim(super::types::Prim::Nat), Prim(super::types::Prim::Int)) if !eq => true,
            (Obj(s1, f1), Obj(s2, f2)) => {
                if s1 != s2 {
                    return self.fail(format!("{t1} and {t2} are different sorts of object"));
                }
                self.rel_fields(eq, f1, f2)
            }
            (Array(a), Array(b)) => {
                self.path.push("array element".into());
                let r = self.rel(eq, a, b);
                self.path.pop();
                r
            }
            (Opt(a), Opt(b)) => {
                self.path.push("option".into());
                let r = self.rel(eq, a, b);
                self.path.pop();
                r
            }
            (Weak(a), Weak(b)) => self.rel(eq, a, b),
            (Prim(super::types::Prim::Null), Opt(_)) if !eq => true,
            (Variant(f1), Variant(f2)) => self.rel_tags(eq, f1, f2),
            (Tup(a), Tup(b)) => {
                if a.len() != b.len() {
                    return self.fail(format!(
                        "tuple {t1} has {} components, {t2} has {}",
                        a.len(),
                        b.len()
                    ));
                }
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    self.path.push(format!("tuple component {i}"));
                    let r = self.rel(eq, x, y);
                    self.path.pop();
                    if !r {
                        return false;
                    }
                }
                true
            }
            (Func(s1, c1, b1, a1, r1), Func(s2, c2, b2, a2, r2)) => {
                if s1 != s2 || c1 != c2 {
                    return self.fail(format!("function types {t1} and {t2} differ in sort"));
                }
                if b1.len() != b2.len()
                    || !b2.iter().zip(b1).all(|(x, y)| {
                        let saved = self.failure.clone();
                        self.flipped = !self.flipped;
                        let ok = self.rel(true, x, y);
                        self.flipped = !self.flipped;
                        self.failure = saved;
                        ok
                    })
                {
                    return self.fail(format!(
                        "function types {t1} and {t2} have different type parameters"
                    ));
                }
                if a1.len() != a2.len() || r1.len() != r2.len() {
                    return self.fail(format!("function types {t1} and {t2} have different arity"));
                }
                self.path.push("function parameter".into());
                self.flipped = !self.flipped;
                let ok = a2.iter().zip(a1).all(|(x, y)| self.rel(eq, x, y));
                self.flipped = !self.flipped;
                self.path.pop();
                if !ok {
                    return false;
                }
                self.path.push("function result".into());
                let ok = r1.iter().zip(r2).all(|(x, y)| self.rel(eq, x, y));
                self.path.pop();
                ok
            }
            (Async(s1, a), Async(s2, b)) => {
                if s1 != s2 {
                    return self.fail(format!("{t1} and {t2} are different async sorts"));
                }
                self.rel(eq, a, b)
            }
            (Var(a), Var(b)) if a == b => true,
            _ => self.fail(format!("{t1} is not compatible with {t2}")),
        }
    }

    fn rel_fields(&mut self, eq: bool, f1: &[Field], f2: &[Field]) -> bool {
        for step in align(f1, f2) {
            match step {
                Align::Both(a, b) => {
                    self.path.push(format!("record field `{}`", b.lab));
                    let r = self.rel(eq, &a.typ, &b.typ);
                    self.path.pop();
                    if !r {
                        return false;
                    }
                }
                Align::Old(a) => {
                    if eq || self.stable {
                        self.path.push(format!("record field `{}`", a.lab));
                        let r = self.fail(format!(
                            "the new type drops the field `{}` (and its data)",
                            a.lab
                        ));
                        self.path.pop();
                        return r;
                    }
                }
                Align::New(b) => {
                    self.path.push(format!("record field `{}`", b.lab));
                    let r = self.fail(format!(
                        "the new type expects a field `{}` that old data does not have",
                        b.lab
                    ));
                    self.path.pop();
                    return r;
                }
            }
        }
        true
    }

    fn rel_tags(&mut self, eq: bool, f1: &[Field], f2: &[Field]) -> bool {
        for step in align(f1, f2) {
            match step {
                Align::Both(a, b) => {
                    self.path.push(format!("variant tag `#{}`", b.lab));
                    let r = self.rel(eq, &a.typ, &b.typ);
                    self.path.pop();
                    if !r {
                        return false;
                    }
                }
                Align::Old(a) => {
                    self.path.push(format!("variant tag `#{}`", a.lab));
                    let r = self.fail(format!(
                        "the new type drops the tag `#{}`, which old data may carry",
                        a.lab
                    ));
                    self.path.pop();
                    return r;
                }
                Align::New(b) => {
                    if eq {
                        return self.fail(format!("the tag `#{}` is new", b.lab));
                    }
                }
            }
        }
        true
    }
}

enum Align<'a> {
    Both(&'a Field, &'a Field),
    Old(&'a Field),
    New(&'a Field),
}

/// Merges two label-sorted field lists.
fn align<'a>(f1: &'a [Field], f2: &'a [Field]) -> Vec<Align<'a>> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < f1.len() || j < f2.len() {
        match (f1.get(i), f2.get(j)) {
            (Some(a), Some(b)) if a.lab == b.lab => {
                out.push(Align::Both(a, b));
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.lab < b.lab => {
                out.push(Align::Old(a));
                i += 1;
            }
            (Some(a), None) => {
                out.push(Align::Old(a));
                i += 1;
            }
            (_, Some(b)) => {
                out.push(Align::New(b));
                j += 1;
            }
            (_, None) => break,
        }
    }
    out
}

/// Outcome of relating one variable's old and new types.
enum VarVerdict {
    Ok,
    NotSub(String, String),
    Lossy(String, String),
}

/// The definitions that mean the same in `old` and `new`: equal bodies that use only such
/// definitions (the greatest such set).
fn shared_defs(old: &Signature, new: &Signature) -> HashSet<String> {
    let mut shared: HashSet<String> = old
        .defs
        .iter()
        .filter(|(n, d)| new.defs.get(*n) == Some(*d))
        .map(|(n, _)| n.clone())
        .collect();
    loop {
        let unsure: Vec<String> = shared
            .iter()
            .filter(|n| {
                let mut ok = true;
                if let Some(d) = old.defs.get(*n) {
                    d.body
                        .for_each_con(&mut |c, _| ok = ok && shared.contains(c));
                }
                !ok
            })
            .cloned()
            .collect();
        if unsure.is_empty() {
            return shared;
        }
        for n in unsure {
            shared.remove(&n);
        }
    }
}

fn relate(
    old: &Signature,
    new: &Signature,
    shared: &HashSet<String>,
    t1: &Type,
    t2: &Type,
) -> VarVerdict {
    let run = |stable: bool| {
        let mut r = Rel {
            defs: [&old.defs, &new.defs],
            shared,
            stable,
            flipped: false,
            depth: 0,
            sub_memo: HashSet::new(),
            eq_memo: HashSet::new(),
            path: Vec::new(),
            failure: None,
        };
        if r.rel(false, t1, t2) {
            None
        } else {
            Some(r.failure.unwrap_or_default())
        }
    };
    if let Some((p, why)) = run(false) {
        return VarVerdict::NotSub(p, why);
    }
    if let Some((p, why)) = run(true) {
        return VarVerdict::Lossy(p, why);
    }
    VarVerdict::Ok
}

/// A field of the new version's pre signature: what the upgrade reads from the old state.
struct PreField {
    name: String,
    required: bool,
    typ: Type,
}

const MIGRATION_HINT: &str =
    "keep the variable, or write an explicit migration function (`(with migration = func (old : {..}) : {..} {..}) persistent actor ..`)";

fn finding(code: &str, path: String, message: String, hint: &str) -> Finding {
    Finding::new(Severity::Error, Area::Motoko, code, path, message).with_hint(hint)
}

fn post(sig: &StabSig) -> &[StableField] {
    match sig {
        StabSig::Single(f) | StabSig::PrePost(_, f) | StabSig::Multi(_, f) => f,
    }
}

/// The pre fields of a chain of pending migrations followed by the actor. With migrations to
/// run, the actor's variables have no other initialiser than old data or the chain (moc
/// requires them); with none, the actor is matched like a 1.0.0 signature (all optional).
fn chain_pre(migs: &[Migration], actor: &[StableField]) -> Vec<PreField> {
    let mut pre: Vec<PreField> = actor
        .iter()
        .map(|f| PreField {
            name: f.name.clone(),
            required: !migs.is_empty(),
            typ: f.typ.clone(),
        })
        .collect();
    for m in migs.iter().rev() {
        pre.retain(|f| {
            !m.cod.iter().any(|c| c.lab == f.name) && !m.dom.iter().any(|d| d.lab == f.name)
        });
        pre.extend(m.dom.iter().map(|d| PreField {
            name: d.lab.clone(),
            required: true,
            typ: d.typ.clone(),
        }));
    }
    pre.sort_by(|a, b| a.name.cmp(&b.name));
    pre
}

/// Checks the upgrade from `old` to `new`, as moc 4.10's `stableCompatible` does.
pub fn check(old: &Signature, new: &Signature) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in [&old.sig, &new.sig] {
        if let StabSig::Multi(m, _) = s {
            if m.is_empty() {
                out.push(finding(
                    "M0253",
                    String::new(),
                    "inconsistent migration chain: a 4.0.0 signature without migration functions"
                        .into(),
                    "recompile with moc --enhanced-migration and at least one migration module",
                ));
                return out;
            }
        }
    }
    let pre: Vec<PreField> = match (&old.sig, &new.sig) {
        (StabSig::Multi(..), StabSig::Single(_) | StabSig::PrePost(..)) => {
            out.push(finding(
                "M0255",
                String::new(),
                "cannot upgrade from an actor using enhanced migration (a migration chain) to an actor not using it".into(),
                "keep compiling with --enhanced-migration",
            ));
            return out;
        }
        (_, StabSig::Single(f)) => f
            .iter()
            .map(|f| PreField {
                name: f.name.clone(),
                required: false,
                typ: f.typ.clone(),
            })
            .collect(),
        (_, StabSig::PrePost(pre, _)) => pre
            .iter()
            .map(|f| PreField {
                name: f.name.clone(),
                required: f.required,
                typ: f.typ.clone(),
            })
            .collect(),
        (old_sig, StabSig::Multi(migs, actor)) => {
            // The migrations after the last one the old version ran; all when it ran none
            // or one the new chain does not know.
            let start = match old_sig {
                StabSig::Multi(om, _) => om
                    .last()
                    .and_then(|last| migs.iter().position(|m| m.label == last.label))
                    .map_or(0, |i| i + 1),
                _ => 0,
            };
            chain_pre(&migs[start..], actor)
        }
    };
    let old_fields = post(&old.sig);
    let shared = shared_defs(old, new);
    let (mut i, mut j) = (0, 0);
    while i < old_fields.len() || j < pre.len() {
        let o = old_fields.get(i);
        let n = pre.get(j);
        match (o, n) {
            (Some(o), Some(n)) if o.name == n.name => {
                let path = format!("stable variable `{}`", o.name);
                match relate(old, new, &shared, o.typ.as_immut(), n.typ.as_immut()) {
                    VarVerdict::Ok => {}
                    VarVerdict::NotSub(p, why) => out.push(finding(
                        "M0170",
                        if p.is_empty() { path } else { format!("{path}: {p}") },
                        format!(
                            "the new type of stable variable `{}` is not compatible with the previous version: the previous type {} is not a subtype of {} ({why})",
                            o.name,
                            o.typ.as_immut(),
                            n.typ.as_immut()
                        ),
                        "change the type to a supertype of the old one (e.g. Nat to Int, add variant tags), or write an explicit migration function",
                    )),
                    VarVerdict::Lossy(p, why) => out.push(finding(
                        "M0216",
                        if p.is_empty() { path } else { format!("{path}: {p}") },
                        format!(
                            "the new type of stable variable `{}` implicitly drops data of the previous version: {} is not a stable subtype of {} ({why})",
                            o.name,
                            o.typ.as_immut(),
                            n.typ.as_immut()
                        ),
                        "keep the field, or drop the data in an explicit migration function",
                    )),
                }
                i += 1;
                j += 1;
            }
            (Some(o), n) if n.is_none_or(|n| o.name < n.name) => {
                out.push(finding(
                    "M0169",
                    format!("stable variable `{}`", o.name),
                    format!(
                        "the stable variable `{}` of the previous version would be discarded with its data",
                        o.name
                    ),
                    MIGRATION_HINT,
                ));
                i += 1;
            }
            (o, Some(n)) => {
                let _ = o;
                if n.required {
                    out.push(finding(
                        "M0263",
                        format!("stable variable `{}`", n.name),
                        format!(
                            "the previous version does not contain the stable variable `{}`, which the migration function requires as input",
                            n.name
                        ),
                        "remove the field from the migration function's input",
                    ));
                }
                j += 1;
            }
            (_, None) => break,
        }
    }
    out
}
