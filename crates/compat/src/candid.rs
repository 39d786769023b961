//! Candid compatibility: the new service must be a subtype of the old one.
//! (Being written: see the issue "Safe upgrades".)

use crate::{CompatError, Finding};

/// Checks that the service `new` (a `.did` text) can replace `old` without breaking clients.
pub fn check_service(_old: &str, _new: &str) -> Result<Vec<Finding>, CompatError> {
    Ok(Vec::new())
}

/// Checks the init argument types (`candid:args`, e.g. `(nat, text)`): arguments that were
/// valid for the old module must stay valid for the new one.
pub fn check_init_args(_old: &str, _new: &str) -> Result<Vec<Finding>, CompatError> {
    Ok(Vec::new())
}
