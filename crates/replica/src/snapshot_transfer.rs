//! Snapshot download and upload: the management methods `read_canister_snapshot_metadata`,
//! `read_canister_snapshot_data`, `upload_canister_snapshot_metadata` and
//! `upload_canister_snapshot_data`, as in the IC's `ic.did`.
//!
//! # Download
//! Reads serve a snapshot as it is stored (`snapshot.rs`): the module's bytes as installed
//! (from the content store, or from the upload buffer below), and slices of the heap and
//! stable memory read page by page from the snapshot's memory files (`Store::read_memory`) —
//! a slice costs its own size, never a copy of the memory. A slice is at most
//! [`MAX_SLICE_BYTES`] (2,000,000 bytes, the IC's limit), and `offset + size` must not pass
//! the size in the metadata. A `wasm_chunk` read returns one whole chunk of the snapshot's
//! Wasm chunk store by hash.
//!
//! # Upload
//! `upload_canister_snapshot_metadata` creates a snapshot with [`Source::MetadataUpload`]
//! (it counts toward the limit of 10; `replace_snapshot` deletes the old one in the same
//! commit) and, for each region of non-zero size, a plain memory of that size in the state
//! directory, all zero:
//! - `snapshot/<canister>/<local>/heap` and `.../stable`: the same names a taken snapshot
//!   uses for its read-only state snapshots, but writable memories, since uploads write into
//!   them; `load_canister_snapshot` restores from either;
//! - `snapshot/<canister>/<local>/module`: the module's bytes while they arrive.
//!
//! Each `upload_canister_snapshot_data` is one commit: the chunk's pages (the partial pages at
//! either end merged with what is there) and the snapshot's metadata, which records in
//! [`Upload`] the byte ranges written so far, merged. When the module's ranges cover it, its
//! sha256 is computed from the buffer, the bytes go to the content store and the hash becomes
//! the snapshot's module hash (again after any later module write). A chunk for the Wasm chunk
//! store (at most 1 MiB, 100 chunks) goes to the content store like `upload_chunk`.
//!
//! # Invariants
//! - An uploaded snapshot can be loaded only once every byte of the module, heap and stable
//!   memory named in its metadata has been written at least once ([`Upload::ensure_complete`]
//!   names the first gap otherwise). Writing again after that is allowed, as on the IC.
//! - Only controllers upload; reads follow the canister's `snapshot_visibility`, as
//!   `list_canister_snapshots` does. Data can be uploaded only into a snapshot made by a
//!   metadata upload, never into one taken from a canister.
//! - A refused call changes nothing: every check runs before the one commit.
//! - The uploaded globals are kept without indices; a load gives them to the module's mutable
//!   globals in order, and refuses a count or type that does not match.

use candid::{Nat, Principal};
use drydock_state::{Batch, PAGE_SIZE};
use ic_management_canister_types::{
    CanisterTimer, ChunkHash, OnLowWasmMemoryHookStatus, ReadCanisterSnapshotDataArgs,
    ReadCanisterSnapshotMetadataArgs, ReadCanisterSnapshotMetadataResult, SnapshotDataKind,
    SnapshotDataOffset, SnapshotMetadataGlobal, SnapshotSource, SnapshotVisibility,
    UploadCanisterSnapshotMetadataArgs, UploadCanisterSnapshotMetadataResult,
};
use sha2::{Digest, Sha256};

use crate::chunks::{MAX_CHUNKS, MAX_CHUNK_BYTES};
use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::management::ensure_controller;
use crate::record::{CanisterRecord, SavedGlobal};
use crate::replica::Replica;
use crate::snapshot_meta::{
    heap_name, meta_key, module_name, show, stable_name, to_json, SnapshotMeta, Source, Upload,
    MAX_SNAPSHOTS_PER_CANISTER,
};

/// The most bytes one `read_canister_snapshot_data` returns or one
/// `upload_canister_snapshot_data` carries for the module or a memory (the IC's limit).
pub const MAX_SLICE_BYTES: u64 = 2_000_000;
/// The largest Wasm heap an uploaded snapshot may declare (wasm64, as the IC documents it).
const MAX_UPLOAD_HEAP_BYTES: u64 = 6 << 30;
/// The largest stable memory (the IC's 500 GiB).
const MAX_UPLOAD_STABLE_BYTES: u64 = 500 << 30;
/// Heap and stable memory sizes are whole Wasm pages.
const WASM_PAGE_BYTES: u64 = 65_536;

fn payload_error(msg: String) -> CallError {
    UserError::new(ErrorCode::InvalidManagementPayload, msg).into()
}

fn rejected(msg: String) -> CallError {
    UserError::new(ErrorCode::CanisterRejectedMessage, msg).into()
}

impl Upload {
    /// Refuses to load a snapshot whose upload is not complete, naming the first gap.
    pub(crate) fn ensure_complete(&self, id: &[u8], meta: &SnapshotMeta) -> Result<(), CallError> {
        for (what, ranges, size) in [
            ("Wasm module", &self.module, meta.module_size),
            ("Wasm memory", &self.heap, meta.heap_size),
            ("stable memory", &self.stable, meta.stable_size),
        ] {
            if let Some((start, end)) = ranges.first_gap(size) {
                return Err(rejected(format!(
                    "Snapshot {} cannot be loaded: its upload is not complete. {} bytes of the \
                     {what} ({size} bytes) have not been uploaded, the first from offset {start} \
                     to {end}. Upload them with upload_canister_snapshot_data first.",
                    show(id),
                    ranges.missing(size),
                )));
            }
        }
        Ok(())
    }

    /// The uploaded globals with the indices of `module`'s mutable globals.
    pub(crate) fn globals_for(
        &self,
        module: Option<&drydock_exec::CanisterModule>,
        id: &[u8],
    ) -> Result<Vec<(u32, SavedGlobal)>, CallError> {
        let indices: &[u32] = module.map_or(&[], |m| &m.prepared.mutable_globals);
        if indices.len() != self.globals.len() {
            return Err(rejected(format!(
                "Snapshot {} cannot be loaded: its metadata has {} globals, but its Wasm module \
                 has {} mutable globals.",
                show(id),
                self.globals.len(),
                indices.len()
            )));
        }
        Ok(indices.iter().copied().zip(self.globals.clone()).collect())
    }
}

fn global_to_candid(g: &SavedGlobal) -> Option<SnapshotMetadataGlobal> {
    Some(match g {
        SavedGlobal::I32(v) => SnapshotMetadataGlobal::I32(*v),
        SavedGlobal::I64(v) => SnapshotMetadataGlobal::I64(*v),
        SavedGlobal::F32(bits) => SnapshotMetadataGlobal::F32(f32::from_bits(*bits)),
        SavedGlobal::F64(bits) => SnapshotMetadataGlobal::F64(f64::from_bits(*bits)),
        SavedGlobal::V128(hex) => {
            SnapshotMetadataGlobal::V128(Nat::from(u128::from_str_radix(hex, 16).ok()?))
        }
    })
}

fn global_from_candid(g: &SnapshotMetadataGlobal, i: usize) -> Result<SavedGlobal, CallError> {
    Ok(match g {
        SnapshotMetadataGlobal::I32(v) => SavedGlobal::I32(*v),
        SnapshotMetadataGlobal::I64(v) => SavedGlobal::I64(*v),
        SnapshotMetadataGlobal::F32(v) => SavedGlobal::F32(v.to_bits()),
        SnapshotMetadataGlobal::F64(v) => SavedGlobal::F64(v.to_bits()),
        SnapshotMetadataGlobal::V128(n) => {
            let v: u128 = n.0.to_string().parse().map_err(|_| {
                payload_error(format!(
                    "Invalid snapshot metadata: global {i} is a v128 of {n}, which does not fit \
                     in 128 bits"
                ))
            })?;
            SavedGlobal::V128(format!("{v:032x}"))
        }
    })
}

/// The region a read or an upload addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    Module,
    Heap,
    Stable,
}

impl Region {
    fn what(self) -> &'static str {
        match self {
            Region::Module => "Wasm module",
            Region::Heap => "Wasm memory",
            Region::Stable => "stable memory",
        }
    }

    fn size(self, meta: &SnapshotMeta) -> u64 {
        match self {
            Region::Module => meta.module_size,
            Region::Heap => meta.heap_size,
            Region::Stable => meta.stable_size,
        }
    }

    fn memory(self, meta: &SnapshotMeta) -> String {
        match self {
            Region::Module => module_name(&meta.canister_id, meta.local_id),
            Region::Heap => heap_name(&meta.canister_id, meta.local_id),
            Region::Stable => stable_name(&meta.canister_id, meta.local_id),
        }
    }
}

/// `offset + len` within `size`, or the error naming all three.
fn check_range(what: &str, offset: u64, len: u64, size: u64) -> Result<(), CallError> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(payload_error(format!(
            "Invalid slice of the {what}: offset {offset} + size {len} exceeds the {what} size \
             of {size} bytes in the snapshot metadata."
        ))),
    }
}

/// The argument of `upload_canister_snapshot_data`: the Candid type of
/// `ic_management_canister_types::UploadCanisterSnapshotDataArgs`, with the slice decoded as
/// one blob. That crate's `chunk: Vec<u8>` is decoded byte by byte, a third of the server's
/// time per 2 MB slice.
#[derive(candid::CandidType, serde::Deserialize)]
pub(crate) struct UploadDataArgs {
    pub canister_id: Principal,
    #[serde(with = "serde_bytes")]
    pub snapshot_id: Vec<u8>,
    pub kind: SnapshotDataOffset,
    #[serde(with = "serde_bytes")]
    pub chunk: Vec<u8>,
}

impl Replica {
    /// The snapshot `id` of `canister`, for a reader: the canister's `snapshot_visibility`
    /// decides who may read, as for `list_canister_snapshots`.
    fn readable_snapshot(
        &self,
        sender: &Principal,
        canister: &Principal,
        id: &[u8],
    ) -> Result<SnapshotMeta, CallError> {
        let record = &self.get(canister)?.record;
        let allowed = match &record.settings.snapshot_visibility {
            SnapshotVisibility::Public => true,
            SnapshotVisibility::Controllers => false,
            SnapshotVisibility::AllowedViewers(viewers) => viewers.contains(sender),
        };
        if !allowed {
            ensure_controller(record, sender)?;
        }
        self.owned_snapshot(canister, id)
    }

    /// The length of the module bytes a snapshot serves.
    fn module_len(&self, meta: &SnapshotMeta) -> Result<u64, CallError> {
        if meta.upload.is_some() {
            return Ok(meta.module_size);
        }
        Ok(self.snapshot_module_bytes(meta)?.len() as u64)
    }

    /// The module of a taken snapshot, as installed (its key in the content store).
    fn snapshot_module_bytes(&self, meta: &SnapshotMeta) -> Result<Vec<u8>, CallError> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(&meta.module_hash, &mut key).map_err(|e| {
            ReplicaError::CorruptRecord {
                key: meta_key(&meta.canister_id, meta.local_id),
                cause: format!("module hash {:?}: {e}", meta.module_hash),
            }
        })?;
        Ok(self.store.content(&key)?)
    }

    pub(crate) fn read_canister_snapshot_metadata(
        &self,
        sender: Principal,
        args: ReadCanisterSnapshotMetadataArgs,
    ) -> Result<ReadCanisterSnapshotMetadataResult, CallError> {
        let meta = self.readable_snapshot(&sender, &args.canister_id, &args.snapshot_id)?;
        let (source, globals, global_timer) = match &meta.upload {
            None => {
                let mut globals = meta.globals.clone();
                globals.sort_by_key(|(i, _)| *i);
                (
                    SnapshotSource::TakenFromCanister(candid::Reserved),
                    globals.iter().map(|(_, g)| global_to_candid(g)).collect(),
                    Some(meta.global_timer),
                )
            }
            Some(upload) => (
                SnapshotSource::MetadataUpload(candid::Reserved),
                upload.globals.iter().map(global_to_candid).collect(),
                upload.global_timer,
            ),
        };
        let hook = match &meta.upload {
            Some(u) if !u.hook_status_given => None,
            _ => Some(meta.on_low_wasm_memory_hook_status.clone()),
        };
        Ok(ReadCanisterSnapshotMetadataResult {
            source: Some(source),
            taken_at_timestamp: meta.taken_at_timestamp,
            wasm_module_size: self.module_len(&meta)?,
            globals,
            wasm_memory_size: meta.heap_size,
            stable_memory_size: meta.stable_size,
            wasm_chunk_store: meta
                .wasm_chunk_store
                .iter()
                .filter_map(|h| hex::decode(h).ok())
                .map(|hash| ChunkHash { hash })
                .collect(),
            canister_version: meta.canister_version,
            certified_data: meta.certified_data.clone(),
            global_timer: global_timer.map(|t| {
                if t == 0 {
                    CanisterTimer::Inactive
                } else {
                    CanisterTimer::Active(t)
                }
            }),
            on_low_wasm_memory_hook_status: hook,
        })
    }

    pub(crate) fn read_canister_snapshot_data(
        &self,
        sender: Principal,
        args: ReadCanisterSnapshotDataArgs,
    ) -> Result<Vec<u8>, CallError> {
        let meta = self.readable_snapshot(&sender, &args.canister_id, &args.snapshot_id)?;
        let (region, offset, size) = match args.kind {
            SnapshotDataKind::WasmModule { offset, size } => (Region::Module, offset, size),
            SnapshotDataKind::WasmMemory { offset, size } => (Region::Heap, offset, size),
            SnapshotDataKind::StableMemory { offset, size } => (Region::Stable, offset, size),
            SnapshotDataKind::WasmChunk { hash } => {
                let hex_hash = hex::encode(&hash);
                let key: Option<[u8; 32]> = hash.as_slice().try_into().ok();
                let Some(key) = key.filter(|_| meta.wasm_chunk_store.contains(&hex_hash)) else {
                    return Err(payload_error(format!(
                        "The Wasm chunk store of snapshot {} has no chunk with hash {hex_hash}.",
                        show(&args.snapshot_id)
                    )));
                };
                return Ok(self.store.content(&key)?);
            }
        };
        if size > MAX_SLICE_BYTES {
            return Err(payload_error(format!(
                "Invalid slice of the {}: size {size} exceeds the maximum of {MAX_SLICE_BYTES} \
                 bytes per read; read it in slices.",
                region.what()
            )));
        }
        let total = match region {
            Region::Module => self.module_len(&meta)?,
            _ => region.size(&meta),
        };
        check_range(region.what(), offset, size, total)?;
        if size == 0 {
            return Ok(Vec::new());
        }
        if region == Region::Module && meta.upload.is_none() {
            let bytes = self.snapshot_module_bytes(&meta)?;
            return Ok(bytes[offset as usize..(offset + size) as usize].to_vec());
        }
        let mut buf = vec![0u8; size as usize];
        self.store
            .read_memory(&region.memory(&meta), offset, &mut buf)?;
        Ok(buf)
    }

    pub(crate) fn upload_canister_snapshot_metadata(
        &mut self,
        sender: Principal,
        args: UploadCanisterSnapshotMetadataArgs,
    ) -> Result<UploadCanisterSnapshotMetadataResult, CallError> {
        let id = args.canister_id;
        let mut record = self.get(&id)?.record.clone();
        ensure_controller(&record, &sender)?;
        let replaced = args
            .replace_snapshot
            .as_deref()
            .map(|old| self.owned_snapshot(&id, old))
            .transpose()?;
        if replaced.is_none() && self.snapshot_metas(&id)?.len() >= MAX_SNAPSHOTS_PER_CANISTER {
            return Err(rejected(format!(
                "Canister {id} has reached the maximum number of snapshots allowed: \
                 {MAX_SNAPSHOTS_PER_CANISTER}. Consider deleting an unnecessary snapshot of the \
                 specified canister before creating a new one, or pass replace_snapshot."
            )));
        }
        let max_module = drydock_exec::module::MAX_WASM_MODULE_BYTES;
        if args.wasm_module_size == 0 || args.wasm_module_size > max_module {
            return Err(payload_error(format!(
                "Invalid snapshot metadata: wasm_module_size {} must be between 1 and \
                 {max_module} bytes.",
                args.wasm_module_size
            )));
        }
        for (what, size, max) in [
            (
                "wasm_memory_size",
                args.wasm_memory_size,
                MAX_UPLOAD_HEAP_BYTES,
            ),
            (
                "stable_memory_size",
                args.stable_memory_size,
                MAX_UPLOAD_STABLE_BYTES,
            ),
        ] {
            if size % WASM_PAGE_BYTES != 0 || size > max {
                return Err(payload_error(format!(
                    "Invalid snapshot metadata: {what} {size} must be a multiple of the Wasm \
                     page size ({WASM_PAGE_BYTES} bytes) and at most {max} bytes."
                )));
            }
        }
        let max_globals = drydock_exec::module::MAX_GLOBALS;
        if args.globals.len() > max_globals {
            return Err(payload_error(format!(
                "Invalid snapshot metadata: {} globals, at most {max_globals} are allowed.",
                args.globals.len()
            )));
        }
        if args.certified_data.len() > 32 {
            return Err(payload_error(format!(
                "Invalid snapshot metadata: certified_data is {} bytes, at most 32 are allowed.",
                args.certified_data.len()
            )));
        }
        let globals = args
            .globals
            .iter()
            .enumerate()
            .map(|(i, g)| global_from_candid(g, i))
            .collect::<Result<Vec<_>, _>>()?;

        let local = record.next_snapshot_id;
        let now = self.now();
        let global_timer = args.global_timer.as_ref().map(|t| match t {
            CanisterTimer::Inactive => 0,
            CanisterTimer::Active(t) => *t,
        });
        let meta = SnapshotMeta {
            canister_id: id,
            local_id: local,
            source: Source::MetadataUpload,
            taken_at_timestamp: now,
            canister_version: record.version,
            module_hash: String::new(),
            module_size: args.wasm_module_size,
            globals: Vec::new(),
            certified_data: args.certified_data.clone(),
            global_timer: global_timer.unwrap_or(0),
            on_low_wasm_memory_hook_status: args
                .on_low_wasm_memory_hook_status
                .clone()
                .unwrap_or(OnLowWasmMemoryHookStatus::ConditionNotSatisfied),
            heap_size: args.wasm_memory_size,
            stable_size: args.stable_memory_size,
            wasm_chunk_store: Vec::new(),
            total_size: args.wasm_memory_size
                + args.stable_memory_size
                + args.wasm_module_size
                + args.certified_data.len() as u64
                + (globals.len() * 8) as u64,
            label: None,
            upload: Some(Upload {
                globals,
                global_timer,
                hook_status_given: args.on_low_wasm_memory_hook_status.is_some(),
                ..Upload::default()
            }),
        };

        let mut batch = Batch::default();
        if let Some(old) = &replaced {
            Self::delete_snapshot_into(old, &mut batch);
        }
        for region in [Region::Module, Region::Heap, Region::Stable] {
            let size = region.size(&meta);
            if size > 0 {
                batch.write_memory(region.memory(&meta), true, size, Vec::new());
            }
        }
        let key = meta_key(&id, local);
        batch.put_blob(key.clone(), to_json(&key, &meta)?);
        record.next_snapshot_id += 1;
        let record_key = CanisterRecord::key(&id);
        batch.put_blob(record_key.clone(), to_json(&record_key, &record)?);
        self.store.commit(batch)?;
        self.get_mut(&id)?.record = record;
        Ok(UploadCanisterSnapshotMetadataResult {
            snapshot_id: meta.id(),
        })
    }

    pub(crate) fn upload_canister_snapshot_data(
        &mut self,
        sender: Principal,
        args: UploadDataArgs,
    ) -> Result<(), CallError> {
        let id = args.canister_id;
        ensure_controller(&self.get(&id)?.record, &sender)?;
        let mut meta = self.owned_snapshot(&id, &args.snapshot_id)?;
        let Some(mut upload) = meta.upload.take() else {
            // Interface spec, "IC method upload_canister_snapshot_data": only a snapshot made
            // by a metadata upload takes data; the IC refuses with IC0409.
            return Err(UserError::new(
                ErrorCode::CanisterSnapshotImmutable,
                format!(
                    "Snapshot {} was taken from canister {id}, not created by \
                 upload_canister_snapshot_metadata: data can only be uploaded into a snapshot \
                 created by a metadata upload.",
                    show(&args.snapshot_id)
                ),
            )
            .into());
        };
        let chunk = &args.chunk;
        let (region, offset) = match args.kind {
            SnapshotDataOffset::WasmModule { offset } => (Region::Module, offset),
            SnapshotDataOffset::WasmMemory { offset } => (Region::Heap, offset),
            SnapshotDataOffset::StableMemory { offset } => (Region::Stable, offset),
            SnapshotDataOffset::WasmChunk => {
                return self.upload_snapshot_chunk(meta, upload, chunk);
            }
        };
        let len = chunk.len() as u64;
        if len > MAX_SLICE_BYTES {
            return Err(payload_error(format!(
                "Invalid upload into the {}: the chunk is {len} bytes, at most {MAX_SLICE_BYTES} \
                 are allowed per call.",
                region.what()
            )));
        }
        check_range(region.what(), offset, len, region.size(&meta))?;
        let name = region.memory(&meta);
        let size = region.size(&meta);
        let mut batch = Batch::default();
        if len > 0 {
            let pages = self.merged_pages(&name, offset, chunk)?;
            batch.write_memory(name.clone(), false, size, pages);
            let ranges = match region {
                Region::Module => &mut upload.module,
                Region::Heap => &mut upload.heap,
                Region::Stable => &mut upload.stable,
            };
            ranges.add(offset, offset + len);
        }
        if region == Region::Module && len > 0 && upload.module.first_gap(size).is_none() {
            // The module is complete: its bytes are the buffer with this chunk applied.
            let mut module = vec![0u8; size as usize];
            self.store.read_memory(&name, 0, &mut module)?;
            module[offset as usize..(offset + len) as usize].copy_from_slice(chunk);
            let hash = self.store.put_content(&module)?;
            meta.module_hash = hex::encode(hash);
        }
        meta.upload = Some(upload);
        let key = meta_key(&meta.canister_id, meta.local_id);
        batch.put_blob(key.clone(), to_json(&key, &meta)?);
        self.store.commit(batch)?;
        Ok(())
    }

    /// The pages of memory `name` that `chunk` at `offset` touches, with the chunk applied
    /// over their committed content.
    fn merged_pages(
        &self,
        name: &str,
        offset: u64,
        chunk: &[u8],
    ) -> Result<Vec<(u64, Vec<u8>)>, CallError> {
        let end = offset + chunk.len() as u64;
        let first = offset / PAGE_SIZE;
        let last = (end - 1) / PAGE_SIZE;
        let mut pages = Vec::with_capacity((last - first + 1) as usize);
        for index in first..=last {
            let start = index * PAGE_SIZE;
            let mut page = vec![0u8; PAGE_SIZE as usize];
            let (from, to) = (offset.max(start), end.min(start + PAGE_SIZE));
            if from > start || to < start + PAGE_SIZE {
                self.store.read_memory(name, start, &mut page)?;
            }
            page[(from - start) as usize..(to - start) as usize]
                .copy_from_slice(&chunk[(from - offset) as usize..(to - offset) as usize]);
            pages.push((index, page));
        }
        Ok(pages)
    }

    /// A chunk for the Wasm chunk store of an uploaded snapshot.
    fn upload_snapshot_chunk(
        &mut self,
        mut meta: SnapshotMeta,
        upload: Upload,
        chunk: &[u8],
    ) -> Result<(), CallError> {
        if chunk.len() > MAX_CHUNK_BYTES {
            return Err(payload_error(format!(
                "Invalid upload into the Wasm chunk store: the chunk is {} bytes, at most \
                 {MAX_CHUNK_BYTES} are allowed.",
                chunk.len()
            )));
        }
        let hex_hash = hex::encode(Sha256::digest(chunk));
        meta.upload = Some(upload);
        if meta.wasm_chunk_store.contains(&hex_hash) {
            return Ok(());
        }
        if meta.wasm_chunk_store.len() >= MAX_CHUNKS {
            return Err(rejected(format!(
                "The Wasm chunk store of snapshot {} already holds the maximum of {MAX_CHUNKS} \
                 chunks.",
                show(&meta.id())
            )));
        }
        self.store.put_content(chunk)?;
        meta.wasm_chunk_store.push(hex_hash);
        let key = meta_key(&meta.canister_id, meta.local_id);
        let mut batch = Batch::default();
        batch.put_blob(key.clone(), to_json(&key, &meta)?);
        self.store.commit(batch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_survive_the_candid_round_trip() {
        for g in [
            SavedGlobal::I32(-7),
            SavedGlobal::I64(1 << 40),
            SavedGlobal::F32(1.5f32.to_bits()),
            SavedGlobal::F64(f64::NAN.to_bits()),
            SavedGlobal::V128(format!("{:032x}", u128::MAX - 3)),
        ] {
            let c = global_to_candid(&g).expect("converts");
            assert_eq!(global_from_candid(&c, 0).expect("back"), g);
        }
    }

    #[test]
    fn the_upload_argument_decodes_what_the_management_types_encode() {
        let sent = ic_management_canister_types::UploadCanisterSnapshotDataArgs {
            canister_id: Principal::from_slice(&[1, 2, 3]),
            snapshot_id: vec![9; 10],
            kind: SnapshotDataOffset::StableMemory { offset: 4096 },
            chunk: (0..=255u8).cycle().take(70_000).collect(),
        };
        let bytes = candid::encode_one(&sent).expect("encodes");
        let got: UploadDataArgs = crate::management_args::decode_arg(&bytes).expect("decodes");
        assert_eq!(got.canister_id, sent.canister_id);
        assert_eq!(got.snapshot_id, sent.snapshot_id);
        assert!(matches!(
            got.kind,
            SnapshotDataOffset::StableMemory { offset: 4096 }
        ));
        assert_eq!(got.chunk, sent.chunk);
        // And the other way: our type is the same Candid type.
        let back: ic_management_canister_types::UploadCanisterSnapshotDataArgs =
            crate::management_args::decode_arg(&candid::encode_one(&got).expect("encodes"))
                .expect("decodes");
        assert_eq!(back.chunk, sent.chunk);
    }
}
