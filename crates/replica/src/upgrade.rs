//! `install_code` in its three modes, and `uninstall_code`.
//!
//! # Invariants
//! - Every mode is atomic: if any step (intake, the start function, `canister_init`,
//!   `canister_pre_upgrade`, `canister_post_upgrade`) traps or runs out of instructions, the
//!   canister is exactly as before — module, version, heap, stable memory, globals, certified
//!   data and timer. Nothing reaches the state directory until every step has succeeded.
//! - An upgrade runs `pre_upgrade` on the old instance, then hands its stable memory (with
//!   the hook's uncommitted writes) to the new instance; with `keep`, the heap's committed
//!   content plus the hook's writes become the new heap, and the new module's data segments
//!   are not applied. `pre_upgrade` and `post_upgrade` share one instruction budget.
//! - Any code change deactivates the global timer.

use candid::Principal;
use drydock_exec::{
    fees, CanisterModule, EntryKind, ExecError, Execution, Instance, MemoryBacking, StableMemory,
    StateDelta,
};
use ic_management_canister_types::{
    CanisterInstallMode, ChangeDetails, CodeDeploymentMode, CodeDeploymentRecord, InstallCodeArgs,
    WasmMemoryPersistence,
};
use std::sync::Arc;

use crate::cycles::worded;
use crate::error::{CallError, ErrorCode, UserError};
use crate::install_stats::{HookModule, HookStats, InstallStats};
use crate::management::{ensure_controller, push_change};
use crate::record::CanisterRecord;
use crate::replica::{no_module, trap_error, Replica};

fn invalid_wasm(id: &Principal, e: ExecError) -> CallError {
    match e {
        ExecError::Module(_)
        | ExecError::UnknownImport { .. }
        | ExecError::ImportSignature { .. }
        | ExecError::Instantiation { .. } => UserError::new(
            ErrorCode::CanisterInvalidWasm,
            format!("Error from Canister {id}: Canister's Wasm module is not valid: {e}"),
        )
        .into(),
        other => other.into(),
    }
}

/// An install or upgrade hook to run.
struct Hook<'a> {
    name: &'a str,
    kind: EntryKind,
    arg: &'a [u8],
    budget: u64,
    certified_data: Vec<u8>,
}

fn hook_error(id: &Principal, hook: &str, exec: &Execution) -> CallError {
    let Err(trap) = &exec.result else {
        return UserError::new(
            ErrorCode::CanisterTrapped,
            format!("Error from Canister {id}: {hook} failed"),
        )
        .into();
    };
    let base = trap_error(id, trap);
    UserError::new(
        base.code,
        format!("Error from Canister {id}: {hook} trapped: {trap} — the canister is unchanged"),
    )
    .into()
}

impl Replica {
    /// The figures of the last successful `install_code`, taken once.
    pub fn take_install_stats(&mut self) -> Option<InstallStats> {
        self.last_install.take()
    }

    /// Charges an install's instructions, and refuses it (nothing committed) when the memory
    /// it grew from `before` bytes is more than the balance left can keep above the freezing
    /// threshold.
    fn pay_install(
        &self,
        record: &mut CanisterRecord,
        stats: &InstallStats,
        before: u64,
    ) -> Result<(), CallError> {
        crate::cycles::burn(record, fees::execution(stats.instructions()));
        let after = record.heap_size.saturating_add(record.stable_size);
        self.ensure_memory_paid(record, after.saturating_sub(before))
    }

    /// Keeps a hook's figures for the install's stats, and for the charge of a failed install
    /// (the hooks that ran until it failed).
    fn note_hook(&mut self, name: &str, module: HookModule, exec: &Execution, heap_limit: u64) {
        self.hook_stats.push(HookStats {
            name: name.into(),
            module,
            instructions: exec.instructions,
            peak_heap: exec.peak_heap,
            heap_limit,
        });
    }

    /// After a failed install: the canister stays as it was, but pays for the instructions its
    /// hooks ran (as on the IC, where only the unused part of the prepaid limit comes back).
    /// Nothing is charged when no hook ran. The install's own error is what is reported; a
    /// charge that cannot be committed is dropped with it.
    fn charge_failed_install(&mut self, id: &Principal) {
        if self.hook_stats.is_empty() {
            return;
        }
        let used: u64 = self.hook_stats.iter().map(|h| h.instructions).sum();
        self.hook_stats.clear();
        let Ok(c) = self.get(id) else { return };
        let mut record = c.record.clone();
        crate::cycles::burn(&mut record, fees::execution(used));
        let _ = self.commit_record(record, Vec::new());
    }

    fn heap_limit(&self, record: &CanisterRecord, memory64: bool, enforce: bool) -> u64 {
        let l = self.exec_limits(0, record, enforce);
        let hard = if memory64 { l.heap64_max } else { l.heap32_max };
        match l.wasm_memory_limit {
            Some(limit) if enforce => limit.min(hard),
            _ => hard,
        }
    }

    pub(crate) fn install_code(
        &mut self,
        sender: Principal,
        args: InstallCodeArgs,
    ) -> Result<(), CallError> {
        let id = args.canister_id;
        let mut record = self.get(&id)?.record.clone();
        ensure_controller(&record, &sender)?;
        // "Cycles costs": an install is paid in advance for its whole instruction limit, above
        // the freezing threshold; the unused instructions are refunded when it succeeds.
        let now = self.now();
        let prepay = fees::execution(self.config.limits.install_instructions);
        self.pay_in_advance(&mut record, now, prepay, Some(&sender))
            .map_err(|e| worded(e, "Canister installation failed with", "."))?;
        self.last_install = None;
        self.hook_stats.clear();
        let module = self
            .engine
            .load(&args.wasm_module)
            .map_err(|e| invalid_wasm(&id, e))?;
        let result = match args.mode {
            CanisterInstallMode::Install => {
                if record.module_hash.is_some() {
                    return Err(UserError::new(
                        ErrorCode::CanisterNonEmpty,
                        format!("Canister {id} cannot be installed because the canister is not empty. Try installing with mode='reinstall' instead."),
                    )
                    .into());
                }
                self.fresh_install(
                    sender,
                    record,
                    module,
                    &args.wasm_module,
                    &args.arg,
                    CodeDeploymentMode::Install,
                )
            }
            CanisterInstallMode::Reinstall => self.fresh_install(
                sender,
                record,
                module,
                &args.wasm_module,
                &args.arg,
                CodeDeploymentMode::Reinstall,
            ),
            CanisterInstallMode::Upgrade(flags) => {
                let flags = flags.unwrap_or_default();
                self.upgrade(
                    sender,
                    record,
                    module,
                    &args.wasm_module,
                    &args.arg,
                    flags.skip_pre_upgrade.unwrap_or(false),
                    flags.wasm_memory_persistence,
                )
            }
        };
        if result.is_err() {
            self.charge_failed_install(&id);
        }
        result
    }

    /// Runs the start function and then the hook (if exported) on a new instance, within one
    /// budget. Returns the hook's execution; a trap in either becomes the error to report.
    fn run_start_and_hook(
        &mut self,
        inst: &mut Instance,
        record: &CanisterRecord,
        sender: &Principal,
        hook: Hook<'_>,
    ) -> Result<Option<Execution>, CallError> {
        let mut used = 0;
        let memory64 = inst.module().prepared.is_memory64;
        let heap_limit = self.heap_limit(record, memory64, true);
        if let Some(exec) = inst.run_start(self.exec_limits(hook.budget, record, true)) {
            self.log(record.id, &exec);
            self.note_hook("start", HookModule::New, &exec, heap_limit);
            if exec.result.is_err() {
                return Err(hook_error(&record.id, "the start function", &exec));
            }
            used = exec.instructions;
        }
        if !inst.has_export(hook.name) {
            return Ok(None);
        }
        let mut env = self.env(record, sender, "", hook.arg);
        // `canister_init` and `canister_post_upgrade` see the version the install gives.
        env.canister_version = record.version + 1;
        let limits = self.exec_limits(hook.budget.saturating_sub(used), record, true);
        let exec = inst.run(hook.name, hook.kind, env, hook.certified_data, 0, limits);
        self.log(record.id, &exec);
        self.note_hook(hook.name, HookModule::New, &exec, heap_limit);
        if exec.result.is_err() {
            return Err(hook_error(&record.id, hook.name, &exec));
        }
        Ok(Some(exec))
    }

    fn fresh_install(
        &mut self,
        sender: Principal,
        mut record: CanisterRecord,
        module: Arc<CanisterModule>,
        bytes: &[u8],
        arg: &[u8],
        mode: CodeDeploymentMode,
    ) -> Result<(), CallError> {
        let id = record.id;
        let limits = self.exec_limits(self.config.limits.install_instructions, &record, true);
        let stable = StableMemory::new(&MemoryBacking::default(), limits.stable_max)?;
        let mut inst = Instance::new(
            &self.engine,
            module.clone(),
            MemoryBacking::default(),
            stable,
            None,
            limits,
        )
        .map_err(|e| invalid_wasm(&id, e))?;
        let budget = self.config.limits.install_instructions;
        let hook = Hook {
            name: "canister_init",
            kind: EntryKind::Init,
            arg,
            budget,
            certified_data: Vec::new(),
        };
        let exec = self.run_start_and_hook(&mut inst, &record, &sender, hook)?;
        let delta = inst.delta()?;
        let before = record.heap_size.saturating_add(record.stable_size);
        self.record_deployment(
            &mut record,
            &delta,
            exec.as_ref(),
            Vec::new(),
            bytes,
            sender,
            mode,
        )?;
        let stats = InstallStats {
            mode: match mode {
                CodeDeploymentMode::Install => "install",
                _ => "reinstall",
            }
            .into(),
            hooks: std::mem::take(&mut self.hook_stats),
            instruction_limit: budget,
            stable_before: 0,
            stable_after: delta.stable.size,
            heap_after: delta.heap.size,
        };
        self.pay_install(&mut record, &stats, before)?;
        let mut out = crate::messaging::queue::Outbox::default();
        if mode == CodeDeploymentMode::Reinstall {
            crate::messaging::execute::reject_open_contexts(&mut record, &mut out);
        }
        let blobs = out.blobs(&mut self.queue)?;
        let old = self.get_mut(&id)?.instance.replace(inst);
        let result = self.commit(record, Some((&delta, true, true)), blobs);
        if result.is_ok() {
            self.outbox_committed(out);
        }
        if result.is_err() {
            self.get_mut(&id)?.instance = old;
        } else {
            self.last_install = Some(stats);
        }
        result
    }

    /// Updates the record for newly deployed code: stores the module, bumps the version,
    /// takes the new sizes, globals, certified data and timer (a code change deactivates the
    /// timer unless the hook set it again), and adds the change to the history.
    #[allow(
        clippy::too_many_arguments,
        reason = "the pieces of a deployment, each from its own step"
    )]
    fn record_deployment(
        &mut self,
        record: &mut CanisterRecord,
        delta: &StateDelta,
        hook: Option<&Execution>,
        certified_data: Vec<u8>,
        bytes: &[u8],
        sender: Principal,
        mode: CodeDeploymentMode,
    ) -> Result<(), CallError> {
        self.record_new_module(record, bytes, sender, mode)?;
        record.apply_delta(delta);
        record.certified_data = hook
            .map(|e| e.api.certified_data.clone())
            .unwrap_or(certified_data);
        record.global_timer = hook.map(|e| e.api.global_timer).unwrap_or(0);
        Ok(())
    }

    /// Stores a newly deployed module and records it: the module hash, the version bump and
    /// the code deployment in the history (install, upgrade and hotfix alike).
    pub(crate) fn record_new_module(
        &mut self,
        record: &mut CanisterRecord,
        bytes: &[u8],
        sender: Principal,
        mode: CodeDeploymentMode,
    ) -> Result<(), CallError> {
        let hash = self.store.put_content(bytes)?;
        record.module_hash = Some(hex::encode(hash));
        record.version += 1;
        let now = self.now();
        push_change(
            record,
            now,
            sender,
            ChangeDetails::CodeDeployment(CodeDeploymentRecord {
                mode,
                module_hash: hash.to_vec(),
            }),
        );
        Ok(())
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the install_code fields, passed through"
    )]
    fn upgrade(
        &mut self,
        sender: Principal,
        mut record: CanisterRecord,
        module: Arc<CanisterModule>,
        bytes: &[u8],
        arg: &[u8],
        skip_pre_upgrade: bool,
        persistence: Option<WasmMemoryPersistence>,
    ) -> Result<(), CallError> {
        let id = record.id;
        let old_module = self.module_of(&record)?.ok_or_else(|| no_module(&id))?;
        match persistence {
            None if old_module.prepared.is_eop => {
                return Err(UserError::new(
                    ErrorCode::CanisterContractViolation,
                    "Missing upgrade option: Enhanced orthogonal persistence requires the `wasm_memory_persistence` upgrade option.",
                )
                .into())
            }
            Some(WasmMemoryPersistence::Keep) if !module.prepared.is_eop => {
                return Err(UserError::new(
                    ErrorCode::CanisterContractViolation,
                    "Invalid upgrade option: The `wasm_memory_persistence: opt Keep` upgrade option requires that the new canister module supports enhanced orthogonal persistence.",
                )
                .into())
            }
            _ => {}
        }
        let keep = persistence == Some(WasmMemoryPersistence::Keep);
        let budget = self.config.limits.install_instructions;
        let stable_before = record.stable_size;
        let before = record.heap_size.saturating_add(record.stable_size);
        let mut used = 0;
        let mut certified_data = record.certified_data.clone();

        // 1. pre_upgrade on the old instance.
        if !skip_pre_upgrade && old_module.prepared.exports.pre_upgrade {
            let limits = self.exec_limits(budget, &record, false);
            let env = self.env(&record, &sender, "", &[]);
            let old = self.ensure_instance(&id)?;
            let exec = old.run(
                "canister_pre_upgrade",
                EntryKind::PreUpgrade,
                env,
                certified_data.clone(),
                record.global_timer,
                limits,
            );
            let failed = exec.result.is_err();
            if failed && old.rollback().is_err() {
                self.get_mut(&id)?.instance = None;
            }
            self.log(id, &exec);
            let heap_limit = self.heap_limit(&record, old_module.prepared.is_memory64, false);
            self.note_hook("canister_pre_upgrade", HookModule::Old, &exec, heap_limit);
            if failed {
                return Err(hook_error(&id, "canister_pre_upgrade", &exec));
            }
            used = exec.instructions;
            certified_data = exec.api.certified_data.clone();
        }

        // 2. Hand the memories over to a new instance of the new module.
        let old = self.ensure_instance(&id)?;
        let kept_heap = if keep { Some(old.delta()?.heap) } else { None };
        let stable = old.take_stable()?;
        let limits = self.exec_limits(budget.saturating_sub(used), &record, true);
        let heap = if keep {
            self.backing(&CanisterRecord::heap_name(&id), record.heap_size)
        } else {
            MemoryBacking::default()
        };
        let restore: Option<&[_]> = if keep { Some(&[]) } else { None };
        let new = Instance::new(&self.engine, module.clone(), heap, stable, restore, limits);
        let mut new = match new {
            Ok(n) => n,
            Err(e) => {
                // The stable memory went into the failed instance; rebuild the old one from disk.
                self.get_mut(&id)?.instance = None;
                return Err(invalid_wasm(&id, e));
            }
        };
        let restore_old = |this: &mut Replica, mut new: Instance| -> Result<(), CallError> {
            let stable = new.take_stable()?;
            let c = this.get_mut(&id)?;
            if let Some(old) = c.instance.as_mut() {
                old.put_stable(stable);
                if old.rollback().is_err() {
                    c.instance = None;
                }
            }
            Ok(())
        };
        if let Some(h) = &kept_heap {
            if let Err(e) = new.write_heap(h.size, &h.pages) {
                restore_old(self, new)?;
                return Err(e.into());
            }
        }

        // 3. start + post_upgrade on the new instance.
        let hook = Hook {
            name: "canister_post_upgrade",
            kind: EntryKind::PostUpgrade,
            arg,
            budget: budget.saturating_sub(used),
            certified_data: certified_data.clone(),
        };
        let exec = match self.run_start_and_hook(&mut new, &record, &sender, hook) {
            Ok(exec) => exec,
            Err(e) => {
                restore_old(self, new)?;
                return Err(e);
            }
        };

        // 4. Commit.
        let delta = match new.delta() {
            Ok(d) => d,
            Err(e) => {
                restore_old(self, new)?;
                return Err(e.into());
            }
        };
        if let Err(e) = self.record_deployment(
            &mut record,
            &delta,
            exec.as_ref(),
            certified_data,
            bytes,
            sender,
            CodeDeploymentMode::Upgrade,
        ) {
            restore_old(self, new)?;
            return Err(e);
        }
        let stats = InstallStats {
            mode: "upgrade".into(),
            hooks: std::mem::take(&mut self.hook_stats),
            instruction_limit: budget,
            stable_before,
            stable_after: delta.stable.size,
            heap_after: delta.heap.size,
        };
        if let Err(e) = self.pay_install(&mut record, &stats, before) {
            restore_old(self, new)?;
            return Err(e);
        }
        let c = self.get_mut(&id)?;
        let old = c.instance.replace(new);
        drop(old);
        let result = self.commit(record, Some((&delta, !keep, false)), Vec::new());
        if result.is_err() {
            // The old instance gave its stable memory away: rebuild from disk next time.
            self.get_mut(&id)?.instance = None;
        } else {
            self.last_install = Some(stats);
        }
        result
    }

    pub(crate) fn uninstall_code(
        &mut self,
        sender: Principal,
        id: Principal,
    ) -> Result<(), CallError> {
        let mut record = self.get(&id)?.record.clone();
        ensure_controller(&record, &sender)?;
        let mut batch = drydock_state::Batch::default();
        self.uninstall_into(&mut record, sender, &mut batch);
        let json = serde_json::to_vec(&record).map_err(|e| crate::ReplicaError::CorruptRecord {
            key: CanisterRecord::key(&id),
            cause: e.to_string(),
        })?;
        batch.blobs.push((CanisterRecord::key(&id), Some(json)));
        let committed = self.store.commit(batch);
        self.apply_staged(committed.is_ok());
        committed?;
        let c = self.get_mut(&id)?;
        c.record = record;
        c.instance = None;
        Ok(())
    }

    /// Empties the canister of `record` (module, memories, globals, certified data, timer),
    /// bumps its version and records the change; the memories' deletion goes into `batch`,
    /// which the caller commits together with the record. Snapshots are kept.
    pub(crate) fn uninstall_into(
        &mut self,
        record: &mut CanisterRecord,
        sender: Principal,
        batch: &mut drydock_state::Batch,
    ) {
        let id = record.id;
        record.module_hash = None;
        record.version += 1;
        record.globals.clear();
        record.certified_data.clear();
        record.global_timer = 0;
        record.heap_size = 0;
        record.stable_size = 0;
        let now = self.now();
        push_change(record, now, sender, ChangeDetails::CodeUninstall);
        // Interface spec, "IC method uninstall_code": the chunk store is cleared too.
        record.chunk_store.clear();
        let mut out = crate::messaging::queue::Outbox::default();
        crate::messaging::execute::reject_open_contexts(record, &mut out);
        if let Ok(blobs) = out.blobs(&mut self.queue) {
            batch.blobs.extend(blobs);
            self.staged.push(out);
        }
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
    }
}
