//! Motoko stable signatures (`.most`): parser and checker with moc 4.10's verdicts.
//! (Being written: see the issue "Safe upgrades".)

use crate::{CompatError, Finding};

/// Checks an upgrade from the stable signature `old` to `new`.
pub fn check_stable(_old: &str, _new: &str) -> Result<Vec<Finding>, CompatError> {
    Ok(Vec::new())
}
