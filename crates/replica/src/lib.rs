//! The replica: canisters, the management canister and message execution, on top of
//! `drydock-exec` (running Wasm) and `drydock-state` (keeping it durably).
//!
//! It decides *what* runs — which entry point, with which limits, on which instance — and
//! what happens to the result: a successful message is committed to the state directory
//! before its reply is returned; a failed one is rolled back, leaving the canister exactly as
//! it was. It knows nothing of HTTP, CBOR or command lines.

mod chunks;
mod clone;
mod error;
pub mod ids;
mod logs;
mod management;
mod messaging;
mod record;
mod replica;
mod snapshot;
mod snapshot_transfer;
pub mod system;
mod upgrade;

pub use candid::Principal;
pub use chunks::{MAX_CHUNKS, MAX_CHUNK_BYTES};
pub use error::{CallError, ErrorCode, RejectCode, ReplicaError, UserError};
pub use ids::{canister_id_from_index, MANAGEMENT_CANISTER};
pub use logs::LOG_MEMORY_LIMIT;
pub use management::candid_decoder_config;
pub use messaging::{CallContext, Callback, CanisterCalls, Origin};
pub use record::{CanisterRecord, CanisterStatus};
pub use replica::{Limits, MethodKind, Replica, ReplicaConfig, Started, StateHashes};
pub use snapshot::{SnapshotInfo, MAX_SNAPSHOTS_PER_CANISTER};
pub use snapshot_transfer::MAX_SLICE_BYTES;
pub use upgrade::{HookModule, HookStats, InstallStats};

/// Whether drydock provides the import `module.name` to canisters: the System API (`ic0`).
pub fn provides_import(module: &str, name: &str) -> bool {
    module == "ic0" && drydock_exec::system_api::names().contains(&name)
}
