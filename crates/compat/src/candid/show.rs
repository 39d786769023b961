//! Short, one-line renderings of Candid types and modes for findings.

use candid::types::{FuncMode, Label, Type, TypeInner};

/// Longest rendering of a composite type before its body is elided to `{ … }`.
const MAX_LEN: usize = 60;

/// A type as a finding names it: `opt principal`, `Account`, `record { owner : principal }`.
/// Type names keep their `.did` spelling (the `/1` that merging two environments appends to
/// the old side's names is dropped).
pub(crate) fn ty(t: &Type) -> String {
    show(t, 0)
}

/// A type name without the suffix `TypeEnv::merge_type` gives the old side's names.
pub(crate) fn name(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// A field label: its name, or its number for tuple components and hashed labels.
pub(crate) fn label(l: &Label) -> String {
    match l {
        Label::Named(n) => n.clone(),
        Label::Id(n) | Label::Unnamed(n) => n.to_string(),
    }
}

/// A method's mode as written in a `.did` file (`update` when no annotation).
pub(crate) fn modes(m: &[FuncMode]) -> String {
    if m.is_empty() {
        return "update".to_string();
    }
    m.iter()
        .map(|m| match m {
            FuncMode::Oneway => "oneway",
            FuncMode::Query => "query",
            FuncMode::CompositeQuery => "composite_query",
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn show(t: &Type, depth: usize) -> String {
    use TypeInner::*;
    if depth > 8 {
        return "…".to_string();
    }
    let s = match t.as_ref() {
        Null => "null".into(),
        Bool => "bool".into(),
        Nat => "nat".into(),
        Int => "int".into(),
        Nat8 => "nat8".into(),
        Nat16 => "nat16".into(),
        Nat32 => "nat32".into(),
        Nat64 => "nat64".into(),
        Int8 => "int8".into(),
        Int16 => "int16".into(),
        Int32 => "int32".into(),
        Int64 => "int64".into(),
        Float32 => "float32".into(),
        Float64 => "float64".into(),
        Text => "text".into(),
        Reserved => "reserved".into(),
        Empty => "empty".into(),
        Principal => "principal".into(),
        Future => "future".into(),
        Unknown => "unknown".into(),
        Knot(id) => format!("{id}"),
        Var(id) => name(id).to_string(),
        Opt(t) => format!("opt {}", show(t, depth + 1)),
        Vec(t) if matches!(t.as_ref(), Nat8) => "blob".into(),
        Vec(t) => format!("vec {}", show(t, depth + 1)),
        Record(fs) if t.is_tuple() => {
            let parts: std::vec::Vec<String> = fs.iter().map(|f| show(&f.ty, depth + 1)).collect();
            braces("record", &parts)
        }
        Record(fs) => {
            let parts: std::vec::Vec<String> = fs
                .iter()
                .map(|f| format!("{} : {}", label(&f.id), show(&f.ty, depth + 1)))
                .collect();
            braces("record", &parts)
        }
        Variant(fs) => {
            let parts: std::vec::Vec<String> = fs
                .iter()
                .map(|f| match f.ty.as_ref() {
                    Null => label(&f.id),
                    _ => format!("{} : {}", label(&f.id), show(&f.ty, depth + 1)),
                })
                .collect();
            braces("variant", &parts)
        }
        Func(f) => {
            let args: std::vec::Vec<String> = f.args.iter().map(|t| show(t, depth + 1)).collect();
            let rets: std::vec::Vec<String> = f.rets.iter().map(|t| show(t, depth + 1)).collect();
            let mode = if f.modes.is_empty() {
                String::new()
            } else {
                format!(" {}", modes(&f.modes))
            };
            let s = format!("func ({}) -> ({}){mode}", args.join(", "), rets.join(", "));
            if s.len() > MAX_LEN {
                "func (…) -> (…)".into()
            } else {
                s
            }
        }
        Service(ms) => {
            let parts: std::vec::Vec<String> = ms.iter().map(|(m, _)| format!("{m} : …")).collect();
            braces("service", &parts)
        }
        Class(args, t) => {
            let args: std::vec::Vec<String> = args.iter().map(|t| show(t, depth + 1)).collect();
            format!("({}) -> {}", args.join(", "), show(t, depth + 1))
        }
    };
    s
}

fn braces(kw: &str, parts: &[String]) -> String {
    if parts.is_empty() {
        return format!("{kw} {{}}");
    }
    let s = format!("{kw} {{ {} }}", parts.join("; "));
    if s.len() > MAX_LEN {
        format!("{kw} {{ … }}")
    } else {
        s
    }
}
