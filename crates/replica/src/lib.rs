//! The replica: canisters, the management canister and message execution, on top of
//! `drydock-exec` (running Wasm) and `drydock-state` (keeping it durably).
//!
//! It decides *what* runs — which entry point, with which limits, on which instance — and
//! what happens to the result: a successful message is committed to the state directory
//! before its reply is returned; a failed one is rolled back, leaving the canister exactly as
//! it was. It knows nothing of HTTP, CBOR or command lines.

mod chunks;
mod clone;
mod cycles;
mod destination;
mod error;
pub mod ids;
mod install_stats;
mod log_buffer;
mod logs;
mod management;
mod management_args;
mod messaging;
mod method;
mod record;
mod replica;
mod requests;
mod router;
mod settings;
mod snapshot;
mod snapshot_meta;
mod snapshot_transfer;
mod stable_io;
mod state_hashes;
pub mod system;
mod upgrade;

pub use candid::Principal;
pub use chunks::{MAX_CHUNKS, MAX_CHUNK_BYTES};
pub use error::{CallError, ErrorCode, RejectCode, ReplicaError, UserError};
pub use ids::{canister_id_from_index, MANAGEMENT_CANISTER};
pub use install_stats::{HookModule, HookStats, InstallStats};
pub use logs::LOG_MEMORY_LIMIT;
pub use management_args::candid_decoder_config;
pub use management_args::management_target;
pub use messaging::job::{Done, Job};
pub use messaging::schedule::{drain, Cutoff, PendingSync, WithReplica};
pub use messaging::{CallContext, Callback, CallerInfo, CanisterCalls, Origin};
pub use method::MethodKind;
pub use record::{CanisterRecord, CanisterStatus};
pub use replica::{Limits, Replica, ReplicaConfig, Started};
pub use requests::{IngressRequest, KnownRequest, KEEP_ANSWER_BYTES};
pub use snapshot_meta::{SnapshotInfo, MAX_SNAPSHOTS_PER_CANISTER};
pub use snapshot_transfer::MAX_SLICE_BYTES;
pub use state_hashes::StateHashes;

/// Whether drydock provides the import `module.name` to canisters: the System API (`ic0`).
pub fn provides_import(module: &str, name: &str) -> bool {
    module == "ic0" && drydock_exec::system_api::names().contains(&name)
}
