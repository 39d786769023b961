//! The management canister (`aaaaa-aa`): Candid-encoded methods with the IC's names and
//! records, as in `ic.did`. Code installation itself lives in `upgrade.rs`.

use candid::{CandidType, Nat, Principal};
use drydock_exec::fees::CANISTER_CREATION_FEE;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInfoArgs, CanisterInfoResult, CanisterSettings, CanisterStatusResult,
    CanisterStatusType, Change, ChangeDetails, ChangeOrigin, ControllersChangeRecord,
    CreateCanisterArgs, CreationRecord, DefiniteCanisterSettings, DeleteCanisterSnapshotArgs,
    FromUserRecord, InstallCodeArgs, LoadCanisterSnapshotArgs, MemoryMetrics,
    ProvisionalCreateCanisterWithCyclesArgs, QueryStats, StatusVisibility,
    TakeCanisterSnapshotArgs, UninstallCodeArgs, UpdateSettingsArgs,
};
use serde::de::DeserializeOwned;

use crate::error::{CallError, ErrorCode, UserError};
use crate::management_args::decode_arg;
use crate::record::{CanisterRecord, CanisterStatus, Settings};
use crate::replica::Replica;
use crate::settings::{apply_settings, nat_u128};

/// Changes kept for `canister_info`.
const MAX_HISTORY: usize = 20;
/// The fee for creating a canister on a 13-node application subnet.
/// Cycles a canister created without an amount starts with.
const DEFAULT_CYCLES: u128 = 100_000_000_000_000;

fn decode<T: DeserializeOwned + CandidType>(method: &str, arg: &[u8]) -> Result<T, UserError> {
    decode_arg(arg).map_err(|e| {
        UserError::new(
            ErrorCode::InvalidManagementPayload,
            format!("Error decoding candid of the management canister method {method}: {e}"),
        )
    })
}

fn encode<T: CandidType>(value: &T) -> Result<Vec<u8>, CallError> {
    candid::encode_one(value).map_err(|e| {
        UserError::new(
            ErrorCode::InvalidManagementPayload,
            format!("encoding reply: {e}"),
        )
        .into()
    })
}

pub(crate) fn ensure_controller(
    record: &CanisterRecord,
    sender: &Principal,
) -> Result<(), UserError> {
    if record.settings.controllers.contains(sender) {
        return Ok(());
    }
    let list: Vec<String> = record
        .settings
        .controllers
        .iter()
        .map(|p| p.to_text())
        .collect();
    Err(UserError::new(
        ErrorCode::CanisterInvalidController,
        format!(
            "Only the controllers of the canister {} can control it.\nCanister's controllers: {}\nSender's ID: {}",
            record.id,
            list.join(" "),
            sender
        ),
    ))
}

pub(crate) fn push_change(
    record: &mut CanisterRecord,
    time: u64,
    sender: Principal,
    details: ChangeDetails,
) {
    record.history.push(Change {
        timestamp_nanos: time,
        canister_version: record.version,
        origin: ChangeOrigin::FromUser(FromUserRecord { user_id: sender }),
        details: Some(details),
    });
    if record.history.len() > MAX_HISTORY {
        let extra = record.history.len() - MAX_HISTORY;
        record.history.drain(..extra);
    }
    record.total_num_changes += 1;
}

impl Replica {
    /// An ingress call to the management canister.
    pub(crate) fn management(
        &mut self,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        match method {
            "create_canister" => {
                let args: CreateCanisterArgs = decode(method, arg)?;
                let id = self.create_canister(sender, args.settings, None)?;
                encode(&CanisterIdRecord { canister_id: id })
            }
            "provisional_create_canister_with_cycles" => {
                let args: ProvisionalCreateCanisterWithCyclesArgs = decode(method, arg)?;
                let cycles = args
                    .amount
                    .as_ref()
                    .map(|n| nat_u128(n, "amount"))
                    .transpose()?;
                let id = match args.specified_id {
                    Some(wanted) => {
                        self.create_canister_at(sender, wanted, args.settings, cycles)?
                    }
                    None => self.create_canister(sender, args.settings, cycles)?,
                };
                encode(&CanisterIdRecord { canister_id: id })
            }
            "install_code" => {
                let args: InstallCodeArgs = decode(method, arg)?;
                self.install_code(sender, args)?;
                encode(&())
            }
            "upload_chunk" => {
                let args: ic_management_canister_types::UploadChunkArgs = decode(method, arg)?;
                encode(&self.upload_chunk(sender, args.canister_id, &args.chunk)?)
            }
            "stored_chunks" => {
                let args: CanisterIdRecord = decode(method, arg)?;
                encode(&self.stored_chunks(sender, args.canister_id)?)
            }
            "clear_chunk_store" => {
                let args: CanisterIdRecord = decode(method, arg)?;
                self.clear_chunk_store(sender, args.canister_id)?;
                encode(&())
            }
            "install_chunked_code" => {
                let args: ic_management_canister_types::InstallChunkedCodeArgs =
                    decode(method, arg)?;
                self.install_chunked_code(sender, args)?;
                encode(&())
            }
            "provisional_top_up_canister" => {
                // Interface spec, "IC method provisional_top_up_canister": available on
                // development instances, as on a local IC network; anyone may call it.
                let args: ic_management_canister_types::ProvisionalTopUpCanisterArgs =
                    decode(method, arg)?;
                let amount = nat_u128(&args.amount, "amount")?;
                let mut record = self.get(&args.canister_id)?.record.clone();
                record.cycles = record.cycles.saturating_add(amount);
                self.commit_record(record, Vec::new())?;
                encode(&())
            }
            "uninstall_code" => {
                let args: UninstallCodeArgs = decode(method, arg)?;
                self.uninstall_code(sender, args.canister_id)?;
                encode(&())
            }
            "start_canister" => {
                let args: CanisterIdRecord = decode(method, arg)?;
                self.set_status(sender, args.canister_id, CanisterStatus::Running)?;
                encode(&())
            }
            "stop_canister" => {
                let args: CanisterIdRecord = decode(method, arg)?;
                // Ingress and canister calls stop through `stop_from`, which waits until no
                // call context is open (router.rs, messaging/execute.rs); this direct path
                // stops at once.
                self.set_status(sender, args.canister_id, CanisterStatus::Stopped)?;
                encode(&())
            }
            "canister_status" => {
                let args: CanisterIdRecord = decode(method, arg)?;
                let status = self.canister_status(sender, args.canister_id)?;
                encode(&status)
            }
            "update_settings" => {
                let args: UpdateSettingsArgs = decode(method, arg)?;
                self.update_settings(sender, args)?;
                encode(&())
            }
            "delete_canister" => {
                let args: CanisterIdRecord = decode(method, arg)?;
                self.delete_canister(sender, args.canister_id)?;
                encode(&())
            }
            "take_canister_snapshot" => {
                let args: TakeCanisterSnapshotArgs = decode(method, arg)?;
                let snapshot = self.take_canister_snapshot(sender, args)?;
                encode(&snapshot)
            }
            "load_canister_snapshot" => {
                let args: LoadCanisterSnapshotArgs = decode(method, arg)?;
                self.load_canister_snapshot(sender, args)?;
                encode(&())
            }
            "list_canister_snapshots" => {
                let args: CanisterIdRecord = decode(method, arg)?;
                let snapshots = self.list_canister_snapshots(sender, args.canister_id)?;
                encode(&snapshots)
            }
            "delete_canister_snapshot" => {
                let args: DeleteCanisterSnapshotArgs = decode(method, arg)?;
                self.delete_canister_snapshot(sender, args)?;
                encode(&())
            }
            "read_canister_snapshot_metadata" => {
                let args = decode(method, arg)?;
                encode(&self.read_canister_snapshot_metadata(sender, args)?)
            }
            "read_canister_snapshot_data" => {
                let args = decode(method, arg)?;
                let chunk = self.read_canister_snapshot_data(sender, args)?;
                encode(&ic_management_canister_types::ReadCanisterSnapshotDataResult { chunk })
            }
            "upload_canister_snapshot_metadata" => {
                let args = decode(method, arg)?;
                encode(&self.upload_canister_snapshot_metadata(sender, args)?)
            }
            "upload_canister_snapshot_data" => {
                let args = decode(method, arg)?;
                self.upload_canister_snapshot_data(sender, args)?;
                encode(&())
            }
            "canister_info" => {
                let args: CanisterInfoArgs = decode(method, arg)?;
                let info = self.canister_info(args)?;
                encode(&info)
            }
            "raw_rand" => {
                let mut bytes = vec![0u8; 32];
                let t = self.now().to_le_bytes();
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = t[i % 8] ^ (i as u8).wrapping_mul(151);
                }
                use sha2::Digest;
                encode(&serde_bytes::ByteBuf::from(
                    sha2::Sha256::digest(&bytes).to_vec(),
                ))
            }
            other => Err(UserError::new(
                ErrorCode::UnknownManagementMessage,
                format!("Management canister has no method '{other}'"),
            )
            .into()),
        }
    }

    pub(crate) fn create_canister(
        &mut self,
        sender: Principal,
        settings: Option<CanisterSettings>,
        cycles: Option<u128>,
    ) -> Result<Principal, CallError> {
        self.create_canister_committing(sender, settings, cycles, Vec::new())
    }

    /// `provisional_create_canister_with_cycles` with `specified_id`: the canister gets that
    /// id, unless a canister has it (IC0538) or it is not a canister id drydock can host.
    pub(crate) fn create_canister_at(
        &mut self,
        sender: Principal,
        id: Principal,
        settings: Option<CanisterSettings>,
        cycles: Option<u128>,
    ) -> Result<Principal, CallError> {
        if self.canisters.contains_key(&id) {
            return Err(UserError::new(
                ErrorCode::CanisterAlreadyInstalled,
                format!("Canister {id} is already installed."),
            )
            .into());
        }
        let hostable = crate::ids::canister_index(&id).is_some()
            && crate::system::SystemCanister::of(&id).is_none()
            && id != crate::ids::MANAGEMENT_CANISTER;
        if !hostable {
            return Err(UserError::new(
                ErrorCode::InvalidManagementPayload,
                format!("The specified_id {id} is not a canister id this subnet can host (8 index bytes followed by 0x01 0x01, and not a system canister's)"),
            )
            .into());
        }
        self.specified_id = Some(id);
        let made = self.create_canister_committing(sender, settings, cycles, Vec::new());
        self.specified_id = None;
        made
    }

    /// Creates a canister controlled by `sender` (unless `settings` name the controllers),
    /// committing `extra_blobs` with it: the system canisters' payment for it.
    pub(crate) fn create_canister_committing(
        &mut self,
        sender: Principal,
        settings: Option<CanisterSettings>,
        cycles: Option<u128>,
        extra_blobs: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<Principal, CallError> {
        let mut s = Settings::defaults(vec![sender]);
        if let Some(new) = &settings {
            apply_settings(&mut s, new)?;
        }
        let (id, next_index_blob) = self.allocate_canister_id();
        let now = self.now();
        let mut record = CanisterRecord {
            id,
            settings: s,
            status: CanisterStatus::Running,
            module_hash: None,
            version: 0,
            cycles: cycles.unwrap_or(DEFAULT_CYCLES),
            cycles_burned: 0,
            resources_paid_at: now,
            certified_data: Vec::new(),
            global_timer: 0,
            globals: Vec::new(),
            heap_size: 0,
            stable_size: 0,
            history: Vec::new(),
            total_num_changes: 0,
            next_snapshot_id: 0,
            chunk_store: Vec::new(),
            calls: Default::default(),
        };
        let controllers = record.settings.controllers.clone();
        push_change(
            &mut record,
            now,
            sender,
            ChangeDetails::Creation(CreationRecord {
                controllers,
                environment_variables_hash: None,
            }),
        );
        self.canisters.insert(
            id,
            crate::replica::Canister {
                record: record.clone(),
                instance: None,
            },
        );
        let mut blobs = vec![next_index_blob];
        blobs.extend(extra_blobs);
        if let Err(e) = self.commit_record(record, blobs) {
            self.canisters.remove(&id);
            return Err(e);
        }
        Ok(id)
    }

    fn set_status(
        &mut self,
        sender: Principal,
        id: Principal,
        status: CanisterStatus,
    ) -> Result<(), CallError> {
        let mut record = self.get(&id)?.record.clone();
        ensure_controller(&record, &sender)?;
        if record.status == status {
            return Ok(());
        }
        let mut out = crate::messaging::queue::Outbox::default();
        if record.status == CanisterStatus::Stopping {
            // Interface spec, "IC method start_canister": a stopping canister's pending
            // stop_canister calls are rejected.
            self.cancel_stops(&mut record, &mut out);
        }
        record.status = status;
        // Interface spec, "IC method start_canister": a status change bumps the version.
        record.version += 1;
        Ok(self.commit_with(record, None, out)?)
    }

    /// A call to the management canister from a canister, which attached `cycles`. Returns
    /// the reply and the cycles the call used (the rest are refunded).
    pub(crate) fn management_from_canister(
        &mut self,
        caller: Principal,
        method: &str,
        arg: &[u8],
        cycles: u128,
    ) -> Result<(Vec<u8>, u128), CallError> {
        match method {
            "create_canister" => {
                // Interface spec, "IC method create_canister": the attached cycles, less the
                // creation fee, become the new canister's balance.
                let args: CreateCanisterArgs = decode(method, arg)?;
                if cycles < CANISTER_CREATION_FEE {
                    return Err(UserError::new(
                        ErrorCode::InsufficientCyclesForCreateCanister,
                        format!("Creating a canister requires a fee of {CANISTER_CREATION_FEE} that is deducted from the canister's initial balance but only {cycles} cycles were received with the create_canister request."),
                    )
                    .into());
                }
                let id = self.create_canister(
                    caller,
                    args.settings,
                    Some(cycles - CANISTER_CREATION_FEE),
                )?;
                Ok((encode(&CanisterIdRecord { canister_id: id })?, cycles))
            }
            "deposit_cycles" => {
                let args: CanisterIdRecord = decode(method, arg)?;
                let mut record = self.get(&args.canister_id)?.record.clone();
                record.cycles = record.cycles.saturating_add(cycles);
                self.commit_record(record, Vec::new())?;
                Ok((encode(&())?, cycles))
            }
            _ => Ok((self.management(caller, method, arg)?, 0)),
        }
    }

    fn canister_status(
        &mut self,
        sender: Principal,
        id: Principal,
    ) -> Result<CanisterStatusResult, CallError> {
        let record = self.get(&id)?.record.clone();
        // Interface spec, "IC method canister_status": controllers, and whom the canister's
        // `status_visibility` names.
        let visible = match &record.settings.status_visibility {
            StatusVisibility::Controllers => false,
            StatusVisibility::Public => true,
            StatusVisibility::AllowedViewers(viewers) => viewers.contains(&sender),
        };
        if !visible {
            ensure_controller(&record, &sender)?;
        }
        let usage = self.memory_usage(&record)?;
        let idle_burn = crate::cycles::idle_cycles_burned_per_day(usage.total, &record.settings);
        // Interface spec, "IC method canister_status": the chunk store's and the log's real
        // sizes.
        let mut chunk_store = 0u64;
        for hash in &record.chunk_store {
            let mut key = [0u8; 32];
            if hex::decode_to_slice(hash, &mut key).is_ok() {
                chunk_store += self.store.content_len(&key).unwrap_or(0);
            }
        }
        let log_size = self.log_size(&id);
        let s = &record.settings;
        Ok(CanisterStatusResult {
            status: match record.status {
                CanisterStatus::Running => CanisterStatusType::Running,
                CanisterStatus::Stopping => CanisterStatusType::Stopping,
                CanisterStatus::Stopped => CanisterStatusType::Stopped,
            },
            ready_for_migration: false,
            version: record.version,
            settings: DefiniteCanisterSettings {
                controllers: s.controllers.clone(),
                compute_allocation: Nat::from(s.compute_allocation),
                memory_allocation: Nat::from(s.memory_allocation),
                freezing_threshold: Nat::from(s.freezing_threshold),
                reserved_cycles_limit: Nat::from(s.reserved_cycles_limit),
                log_visibility: s.log_visibility.clone(),
                log_memory_limit: Nat::from(s.log_memory_limit),
                wasm_memory_limit: Nat::from(s.wasm_memory_limit),
                wasm_memory_threshold: Nat::from(s.wasm_memory_threshold),
                environment_variables: s
                    .environment_variables
                    .iter()
                    .map(
                        |(name, value)| ic_management_canister_types::EnvironmentVariable {
                            name: name.clone(),
                            value: value.clone(),
                        },
                    )
                    .collect(),
                snapshot_visibility: s.snapshot_visibility.clone(),
                minimum_incoming_canister_call_cycles: Nat::from(
                    s.minimum_incoming_canister_call_cycles,
                ),
                status_visibility: s.status_visibility.clone(),
            },
            module_hash: record
                .module_hash
                .as_ref()
                .and_then(|h| hex::decode(h).ok()),
            memory_size: Nat::from(usage.total),
            memory_metrics: MemoryMetrics {
                wasm_memory_size: Nat::from(record.heap_size),
                stable_memory_size: Nat::from(record.stable_size),
                global_memory_size: Nat::from(usage.globals),
                wasm_binary_size: Nat::from(usage.binary),
                custom_sections_size: Nat::from(usage.custom_sections),
                canister_history_size: Nat::from(usage.history),
                wasm_chunk_store_size: Nat::from(chunk_store),
                snapshots_size: Nat::from(usage.snapshots),
                log_memory_store_size: Nat::from(log_size),
            },
            cycles: Nat::from(record.cycles),
            reserved_cycles: Nat::from(0u64),
            idle_cycles_burned_per_day: Nat::from(idle_burn),
            query_stats: QueryStats {
                num_calls_total: Nat::from(0u64),
                num_instructions_total: Nat::from(0u64),
                request_payload_bytes_total: Nat::from(0u64),
                response_payload_bytes_total: Nat::from(0u64),
            },
        })
    }

    fn update_settings(
        &mut self,
        sender: Principal,
        args: UpdateSettingsArgs,
    ) -> Result<(), CallError> {
        let mut record = self.get(&args.canister_id)?.record.clone();
        ensure_controller(&record, &sender)?;
        let changed = apply_settings(&mut record.settings, &args.settings)?;
        record.version += 1;
        if changed {
            let now = self.now();
            let controllers = record.settings.controllers.clone();
            push_change(
                &mut record,
                now,
                sender,
                ChangeDetails::ControllersChange(ControllersChangeRecord { controllers }),
            );
        }
        self.commit_record(record, Vec::new())
    }

    fn delete_canister(&mut self, sender: Principal, id: Principal) -> Result<(), CallError> {
        let record = self.get(&id)?.record.clone();
        ensure_controller(&record, &sender)?;
        if record.status != CanisterStatus::Stopped {
            return Err(UserError::new(
                ErrorCode::CanisterNotStopped,
                format!("Canister {id} must be stopped before it is deleted."),
            )
            .into());
        }
        let mut batch = drydock_state::Batch::default();
        batch.blobs.push((CanisterRecord::key(&id), None));
        self.delete_all_snapshots_into(&id, &mut batch)?;
        for name in [
            CanisterRecord::heap_name(&id),
            CanisterRecord::stable_name(&id),
        ] {
            if self.store.memory(&name).is_some() {
                batch.memories.push(drydock_state::MemoryUpdate {
                    name,
                    op: drydock_state::MemoryOp::Delete,
                });
            }
        }
        self.store.commit(batch)?;
        self.canisters.remove(&id);
        Ok(())
    }

    /// `canister_info`: a canister's history, module hash and controllers. Only canisters may
    /// call it through the management canister; drydock's own commands read it here.
    pub fn canister_info(
        &mut self,
        args: CanisterInfoArgs,
    ) -> Result<CanisterInfoResult, CallError> {
        let record = &self.get(&args.canister_id)?.record;
        let n = args.num_requested_changes.unwrap_or(0) as usize;
        let start = record.history.len().saturating_sub(n);
        Ok(CanisterInfoResult {
            total_num_changes: record.total_num_changes,
            recent_changes: record.history[start..].to_vec(),
            module_hash: record
                .module_hash
                .as_ref()
                .and_then(|h| hex::decode(h).ok()),
            controllers: record.settings.controllers.clone(),
        })
    }
}

#[cfg(test)]
mod candid_quota_tests {
    use super::*;

    #[test]
    fn a_few_bytes_claiming_a_huge_vec_null_are_refused_at_once() {
        // `record { canister_id; extra : vec null }`: `extra` (field hash 1998756496) comes
        // after `canister_id` (1313628723), so its length is the last byte; claim 2^32 nulls.
        #[derive(candid::CandidType)]
        struct Evil {
            canister_id: Principal,
            extra: Vec<()>,
        }
        let mut arg = candid::encode_one(Evil {
            canister_id: crate::canister_id_from_index(0),
            extra: Vec::new(),
        })
        .unwrap();
        assert_eq!(arg.pop(), Some(0));
        // 4096 nulls are skipped as an unknown field; 2^32 are over the quota.
        let mut small = arg.clone();
        small.extend([0x80, 0x20]);
        decode_arg::<ic_management_canister_types::CanisterIdRecord>(&small).unwrap();
        arg.extend([0x80, 0x80, 0x80, 0x80, 0x10]);
        // Refused by the quota (its error says so), before the nulls are skipped.
        let decoded = decode_arg::<ic_management_canister_types::CanisterIdRecord>(&arg);
        let err = decoded.expect_err("decoded 2^32 nulls");
        assert!(format!("{err:?}").contains("cost exceeds"), "{err:?}");
    }

    #[test]
    fn a_real_install_code_argument_of_2_mib_decodes_within_the_quota() {
        let args = ic_management_canister_types::InstallCodeArgs {
            mode: ic_management_canister_types::CanisterInstallMode::Install,
            canister_id: crate::canister_id_from_index(0),
            wasm_module: vec![7; 2 * 1024 * 1024],
            arg: vec![1; 1000],
            sender_canister_version: None,
        };
        let bytes = candid::encode_one(&args).unwrap();
        let back: ic_management_canister_types::InstallCodeArgs = decode_arg(&bytes).unwrap();
        assert_eq!(back.wasm_module.len(), 2 * 1024 * 1024);
    }
}
