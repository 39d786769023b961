//! Motoko stable signatures (`.most`): our own parser and checker, giving moc 4.10's verdicts
//! on whether an upgrade keeps the stable variables.
//!
//! - `types`: the data model (Motoko types, the three signature shapes);
//! - `parse`: the `.most` text format (versions 1.0.0, 3.0.0 and 4.0.0);
//! - `wellformed`: the type definitions moc refuses (non-productive, expansive), refused
//!   while parsing;
//! - `check`: moc's (stable) subtyping and signature matching, as [`Finding`]s with moc's
//!   error codes (M0169, M0170, M0216, M0263, M0255, M0253).
//!
//! `crates/compat/tests/motoko.rs` checks every verdict against moc.js on a generated corpus.

mod check;
mod parse;
pub mod types;
mod wellformed;

use crate::{CompatError, Finding};

pub use parse::parse;
pub use types::Signature;

/// Checks an upgrade from the stable signature `old` to `new` (the texts of the
/// `motoko:stable-types` sections). An `Error` finding means moc would refuse the upgrade.
/// A text that does not parse gives `CompatError::Motoko` with its line and column.
pub fn check_stable(old: &str, new: &str) -> Result<Vec<Finding>, CompatError> {
    // Parsing and checking recurse on the types' nesting (bounded by depth limits); a
    // dedicated stack keeps adversarial inputs from overflowing the caller's.
    std::thread::scope(|s| {
        let work = std::thread::Builder::new()
            .stack_size(STACK)
            .spawn_scoped(s, || {
                let old = parse::parse(old)?;
                let new = parse::parse(new)?;
                Ok(check_signatures(&old, &new))
            });
        match work {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(CompatError::Motoko {
                    line: 0,
                    column: 0,
                    cause: "internal error while checking the stable signatures".into(),
                })
            }),
            // no thread available: run here
            Err(_) => {
                let old = parse::parse(old)?;
                let new = parse::parse(new)?;
                Ok(check_signatures(&old, &new))
            }
        }
    })
}

const STACK: usize = 256 << 20;

/// [`check_stable`] on already parsed signatures.
pub fn check_signatures(old: &Signature, new: &Signature) -> Vec<Finding> {
    check::check(old, new)
}
