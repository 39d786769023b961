//! What a canister snapshot is, apart from its memories: its id (the IC's layout), the names of
//! its blobs and memories in the state store, and its metadata as stored ([`SnapshotMeta`],
//! with the byte ranges of an upload in progress).

use candid::Principal;
use ic_management_canister_types::{OnLowWasmMemoryHookStatus, Snapshot};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, ReplicaError, UserError};
use crate::record::SavedGlobal;

/// The most snapshots a canister may have (the IC's limit).
pub const MAX_SNAPSHOTS_PER_CANISTER: usize = 10;

/// Bytes of the local id at the start of a snapshot id.
const LOCAL_ID_LEN: usize = 8;
/// The longest principal.
const MAX_PRINCIPAL_LEN: usize = 29;

/// A snapshot as `list_canister_snapshots` shows it, plus what drydock keeps of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    pub id: Vec<u8>,
    pub taken_at_timestamp: u64,
    pub total_size: u64,
    /// Hex sha256 of the module in the snapshot.
    pub module_hash: String,
    /// Set by drydock for the snapshots it takes itself (automatic snapshots before an
    /// upgrade or hotfix); `None` for a user's.
    pub label: Option<String>,
}

/// How a snapshot came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    TakenFromCanister,
    /// Made by `upload_canister_snapshot_metadata` (see `snapshot_transfer.rs`).
    MetadataUpload,
}

/// Everything of a snapshot but its memories and module bytes, as JSON in the blob
/// `snapshot/<canister id>/<local id>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotMeta {
    pub canister_id: Principal,
    pub local_id: u64,
    pub source: Source,
    /// Nanoseconds since the epoch, replica time.
    pub taken_at_timestamp: u64,
    /// The canister's version when the snapshot was taken.
    pub canister_version: u64,
    /// Hex sha256 of the module, its key in the content store.
    pub module_hash: String,
    /// Bytes of the (decompressed, instrumented) module, as `canister_status` counts it.
    pub module_size: u64,
    pub globals: Vec<(u32, SavedGlobal)>,
    pub certified_data: Vec<u8>,
    /// The global timer at take time (nanoseconds; 0 when inactive).
    pub global_timer: u64,
    pub on_low_wasm_memory_hook_status: OnLowWasmMemoryHookStatus,
    pub heap_size: u64,
    pub stable_size: u64,
    /// Hex sha256 hashes of the chunks in the canister's Wasm chunk store, whose bytes live in
    /// the content store.
    #[serde(default)]
    pub wasm_chunk_store: Vec<String>,
    /// Heap + stable memory + module + certified data + globals + chunk store, in bytes.
    pub total_size: u64,
    /// drydock's own note on the snapshot (the IC has none), e.g. the automatic snapshot
    /// before an upgrade. `None` for snapshots a user took.
    #[serde(default)]
    pub label: Option<String>,
    /// For a snapshot made by a metadata upload: what has been uploaded so far and what the
    /// metadata said (see `snapshot_transfer.rs`). `None` for a snapshot taken from a canister.
    #[serde(default)]
    pub upload: Option<Upload>,
}

impl SnapshotMeta {
    pub(crate) fn id(&self) -> Vec<u8> {
        snapshot_id(&self.canister_id, self.local_id)
    }

    pub(crate) fn to_candid(&self) -> Snapshot {
        Snapshot {
            id: self.id(),
            taken_at_timestamp: self.taken_at_timestamp,
            total_size: self.total_size,
        }
    }
}

/// The id of snapshot `local` of `canister`.
pub(crate) fn snapshot_id(canister: &Principal, local: u64) -> Vec<u8> {
    let mut id = local.to_be_bytes().to_vec();
    id.extend_from_slice(canister.as_slice());
    id
}

pub(crate) fn meta_key(canister: &Principal, local: u64) -> String {
    format!("snapshot/{canister}/{local:016x}")
}

pub(crate) fn heap_name(canister: &Principal, local: u64) -> String {
    format!("{}/heap", meta_key(canister, local))
}

pub(crate) fn stable_name(canister: &Principal, local: u64) -> String {
    format!("{}/stable", meta_key(canister, local))
}

/// A snapshot id taken apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ParsedId {
    pub owner: Principal,
    pub local: u64,
}

/// How a snapshot id appears in messages: hex, as IC tools print and accept it.
pub(crate) fn show(id: &[u8]) -> String {
    hex::encode(id)
}

pub(crate) fn parse_id(id: &[u8]) -> Result<ParsedId, UserError> {
    let malformed = |why: &str| {
        UserError::new(
            ErrorCode::InvalidManagementPayload,
            format!(
                "Invalid snapshot ID {}: {why}; a snapshot ID is the 8-byte local ID followed by the canister ID.",
                show(id)
            ),
        )
    };
    if id.len() < LOCAL_ID_LEN {
        return Err(malformed(&format!(
            "it is {} bytes long, at least {LOCAL_ID_LEN} are expected",
            id.len()
        )));
    }
    if id.len() > LOCAL_ID_LEN + MAX_PRINCIPAL_LEN {
        return Err(malformed(&format!(
            "it is {} bytes long, at most {} are expected",
            id.len(),
            LOCAL_ID_LEN + MAX_PRINCIPAL_LEN
        )));
    }
    let (local, owner) = id.split_at(LOCAL_ID_LEN);
    let owner = Principal::try_from_slice(owner)
        .map_err(|e| malformed(&format!("its canister ID is not valid ({e})")))?;
    let mut be = [0u8; LOCAL_ID_LEN];
    be.copy_from_slice(local);
    Ok(ParsedId {
        owner,
        local: u64::from_be_bytes(be),
    })
}

pub(crate) fn not_found(id: &[u8], canister: &Principal) -> UserError {
    UserError::new(
        ErrorCode::CanisterSnapshotNotFound,
        format!(
            "Could not find the snapshot ID {} for canister {canister}.",
            show(id)
        ),
    )
}

pub(crate) fn not_owned(id: &[u8], canister: &Principal) -> UserError {
    UserError::new(
        ErrorCode::CanisterRejectedMessage,
        format!(
            "The snapshot {} does not belong to canister {canister}.",
            show(id)
        ),
    )
}

pub(crate) fn to_json<T: Serialize>(key: &str, value: &T) -> Result<Vec<u8>, ReplicaError> {
    serde_json::to_vec(value).map_err(|e| ReplicaError::CorruptRecord {
        key: key.to_string(),
        cause: e.to_string(),
    })
}

/// The name of the module buffer of an uploaded snapshot.
pub(crate) fn module_name(canister: &Principal, local: u64) -> String {
    format!("{}/module", meta_key(canister, local))
}

/// Disjoint, sorted, non-adjacent half-open byte ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// Adds `[start, end)`, merging with overlapping or adjacent ranges.
    pub(crate) fn add(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut s, mut e) = (start, end);
        let mut out = Vec::with_capacity(self.0.len() + 1);
        for &(a, b) in &self.0 {
            if b < s || a > e {
                out.push((a, b));
            } else {
                s = s.min(a);
                e = e.max(b);
            }
        }
        out.push((s, e));
        out.sort_unstable();
        self.0 = out;
    }

    /// The first byte range of `[0, size)` not covered, if any.
    pub(crate) fn first_gap(&self, size: u64) -> Option<(u64, u64)> {
        let mut at = 0;
        for &(a, b) in &self.0 {
            if a > at {
                return Some((at, a.min(size)));
            }
            at = at.max(b);
        }
        (at < size).then_some((at, size))
    }

    /// Bytes of `[0, size)` not covered.
    pub(crate) fn missing(&self, size: u64) -> u64 {
        let covered: u64 = self
            .0
            .iter()
            .map(|(a, b)| b.min(&size).saturating_sub(*a))
            .sum();
        size.saturating_sub(covered)
    }
}

/// What an uploaded snapshot's metadata said that a taken one keeps elsewhere, and what has
/// been uploaded so far. Stored in [`SnapshotMeta::upload`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Upload {
    pub module: Ranges,
    pub heap: Ranges,
    pub stable: Ranges,
    /// The uploaded globals, in order, without indices (see the module documentation).
    pub globals: Vec<SavedGlobal>,
    /// The global timer to restore on load (nanoseconds, 0 inactive); `None` when the
    /// metadata gave none, and the timer is then left as it is.
    pub global_timer: Option<u64>,
    /// Whether the metadata gave the low-memory hook status.
    pub hook_status_given: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_report_the_first_gap() {
        let mut r = Ranges::default();
        assert_eq!(r.first_gap(10), Some((0, 10)));
        r.add(4, 6);
        r.add(0, 2);
        assert_eq!(r.first_gap(10), Some((2, 4)));
        assert_eq!(r.missing(10), 6);
        r.add(2, 4);
        assert_eq!(r.0, vec![(0, 6)]);
        r.add(8, 10);
        r.add(5, 9);
        assert_eq!(r.0, vec![(0, 10)]);
        assert_eq!(r.first_gap(10), None);
        assert_eq!(r.missing(10), 0);
        r.add(3, 3);
        assert_eq!(r.0, vec![(0, 10)]);
    }
}
