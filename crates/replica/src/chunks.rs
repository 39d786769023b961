//! The Wasm chunk store: `upload_chunk`, `stored_chunks`, `clear_chunk_store` and
//! `install_chunked_code`, for modules larger than one ingress message (2 MiB).
//!
//! # Invariants
//! - A chunk is at most 1 MiB and a store holds at most [`MAX_CHUNKS`] distinct chunks; the
//!   same bytes uploaded twice are stored once. The bytes live in the content store, the
//!   record keeps their hashes, so an upload is one commit.
//! - Only controllers of the canister (or the canister itself) use its store; installing
//!   from another canister's store needs control of both.
//! - `install_chunked_code` checks the assembled module against `wasm_module_hash` before it
//!   runs `install_code`, which then behaves exactly as for an ingress-sized module.

use candid::Principal;
use ic_management_canister_types::{ChunkHash, InstallChunkedCodeArgs, InstallCodeArgs};
use sha2::{Digest, Sha256};

use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::management::ensure_controller;
use crate::record::CanisterRecord;
use crate::replica::Replica;

/// The largest chunk, as on the IC.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;
/// The most chunks a store holds (100 MiB of 1 MiB chunks), as on the IC.
pub const MAX_CHUNKS: usize = 100;

fn store_error(msg: String) -> CallError {
    UserError::new(
        ErrorCode::CanisterContractViolation,
        format!("Wasm chunk store error: {msg}"),
    )
    .into()
}

impl Replica {
    fn chunk_store_owner(
        &self,
        sender: &Principal,
        canister: &Principal,
    ) -> Result<CanisterRecord, CallError> {
        let record = self.get(canister)?.record.clone();
        if sender != canister {
            ensure_controller(&record, sender)?;
        }
        Ok(record)
    }

    pub(crate) fn upload_chunk(
        &mut self,
        sender: Principal,
        canister: Principal,
        chunk: &[u8],
    ) -> Result<ChunkHash, CallError> {
        let mut record = self.chunk_store_owner(&sender, &canister)?;
        if chunk.len() > MAX_CHUNK_BYTES {
            return Err(store_error(format!(
                "Uploaded chunk cannot exceed {MAX_CHUNK_BYTES} bytes. Size of uploaded chunk: {}",
                chunk.len()
            )));
        }
        let hash = Sha256::digest(chunk).to_vec();
        let hex_hash = hex::encode(&hash);
        if record.chunk_store.contains(&hex_hash) {
            return Ok(ChunkHash { hash });
        }
        if record.chunk_store.len() >= MAX_CHUNKS {
            return Err(store_error(format!(
                "Wasm chunk store of canister {canister} has already reached its limit of {MAX_CHUNKS} chunks; clear it with clear_chunk_store"
            )));
        }
        let stored = self.store.put_content(chunk)?;
        debug_assert_eq!(stored.to_vec(), hash);
        record.chunk_store.push(hex_hash);
        self.commit_record(record, Vec::new())?;
        Ok(ChunkHash { hash })
    }

    pub(crate) fn stored_chunks(
        &self,
        sender: Principal,
        canister: Principal,
    ) -> Result<Vec<ChunkHash>, CallError> {
        let record = self.chunk_store_owner(&sender, &canister)?;
        Ok(record
            .chunk_store
            .iter()
            .filter_map(|h| hex::decode(h).ok())
            .map(|hash| ChunkHash { hash })
            .collect())
    }

    pub(crate) fn clear_chunk_store(
        &mut self,
        sender: Principal,
        canister: Principal,
    ) -> Result<(), CallError> {
        let mut record = self.chunk_store_owner(&sender, &canister)?;
        if record.chunk_store.is_empty() {
            return Ok(());
        }
        record.chunk_store.clear();
        self.commit_record(record, Vec::new())
    }

    /// The bytes of a chunk in the content store (uploaded to some canister's chunk store).
    pub fn chunk_content(&self, hash: &[u8]) -> Result<Vec<u8>, CallError> {
        let key: [u8; 32] = hash.try_into().map_err(|_| {
            store_error(format!("chunk hash {} is not 32 bytes", hex::encode(hash)))
        })?;
        Ok(self.store.content(&key)?)
    }

    pub(crate) fn install_chunked_code(
        &mut self,
        sender: Principal,
        args: InstallChunkedCodeArgs,
    ) -> Result<(), CallError> {
        let target = args.target_canister;
        ensure_controller(&self.get(&target)?.record, &sender)?;
        let store_canister = args.store_canister.unwrap_or(target);
        let store = self.chunk_store_owner(&sender, &store_canister)?;
        let mut wasm = Vec::new();
        for (i, c) in args.chunk_hashes_list.iter().enumerate() {
            let hex_hash = hex::encode(&c.hash);
            if !store.chunk_store.contains(&hex_hash) {
                return Err(store_error(format!(
                    "chunk {i} (hash {hex_hash}) is not in the chunk store of canister {store_canister}"
                )));
            }
            let key: [u8; 32] =
                c.hash
                    .as_slice()
                    .try_into()
                    .map_err(|_| ReplicaError::CorruptRecord {
                        key: CanisterRecord::key(&store_canister),
                        cause: format!("chunk hash {hex_hash} is not 32 bytes"),
                    })?;
            wasm.extend_from_slice(&self.store.content(&key)?);
        }
        let actual = Sha256::digest(&wasm);
        if actual.as_slice() != args.wasm_module_hash.as_slice() {
            return Err(UserError::new(
                ErrorCode::CanisterContractViolation,
                format!(
                    "Wasm module hash mismatch: the chunks assemble into a module with hash {}, but wasm_module_hash is {}",
                    hex::encode(actual),
                    hex::encode(&args.wasm_module_hash)
                ),
            )
            .into());
        }
        self.install_code(
            sender,
            InstallCodeArgs {
                mode: args.mode,
                canister_id: target,
                wasm_module: wasm,
                arg: args.arg,
                sender_canister_version: args.sender_canister_version,
            },
        )
    }
}
