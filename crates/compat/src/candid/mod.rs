//! Candid upgrade compatibility: this module owns the comparison of an old and a new
//! `candid:service` (and `candid:args`) text.
//!
//! The new service must be a subtype of the old one, so that every client written against
//! the old interface keeps working: methods may be added but not removed, arguments are
//! contravariant (what old clients send must still decode: `old <: new`), results covariant
//! (what the new service returns must decode for old clients: `new <: old`).
//!
//! Candid's own check stops at the first break with one message. This module walks both
//! types itself ([`walk`]) and reports one [`Finding`] per break, located by a path such as
//! "method `create`: argument 1, record field `owner`", with a hint. Uses of candid's special
//! opt rule (a value that no longer fits an `opt` is decoded as `null`) are warnings. Candid's
//! own `subtype` check runs afterwards as a cross-check: if it rejects the change and the walk
//! found no error, one generic error carries candid's message.

mod show;
mod walk;

use std::collections::HashSet;

use candid::types::subtype::{subtype_with_config, OptReport};
use candid::types::{Field, Label, Type, TypeEnv, TypeInner};
use candid_parser::syntax::{IDLInitArgs, IDLProg};

use crate::{Area, CompatError, Finding, Severity};
use walk::{Dir, Walker};

/// Checks that the service `new` (a `.did` text) can replace `old` without breaking clients.
///
/// Both texts are `candid:service` metadata: type definitions followed by
/// `service : { ... }` or `service : (init args) -> { ... }`. Returns one finding per breaking
/// change (severity `Error`) and per use of the special opt rule (`Warning`); init args
/// present in either text are checked as by [`check_init_args`].
pub fn check_service(old: &str, new: &str) -> Result<Vec<Finding>, CompatError> {
    let (old_env, old_actor) = load_service(old, "old candid:service")?;
    let (mut env, new_actor) = load_service(new, "new candid:service")?;
    // One environment for both sides: the old side's clashing names become `Name/1`.
    let old_actor = env.merge_type(old_env, old_actor);
    let (old_init, old_serv) = split_class(&env, &old_actor, "old candid:service")?;
    let (new_init, new_serv) = split_class(&env, &new_actor, "new candid:service")?;

    let mut out = Vec::new();
    let mut walker = Walker::new(&env);
    let mut path = Vec::new();

    let old_methods = env
        .as_service(&old_serv)
        .map_err(|e| invalid("old candid:service", e))?;
    let new_methods = env
        .as_service(&new_serv)
        .map_err(|e| invalid("new candid:service", e))?;
    for (name, old_t) in old_methods {
        path.push(format!("method `{name}`"));
        match new_methods.iter().find(|(n, _)| n == name) {
            None => out.push(
                Finding::new(
                    Severity::Error,
                    Area::Candid,
                    "candid-method-removed",
                    walk::render_path(&path),
                    "removed — old clients still call it",
                )
                .with_hint("keep the method (it may trap with a deprecation message)"),
            ),
            Some((_, new_t)) => check_method(&env, &mut walker, old_t, new_t, &mut path, &mut out),
        }
        path.pop();
    }

    let mut exhausted = walker.exhausted;
    if !old_init.is_empty() || !new_init.is_empty() {
        let mut walker = Walker::new(&env).for_init_args();
        path.push("init args".to_string());
        walker.tuple(
            &old_init,
            &new_init,
            Dir::Arg,
            "argument",
            &mut path,
            &mut out,
        );
        path.pop();
        exhausted |= walker.exhausted;
    }

    // Cross-check with candid's own rules: never call compatible what candid rejects.
    let mut gamma = HashSet::new();
    if let Err(e) = subtype_with_config(OptReport::Silence, &mut gamma, &env, &new_serv, &old_serv)
    {
        cross_check_failed(
            &mut out,
            "the new service is not a subtype of the old one",
            &e,
        );
    }
    let mut gamma = HashSet::new();
    if let Err(e) = subtype_with_config(
        OptReport::Silence,
        &mut gamma,
        &env,
        &to_tuple(&old_init),
        &to_tuple(&new_init),
    ) {
        cross_check_failed(
            &mut out,
            "the old init args are not a subtype of the new ones",
            &e,
        );
    }
    if exhausted {
        out.push(truncated());
    }
    Ok(out)
}

/// Checks the init argument types (`candid:args`, e.g. `(nat, text)`, possibly preceded by
/// type definitions): arguments that were valid for the old module must stay valid for the
/// new one (`old <: new`). Paths start with "init args: argument N".
pub fn check_init_args(old: &str, new: &str) -> Result<Vec<Finding>, CompatError> {
    let (old_env, old_args) = load_args(old, "old candid:args")?;
    let (mut env, new_args) = load_args(new, "new candid:args")?;
    let old_args = match env.merge_type(old_env, to_tuple(&old_args)).as_ref() {
        TypeInner::Record(fs) => fs.iter().map(|f| f.ty.clone()).collect(),
        _ => old_args,
    };

    let mut out = Vec::new();
    let mut walker = Walker::new(&env).for_init_args();
    let mut path = vec!["init args".to_string()];
    walker.tuple(
        &old_args,
        &new_args,
        Dir::Arg,
        "argument",
        &mut path,
        &mut out,
    );

    let mut gamma = HashSet::new();
    if let Err(e) = subtype_with_config(
        OptReport::Silence,
        &mut gamma,
        &env,
        &to_tuple(&old_args),
        &to_tuple(&new_args),
    ) {
        cross_check_failed(
            &mut out,
            "the old init args are not a subtype of the new ones",
            &e,
        );
    }
    if walker.exhausted {
        out.push(truncated());
    }
    Ok(out)
}

/// One method present in both services: mode, then arguments (`old <: new`), then results
/// (`new <: old`).
fn check_method(
    env: &TypeEnv,
    walker: &mut Walker,
    old_t: &Type,
    new_t: &Type,
    path: &mut Vec<String>,
    out: &mut Vec<Finding>,
) {
    let (old_f, new_f) = match (env.as_func(old_t), env.as_func(new_t)) {
        (Ok(o), Ok(n)) => (o, n),
        // Not function types (candid_parser rejects these): leave it to the walk.
        _ => {
            walker.walk(new_t, old_t, Dir::Ret, path, out);
            return;
        }
    };
    if old_f.modes != new_f.modes {
        let (o, n) = (show::modes(&old_f.modes), show::modes(&new_f.modes));
        out.push(
            Finding::new(
                Severity::Error,
                Area::Candid,
                "candid-mode-changed",
                walk::render_path(path),
                format!("changed from {o} to {n} — old clients still make {o} calls to it"),
            )
            .with_hint(format!(
                "keep the method {o}; add a new method for the {n} version"
            )),
        );
    }
    walker.tuple(&old_f.args, &new_f.args, Dir::Arg, "argument", path, out);
    walker.tuple(&new_f.rets, &old_f.rets, Dir::Ret, "result", path, out);
}

/// Parses and type-checks a `.did` text; the service type is required.
fn load_service(text: &str, what: &str) -> Result<(TypeEnv, Type), CompatError> {
    let prog: IDLProg = text.parse().map_err(|e| invalid(what, e))?;
    let mut env = TypeEnv::new();
    let actor = candid_parser::check_prog(&mut env, &prog).map_err(|e| invalid(what, e))?;
    let actor = actor.ok_or_else(|| CompatError::Candid {
        what: what.to_string(),
        cause: "no `service` declaration".to_string(),
    })?;
    Ok((env, actor))
}

/// Parses and type-checks a `candid:args` text such as `type T = nat; (T, opt text)`.
fn load_args(text: &str, what: &str) -> Result<(TypeEnv, Vec<Type>), CompatError> {
    let prog: IDLInitArgs = text.parse().map_err(|e| invalid(what, e))?;
    let mut env = TypeEnv::new();
    let args = candid_parser::typing::check_init_args(&mut env, &TypeEnv::new(), &prog)
        .map_err(|e| invalid(what, e))?;
    Ok((env, args))
}

/// A service type's init args (empty without them) and the service itself.
fn split_class(env: &TypeEnv, actor: &Type, what: &str) -> Result<(Vec<Type>, Type), CompatError> {
    let t = env.trace_type(actor).map_err(|e| invalid(what, e))?;
    Ok(match t.as_ref() {
        TypeInner::Class(args, serv) => (args.clone(), serv.clone()),
        _ => (Vec::new(), t.clone()),
    })
}

fn to_tuple(args: &[Type]) -> Type {
    TypeInner::Record(
        args.iter()
            .enumerate()
            .map(|(i, ty)| Field {
                id: Label::Id(u32::try_from(i).unwrap_or(u32::MAX)).into(),
                ty: ty.clone(),
            })
            .collect(),
    )
    .into()
}

fn invalid(what: &str, cause: impl std::fmt::Display) -> CompatError {
    CompatError::Candid {
        what: what.to_string(),
        cause: format!("{cause:#}"),
    }
}

/// Candid rejected what the walk found no error in: report candid's verdict.
fn cross_check_failed(out: &mut Vec<Finding>, what: &str, e: &candid::Error) {
    if out.iter().any(|f| f.severity == Severity::Error) {
        return;
    }
    out.push(
        Finding::new(
            Severity::Error,
            Area::Candid,
            "candid-subtype",
            "",
            format!("{what} (candid: {})", candid_cause(e)),
        )
        .with_hint(
            "keep the old interface's types, or add new methods instead of changing old ones",
        ),
    );
}

/// Candid's reason, short: the outermost and innermost steps of its chain, with the old
/// side's renamed types (`T/1`) marked as "(old)".
fn candid_cause(e: &candid::Error) -> String {
    let text = match e {
        candid::Error::Custom(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            match chain.as_slice() {
                [first, .., last] if chain.len() > 2 => format!("{first}: … {last}"),
                _ => chain.join(": "),
            }
        }
        other => other.to_string(),
    };
    let text = text.replace("/1", " (old)");
    match text.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

fn truncated() -> Finding {
    Finding::new(
        Severity::Info,
        Area::Candid,
        "candid-truncated",
        "",
        "the types are too large or too deeply nested to explain every change; the verdict is candid's own",
    )
}
