//! `canister snapshot create|list|restore|delete` (and the dispatch of `download|upload`, which
//! live in `snapshot_transfer`): the management canister's
//! `take_canister_snapshot`, `list_canister_snapshots`, `load_canister_snapshot` and
//! `delete_canister_snapshot`, with icp-cli's command names and output.
//!
//! Snapshot ids are bytes; they are printed and parsed as lowercase hex without separators,
//! as icp-cli does. Sizes are printed in binary units (`1.5 MiB`) and times as
//! `YYYY-MM-DD HH:MM:SS UTC`, as icp-cli prints them.

use candid::Principal;
use ic_management_canister_types::{
    CanisterIdRecord, DeleteCanisterSnapshotArgs, LoadCanisterSnapshotArgs, Snapshot,
    TakeCanisterSnapshotArgs,
};
use serde_json::{json, Value};

use crate::cli::SnapshotCommand;
use crate::context::principal;
use crate::error::CliError;
use crate::output::{note, Output};
use crate::transport::{management, Transport};
use crate::units::{size, snapshot_id, timestamp};

/// Checks the command line's ids before the state directory is opened, so a typo changes
/// nothing.
pub fn check(cmd: &SnapshotCommand) -> Result<(), CliError> {
    match cmd {
        SnapshotCommand::Create {
            canister, replace, ..
        } => {
            principal(canister, "canister id")?;
            if let Some(id) = replace {
                snapshot_id(id)?;
            }
        }
        SnapshotCommand::List { canister, .. } => {
            principal(canister, "canister id")?;
        }
        SnapshotCommand::Download {
            canister,
            snapshot_id: id,
            ..
        } => {
            principal(canister, "canister id")?;
            snapshot_id(id)?;
        }
        SnapshotCommand::Upload {
            canister, replace, ..
        } => {
            principal(canister, "canister id")?;
            if let Some(id) = replace {
                snapshot_id(id)?;
            }
        }
        SnapshotCommand::Restore {
            canister,
            snapshot_id: id,
        }
        | SnapshotCommand::Delete {
            canister,
            snapshot_id: id,
        } => {
            principal(canister, "canister id")?;
            snapshot_id(id)?;
        }
    }
    Ok(())
}

/// Runs a `canister snapshot` subcommand through `ctx`: the embedded replica, or a network
/// (`--network URL`).
pub fn run(ctx: &mut dyn Transport, out: Output, cmd: SnapshotCommand) -> Result<(), CliError> {
    match cmd {
        SnapshotCommand::Create {
            canister,
            replace,
            quiet,
        } => {
            let canister_id = principal(&canister, "canister id")?;
            let replace = replace.as_deref().map(snapshot_id).transpose()?;
            create(ctx, out, canister_id, replace, quiet)
        }
        SnapshotCommand::List { canister, quiet } => {
            list(ctx, out, principal(&canister, "canister id")?, quiet)
        }
        SnapshotCommand::Download {
            canister,
            snapshot_id: id,
            output,
            resume,
        } => {
            let canister_id = principal(&canister, "canister id")?;
            let id = snapshot_id(&id)?;
            crate::snapshot_transfer::download(ctx, out, canister_id, &id, &output, resume)
        }
        SnapshotCommand::Upload {
            canister,
            input,
            resume,
            replace,
            quiet,
        } => {
            let canister_id = principal(&canister, "canister id")?;
            let replace = replace.as_deref().map(snapshot_id).transpose()?;
            crate::snapshot_transfer::upload(ctx, out, canister_id, &input, resume, replace, quiet)
        }
        SnapshotCommand::Restore {
            canister,
            snapshot_id: id,
        } => {
            let canister_id = principal(&canister, "canister id")?;
            let snapshot_id = snapshot_id(&id)?;
            let args = LoadCanisterSnapshotArgs {
                canister_id,
                snapshot_id: snapshot_id.clone(),
                sender_canister_version: None,
            };
            management::<_, _, ()>(ctx, "load_canister_snapshot", canister_id, (args,))?;
            done(
                out,
                canister_id,
                &snapshot_id,
                format!(
                    "Restored canister {canister_id} from snapshot {}",
                    hex::encode(&snapshot_id)
                ),
            );
            Ok(())
        }
        SnapshotCommand::Delete {
            canister,
            snapshot_id: id,
        } => {
            let canister_id = principal(&canister, "canister id")?;
            let snapshot_id = snapshot_id(&id)?;
            let args = DeleteCanisterSnapshotArgs {
                canister_id,
                snapshot_id: snapshot_id.clone(),
            };
            management::<_, _, ()>(ctx, "delete_canister_snapshot", canister_id, (args,))?;
            done(
                out,
                canister_id,
                &snapshot_id,
                format!(
                    "Deleted snapshot {} from canister {canister_id}",
                    hex::encode(&snapshot_id)
                ),
            );
            Ok(())
        }
    }
}

fn create(
    ctx: &mut dyn Transport,
    out: Output,
    canister_id: Principal,
    replace_snapshot: Option<Vec<u8>>,
    quiet: bool,
) -> Result<(), CliError> {
    let args = TakeCanisterSnapshotArgs {
        canister_id,
        replace_snapshot,
        uninstall_code: None,
        sender_canister_version: None,
    };
    let s: Snapshot = management(ctx, "take_canister_snapshot", canister_id, (args,))?;
    let id = hex::encode(&s.id);
    out.data(
        || {
            if quiet {
                id.clone()
            } else {
                format!(
                    "Created snapshot {id} for canister {canister_id}\n  Timestamp: {}\n  Size: {}",
                    timestamp(s.taken_at_timestamp),
                    size(s.total_size)
                )
            }
        },
        || snapshot_json(&s),
    );
    Ok(())
}

fn list(
    ctx: &mut dyn Transport,
    out: Output,
    canister_id: Principal,
    quiet: bool,
) -> Result<(), CliError> {
    let snapshots: Vec<Snapshot> = management(
        ctx,
        "list_canister_snapshots",
        canister_id,
        (CanisterIdRecord { canister_id },),
    )?;
    // drydock's labels (its automatic snapshots), for controllers.
    let labels = ctx.labels(canister_id);
    out.data(
        || {
            if quiet {
                return snapshots
                    .iter()
                    .map(|s| hex::encode(&s.id))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            if snapshots.is_empty() {
                return format!("No snapshots found for canister {canister_id}");
            }
            let mut lines = vec![format!("Snapshots for canister {canister_id}:")];
            lines.extend(snapshots.iter().map(|s| {
                let label = labels
                    .get(&s.id)
                    .map(|l| format!(" [{l}]"))
                    .unwrap_or_default();
                format!(
                    "  {}: {}, taken at {}{label}",
                    hex::encode(&s.id),
                    size(s.total_size),
                    timestamp(s.taken_at_timestamp)
                )
            }));
            lines.join("\n")
        },
        || {
            let list: Vec<Value> = snapshots
                .iter()
                .map(|s| {
                    let mut v = snapshot_json(s);
                    if let Some(label) = labels.get(&s.id) {
                        v["label"] = json!(label);
                    }
                    v
                })
                .collect();
            json!({ "snapshots": list })
        },
    );
    Ok(())
}

/// After `restore` or `delete`: the message on stderr, and with `--json` the ids on stdout.
fn done(out: Output, canister_id: Principal, snapshot_id: &[u8], message: String) {
    note(message);
    if out.json {
        out.data(String::new, || {
            json!({ "canister_id": canister_id.to_text(), "snapshot_id": hex::encode(snapshot_id) })
        });
    }
}

fn snapshot_json(s: &Snapshot) -> Value {
    json!({
        "snapshot_id": hex::encode(&s.id),
        "taken_at_timestamp": s.taken_at_timestamp,
        "total_size_bytes": s.total_size,
    })
}
