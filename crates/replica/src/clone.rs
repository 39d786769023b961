//! Clones and hotfixes: the two ways drydock changes a canister outside `install_code`.
//!
//! - [`Replica::clone_canister`] makes a scratch canister holding the code and state of
//!   another, for rehearsing an upgrade without touching the original.
//! - [`Replica::hotfix`] replaces a canister's module while keeping its heap, globals and
//!   stable memory, running no hook — only when `drydock_compat::layout` proves that the two
//!   modules lay memory, tables, globals and static data out identically.
//!
//! # Invariants
//! - A clone is one commit: its record and copies of both memories appear together or not at
//!   all. The source is only read; its record, version, history and snapshots are unchanged.
//! - A clone's global timer is inactive, so no timer runs on it by surprise.
//! - A hotfix is one commit of the record alone (the memories are the same files), refused
//!   before anything changes when the layouts differ or the module does not instantiate over
//!   the kept heap and globals.

use candid::Principal;
use drydock_state::Batch;
use ic_management_canister_types::{ChangeDetails, CodeDeploymentMode, CodeDeploymentRecord};

use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::management::{ensure_controller, push_change};
use crate::record::CanisterRecord;
use crate::replica::{no_module, Replica};

impl Replica {
    /// The installed module's bytes (as installed: possibly gzipped), or `None` when empty.
    /// Anyone may read them, as anyone may read a module hash on the IC; private metadata is
    /// inside, so callers that show it must check the controllers themselves.
    pub fn module_bytes(&self, canister: &Principal) -> Result<Option<Vec<u8>>, CallError> {
        let record = &self.get(canister)?.record;
        let Some(hash) = &record.module_hash else {
            return Ok(None);
        };
        let mut key = [0u8; 32];
        hex::decode_to_slice(hash, &mut key).map_err(|e| ReplicaError::CorruptRecord {
            key: CanisterRecord::key(canister),
            cause: e.to_string(),
        })?;
        Ok(Some(self.store.content(&key)?.to_vec()))
    }

    /// Creates a canister holding a copy of `source`'s module, memories, globals and
    /// certified data, with the same settings and controllers. `sender` must control
    /// `source`. Returns the new canister's id.
    pub fn clone_canister(
        &mut self,
        sender: Principal,
        source: Principal,
    ) -> Result<Principal, CallError> {
        let src = self.get(&source)?.record.clone();
        ensure_controller(&src, &sender)?;
        let Some(module_hash) = src.module_hash.clone() else {
            return Err(no_module(&source).into());
        };
        let id = self.create_canister(sender, None, Some(src.cycles))?;
        let mut record = self.get(&id)?.record.clone();
        record.settings = src.settings.clone();
        record.module_hash = Some(module_hash.clone());
        record.globals = src.globals.clone();
        record.certified_data = src.certified_data.clone();
        record.heap_size = src.heap_size;
        record.stable_size = src.stable_size;
        record.global_timer = 0;
        record.version += 1;
        let now = self.now();
        push_change(
            &mut record,
            now,
            sender,
            ChangeDetails::CodeDeployment(CodeDeploymentRecord {
                mode: CodeDeploymentMode::Install,
                module_hash: hex::decode(&module_hash).unwrap_or_default(),
            }),
        );
        let mut batch = Batch::default();
        for (to, from) in [
            (
                CanisterRecord::heap_name(&id),
                CanisterRecord::heap_name(&source),
            ),
            (
                CanisterRecord::stable_name(&id),
                CanisterRecord::stable_name(&source),
            ),
        ] {
            if self.store.memory(&from).is_some() {
                batch.restore_memory(to, from);
            }
        }
        let key = CanisterRecord::key(&id);
        let json = serde_json::to_vec(&record).map_err(|e| ReplicaError::CorruptRecord {
            key: key.clone(),
            cause: e.to_string(),
        })?;
        batch.put_blob(key, json);
        // A failure leaves the empty canister just created; the caller deletes it.
        self.store.commit(batch)?;
        let c = self.get_mut(&id)?;
        c.record = record;
        c.instance = None;
        Ok(id)
    }

    /// Replaces the module of `canister` with `wasm`, keeping its heap, globals and stable
    /// memory and running no hook (not even the start function). Refused, with the first
    /// difference named, unless [`drydock_compat::layout::check_hotfix_layout`] finds the two
    /// layouts identical. The caller takes a snapshot first.
    pub fn hotfix(
        &mut self,
        sender: Principal,
        canister: Principal,
        wasm: &[u8],
    ) -> Result<(), CallError> {
        let id = canister;
        let mut record = self.get(&id)?.record.clone();
        ensure_controller(&record, &sender)?;
        let old = self.module_bytes(&id)?.ok_or_else(|| no_module(&id))?;
        let refuse = |msg: String| -> CallError {
            UserError::new(
                ErrorCode::CanisterContractViolation,
                format!("Hotfix of canister {id} refused: {msg}. Nothing was changed."),
            )
            .into()
        };
        match drydock_compat::layout::check_hotfix_layout(&old, wasm) {
            Ok(None) => {}
            Ok(Some(diff)) => return Err(refuse(diff.to_string())),
            Err(e) => return Err(refuse(e.to_string())),
        }
        let module = self.engine.load(wasm).map_err(|e| {
            UserError::new(
                ErrorCode::CanisterInvalidWasm,
                format!("Error from Canister {id}: Canister's Wasm module is not valid: {e}"),
            )
        })?;
        let inst = self
            .committed_instance(&record, module.clone())
            .map_err(|e| {
                refuse(format!(
                    "the new module does not instantiate over the kept state: {e}"
                ))
            })?;
        self.record_new_module(&mut record, wasm, sender, CodeDeploymentMode::Upgrade)?;
        if !module.prepared.exports.global_timer {
            record.global_timer = 0;
        }
        self.commit_record(record, Vec::new())?;
        self.get_mut(&id)?.instance = Some(inst);
        Ok(())
    }
}
