//! Canister snapshots: `take_canister_snapshot`, `load_canister_snapshot`,
//! `list_canister_snapshots` and `delete_canister_snapshot`, as in the IC's `ic.did`.
//!
//! # Layout in the state directory
//! - metadata: the blob `snapshot/<canister id>/<local id as 16 hex digits>`, a JSON
//!   [`SnapshotMeta`] (module hash, globals, certified data, chunk store, version at take,
//!   timer, hook status, sizes, time);
//! - memories: the state crate's read-only snapshots `snapshot/<canister id>/<local id>/heap`
//!   and `.../stable` of the canister's committed memories (taken in constant time; pages are
//!   shared with the live memory until it overwrites them);
//! - the module stays in the content store under its hash (content is never deleted).
//!
//! # Invariants
//! - A snapshot id is the 8-byte big-endian local id followed by the canister's principal;
//!   local ids come from `CanisterRecord::next_snapshot_id` and are never reused.
//! - Take and load are each one `Store::commit`: record, metadata and memory operations
//!   together, or nothing. `replace_snapshot` deletes the old snapshot in the same commit that
//!   creates the new one; `uninstall_code` uninstalls in that commit too.
//! - Snapshots survive `uninstall_code` (and every `install_code`); `delete_canister` deletes
//!   them in its commit.
//! - Load replaces module, heap, stable memory, globals, certified data and chunk store, bumps
//!   the version and records a `load_snapshot` change. As on the IC, the global timer and the
//!   low-memory hook status are restored only for snapshots made by a metadata upload, never
//!   for those taken from a canister. The cached instance is dropped: the memories changed
//!   under it and may have shrunk.

use candid::{Principal, Reserved};
use drydock_exec::fees;
use drydock_state::Batch;
use ic_management_canister_types::{
    ChangeDetails, DeleteCanisterSnapshotArgs, LoadCanisterSnapshotArgs, LoadSnapshotRecord,
    OnLowWasmMemoryHookStatus, Snapshot, SnapshotSource, SnapshotVisibility,
    TakeCanisterSnapshotArgs,
};

use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::management::{ensure_controller, push_change};
use crate::record::CanisterRecord;
use crate::replica::Replica;
use crate::state_hashes::StateHashes;

use crate::snapshot_meta::*;
pub use crate::snapshot_meta::{SnapshotInfo, MAX_SNAPSHOTS_PER_CANISTER};

/// How the IC words a snapshot the canister cannot pay for, before the IC0207 text.
const SNAPSHOT_FAILED: &str = "Canister snapshotting failed with:";

impl Replica {
    /// The metadata of snapshot `local` of `canister`, if it exists.
    fn snapshot_meta(
        &self,
        canister: &Principal,
        local: u64,
    ) -> Result<Option<SnapshotMeta>, ReplicaError> {
        let key = meta_key(canister, local);
        let Some(bytes) = self.store.blob(&key) else {
            return Ok(None);
        };
        serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|e| ReplicaError::CorruptRecord {
                key,
                cause: e.to_string(),
            })
    }

    /// All snapshots of a canister, oldest (lowest local id) first.
    pub(crate) fn snapshot_metas(
        &self,
        canister: &Principal,
    ) -> Result<Vec<SnapshotMeta>, ReplicaError> {
        let prefix = format!("snapshot/{canister}/");
        let mut metas = Vec::new();
        for key in self.store.blob_keys(&prefix) {
            let bytes = self.store.blob(&key).unwrap_or_default();
            let meta: SnapshotMeta =
                serde_json::from_slice(bytes).map_err(|e| ReplicaError::CorruptRecord {
                    key: key.clone(),
                    cause: e.to_string(),
                })?;
            metas.push(meta);
        }
        metas.sort_by_key(|m| m.local_id);
        Ok(metas)
    }

    /// The snapshot `id`, which must belong to `canister`: not found (305) if no such snapshot
    /// exists, someone else's (406) if it belongs to another canister.
    pub(crate) fn owned_snapshot(
        &self,
        canister: &Principal,
        id: &[u8],
    ) -> Result<SnapshotMeta, CallError> {
        let parsed = parse_id(id)?;
        let meta = self
            .snapshot_meta(&parsed.owner, parsed.local)?
            .ok_or_else(|| not_found(id, canister))?;
        if parsed.owner != *canister {
            return Err(not_owned(id, canister).into());
        }
        Ok(meta)
    }

    /// Adds the deletion of a snapshot (memories and metadata) to `batch`.
    pub(crate) fn delete_snapshot_into(meta: &SnapshotMeta, batch: &mut Batch) {
        batch.delete_memory(heap_name(&meta.canister_id, meta.local_id));
        batch.delete_memory(stable_name(&meta.canister_id, meta.local_id));
        batch.delete_memory(crate::snapshot_meta::module_name(
            &meta.canister_id,
            meta.local_id,
        ));
        batch.delete_blob(meta_key(&meta.canister_id, meta.local_id));
    }

    /// Adds the deletion of every snapshot of `canister` to `batch` (for `delete_canister`).
    pub(crate) fn delete_all_snapshots_into(
        &self,
        canister: &Principal,
        batch: &mut Batch,
    ) -> Result<(), ReplicaError> {
        for meta in self.snapshot_metas(canister)? {
            Self::delete_snapshot_into(&meta, batch);
        }
        Ok(())
    }

    /// The total size of a canister's snapshots, for `canister_status`.
    pub(crate) fn snapshots_size(&self, canister: &Principal) -> Result<u64, ReplicaError> {
        Ok(self
            .snapshot_metas(canister)?
            .iter()
            .map(|m| m.total_size)
            .sum())
    }

    pub(crate) fn take_canister_snapshot(
        &mut self,
        sender: Principal,
        args: TakeCanisterSnapshotArgs,
    ) -> Result<Snapshot, CallError> {
        self.take_labelled_snapshot(sender, args, None)
    }

    /// `take_canister_snapshot` with a label kept next to the snapshot (see
    /// [`SnapshotInfo::label`]).
    pub fn take_labelled_snapshot(
        &mut self,
        sender: Principal,
        args: TakeCanisterSnapshotArgs,
        label: Option<String>,
    ) -> Result<Snapshot, CallError> {
        let id = args.canister_id;
        let mut record = self.get(&id)?.record.clone();
        ensure_controller(&record, &sender)?;
        let replaced = args
            .replace_snapshot
            .as_deref()
            .map(|old| self.owned_snapshot(&id, old))
            .transpose()?;
        if replaced.is_none() && self.snapshot_metas(&id)?.len() >= MAX_SNAPSHOTS_PER_CANISTER {
            return Err(UserError::new(
                ErrorCode::CanisterRejectedMessage,
                format!(
                    "Canister {id} has reached the maximum number of snapshots allowed: {MAX_SNAPSHOTS_PER_CANISTER}. Consider deleting an unnecessary snapshot of the specified canister before creating a new one."
                ),
            )
            .into());
        }
        let Some(module_hash) = record.module_hash.clone() else {
            return Err(UserError::new(
                ErrorCode::CanisterRejectedMessage,
                format!("Failed to create snapshot for empty canister {id}"),
            )
            .into());
        };
        let module_size = self
            .module_of(&record)?
            .map(|m| m.prepared.wasm.len() as u64)
            .unwrap_or(0);

        let local = record.next_snapshot_id;
        let now = self.now();
        let globals_size = (record.globals.len() * 8) as u64;
        let meta = SnapshotMeta {
            canister_id: id,
            local_id: local,
            source: Source::TakenFromCanister,
            taken_at_timestamp: now,
            canister_version: record.version,
            module_hash,
            module_size,
            globals: record.globals.clone(),
            certified_data: record.certified_data.clone(),
            global_timer: record.global_timer,
            // drydock does not run the low-memory hook yet: its condition never holds.
            on_low_wasm_memory_hook_status: OnLowWasmMemoryHookStatus::ConditionNotSatisfied,
            heap_size: record.heap_size,
            stable_size: record.stable_size,
            wasm_chunk_store: record.chunk_store.clone(),
            total_size: record.heap_size
                + record.stable_size
                + module_size
                + record.certified_data.len() as u64
                + globals_size,
            label,
            upload: None,
        };

        // "Canister snapshots": paid as an execution of the IC's baseline and the snapshot's
        // bytes, above the freezing threshold.
        let cost = fees::take_snapshot(meta.total_size);
        self.pay_for_operation(&mut record, cost, &sender, SNAPSHOT_FAILED)?;

        let mut batch = Batch::default();
        for (snap, live, size) in [
            (
                heap_name(&id, local),
                CanisterRecord::heap_name(&id),
                record.heap_size,
            ),
            (
                stable_name(&id, local),
                CanisterRecord::stable_name(&id),
                record.stable_size,
            ),
        ] {
            if self.store.memory(&live).is_some() {
                batch.snapshot_memory(snap, live);
            } else if size > 0 {
                return Err(ReplicaError::CorruptRecord {
                    key: CanisterRecord::key(&id),
                    cause: format!("memory {live} of {size} bytes is missing"),
                }
                .into());
            }
        }
        let key = meta_key(&id, local);
        batch.put_blob(key.clone(), to_json(&key, &meta)?);
        if let Some(old) = &replaced {
            Self::delete_snapshot_into(old, &mut batch);
        }
        record.next_snapshot_id += 1;
        let uninstall = args.uninstall_code == Some(true);
        if uninstall {
            // After the snapshot operations: the batch snapshots the memories, then deletes them.
            self.uninstall_into(&mut record, sender, &mut batch);
        }
        let record_key = CanisterRecord::key(&id);
        batch.put_blob(record_key.clone(), to_json(&record_key, &record)?);
        let committed = self.store.commit(batch);
        self.apply_staged(committed.is_ok());
        committed?;
        let c = self.get_mut(&id)?;
        c.record = record;
        if uninstall {
            c.instance = None;
        }
        // Otherwise the instance stays: a snapshot leaves the live memory files as they are
        // (later commits keep the pages they overwrite as the snapshot's before-images).
        Ok(meta.to_candid())
    }

    pub(crate) fn load_canister_snapshot(
        &mut self,
        sender: Principal,
        args: LoadCanisterSnapshotArgs,
    ) -> Result<(), CallError> {
        let target = args.canister_id;
        let snapshot = &args.snapshot_id;
        let mut record = self.get(&target)?.record.clone();
        ensure_controller(&record, &sender)?;
        let parsed = parse_id(snapshot)?;
        let meta = self
            .snapshot_meta(&parsed.owner, parsed.local)?
            .ok_or_else(|| not_found(snapshot, &target))?;
        let from_canister_id = if parsed.owner == target {
            None
        } else {
            let owner = self.get(&parsed.owner)?;
            if !owner.record.settings.controllers.contains(&sender) {
                return Err(UserError::new(
                    ErrorCode::CanisterRejectedMessage,
                    format!(
                        "Only a controller of the canister that snapshot {} belongs to can load it on canister {target}. Sender: {sender}.",
                        show(snapshot)
                    ),
                )
                .into());
            }
            Some(parsed.owner)
        };
        if let Some(upload) = &meta.upload {
            upload.ensure_complete(snapshot, &meta)?;
        }
        let cost = fees::load_snapshot(meta.total_size);
        self.pay_for_operation(&mut record, cost, &sender, SNAPSHOT_FAILED)?;

        let mut batch = Batch::default();
        for (live, snap, size) in [
            (
                CanisterRecord::heap_name(&target),
                heap_name(&parsed.owner, parsed.local),
                meta.heap_size,
            ),
            (
                CanisterRecord::stable_name(&target),
                stable_name(&parsed.owner, parsed.local),
                meta.stable_size,
            ),
        ] {
            // A taken snapshot's memories are state-crate snapshots; an uploaded one's are
            // plain memories (uploads write into them). Restore reads either.
            if self.store.snapshot_size(&snap).is_some() || self.store.memory(&snap).is_some() {
                batch.restore_memory(live, snap);
            } else if size == 0 {
                if self.store.memory(&live).is_some() {
                    batch.delete_memory(live);
                }
            } else {
                return Err(ReplicaError::CorruptRecord {
                    key: meta_key(&parsed.owner, parsed.local),
                    cause: format!("snapshot memory {snap} of {size} bytes is missing"),
                }
                .into());
            }
        }

        record.module_hash = Some(meta.module_hash.clone());
        // The module must be at hand (and compile) before anything is committed.
        let module = self.module_of(&record)?;
        record.globals = match &meta.upload {
            None => meta.globals.clone(),
            Some(upload) => upload.globals_for(module.as_deref(), snapshot)?,
        };
        record.certified_data = meta.certified_data.clone();
        record.chunk_store = meta.wasm_chunk_store.clone();
        record.heap_size = meta.heap_size;
        record.stable_size = meta.stable_size;
        // As on the IC: the timer only for an uploaded snapshot, and only when its metadata
        // gave one.
        if let Some(timer) = meta.upload.as_ref().and_then(|u| u.global_timer) {
            record.global_timer = timer;
        }
        record.version += 1;
        let now = self.now();
        push_change(
            &mut record,
            now,
            sender,
            ChangeDetails::LoadSnapshot(LoadSnapshotRecord {
                from_canister_id,
                snapshot_id: snapshot.clone(),
                canister_version: meta.canister_version,
                taken_at_timestamp: meta.taken_at_timestamp,
                source: match meta.source {
                    Source::TakenFromCanister => SnapshotSource::TakenFromCanister(Reserved),
                    Source::MetadataUpload => SnapshotSource::MetadataUpload(Reserved),
                },
            }),
        );
        let record_key = CanisterRecord::key(&target);
        batch.put_blob(record_key.clone(), to_json(&record_key, &record)?);
        self.store.commit(batch)?;
        let c = self.get_mut(&target)?;
        c.record = record;
        c.instance = None;
        Ok(())
    }

    pub(crate) fn list_canister_snapshots(
        &self,
        sender: Principal,
        canister: Principal,
    ) -> Result<Vec<Snapshot>, CallError> {
        let record = &self.get(&canister)?.record;
        let allowed = match &record.settings.snapshot_visibility {
            SnapshotVisibility::Public => true,
            SnapshotVisibility::Controllers => false,
            SnapshotVisibility::AllowedViewers(viewers) => viewers.contains(&sender),
        };
        if !allowed {
            ensure_controller(record, &sender)?;
        }
        Ok(self
            .snapshot_metas(&canister)?
            .iter()
            .map(SnapshotMeta::to_candid)
            .collect())
    }

    /// The snapshots of a canister with drydock's labels, oldest first, for its controllers.
    pub fn snapshot_infos(
        &self,
        sender: &Principal,
        canister: &Principal,
    ) -> Result<Vec<SnapshotInfo>, CallError> {
        ensure_controller(&self.get(canister)?.record, sender)?;
        Ok(self
            .snapshot_metas(canister)?
            .into_iter()
            .map(|m| SnapshotInfo {
                id: m.id(),
                taken_at_timestamp: m.taken_at_timestamp,
                total_size: m.total_size,
                module_hash: m.module_hash.clone(),
                label: m.label,
            })
            .collect())
    }

    pub(crate) fn delete_canister_snapshot(
        &mut self,
        sender: Principal,
        args: DeleteCanisterSnapshotArgs,
    ) -> Result<(), CallError> {
        let id = args.canister_id;
        let record = &self.get(&id)?.record;
        ensure_controller(record, &sender)?;
        let meta = self.owned_snapshot(&id, &args.snapshot_id)?;
        let mut batch = Batch::default();
        Self::delete_snapshot_into(&meta, &mut batch);
        self.store.commit(batch)?;
        Ok(())
    }

    /// Digests of a snapshot's content, comparable field by field with
    /// [`Replica::state_hashes`] of a canister: module hash, memories, globals, certified
    /// data; `version` is the canister's version when the snapshot was taken and
    /// `global_timer` its timer then.
    pub fn snapshot_hashes(
        &self,
        canister: &Principal,
        snapshot_id: &[u8],
    ) -> Result<StateHashes, CallError> {
        use sha2::{Digest, Sha256};
        let meta = self.owned_snapshot(canister, snapshot_id)?;
        let hash_snapshot = |name: &str, size: u64| -> Result<String, CallError> {
            let mut h = Sha256::new();
            if size > 0 {
                let mut buf = vec![0u8; 1 << 20];
                let mut off = 0u64;
                while off < size {
                    let n = (size - off).min(buf.len() as u64) as usize;
                    self.store.read_memory(name, off, &mut buf[..n])?;
                    h.update(&buf[..n]);
                    off += n as u64;
                }
            }
            Ok(hex::encode(h.finalize()))
        };
        Ok(StateHashes {
            module_hash: Some(meta.module_hash.clone()),
            version: meta.canister_version,
            heap: hash_snapshot(&heap_name(canister, meta.local_id), meta.heap_size)?,
            heap_size: meta.heap_size,
            stable: hash_snapshot(&stable_name(canister, meta.local_id), meta.stable_size)?,
            stable_size: meta.stable_size,
            globals: serde_json::to_string(&meta.globals).unwrap_or_default(),
            certified_data: meta.certified_data.clone(),
            global_timer: meta.global_timer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_round_trip_and_malformed_ids_are_refused() {
        let canister = crate::ids::canister_id_from_index(1 << 20);
        let id = snapshot_id(&canister, 7);
        assert_eq!(&id[..8], &7u64.to_be_bytes());
        let parsed = parse_id(&id).unwrap();
        assert_eq!((parsed.owner, parsed.local), (canister, 7));
        for bad in [vec![], vec![1, 2, 3], vec![0u8; 8 + 30]] {
            let err = parse_id(&bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidManagementPayload, "{err}");
            assert!(err.message.contains("Invalid snapshot ID"), "{err}");
        }
    }

    #[test]
    fn metadata_keys_sort_by_local_id() {
        let canister = crate::ids::canister_id_from_index(1 << 20);
        let mut keys: Vec<_> = [10u64, 2, 255, 1 << 40]
            .iter()
            .map(|l| meta_key(&canister, *l))
            .collect();
        keys.sort();
        assert_eq!(keys[0], meta_key(&canister, 2));
        assert_eq!(keys[3], meta_key(&canister, 1 << 40));
    }
}
