//! The persisted record of a canister: everything but its module bytes (in the content
//! store, by module hash) and its memories (paged memory files named `<id>/heap` and
//! `<id>/stable`). Stored as JSON under the blob key `canister/<id>`.

use candid::Principal;
use drydock_exec::GlobalValue;
use ic_management_canister_types::{Change, LogVisibility, SnapshotVisibility, StatusVisibility};
use serde::{Deserialize, Serialize};

/// Running, stopping or stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanisterStatus {
    Running,
    Stopping,
    Stopped,
}

impl CanisterStatus {
    /// The value `ic0.canister_status` returns.
    pub fn code(self) -> u32 {
        match self {
            CanisterStatus::Running => 1,
            CanisterStatus::Stopping => 2,
            CanisterStatus::Stopped => 3,
        }
    }
}

/// A saved mutable global.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum SavedGlobal {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(String),
}

impl SavedGlobal {
    pub fn from_exec(v: GlobalValue) -> Self {
        match v {
            GlobalValue::I32(v) => SavedGlobal::I32(v),
            GlobalValue::I64(v) => SavedGlobal::I64(v),
            GlobalValue::F32(v) => SavedGlobal::F32(v),
            GlobalValue::F64(v) => SavedGlobal::F64(v),
            GlobalValue::V128(v) => SavedGlobal::V128(format!("{v:032x}")),
        }
    }

    pub fn to_exec(&self) -> GlobalValue {
        match self {
            SavedGlobal::I32(v) => GlobalValue::I32(*v),
            SavedGlobal::I64(v) => GlobalValue::I64(*v),
            SavedGlobal::F32(v) => GlobalValue::F32(*v),
            SavedGlobal::F64(v) => GlobalValue::F64(*v),
            SavedGlobal::V128(s) => GlobalValue::V128(u128::from_str_radix(s, 16).unwrap_or(0)),
        }
    }
}

/// The settings of a canister, as `canister_status` reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub controllers: Vec<Principal>,
    pub compute_allocation: u64,
    pub memory_allocation: u64,
    pub freezing_threshold: u64,
    pub reserved_cycles_limit: u128,
    /// 0 means no limit.
    pub wasm_memory_limit: u64,
    pub wasm_memory_threshold: u64,
    /// Written by drydock before `log_visibility` was kept whole; read once by
    /// [`Settings::upgrade_format`].
    #[serde(default, skip_serializing)]
    pub log_visibility_public: bool,
    /// Who may fetch the canister's logs.
    #[serde(default)]
    pub log_visibility: LogVisibility,
    /// Bytes of log content kept (the IC's default 4096; 0 keeps none).
    #[serde(default = "default_log_memory_limit")]
    pub log_memory_limit: u64,
    /// Who may list the canister's snapshots (controllers by default).
    #[serde(default)]
    pub snapshot_visibility: SnapshotVisibility,
    /// Who may call `canister_status` (controllers by default).
    #[serde(default)]
    pub status_visibility: StatusVisibility,
    /// Stored and reported; calls are not refused below it yet (see "Fidelity").
    #[serde(default)]
    pub minimum_incoming_canister_call_cycles: u128,
    /// The environment variables, sorted by name (`ic0.env_var_*`).
    #[serde(default)]
    pub environment_variables: Vec<(String, String)>,
}

fn default_log_memory_limit() -> u64 {
    crate::log_buffer::LOG_MEMORY_LIMIT as u64
}

impl Settings {
    /// The IC's defaults for a new canister.
    pub fn defaults(controllers: Vec<Principal>) -> Self {
        Settings {
            controllers,
            compute_allocation: 0,
            memory_allocation: 0,
            freezing_threshold: 2_592_000,
            reserved_cycles_limit: 5_000_000_000_000,
            wasm_memory_limit: 3 << 30,
            wasm_memory_threshold: 0,
            log_visibility_public: false,
            log_visibility: LogVisibility::Controllers,
            log_memory_limit: default_log_memory_limit(),
            snapshot_visibility: SnapshotVisibility::Controllers,
            status_visibility: StatusVisibility::Controllers,
            minimum_incoming_canister_call_cycles: 0,
            environment_variables: Vec::new(),
        }
    }

    /// Settings read from an older state directory: `log_visibility_public` becomes
    /// `log_visibility`.
    pub fn upgrade_format(&mut self) {
        if std::mem::take(&mut self.log_visibility_public) {
            self.log_visibility = LogVisibility::Public;
        }
    }
}

/// Everything drydock keeps of a canister besides its module bytes and memories.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CanisterRecord {
    pub id: Principal,
    pub settings: Settings,
    pub status: CanisterStatus,
    /// The hash of the installed module (also its key in the content store).
    pub module_hash: Option<String>,
    pub version: u64,
    pub cycles: u128,
    /// Cycles the canister has paid in fees (executions, messages, memory over time).
    #[serde(default)]
    pub cycles_burned: u128,
    /// The time (nanoseconds) up to which the canister has paid for its memory and compute
    /// allocation; 0 before its first charge.
    #[serde(default)]
    pub resources_paid_at: u64,
    pub certified_data: Vec<u8>,
    /// Nanoseconds; 0 when inactive.
    pub global_timer: u64,
    pub globals: Vec<(u32, SavedGlobal)>,
    /// Heap and stable memory sizes in bytes, as committed.
    pub heap_size: u64,
    pub stable_size: u64,
    /// The canister's history, for `canister_info` (the newest at the end, at most 20 kept).
    pub history: Vec<Change>,
    pub total_num_changes: u64,
    /// The local id of the next snapshot taken of this canister (ids are never reused).
    #[serde(default)]
    pub next_snapshot_id: u64,
    /// The Wasm chunk store (`upload_chunk`): hex sha256 of each chunk, whose bytes live in the
    /// content store, in upload order.
    #[serde(default)]
    pub chunk_store: Vec<String>,
    /// Open call contexts, outstanding callbacks and pending stop calls (`messaging`).
    #[serde(default)]
    pub calls: crate::messaging::CanisterCalls,
}

impl CanisterRecord {
    /// Takes the memory sizes and globals of a committed delta.
    pub fn apply_delta(&mut self, delta: &drydock_exec::StateDelta) {
        self.heap_size = delta.heap.size;
        self.stable_size = delta.stable.size;
        self.globals = delta
            .globals
            .iter()
            .map(|(i, g)| (*i, SavedGlobal::from_exec(*g)))
            .collect();
    }

    pub fn key(id: &Principal) -> String {
        format!("canister/{id}")
    }
    pub fn heap_name(id: &Principal) -> String {
        format!("{id}/heap")
    }
    pub fn stable_name(id: &Principal) -> String {
        format!("{id}/stable")
    }
}
