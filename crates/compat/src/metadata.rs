//! `icp:public NAME` / `icp:private NAME` custom sections: reading and writing them.
//! (Being written: see the issue "Safe upgrades".)

use crate::CompatError;

/// Who may read a metadata section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

/// One `icp:` custom section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataSection {
    /// The name after the `icp:public ` / `icp:private ` prefix, e.g. `candid:service`.
    pub name: String,
    pub visibility: Visibility,
    pub content: Vec<u8>,
}

/// The `icp:` custom sections of a module (raw or gzipped Wasm).
pub fn read(_wasm: &[u8]) -> Result<Vec<MetadataSection>, CompatError> {
    Ok(Vec::new())
}
