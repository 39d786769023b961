//! `canister rehearse --network`: an upgrade rehearsed on production state. The canister's
//! state is copied from the network into a local canister of the state directory (a snapshot
//! taken there, downloaded with its manifest, and deleted there again), and `canister
//! rehearse` runs on that copy: both upgrades, the health checks and the headroom report.
//!
//! # Invariants
//! - On the network a snapshot is taken, read and deleted, and nothing else: the canister
//!   keeps running, its module and memories unchanged. The snapshot is deleted even when the
//!   download fails; if the delete itself fails, the error names the snapshot.
//! - A canister holding the IC's limit of snapshots is refused before anything is taken.
//! - The local copy is deleted afterwards, unless `--keep`.

use candid::Principal;
use drydock_replica::MAX_SNAPSHOTS_PER_CANISTER;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterSettings, CanisterStatusResult, DeleteCanisterSnapshotArgs,
    ProvisionalCreateCanisterWithCyclesArgs, Snapshot, TakeCanisterSnapshotArgs,
};

use crate::cli::{GlobalArgs, UpgradeArgs};
use crate::context::{principal, state_dir, Ctx};
use crate::error::CliError;
use crate::output::{note, Output};
use crate::transport::{management, Transport};

/// Runs `canister rehearse` on a local copy of canister `u.canister` on the network at `url`.
pub fn rehearse(
    url: &str,
    u: UpgradeArgs,
    keep: bool,
    global: &GlobalArgs,
) -> Result<(), CliError> {
    let id = principal(&u.canister, "canister id")?;
    let mut net = crate::context::connect(url, global)?;
    let flags = net.cli_flags();
    let record = CanisterIdRecord { canister_id: id };
    let list: Vec<Snapshot> = management(&mut net, "list_canister_snapshots", id, (record,))?;
    if list.len() >= MAX_SNAPSHOTS_PER_CANISTER {
        return Err(CliError::Refused(format!(
            "canister {id} has {} snapshots, the IC's limit: the rehearsal copies its state through one more (taken, downloaded and deleted again). Nothing was changed; delete one first (`drydock canister snapshot delete{flags}`)",
            list.len()
        )));
    }
    // The settings that shape an upgrade (memory limits, allocations, environment variables)
    // go to the copy; its controller is the local caller.
    let status: CanisterStatusResult = management(
        &mut net,
        "canister_status",
        id,
        (CanisterIdRecord { canister_id: id },),
    )?;
    let remote = status.settings;
    let settings = CanisterSettings {
        compute_allocation: Some(remote.compute_allocation),
        memory_allocation: Some(remote.memory_allocation),
        wasm_memory_limit: Some(remote.wasm_memory_limit),
        wasm_memory_threshold: Some(remote.wasm_memory_threshold),
        environment_variables: Some(remote.environment_variables),
        ..CanisterSettings::default()
    };
    let snap: Snapshot = management(
        &mut net,
        "take_canister_snapshot",
        id,
        (TakeCanisterSnapshotArgs {
            canister_id: id,
            replace_snapshot: None,
            uninstall_code: None,
            sender_canister_version: None,
        },),
    )?;
    let snap_hex = hex::encode(&snap.id);
    note(format!(
        "Took snapshot {snap_hex} of canister {id}{flags} to copy its state"
    ));
    let dir = state_dir(global)?
        .join("rehearsals")
        .join(format!("{id}-{snap_hex}"));
    let quiet = Output { json: false };
    let downloaded = std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))
        .and_then(|()| {
            crate::snapshot_transfer::download(&mut net, quiet, id, &snap.id, &dir, false)
        });
    let deleted: Result<(), CliError> = management(
        &mut net,
        "delete_canister_snapshot",
        id,
        (DeleteCanisterSnapshotArgs {
            canister_id: id,
            snapshot_id: snap.id.clone(),
        },),
    );
    let copied = downloaded.and_then(|()| {
        deleted.map_err(|e| {
            e.with_hint(format!(
                "snapshot {snap_hex} is still on the network: `drydock canister snapshot delete {id} {snap_hex}{flags}`"
            ))
        })
    });
    let copy = copied.and_then(|()| copy_locally(global, &dir, settings));
    let _ = std::fs::remove_dir_all(&dir);
    let copy = copy?;
    note(format!(
        "Deleted snapshot {snap_hex}{flags}; canister {id} is unchanged there. Rehearsing on its copy, local canister {copy} (with the canister's memory limits, allocations and environment variables)"
    ));
    let mut local = u;
    local.canister = copy.to_text();
    let result = crate::safe::rehearse(local, keep, global).map_err(|e| {
        e.with_hint(format!(
            "the rehearsal ran on local canister {copy}, a copy of canister {id}{flags}: the commands above act on the copy; add{flags} and name canister {id} to act on the network"
        ))
    });
    if keep {
        note(format!("Kept the local copy {copy} (--keep)"));
    } else {
        let mut ctx = Ctx::open(global)?;
        let record = CanisterIdRecord { canister_id: copy };
        ctx.management::<_, ()>("stop_canister", (record.clone(),))?;
        ctx.management::<_, ()>("delete_canister", (record,))?;
    }
    result
}

/// Creates a local canister with `settings` and loads the snapshot downloaded into `dir`;
/// returns its id.
fn copy_locally(
    global: &GlobalArgs,
    dir: &std::path::Path,
    settings: CanisterSettings,
) -> Result<Principal, CliError> {
    let mut ctx = Ctx::open(global)?;
    let CanisterIdRecord { canister_id: copy } = ctx.management(
        "provisional_create_canister_with_cycles",
        (ProvisionalCreateCanisterWithCyclesArgs {
            amount: None,
            settings: Some(CanisterSettings {
                controllers: Some(vec![ctx.sender]),
                ..settings
            }),
            specified_id: None,
            sender_canister_version: None,
        },),
    )?;
    let snap = crate::snapshot_transfer::upload_dir(&mut ctx, copy, dir, false, None)?;
    let snap =
        hex::decode(&snap).map_err(|e| CliError::internal(format!("snapshot id {snap}: {e}")))?;
    crate::auto_snapshot::load(&mut ctx, copy, &snap)?;
    Ok(copy)
}
