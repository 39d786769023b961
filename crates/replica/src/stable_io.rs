//! A canister's stable memory read and replaced from outside, as test harnesses do
//! (PocketIC's `get_stable_memory` and `set_stable_memory`). Not an IC operation: no message
//! runs, and the canister sees the new memory at its next execution.

use candid::Principal;
use drydock_state::{Batch, PAGE_SIZE};

use crate::error::{CallError, ReplicaError};
use crate::record::CanisterRecord;
use crate::replica::Replica;

/// A Wasm page: stable memory grows in these.
const WASM_PAGE: u64 = 64 * 1024;

impl Replica {
    /// The canister's stable memory, as committed.
    pub fn stable_memory(&self, id: &Principal) -> Result<Vec<u8>, CallError> {
        let size = self.get(id)?.record.stable_size;
        let len = usize::try_from(size)
            .map_err(|_| ReplicaError::Internal(format!("a stable memory of {size} bytes")))?;
        let mut bytes = vec![0; len];
        if len > 0 {
            self.store
                .read_memory(&CanisterRecord::stable_name(id), 0, &mut bytes)?;
        }
        Ok(bytes)
    }

    /// Replaces the canister's stable memory with `bytes`, sized up to whole Wasm pages
    /// (zeros after `bytes`), in one commit.
    pub fn set_stable_memory(&mut self, id: &Principal, bytes: &[u8]) -> Result<(), CallError> {
        if self.busy.contains(id) {
            return Err(ReplicaError::Internal(format!(
                "canister {id} is executing; its stable memory cannot be replaced now"
            ))
            .into());
        }
        let mut record = self.get(id)?.record.clone();
        let size = (bytes.len() as u64).div_ceil(WASM_PAGE) * WASM_PAGE;
        let pages: Vec<(u64, Vec<u8>)> = bytes
            .chunks(PAGE_SIZE as usize)
            .enumerate()
            .filter(|(_, chunk)| chunk.iter().any(|b| *b != 0))
            .map(|(i, chunk)| {
                let mut page = chunk.to_vec();
                page.resize(PAGE_SIZE as usize, 0);
                (i as u64, page)
            })
            .collect();
        record.stable_size = size;
        let json = serde_json::to_vec(&record).map_err(|e| ReplicaError::CorruptRecord {
            key: CanisterRecord::key(id),
            cause: e.to_string(),
        })?;
        let mut batch = Batch::default();
        batch.put_blob(CanisterRecord::key(id), json);
        batch.write_memory(CanisterRecord::stable_name(id), true, size, pages);
        self.store_commit(batch)?;
        let canister = self.get_mut(id)?;
        canister.record = record;
        // The next execution maps the committed memory afresh.
        canister.instance = None;
        Ok(())
    }
}
