//! drydock's automatic snapshots: the one `canister upgrade` and `hotfix` take before they
//! change a canister, locally or over a network, labelled [`AUTO_LABEL`].
//!
//! # Invariants
//! - drydock replaces only snapshots it labelled itself, the oldest first; a user's snapshot
//!   is never deleted or replaced.
//! - Where the canister holds the IC's limit of snapshots and none is drydock's, the plan
//!   refuses before anything is changed.

use candid::Principal;
use drydock_replica::MAX_SNAPSHOTS_PER_CANISTER;
use ic_management_canister_types::{
    CanisterIdRecord, LoadCanisterSnapshotArgs, Snapshot, TakeCanisterSnapshotArgs,
};

use crate::error::CliError;
use crate::output::note;
use crate::transport::{management, Transport};

/// The start of the label of every snapshot drydock takes itself.
pub const AUTO_LABEL: &str = "drydock auto";
/// The most automatic snapshots drydock keeps of one canister.
pub const MAX_AUTO_SNAPSHOTS: usize = 5;
/// Which of drydock's own snapshots a new one must replace (`None`: none), or a refusal
/// when the canister is at the IC's limit with no automatic snapshot to replace. Keeps at
/// most [`MAX_AUTO_SNAPSHOTS`] automatic snapshots.
pub fn plan(t: &mut dyn Transport, id: Principal) -> Result<Option<Vec<u8>>, CliError> {
    let list: Vec<Snapshot> = management(
        t,
        "list_canister_snapshots",
        id,
        (CanisterIdRecord { canister_id: id },),
    )?;
    let labels = t.labels(id);
    let mut autos: Vec<&Snapshot> = list
        .iter()
        .filter(|s| labels.get(&s.id).is_some_and(|l| l.starts_with(AUTO_LABEL)))
        .collect();
    autos.sort_by_key(|s| s.taken_at_timestamp);
    if autos.len() < MAX_AUTO_SNAPSHOTS && list.len() < MAX_SNAPSHOTS_PER_CANISTER {
        return Ok(None);
    }
    match autos.first() {
        Some(oldest) => Ok(Some(oldest.id.clone())),
        None => Err(CliError::Refused(format!(
            "canister {id} has {} snapshots, the IC's limit, and none of them is drydock's own: nothing was changed. Delete one (`drydock canister snapshot delete{}`) or pass --no-snapshot",
            list.len(),
            t.cli_flags()
        ))),
    }
}

/// Takes a labelled snapshot, replacing `replace` (from [`plan`]).
pub fn take(
    t: &mut dyn Transport,
    id: Principal,
    replace: Option<Vec<u8>>,
    why: &str,
) -> Result<Snapshot, CliError> {
    let label = format!("{AUTO_LABEL}: {why}");
    let snap = t.take_labelled_snapshot(
        TakeCanisterSnapshotArgs {
            canister_id: id,
            replace_snapshot: replace.clone(),
            uninstall_code: None,
            sender_canister_version: None,
        },
        label.clone(),
    )?;
    if let Some(old) = replace {
        note(format!(
            "Replaced drydock's oldest automatic snapshot {}",
            hex::encode(old)
        ));
    }
    note(format!("Took snapshot {} ({label})", hex::encode(&snap.id)));
    Ok(snap)
}

/// [`plan`], then [`take`].
pub fn plan_and_take(
    t: &mut dyn Transport,
    id: Principal,
    why: &str,
) -> Result<Snapshot, CliError> {
    let replace = plan(t, id)?;
    take(t, id, replace, why)
}

/// Loads snapshot `snap` back into canister `id` (a rollback).
pub fn load(t: &mut dyn Transport, id: Principal, snap: &[u8]) -> Result<(), CliError> {
    management(
        t,
        "load_canister_snapshot",
        id,
        (LoadCanisterSnapshotArgs {
            canister_id: id,
            snapshot_id: snap.to_vec(),
            sender_canister_version: None,
        },),
    )
}
