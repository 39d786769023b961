//! The subtype walk: candid's subtyping rules, applied to the whole of two types so that
//! every break becomes its own [`Finding`] with a path from the method inwards.
//!
//! The walk mirrors `candid::types::subtype` (same rules, same co-inductive treatment of
//! recursive types) but works in one of two directions, which decide the wording:
//! [`Dir::Arg`] checks `old <: new` (values old clients send must still decode) and
//! [`Dir::Ret`] checks `new <: old` (values the new service returns must decode for old
//! clients).

use std::collections::{HashMap, HashSet};

use candid::types::{Field, Type, TypeEnv, TypeInner};

use super::show;
use crate::{Area, Finding, Severity};

/// Which side is the subtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Argument position: the old type must be a subtype of the new one.
    Arg,
    /// Result position: the new type must be a subtype of the old one.
    Ret,
}

impl Dir {
    fn flip(self) -> Dir {
        match self {
            Dir::Arg => Dir::Ret,
            Dir::Ret => Dir::Arg,
        }
    }
}

/// Visits before the walk gives up (candid's own check still decides; see `mod.rs`).
const MAX_STEPS: usize = 200_000;
/// Nesting depth before the walk gives up, so that deep types cannot exhaust the stack.
const MAX_DEPTH: usize = 200;

type Pair = (Type, Type);

/// One walk over types that live in one (merged) environment.
pub(crate) struct Walker<'a> {
    env: &'a TypeEnv,
    /// Pairs assumed (while being checked) or proved to be subtypes.
    gamma: HashSet<Pair>,
    /// The order `gamma` was extended in, so a failure retracts what was built on it.
    log: Vec<Pair>,
    /// Pairs that are not subtypes, with the path they were reported at (`None` when they
    /// failed inside a probe, whose findings were dropped).
    failed: HashMap<Pair, Option<String>>,
    /// How many special-opt probes enclose the current visit.
    probing: usize,
    steps: usize,
    depth: usize,
    /// The walk stopped early (too large or too deep); its findings may be incomplete.
    pub(crate) exhausted: bool,
    /// Who sends argument values, for messages: "old clients", or "old deploy scripts" for
    /// init args.
    sender: &'static str,
}

/// Renders a path: "method `create`: argument 1, record field `owner`".
pub(crate) fn render_path(path: &[String]) -> String {
    match path.split_first() {
        None => String::new(),
        Some((head, [])) => head.clone(),
        Some((head, rest)) => format!("{head}: {}", rest.join(", ")),
    }
}

fn error(code: &str, path: &[String], message: String, hint: impl Into<String>) -> Finding {
    Finding::new(
        Severity::Error,
        Area::Candid,
        code,
        render_path(path),
        message,
    )
    .with_hint(hint)
}

fn has_error(fs: &[Finding]) -> bool {
    fs.iter().any(|f| f.severity == Severity::Error)
}

impl<'a> Walker<'a> {
    pub(crate) fn new(env: &'a TypeEnv) -> Self {
        Walker {
            env,
            gamma: HashSet::new(),
            log: Vec::new(),
            failed: HashMap::new(),
            probing: 0,
            steps: 0,
            depth: 0,
            exhausted: false,
            sender: "old clients",
        }
    }

    /// A walker for init args, whose values come from whoever installs or upgrades.
    pub(crate) fn for_init_args(mut self) -> Self {
        self.sender = "old deploy scripts";
        self
    }

    /// Whether `t` is `null`, `reserved` or `opt _` (a field or argument that may be absent).
    fn is_optional(&self, t: &Type) -> bool {
        self.env.trace_type(t).is_ok_and(|t| {
            matches!(
                t.as_ref(),
                TypeInner::Null | TypeInner::Reserved | TypeInner::Opt(_)
            )
        })
    }

    /// Checks the tuple `sub <: sup` (argument or result lists, compared as candid compares
    /// them: as records with fields 0, 1, ...). `kind` names one element ("argument").
    pub(crate) fn tuple(
        &mut self,
        sub: &[Type],
        sup: &[Type],
        dir: Dir,
        kind: &str,
        path: &mut Vec<String>,
        out: &mut Vec<Finding>,
    ) {
        for (i, sup_t) in sup.iter().enumerate() {
            path.push(format!("{kind} {}", i + 1));
            match sub.get(i) {
                Some(sub_t) => self.walk(sub_t, sup_t, dir, path, out),
                None if self.is_optional(sup_t) => {}
                None => out.push(match dir {
                    Dir::Arg => error(
                        &format!("candid-{}-added", kind.replace(' ', "-")),
                        path,
                        format!(
                            "added as non-optional `{}` — {} do not send it",
                            show::ty(sup_t),
                            self.sender
                        ),
                        format!("make it `opt {}`", show::ty(sup_t)),
                    ),
                    Dir::Ret => error(
                        &format!("candid-{}-removed", kind.replace(' ', "-")),
                        path,
                        format!(
                            "removed — old clients expect a `{}` here",
                            show::ty(sup_t)
                        ),
                        "keep returning it (only `opt`, `null` or `reserved` values may be dropped)",
                    ),
                }),
            }
            path.pop();
        }
    }

    /// Checks `sub <: sup`, pushing one finding per break to `out`.
    pub(crate) fn walk(
        &mut self,
        sub: &Type,
        sup: &Type,
        dir: Dir,
        path: &mut Vec<String>,
        out: &mut Vec<Finding>,
    ) {
        self.steps += 1;
        if self.exhausted || self.steps > MAX_STEPS || self.depth > MAX_DEPTH {
            self.exhausted = true;
            return;
        }
        self.depth += 1;
        self.walk_inner(sub, sup, dir, path, out);
        self.depth -= 1;
    }

    fn walk_inner(
        &mut self,
        sub: &Type,
        sup: &Type,
        dir: Dir,
        path: &mut Vec<String>,
        out: &mut Vec<Finding>,
    ) {
        use TypeInner::*;
        // One environment: equal types (names included) mean the same thing.
        if sub == sup {
            return;
        }
        if matches!(sub.as_ref(), Var(_) | Knot(_)) || matches!(sup.as_ref(), Var(_) | Knot(_)) {
            self.named(sub, sup, dir, path, out);
            return;
        }
        match (sub.as_ref(), sup.as_ref()) {
            (_, Reserved) | (Empty, _) | (Nat, Int) | (Service(_), Principal) | (Null, Opt(_)) => {}
            (Vec(a), Vec(b)) => {
                path.push("vec element".into());
                self.walk(a, b, dir, path, out);
                path.pop();
            }
            (Opt(a), Opt(b)) => {
                path.push("opt value".into());
                let probe = self.probe(a, b, dir, path);
                path.pop();
                match probe {
                    Some(warnings) => out.extend(warnings),
                    None => out.push(self.special_opt(sub, sup, dir, path)),
                }
            }
            (_, Opt(b)) => match self.probe(sub, b, dir, path) {
                Some(warnings) if !self.is_optional(b) => out.extend(warnings),
                _ => out.push(self.special_opt(sub, sup, dir, path)),
            },
            (Record(fs1), Record(fs2)) => self.record(fs1, fs2, dir, path, out),
            (Variant(fs1), Variant(fs2)) => self.variant(fs1, fs2, dir, path, out),
            (Service(ms1), Service(ms2)) => {
                let meths: HashMap<&str, &Type> =
                    ms1.iter().map(|(m, t)| (m.as_str(), t)).collect();
                for (m, t2) in ms2 {
                    path.push(format!("service method `{m}`"));
                    match meths.get(m.as_str()) {
                        Some(t1) => self.walk(t1, t2, dir, path, out),
                        None => out.push(error(
                            "candid-service-method-missing",
                            path,
                            match dir {
                                Dir::Ret => "removed from the service type — old clients may call it on the services they receive".to_string(),
                                Dir::Arg => "required by the new service type — services that old clients pass may not have it".to_string(),
                            },
                            "keep the service types' method sets compatible",
                        )),
                    }
                    path.pop();
                }
            }
            (Func(f1), Func(f2)) => {
                if f1.modes != f2.modes {
                    let (old, new) = match dir {
                        Dir::Arg => (f1, f2),
                        Dir::Ret => (f2, f1),
                    };
                    out.push(error(
                        "candid-mode-changed",
                        path,
                        format!(
                            "function reference mode changed from {} to {}",
                            show::modes(&old.modes),
                            show::modes(&new.modes)
                        ),
                        "keep the function type's mode",
                    ));
                }
                self.tuple(&f2.args, &f1.args, dir.flip(), "func argument", path, out);
                self.tuple(&f1.rets, &f2.rets, dir, "func result", path, out);
            }
            (Class(_, t), _) => self.walk(t, sup, dir, path, out),
            (_, Class(_, t)) => self.walk(sub, t, dir, path, out),
            _ => out.push(self.mismatch(sub, sup, dir, path)),
        }
    }

    /// A pair where one side is a type name: co-inductive, like candid's `gamma`.
    fn named(
        &mut self,
        sub: &Type,
        sup: &Type,
        dir: Dir,
        path: &mut Vec<String>,
        out: &mut Vec<Finding>,
    ) {
        use TypeInner::*;
        let key = (sub.clone(), sup.clone());
        if let Some(reported) = self.failed.get(&key) {
            match (self.probing > 0, reported) {
                (true, _) => {
                    out.push(self.mismatch(sub, sup, dir, path));
                    return;
                }
                (false, Some(at)) => {
                    let at = at.clone();
                    let (old, new) = match dir {
                        Dir::Arg => (sub, sup),
                        Dir::Ret => (sup, sub),
                    };
                    out.push(error(
                        "candid-type-changed",
                        path,
                        format!(
                            "`{}` → `{}` breaks old clients here too (see {at})",
                            show::ty(old),
                            show::ty(new)
                        ),
                        "fix it where it is first reported",
                    ));
                    return;
                }
                // It failed only inside a probe, so it was never reported: explore it.
                (false, None) => {
                    self.failed.remove(&key);
                }
            }
        }
        if !self.gamma.insert(key.clone()) {
            return; // assumed while it is being checked, or already proved
        }
        let mark = self.log.len();
        self.log.push(key.clone());
        let before = out.len();
        let env = self.env;
        let (resolved, other_is_sup) = match (sub.as_ref(), sup.as_ref()) {
            (Var(id), _) => (env.rec_find_type(id).cloned(), true),
            (Knot(_), _) => (env.trace_type(sub), true),
            (_, Var(id)) => (env.rec_find_type(id).cloned(), false),
            _ => (env.trace_type(sup), false),
        };
        match resolved {
            Ok(t) if other_is_sup => self.walk(&t, sup, dir, path, out),
            Ok(t) => self.walk(sub, &t, dir, path, out),
            Err(e) => out.push(error(
                "candid-unresolved",
                path,
                format!("cannot resolve a type name: {e}"),
                "check the .did text",
            )),
        }
        if has_error(&out[before..]) {
            for p in self.log.drain(mark..) {
                self.gamma.remove(&p);
            }
            let at = (self.probing == 0).then(|| render_path(path));
            self.failed.insert(key, at);
        }
    }

    /// Checks `sub <: sup` without reporting: `Some(warnings)` when it holds.
    fn probe(
        &mut self,
        sub: &Type,
        sup: &Type,
        dir: Dir,
        path: &mut Vec<String>,
    ) -> Option<Vec<Finding>> {
        self.probing += 1;
        let mut found = Vec::new();
        self.walk(sub, sup, dir, path, &mut found);
        self.probing -= 1;
        (!has_error(&found)).then_some(found)
    }

    fn record(
        &mut self,
        fs1: &[Field],
        fs2: &[Field],
        dir: Dir,
        path: &mut Vec<String>,
        out: &mut Vec<Finding>,
    ) {
        let fields: HashMap<_, _> = fs1.iter().map(|f| (&f.id, &f.ty)).collect();
        for Field { id, ty: t2 } in fs2 {
            path.push(format!("record field `{}`", show::label(id)));
            match fields.get(id) {
                Some(t1) => self.walk(t1, t2, dir, path, out),
                None if self.is_optional(t2) => {}
                None => out.push(match dir {
                    Dir::Arg => error(
                        "candid-field-added",
                        path,
                        format!(
                            "added as non-optional `{}` — {} do not send it",
                            show::ty(t2),
                            self.sender
                        ),
                        format!("make it `opt {}`", show::ty(t2)),
                    ),
                    Dir::Ret => error(
                        "candid-field-removed",
                        path,
                        format!(
                            "removed — old clients expect it (`{}` is not optional)",
                            show::ty(t2)
                        ),
                        "keep the field (only `opt`, `null` or `reserved` fields may be dropped from results)",
                    ),
                }),
            }
            path.pop();
        }
    }

    fn variant(
        &mut self,
        fs1: &[Field],
        fs2: &[Field],
        dir: Dir,
        path: &mut Vec<String>,
        out: &mut Vec<Finding>,
    ) {
        let tags: HashMap<_, _> = fs2.iter().map(|f| (&f.id, &f.ty)).collect();
        for Field { id, ty: t1 } in fs1 {
            path.push(format!("variant tag `{}`", show::label(id)));
            match tags.get(id) {
                Some(t2) => self.walk(t1, t2, dir, path, out),
                None => out.push(match dir {
                    Dir::Ret => error(
                        "candid-tag-added",
                        path,
                        "added — old clients cannot decode it".to_string(),
                        "add tags only to variants in argument position, or wrap the result in a new method",
                    ),
                    Dir::Arg => error(
                        "candid-tag-removed",
                        path,
                        format!("removed — {} may still send it", self.sender),
                        "keep the tag (the method may reject it at run time)",
                    ),
                }),
            }
            path.pop();
        }
    }

    /// `sub` is not a subtype of `sup` and no rule applies.
    fn mismatch(&self, sub: &Type, sup: &Type, dir: Dir, path: &[String]) -> Finding {
        use TypeInner::*;
        let (old, new) = match dir {
            Dir::Arg => (sub, sup),
            Dir::Ret => (sup, sub),
        };
        let (o, n) = (show::ty(old), show::ty(new));
        let (message, hint) = match (dir, old.as_ref(), new.as_ref()) {
            (Dir::Ret, Nat, Int) => (
                format!("widened from `{o}` to `{n}` — old clients expect a `{o}`"),
                "widen `nat` to `int` only in arguments; keep returning `nat`".to_string(),
            ),
            (Dir::Arg, Int, Nat) => (
                format!(
                    "narrowed from `{o}` to `{n}` — {} may send negative numbers",
                    self.sender
                ),
                "keep accepting `int`".to_string(),
            ),
            (Dir::Arg, ..) => (
                format!("changed from `{o}` to `{n}` — {} send a `{o}`", self.sender),
                format!("accept `{o}` (or a supertype of it), or add a new method"),
            ),
            (Dir::Ret, ..) => (
                format!("changed from `{o}` to `{n}` — old clients expect a `{o}`"),
                format!("return `{o}` (or a subtype of it), or add a new method"),
            ),
        };
        error("candid-type-changed", path, message, hint)
    }

    /// The special opt rule applied: candid accepts the change, but decodes the value as
    /// `null`, silently losing it.
    fn special_opt(&self, sub: &Type, sup: &Type, dir: Dir, path: &[String]) -> Finding {
        let (old, new, who) = match dir {
            Dir::Arg => (sub, sup, format!("what {} send", self.sender)),
            Dir::Ret => (sup, sub, "what the new service returns".to_string()),
        };
        Finding::new(
            Severity::Warning,
            Area::Candid,
            "candid-special-opt",
            render_path(path),
            format!(
                "changed from `{}` to `{}`: candid accepts this only by decoding {who} as `null` — the data is silently lost",
                show::ty(old),
                show::ty(new)
            ),
        )
        .with_hint("keep the inner type compatible with the old one, or add a new field or method for the new type")
    }
}
