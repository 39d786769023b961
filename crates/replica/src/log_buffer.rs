//! [`CanisterLog`]: one canister's log records within its log memory, as stored (the blob
//! `logs/<canister id>`, JSON).

use candid::Principal;
use serde::{Deserialize, Serialize};

/// The bytes of log content a canister keeps: the IC's default `log_memory_limit`.
pub const LOG_MEMORY_LIMIT: usize = 4096;
/// The largest `log_memory_limit` a canister may set: 2 MiB.
pub const MAX_LOG_MEMORY_LIMIT: u64 = 2 << 20;

/// A canister's log, as stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct CanisterLog {
    pub(crate) next_idx: u64,
    pub(crate) records: Vec<(u64, u64, Vec<u8>)>,
}

pub(crate) fn key(id: &Principal) -> String {
    format!("logs/{id}")
}

impl CanisterLog {
    /// Adds a record, then drops the oldest until the content fits in `limit` bytes.
    pub(crate) fn push(&mut self, time: u64, content: Vec<u8>, limit: u64) {
        self.records.push((self.next_idx, time, content));
        self.next_idx += 1;
        let mut total: usize = self.records.iter().map(|r| r.2.len()).sum();
        while total as u64 > limit && !self.records.is_empty() {
            total -= self.records.remove(0).2.len();
        }
    }
}
