//! [`StateHashes`]: digests of a canister's committed state, to prove that a failed operation
//! changed nothing.

use candid::Principal;

use crate::error::{CallError, ReplicaError};
use crate::record::CanisterRecord;
use crate::replica::Replica;

/// Digests of everything a canister's state consists of, to check that a failed operation
/// changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateHashes {
    pub module_hash: Option<String>,
    pub version: u64,
    /// SHA-256 of the committed heap, `heap_size` bytes.
    pub heap: String,
    pub heap_size: u64,
    /// SHA-256 of the committed stable memory.
    pub stable: String,
    pub stable_size: u64,
    pub globals: String,
    pub certified_data: Vec<u8>,
    pub global_timer: u64,
}

impl Replica {
    /// Hashes the committed state of a canister (reading its memory files).
    pub fn state_hashes(&self, id: &Principal) -> Result<StateHashes, CallError> {
        use sha2::{Digest, Sha256};
        use std::os::unix::fs::FileExt;
        let record = &self.get(id)?.record;
        let hash_memory = |name: &str, size: u64| -> Result<String, CallError> {
            let mut h = Sha256::new();
            if let Some(m) = self.store.memory(name) {
                let mut buf = vec![0u8; 1 << 20];
                let mut off = 0u64;
                while off < size {
                    let n = (size - off).min(buf.len() as u64) as usize;
                    m.file.read_exact_at(&mut buf[..n], off).map_err(|e| {
                        ReplicaError::CorruptRecord {
                            key: name.to_string(),
                            cause: e.to_string(),
                        }
                    })?;
                    h.update(&buf[..n]);
                    off += n as u64;
                }
            } else if size > 0 {
                return Err(ReplicaError::CorruptRecord {
                    key: name.to_string(),
                    cause: "memory file missing".into(),
                }
                .into());
            }
            Ok(hex::encode(h.finalize()))
        };
        Ok(StateHashes {
            module_hash: record.module_hash.clone(),
            version: record.version,
            heap: hash_memory(&CanisterRecord::heap_name(id), record.heap_size)?,
            heap_size: record.heap_size,
            stable: hash_memory(&CanisterRecord::stable_name(id), record.stable_size)?,
            stable_size: record.stable_size,
            globals: serde_json::to_string(&record.globals).unwrap_or_default(),
            certified_data: record.certified_data.clone(),
            global_timer: record.global_timer,
        })
    }
}
