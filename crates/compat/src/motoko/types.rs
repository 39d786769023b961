//! The Motoko types a stable signature talks about, and the signature itself.
//!
//! This module owns the data model only: [`Type`] (the subset of moc's `Type.typ` that can
//! appear in a `.most` file), type definitions ([`TypeDef`]) and the three signature shapes
//! ([`StabSig`]): a plain actor (`// Version: 1.0.0`), an actor with one explicit migration
//! function (`3.0.0`, pre and post fields) and an actor built by a chain of named migration
//! functions (`4.0.0`, `--enhanced-migration`). Parsing lives in `parse`, checking in `check`.

use std::collections::BTreeMap;
use std::fmt;

/// Motoko's primitive types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prim {
    Null,
    Bool,
    Nat,
    Nat8,
    Nat16,
    Nat32,
    Nat64,
    Int,
    Int8,
    Int16,
    Int32,
    Int64,
    Float,
    Char,
    Text,
    Blob,
    Error,
    Principal,
    Region,
}

impl Prim {
    pub fn from_name(name: &str) -> Option<Prim> {
        Some(match name {
            "Null" => Prim::Null,
            "Bool" => Prim::Bool,
            "Nat" => Prim::Nat,
            "Nat8" => Prim::Nat8,
            "Nat16" => Prim::Nat16,
            "Nat32" => Prim::Nat32,
            "Nat64" => Prim::Nat64,
            "Int" => Prim::Int,
            "Int8" => Prim::Int8,
            "Int16" => Prim::Int16,
            "Int32" => Prim::Int32,
            "Int64" => Prim::Int64,
            "Float" => Prim::Float,
            "Char" => Prim::Char,
            "Text" => Prim::Text,
            "Blob" => Prim::Blob,
            "Error" => Prim::Error,
            "Principal" => Prim::Principal,
            "Region" => Prim::Region,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Prim::Null => "Null",
            Prim::Bool => "Bool",
            Prim::Nat => "Nat",
            Prim::Nat8 => "Nat8",
            Prim::Nat16 => "Nat16",
            Prim::Nat32 => "Nat32",
            Prim::Nat64 => "Nat64",
            Prim::Int => "Int",
            Prim::Int8 => "Int8",
            Prim::Int16 => "Int16",
            Prim::Int32 => "Int32",
            Prim::Int64 => "Int64",
            Prim::Float => "Float",
            Prim::Char => "Char",
            Prim::Text => "Text",
            Prim::Blob => "Blob",
            Prim::Error => "Error",
            Prim::Principal => "Principal",
            Prim::Region => "Region",
        }
    }
}

/// `object`, `actor` or `module` (a plain record `{..}` is an `Object`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjSort {
    Object,
    Actor,
    Module,
}

/// A function's sort: local, or shared (update, query, composite query).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FuncSort {
    Local,
    Write,
    Query,
    Composite,
}

/// Whether a function returns directly or through a future (`async`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Control {
    Returns,
    Promises,
}

/// `async` (a future) or `async*` (a computation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsyncSort {
    Fut,
    Cmp,
}

/// A record field, object member or variant tag. Lists of fields are kept sorted by label.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub lab: String,
    pub typ: Type,
}

/// A type as it appears in a stable signature. Type constructors (`Con`) refer to the
/// signature's own `type` definitions and are expanded on demand; primitive names, `Any` and
/// `None` are resolved while parsing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Prim(Prim),
    /// A use of a type definition of the signature, with its arguments.
    Con(String, Vec<Type>),
    /// The `i`-th parameter of the enclosing type definition.
    Param(usize),
    /// A type parameter of an enclosing generic function type, by binder name.
    Var(String),
    Obj(ObjSort, Vec<Field>),
    Variant(Vec<Field>),
    Array(Box<Type>),
    Opt(Box<Type>),
    Tup(Vec<Type>),
    Func(FuncSort, Control, Vec<Type>, Vec<Type>, Vec<Type>),
    Async(AsyncSort, Box<Type>),
    /// A mutable slot (`var T`): a `var` field or the elements of `[var T]`.
    Mut(Box<Type>),
    Weak(Box<Type>),
    Any,
    Non,
}

impl Type {
    /// The type with a top-level `var` removed (moc's `as_immut`).
    pub fn as_immut(&self) -> &Type {
        match self {
            Type::Mut(t) => t,
            t => t,
        }
    }

    /// Calls `f` on each type directly inside this one (not recursively).
    pub fn for_each_child<'a>(&'a self, f: &mut impl FnMut(&'a Type)) {
        match self {
            Type::Prim(_) | Type::Param(_) | Type::Var(_) | Type::Any | Type::Non => {}
            Type::Con(_, ts) | Type::Tup(ts) => ts.iter().for_each(f),
            Type::Obj(_, fs) | Type::Variant(fs) => fs.iter().for_each(|x| f(&x.typ)),
            Type::Array(t) | Type::Opt(t) | Type::Async(_, t) | Type::Mut(t) | Type::Weak(t) => {
                f(t)
            }
            Type::Func(_, _, bs, a, r) => bs.iter().chain(a).chain(r).for_each(f),
        }
    }

    /// Calls `f` on every use of a type definition inside this type, the arguments of uses
    /// included, outermost first.
    pub fn for_each_con<'a>(&'a self, f: &mut impl FnMut(&'a str, &'a [Type])) {
        if let Type::Con(n, ts) = self {
            f(n, ts);
        }
        self.for_each_child(&mut |t| t.for_each_con(f));
    }

    /// Whether the definition parameter `Param(i)` occurs in this type.
    pub fn mentions_param(&self, i: usize) -> bool {
        if *self == Type::Param(i) {
            return true;
        }
        let mut found = false;
        self.for_each_child(&mut |t| found = found || t.mentions_param(i));
        found
    }

    /// Replaces the definition parameters `Param(i)` by `args[i]`.
    pub fn subst(&self, args: &[Type]) -> Type {
        let s = |t: &Type| t.subst(args);
        let fs = |fs: &[Field]| {
            fs.iter()
                .map(|f| Field {
                    lab: f.lab.clone(),
                    typ: f.typ.subst(args),
                })
                .collect()
        };
        match self {
            Type::Param(i) => args.get(*i).cloned().unwrap_or(Type::Any),
            Type::Prim(_) | Type::Var(_) | Type::Any | Type::Non => self.clone(),
            Type::Con(n, ts) => Type::Con(n.clone(), ts.iter().map(s).collect()),
            Type::Obj(o, f) => Type::Obj(*o, fs(f)),
            Type::Variant(f) => Type::Variant(fs(f)),
            Type::Array(t) => Type::Array(Box::new(s(t))),
            Type::Opt(t) => Type::Opt(Box::new(s(t))),
            Type::Tup(ts) => Type::Tup(ts.iter().map(s).collect()),
            Type::Func(so, c, bs, a, r) => Type::Func(
                *so,
                *c,
                bs.iter().map(s).collect(),
                a.iter().map(s).collect(),
                r.iter().map(s).collect(),
            ),
            Type::Async(a, t) => Type::Async(*a, Box::new(s(t))),
            Type::Mut(t) => Type::Mut(Box::new(s(t))),
            Type::Weak(t) => Type::Weak(Box::new(s(t))),
        }
    }
}

/// `type Name<P1, P2> = body;` — the body refers to its parameters as [`Type::Param`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeDef {
    pub params: usize,
    pub body: Type,
}

/// One stable variable: `stable var x : T` (`mutable`), `stable x : T`, or in a 3.0.0 pre
/// signature `in x : T` (`required`: the migration function consumes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StableField {
    pub name: String,
    pub mutable: bool,
    pub required: bool,
    pub typ: Type,
}

/// One named migration function of a 4.0.0 signature: `"label" : {dom} -> {cod}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    pub label: String,
    /// The record fields the function consumes.
    pub dom: Vec<Field>,
    /// The record fields it produces.
    pub cod: Vec<Field>,
}

/// The three shapes of stable signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StabSig {
    /// `// Version: 1.0.0`: `actor { stable .. }`.
    Single(Vec<StableField>),
    /// `// Version: 3.0.0`: `actor ({pre}, {post})`, from `(with migration = ..)`.
    PrePost(Vec<StableField>, Vec<StableField>),
    /// `// Version: 4.0.0`: `{ "label" : dom -> cod; .. } actor { .. }`, from
    /// `--enhanced-migration`. Migrations are kept in their label order.
    Multi(Vec<Migration>, Vec<StableField>),
}

/// A parsed `.most` file: the type definitions and the signature, fields sorted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The `// Version: x.y.z` header, when present.
    pub version: Option<String>,
    pub defs: BTreeMap<String, TypeDef>,
    pub sig: StabSig,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn fields(f: &mut fmt::Formatter<'_>, fs: &[Field], tag: bool) -> fmt::Result {
            if tag && fs.is_empty() {
                return write!(f, "{{#}}");
            }
            write!(f, "{{")?;
            for (i, fl) in fs.iter().enumerate() {
                if i > 0 {
                    write!(f, "; ")?;
                }
                match (&fl.typ, tag) {
                    (Type::Tup(ts), true) if ts.is_empty() => write!(f, "#{}", fl.lab)?,
                    (t, true) => write!(f, "#{} : {t}", fl.lab)?,
                    (Type::Mut(t), false) => write!(f, "var {} : {t}", fl.lab)?,
                    (t, false) => write!(f, "{} : {t}", fl.lab)?,
                }
            }
            write!(f, "}}")
        }
        fn list(f: &mut fmt::Formatter<'_>, ts: &[Type]) -> fmt::Result {
            for (i, t) in ts.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{t}")?;
            }
            Ok(())
        }
        match self {
            Type::Prim(p) => write!(f, "{}", p.name()),
            Type::Con(n, ts) => {
                write!(f, "{n}")?;
                if !ts.is_empty() {
                    write!(f, "<")?;
                    list(f, ts)?;
                    write!(f, ">")?;
                }
                Ok(())
            }
            Type::Param(i) => write!(f, "T{i}"),
            Type::Var(v) => write!(f, "{v}"),
            Type::Obj(s, fs) => {
                match s {
                    ObjSort::Object => {}
                    ObjSort::Actor => write!(f, "actor ")?,
                    ObjSort::Module => write!(f, "module ")?,
                }
                fields(f, fs, false)
            }
            Type::Variant(fs) => fields(f, fs, true),
            Type::Array(t) => match &**t {
                Type::Mut(t) => write!(f, "[var {t}]"),
                t => write!(f, "[{t}]"),
            },
            Type::Opt(t) => write!(f, "?{t}"),
            Type::Tup(ts) => {
                write!(f, "(")?;
                list(f, ts)?;
                write!(f, ")")
            }
            Type::Func(s, c, _, a, r) => {
                match s {
                    FuncSort::Local => {}
                    FuncSort::Write => write!(f, "shared ")?,
                    FuncSort::Query => write!(f, "shared query ")?,
                    FuncSort::Composite => write!(f, "shared composite query ")?,
                }
                write!(f, "(")?;
                list(f, a)?;
                write!(f, ") -> ")?;
                if *c == Control::Promises {
                    write!(f, "async ")?;
                }
                write!(f, "(")?;
                list(f, r)?;
                write!(f, ")")
            }
            Type::Async(AsyncSort::Fut, t) => write!(f, "async {t}"),
            Type::Async(AsyncSort::Cmp, t) => write!(f, "async* {t}"),
            Type::Mut(t) => write!(f, "var {t}"),
            Type::Weak(t) => write!(f, "weak {t}"),
            Type::Any => write!(f, "Any"),
            Type::Non => write!(f, "None"),
        }
    }
}
