//! Wasm structure checks between two modules: exports, hooks, imports, the EOP marker.
//! (Being written: see the issue "Safe upgrades".)

use crate::metadata::MetadataSection;
use crate::{CompatError, Finding};

/// What the structure checks need to know of a module.
#[derive(Clone, Debug, Default)]
pub struct ModuleInfo {
    pub metadata: Vec<MetadataSection>,
}

/// Parses a module (raw or gzipped).
pub fn parse_module(wasm: &[u8]) -> Result<ModuleInfo, CompatError> {
    Ok(ModuleInfo {
        metadata: crate::metadata::read(wasm)?,
    })
}

/// Structural differences between OLD and NEW that break clients, lose the ability to
/// upgrade, or cannot run. `provides(module, name)`: whether the replica provides an import.
pub fn check_structure(
    _old: &ModuleInfo,
    _new: &ModuleInfo,
    _provides: &dyn Fn(&str, &str) -> bool,
) -> Vec<Finding> {
    Vec::new()
}
