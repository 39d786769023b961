//! `canister rehearse --network`: an upgrade rehearsed on production state. The canister's
//! state is copied from the network into a local canister of the state directory (from a
//! snapshot: one the user names with `--snapshot`, or one taken there while the canister is
//! briefly stopped, downloaded with its manifest, and deleted there again unless
//! `--keep-snapshot`), and `canister rehearse` runs on that copy: both upgrades, the health
//! checks and the headroom report.
//!
//! # Invariants
//! - On the network the canister is stopped and started again around the snapshot, which is
//!   read and deleted; nothing else changes: its module and memories stay as they were. A
//!   canister that was not running is not started. A canister that was stopped is started
//!   again also when the snapshot fails. The snapshot is deleted even when the download
//!   fails; if the delete itself fails, the error names the snapshot.
//! - With `--snapshot`, nothing on the network changes at all.
//! - A canister holding the IC's limit of snapshots is refused before anything is taken.
//! - The local copy is deleted afterwards, unless `--keep`.

use candid::Principal;
use drydock_replica::MAX_SNAPSHOTS_PER_CANISTER;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterSettings, CanisterStatusResult, CanisterStatusType,
    DeleteCanisterSnapshotArgs, ProvisionalCreateCanisterWithCyclesArgs, Snapshot,
    TakeCanisterSnapshotArgs,
};

use crate::cli::{GlobalArgs, UpgradeArgs};
use crate::context::{principal, state_dir, Ctx};
use crate::error::CliError;
use crate::output::{note, Output};
use crate::transport::{management, Transport};

/// Where the rehearsal's copy of the canister's state comes from.
pub enum Source {
    /// A snapshot already on the network (its id): read, and left there.
    Existing(Vec<u8>),
    /// A snapshot taken for the rehearsal, deleted afterwards unless `keep`.
    Take { keep: bool },
}

/// Runs `canister rehearse` on a local copy of canister `u.canister` on the network at `url`.
pub fn rehearse(
    url: &str,
    u: UpgradeArgs,
    keep: bool,
    source: Source,
    global: &GlobalArgs,
) -> Result<(), CliError> {
    let id = principal(&u.canister, "canister id")?;
    let mut net = crate::context::connect(url, global)?;
    let flags = net.cli_flags();
    let record = CanisterIdRecord { canister_id: id };
    let list: Vec<Snapshot> = management(&mut net, "list_canister_snapshots", id, (record,))?;
    if let Source::Existing(snap) = &source {
        if !list.iter().any(|s| &s.id == snap) {
            return Err(CliError::usage(format!(
                "canister {id} has no snapshot {}{flags} (`drydock canister snapshot list {id}{flags}` lists them)",
                hex::encode(snap)
            )));
        }
    } else if list.len() >= MAX_SNAPSHOTS_PER_CANISTER {
        return Err(CliError::Refused(format!(
            "canister {id} has {} snapshots, the IC's limit: the rehearsal copies its state through one more (taken, downloaded and deleted again). Nothing was changed; delete one first (`drydock canister snapshot delete{flags}`), or name one with --snapshot",
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
    let running = status.status == CanisterStatusType::Running;
    let remote = status.settings;
    let settings = CanisterSettings {
        compute_allocation: Some(remote.compute_allocation),
        memory_allocation: Some(remote.memory_allocation),
        wasm_memory_limit: Some(remote.wasm_memory_limit),
        wasm_memory_threshold: Some(remote.wasm_memory_threshold),
        environment_variables: Some(remote.environment_variables),
        ..CanisterSettings::default()
    };
    let (snap_id, delete) = match source {
        Source::Existing(snap) => {
            note(format!(
                "Copying canister {id}'s state from its snapshot {}{flags}",
                hex::encode(&snap)
            ));
            (snap, false)
        }
        Source::Take { keep } => (take(&mut net, id, running, &flags)?, !keep),
    };
    let snap_hex = hex::encode(&snap_id);
    let dir = state_dir(global)?
        .join("rehearsals")
        .join(format!("{id}-{snap_hex}"));
    let quiet = Output { json: false };
    let downloaded = std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))
        .and_then(|()| {
            crate::snapshot_transfer::download(&mut net, quiet, id, &snap_id, &dir, false)
        });
    let deleted: Result<(), CliError> = if delete {
        management(
            &mut net,
            "delete_canister_snapshot",
            id,
            (DeleteCanisterSnapshotArgs {
                canister_id: id,
                snapshot_id: snap_id.clone(),
            },),
        )
    } else {
        Ok(())
    };
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
        "{}; canister {id} is unchanged there. Rehearsing on its copy, local canister {copy} (with the canister's memory limits, allocations and environment variables)",
        if delete {
            format!("Deleted snapshot {snap_hex}{flags}")
        } else {
            format!("Snapshot {snap_hex} stays{flags}")
        }
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

/// Takes a snapshot of `id` for the rehearsal, stopping a running canister for the moment
/// it takes (so the snapshot holds no open call context) and starting it again, also when
/// the snapshot fails. Returns the snapshot's id.
fn take(
    net: &mut dyn Transport,
    id: Principal,
    running: bool,
    flags: &str,
) -> Result<Vec<u8>, CliError> {
    let record = CanisterIdRecord { canister_id: id };
    if running {
        note(format!(
            "Stopping canister {id}{flags} for the moment a snapshot takes"
        ));
        management::<_, _, ()>(net, "stop_canister", id, (record.clone(),))?;
    }
    let taken: Result<Snapshot, CliError> = management(
        net,
        "take_canister_snapshot",
        id,
        (TakeCanisterSnapshotArgs {
            canister_id: id,
            replace_snapshot: None,
            uninstall_code: None,
            sender_canister_version: None,
        },),
    );
    if running {
        management::<_, _, ()>(net, "start_canister", id, (record,)).map_err(|e| {
            e.with_hint(format!(
                "canister {id} is stopped: `drydock canister start {id}{flags}` starts it again"
            ))
        })?;
        note(format!("Started canister {id}{flags} again"));
    }
    let snap = taken?;
    note(format!(
        "Took snapshot {} of canister {id}{flags} to copy its state",
        hex::encode(&snap.id)
    ));
    Ok(snap.id)
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
