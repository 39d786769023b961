//! The [`Replica`]: the canister table, instance management, message execution and commit.
//!
//! # Invariants
//! - A message's effects reach the state directory in one atomic commit before its reply is
//!   returned; a failed message commits nothing and its instance is rolled back (or dropped
//!   and later re-created from the committed state).
//! - A live instance, when present and not stale, equals the committed state.
//! - Queries and `canister_inspect_message` never commit.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use candid::Principal;
use drydock_exec::{
    CanisterModule, CanisterTrap, Engine, ExecLimits, HostTrap, Instance, MemoryBacking,
    MessageEnv, StateDelta,
};
use drydock_state::{Batch, MemoryOp, MemoryUpdate, Store};

use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::ids::{canister_id_from_index, FIRST_CANISTER_INDEX};
use crate::record::CanisterRecord;
use crate::system::canisters::SystemCanister;

/// The IC's instruction and memory limits, which drydock enforces by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Update calls, heartbeats and timers: 40 B.
    pub update_instructions: u64,
    /// Queries: 5 B.
    pub query_instructions: u64,
    /// Install and upgrade (init, or pre_upgrade + post_upgrade together): 300 B.
    pub install_instructions: u64,
    /// `canister_inspect_message`: 200 M.
    pub inspect_instructions: u64,
    /// Wasm32 heap: 4 GiB.
    pub heap32_max: u64,
    /// Wasm64 heap: 6 GiB.
    pub heap64_max: u64,
    /// Stable memory: 500 GiB.
    pub stable_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            update_instructions: 40_000_000_000,
            query_instructions: 5_000_000_000,
            install_instructions: 300_000_000_000,
            inspect_instructions: 200_000_000,
            heap32_max: 4 << 30,
            heap64_max: 6 << 30,
            stable_max: 500 << 30,
        }
    }
}

/// How a replica runs.
#[derive(Clone, Debug, Default)]
pub struct ReplicaConfig {
    pub limits: Limits,
    /// The index of the first canister id a new state directory hands out (default
    /// [`crate::ids::FIRST_CANISTER_INDEX`]); a state directory keeps its own counter.
    pub first_canister_index: Option<u64>,
    /// Where compiled modules are cached (default `<dir>/compiled`): replicas of one process
    /// may share one.
    pub compiled_cache: Option<std::path::PathBuf>,
}

pub(crate) struct Canister {
    pub record: CanisterRecord,
    pub instance: Option<Instance>,
}

/// A local replica over one state directory.
pub struct Replica {
    pub(crate) store: Store,
    pub(crate) engine: Engine,
    pub(crate) canisters: BTreeMap<Principal, Canister>,
    pub(crate) config: ReplicaConfig,
    next_index: u64,
    last_time: u64,
    /// Time moves only when [`Replica::set_time`] moves it (PocketIC's clock), not with the
    /// wall clock.
    time_pinned: bool,
    pub(crate) logs: Vec<(Principal, String)>,
    /// Compiled modules by module hash (hex), so a message does not read the module again.
    modules: std::sync::Mutex<std::collections::HashMap<String, Arc<CanisterModule>>>,
    /// The figures of the last successful `install_code` (see [`crate::InstallStats`]).
    pub(crate) last_install: Option<crate::install_stats::InstallStats>,
    /// The hooks of the `install_code` running now.
    pub(crate) hook_stats: Vec<crate::install_stats::HookStats>,
    /// The ledgers' balances (`system/`), loaded at open.
    pub(crate) system: Option<crate::system::ledger::SystemState>,
    /// The subnet id canisters see and the CMC reports (see [`Replica::set_subnet_id`]).
    pub(crate) subnet_id: Principal,
    /// Messages between canisters waiting for delivery (durable; see `messaging`).
    pub(crate) queue: crate::messaging::queue::Queue,
    /// Responses to ingress messages not yet collected, by ingress number: durable.
    pub(crate) ingress_results: std::collections::HashMap<u64, crate::messaging::Payload>,
    /// Responses to ingress messages committed but not yet synced (group commit), oldest
    /// first: handed out by [`Replica::sync`].
    pub(crate) unpublished: Vec<(u64, crate::messaging::Payload)>,
    /// Ingress messages accepted and waiting for a round, oldest first.
    pub(crate) ingress_pool: std::collections::VecDeque<crate::messaging::queue::Ingress>,
    /// Canisters whose instance is checked out into a job (`messaging::job`).
    pub(crate) busy: std::collections::HashSet<Principal>,
    /// Commits are deferred to the next sync (`Replica::grouped`).
    pub(crate) group: bool,
    /// Ingress calls whose execution could not be committed, with why (see
    /// `Replica::finish`); answered as drydock's failure.
    pub(crate) ingress_failures: std::collections::HashMap<u64, String>,
    /// When expired request ids were last looked for (`requests.rs`).
    pub(crate) last_sweep: Option<std::time::Instant>,
    /// The id the next canister created gets (`specified_id`), once.
    pub(crate) specified_id: Option<Principal>,
    /// Instructions of each canister's last job (see [`Replica::last_instructions`]).
    pub(crate) last_instructions: std::collections::HashMap<Principal, u64>,
    pub(crate) next_ingress: u64,
    /// Blob changes to ride along with the next commit (a queued message consumed by a
    /// management call that commits on its own).
    pub(crate) carry: Vec<(String, Option<Vec<u8>>)>,
    /// Outboxes whose blobs are in a batch being committed by hand (`apply_staged`).
    pub(crate) staged: Vec<crate::messaging::queue::Outbox>,
    /// The certificate the query being run sees (`query_with_certificate`).
    pub(crate) data_certificate: Option<Vec<u8>>,
    /// The caller info of the query being run, taken by its first execution.
    pub(crate) query_caller_info: Option<crate::messaging::CallerInfo>,
    /// Canister logs read or changed in this process (`logs.rs`).
    pub(crate) log_cache: std::collections::HashMap<Principal, crate::log_buffer::CanisterLog>,
    /// The root key (DER) canisters read with `ic0.root_key_*` (see [`Replica::set_root_key`]).
    root_key: Vec<u8>,
}

const NEXT_INDEX_KEY: &str = "replica/next_canister_index";

impl Replica {
    /// Opens (creating if needed) the state directory at `dir`.
    pub fn open(dir: &Path, config: ReplicaConfig) -> Result<Self, ReplicaError> {
        let store = Store::open(dir)?;
        let cache = config
            .compiled_cache
            .clone()
            .unwrap_or_else(|| dir.join("compiled"));
        let engine = Engine::new(Some(cache))?;
        let mut canisters = BTreeMap::new();
        for key in store.blob_keys("canister/") {
            let bytes = store.blob(&key).unwrap_or_default();
            let mut record: CanisterRecord =
                serde_json::from_slice(bytes).map_err(|e| ReplicaError::CorruptRecord {
                    key: key.clone(),
                    cause: e.to_string(),
                })?;
            record.settings.upgrade_format();
            canisters.insert(
                record.id,
                Canister {
                    record,
                    instance: None,
                },
            );
        }
        let next_ingress = store
            .blob(crate::messaging::NEXT_INGRESS_KEY)
            .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
            .unwrap_or(0);
        let next_index = store
            .blob(NEXT_INDEX_KEY)
            .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
            .unwrap_or(config.first_canister_index.unwrap_or(FIRST_CANISTER_INDEX));
        let queue = crate::messaging::queue::Queue::load(&store)?;
        let mut replica = Replica {
            queue,
            ingress_results: Default::default(),
            unpublished: Vec::new(),
            ingress_pool: Default::default(),
            busy: Default::default(),
            group: false,
            last_instructions: Default::default(),
            specified_id: None,
            last_sweep: None,
            ingress_failures: Default::default(),
            next_ingress,
            carry: Vec::new(),
            staged: Vec::new(),
            data_certificate: None,
            query_caller_info: None,
            log_cache: Default::default(),
            root_key: Vec::new(),
            store,
            engine,
            canisters,
            config,
            next_index,
            last_time: 0,
            time_pinned: false,
            logs: Vec::new(),
            modules: Default::default(),
            last_install: None,
            hook_stats: Vec::new(),
            system: None,
            subnet_id: Principal::from_slice(&[0u8; 29]),
        };
        replica.open_system()?;
        Ok(replica)
    }

    /// Copies the state directory, as of the last commit, to `dest`: a replica opened there
    /// holds the same canisters, snapshots and system state, and goes its own way after.
    /// Copy-on-write where the file system clones files (btrfs, XFS); elsewhere the memory
    /// files are hard-linked and each side copies a shared file at its first change to it;
    /// see [`drydock_state::Store::copy_to`].
    pub fn copy_state_to(&mut self, dest: &Path) -> Result<drydock_state::CopyStats, ReplicaError> {
        Ok(self.store.copy_to(dest)?)
    }

    /// The ids of all canisters.
    pub fn canister_ids(&self) -> Vec<Principal> {
        self.canisters.keys().copied().collect()
    }

    /// The record of a canister.
    pub fn canister(&self, id: &Principal) -> Option<&CanisterRecord> {
        self.canisters.get(id).map(|c| &c.record)
    }

    /// The lines canisters printed with `ic0.debug_print` (and the trap messages of failed
    /// executions) since the last call, oldest first.
    pub fn take_logs(&mut self) -> Vec<(Principal, String)> {
        std::mem::take(&mut self.logs)
    }

    /// Sets the root key (DER) that `ic0.root_key_copy` gives canisters: the key the HTTP
    /// interface's certificates verify against. Without it canisters see an empty key.
    pub fn set_root_key(&mut self, der: Vec<u8>) {
        self.root_key = der;
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.config.limits
    }

    /// The current time in nanoseconds; strictly increasing across calls.
    pub(crate) fn now(&mut self) -> u64 {
        let wall = if self.time_pinned { 0 } else { wall_time() };
        self.last_time = wall.max(self.last_time + 1);
        self.last_time
    }

    /// The IC time as the last execution saw it (or as [`Replica::set_time`] set it).
    pub fn time(&self) -> u64 {
        self.last_time
    }

    /// Sets the IC time to `nanos` and pins it there: from now on it moves only when set
    /// again (and by 1 ns per execution, so that it stays strictly increasing). The IC's time
    /// never goes back: an earlier time is refused, with the current one. With `None`, time
    /// follows the wall clock again (never going back either).
    pub fn set_time(&mut self, nanos: Option<u64>) -> Result<(), u64> {
        match nanos {
            Some(t) if t < self.last_time => Err(self.last_time),
            Some(t) => {
                self.last_time = t;
                self.time_pinned = true;
                Ok(())
            }
            None => {
                self.last_time = self.last_time.max(wall_time());
                self.time_pinned = false;
                Ok(())
            }
        }
    }

    /// The index of the next canister id, skipping the system canisters' ids (the cycles
    /// ledger's index lies above [`FIRST_CANISTER_INDEX`]).
    fn next_free_index(&self) -> u64 {
        let mut index = self.next_index;
        while SystemCanister::of(&canister_id_from_index(index)).is_some()
            || self.canisters.contains_key(&canister_id_from_index(index))
        {
            index += 1;
        }
        index
    }

    /// The id the next created canister gets.
    pub(crate) fn next_canister_id(&self) -> Principal {
        canister_id_from_index(self.next_free_index())
    }

    pub(crate) fn allocate_canister_id(&mut self) -> (Principal, (String, Option<Vec<u8>>)) {
        if let Some(id) = self.specified_id.take() {
            // `specified_id`: the counter stays where it is (it rides along unchanged).
            return (
                id,
                (
                    NEXT_INDEX_KEY.to_string(),
                    Some(self.next_index.to_string().into_bytes()),
                ),
            );
        }
        let index = self.next_free_index();
        let id = canister_id_from_index(index);
        self.next_index = index + 1;
        (
            id,
            (
                NEXT_INDEX_KEY.to_string(),
                Some(self.next_index.to_string().into_bytes()),
            ),
        )
    }

    pub(crate) fn get(&self, id: &Principal) -> Result<&Canister, UserError> {
        self.canisters.get(id).ok_or_else(|| {
            UserError::new(
                ErrorCode::CanisterNotFound,
                format!("Canister {id} not found"),
            )
        })
    }

    pub(crate) fn get_mut(&mut self, id: &Principal) -> Result<&mut Canister, UserError> {
        self.canisters.get_mut(id).ok_or_else(|| {
            UserError::new(
                ErrorCode::CanisterNotFound,
                format!("Canister {id} not found"),
            )
        })
    }

    /// The installed module of a canister, compiled.
    pub(crate) fn module_of(
        &self,
        record: &CanisterRecord,
    ) -> Result<Option<Arc<CanisterModule>>, CallError> {
        let Some(hash) = &record.module_hash else {
            return Ok(None);
        };
        if let Some(m) = self
            .modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
        {
            return Ok(Some(m.clone()));
        }
        let mut key = [0u8; 32];
        hex::decode_to_slice(hash, &mut key).map_err(|e| ReplicaError::CorruptRecord {
            key: CanisterRecord::key(&record.id),
            cause: e.to_string(),
        })?;
        let bytes = self.store.content(&key)?;
        let module = self.engine.load(&bytes)?;
        self.modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash.clone(), module.clone());
        Ok(Some(module))
    }

    pub(crate) fn backing(&self, name: &str, size: u64) -> MemoryBacking {
        match self.store.memory(name) {
            Some(m) => MemoryBacking {
                file: Some(m.file),
                size,
            },
            None => MemoryBacking {
                file: None,
                size: 0,
            },
        }
    }

    pub(crate) fn exec_limits(
        &self,
        instructions: u64,
        record: &CanisterRecord,
        enforce: bool,
    ) -> ExecLimits {
        let l = self.config.limits;
        let mut e = ExecLimits::ic(instructions);
        e.heap32_max = l.heap32_max;
        e.heap64_max = l.heap64_max;
        e.stable_max = l.stable_max;
        e.wasm_memory_limit = Some(record.settings.wasm_memory_limit).filter(|l| *l > 0);
        e.enforce_wasm_memory_limit = enforce;
        e
    }

    /// Makes sure the canister has a live, current instance, and returns it.
    pub(crate) fn ensure_instance(&mut self, id: &Principal) -> Result<&mut Instance, CallError> {
        let c = self.get(id)?;
        let usable = c.instance.as_ref().map(|i| !i.is_stale()).unwrap_or(false);
        if !usable {
            let record = c.record.clone();
            let module = self.module_of(&record)?.ok_or_else(|| no_module(id))?;
            let inst = self.committed_instance(&record, module)?;
            self.get_mut(id)?.instance = Some(inst);
        }
        let c = self.get_mut(id)?;
        c.instance
            .as_mut()
            .ok_or_else(|| CallError::User(no_module(id)))
    }

    /// An instance of `module` over the canister's committed memories and globals.
    pub(crate) fn committed_instance(
        &self,
        record: &CanisterRecord,
        module: Arc<CanisterModule>,
    ) -> Result<Instance, drydock_exec::ExecError> {
        let id = &record.id;
        let heap = self.backing(&CanisterRecord::heap_name(id), record.heap_size);
        let stable = self.backing(&CanisterRecord::stable_name(id), record.stable_size);
        let globals: Vec<_> = record
            .globals
            .iter()
            .map(|(i, g)| (*i, g.to_exec()))
            .collect();
        let limits = self.exec_limits(0, record, false);
        let stable = drydock_exec::StableMemory::new(&stable, limits.stable_max)?;
        Instance::new(&self.engine, module, heap, stable, Some(&globals), limits)
    }

    pub(crate) fn env(
        &mut self,
        record: &CanisterRecord,
        caller: &Principal,
        method: &str,
        arg: &[u8],
    ) -> MessageEnv {
        MessageEnv {
            method_name: method.to_string(),
            arg: arg.to_vec(),
            caller: caller.as_slice().to_vec(),
            canister_id: record.id.as_slice().to_vec(),
            controllers: record
                .settings
                .controllers
                .iter()
                .map(|p| p.as_slice().to_vec())
                .collect(),
            time_nanos: self.now(),
            cycles_balance: record.cycles,
            canister_version: record.version,
            canister_status: record.status.code(),
            subnet_id: self.subnet_id.as_slice().to_vec(),
            root_key: self.root_key.clone(),
            env_vars: record.settings.environment_variables.clone(),
            ..MessageEnv::default()
        }
    }

    /// Commits a canister's new record together with a delta of its live instance, then tells
    /// the instance its state is committed.
    pub(crate) fn commit(
        &mut self,
        record: CanisterRecord,
        delta: Option<(&StateDelta, bool, bool)>,
        extra_blobs: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), CallError> {
        let id = record.id;
        let mut batch = Batch::default();
        let json = serde_json::to_vec(&record).map_err(|e| ReplicaError::CorruptRecord {
            key: CanisterRecord::key(&id),
            cause: e.to_string(),
        })?;
        batch.blobs.push((CanisterRecord::key(&id), Some(json)));
        batch.blobs.extend(extra_blobs);
        batch.blobs.append(&mut self.carry);
        if let Some((d, reset_heap, reset_stable)) = delta {
            batch.memories.push(MemoryUpdate {
                name: CanisterRecord::heap_name(&id),
                op: MemoryOp::Write {
                    reset: reset_heap,
                    size: d.heap.size,
                    pages: d.heap.pages.clone(),
                },
            });
            batch.memories.push(MemoryUpdate {
                name: CanisterRecord::stable_name(&id),
                op: MemoryOp::Write {
                    reset: reset_stable,
                    size: d.stable.size,
                    pages: d.stable.pages.clone(),
                },
            });
        }
        if let Err(e) = self.store_commit(batch) {
            // Nothing was committed (out of space, say): the instance holds the message's
            // changes, so drop it; the next message maps the committed state afresh.
            if let Ok(c) = self.get_mut(&id) {
                c.instance = None;
            }
            return Err(e.into());
        }
        let heap = self.backing(&CanisterRecord::heap_name(&id), record.heap_size);
        let stable = self.backing(&CanisterRecord::stable_name(&id), record.stable_size);
        let c = self.get_mut(&id)?;
        c.record = record;
        if let (Some(inst), Some((d, _, _))) = (c.instance.as_mut(), delta) {
            if let Err(e) = inst.after_commit(d, &heap, &stable) {
                // The commit is durable; only the cached instance is unusable. Drop it so the
                // next message maps the committed state afresh.
                c.instance = None;
                tracing::warn!("dropping instance of {id} after commit: {e}");
            }
        }
        Ok(())
    }

    /// Commits a batch, durably at once unless commits are grouped (see
    /// [`Replica::grouped`]).
    pub(crate) fn store_commit(&mut self, batch: Batch) -> Result<(), ReplicaError> {
        if self.group {
            self.store.commit_unsynced(batch)?;
        } else {
            self.store.commit(batch)?;
        }
        Ok(())
    }

    /// After a hand-made commit that carried staged outboxes: applies them if it succeeded.
    pub(crate) fn apply_staged(&mut self, committed: bool) {
        for out in std::mem::take(&mut self.staged) {
            if committed {
                self.outbox_committed(out);
            }
        }
    }

    /// Applies a record-only change (no memories).
    pub(crate) fn commit_record(
        &mut self,
        record: CanisterRecord,
        extra_blobs: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), CallError> {
        self.commit(record, None, extra_blobs)
    }

    /// A custom section `icp:public NAME` (for anyone) or `icp:private NAME` (controllers only).
    pub fn metadata(
        &self,
        sender: &Principal,
        canister: &Principal,
        name: &str,
    ) -> Result<Vec<u8>, CallError> {
        let c = self.get(canister)?;
        let module = self
            .module_of(&c.record)?
            .ok_or_else(|| no_module(canister))?;
        if let Some(bytes) = module
            .prepared
            .custom_sections
            .get(&format!("icp:public {name}"))
        {
            return Ok(bytes.clone());
        }
        if let Some(bytes) = module
            .prepared
            .custom_sections
            .get(&format!("icp:private {name}"))
        {
            if c.record.settings.controllers.contains(sender) {
                return Ok(bytes.clone());
            }
            return Err(UserError::new(
                ErrorCode::CanisterInvalidController,
                format!("Custom section {name} of canister {canister} is private: only its controllers may read it"),
            )
            .into());
        }
        Err(UserError::new(
            ErrorCode::CanisterContractViolation,
            format!("Custom section {name} not found in the module of canister {canister}"),
        )
        .into())
    }

    /// The names of the `icp:` custom sections of a canister's module, with their visibility
    /// (`true` for public). Private names are listed to controllers only.
    pub fn metadata_names(
        &self,
        sender: &Principal,
        canister: &Principal,
    ) -> Result<Vec<(String, bool)>, CallError> {
        let c = self.get(canister)?;
        let module = self
            .module_of(&c.record)?
            .ok_or_else(|| no_module(canister))?;
        let controller = c.record.settings.controllers.contains(sender);
        Ok(module
            .prepared
            .custom_sections
            .keys()
            .filter_map(|k| {
                k.strip_prefix("icp:public ")
                    .map(|n| (n.to_string(), true))
                    .or_else(|| {
                        k.strip_prefix("icp:private ")
                            .map(|n| (n.to_string(), false))
                    })
            })
            .filter(|(_, public)| *public || controller)
            .collect())
    }
}

/// How [`Replica::start_update`] left an ingress update.
#[derive(Debug)]
pub enum Started {
    /// It completed: its reply or rejection.
    Done(Result<Vec<u8>, CallError>),
    /// It was accepted and waits for a round, or for calls it made;
    /// [`Replica::poll_update`] with this number.
    Pending(u64),
    /// A canister it would change is executing a job; start it again shortly.
    Busy,
}

/// Nanoseconds since the Unix epoch, by the wall clock.
fn wall_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

pub(crate) fn no_module(id: &Principal) -> UserError {
    UserError::new(
        ErrorCode::CanisterWasmModuleNotFound,
        format!("Error from Canister {id}: Attempted to execute a message, but the canister contains no Wasm module."),
    )
}

/// The IC's rejection for a trapped message.
pub(crate) fn trap_error(id: &Principal, trap: &CanisterTrap) -> UserError {
    let code = match trap {
        CanisterTrap::Host(HostTrap::Explicit(_)) => ErrorCode::CanisterCalledTrap,
        CanisterTrap::Host(HostTrap::InstructionLimit { .. })
        | CanisterTrap::OutOfInstructions { .. } => ErrorCode::CanisterInstructionLimitExceeded,
        CanisterTrap::Host(HostTrap::WasmMemoryLimit { .. }) => {
            ErrorCode::CanisterWasmMemoryLimitExceeded
        }
        CanisterTrap::Host(HostTrap::StableAccessedPages) => {
            ErrorCode::CanisterMemoryAccessLimitExceeded
        }
        CanisterTrap::Host(HostTrap::ContractViolation(_)) => ErrorCode::CanisterContractViolation,
        CanisterTrap::MissingExport(_) => ErrorCode::CanisterMethodNotFound,
        _ => ErrorCode::CanisterTrapped,
    };
    UserError::new(code, format!("Error from Canister {id}: {trap}"))
}
