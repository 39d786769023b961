//! The hotfix layout check: may NEW replace OLD while the heap, globals and stable memory are
//! kept and no hook runs? (Being written: see the issue "Safe upgrades".)

use crate::{CompatError, Finding};

/// `Ok(None)` when the layouts are the same; otherwise the first difference.
pub fn check_hotfix_layout(_old: &[u8], _new: &[u8]) -> Result<Option<Finding>, CompatError> {
    Ok(None)
}
