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
use crate::context::{principal, Ctx};
use crate::error::CliError;
use crate::output::note;

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

/// Runs a `canister snapshot` subcommand.
pub fn run(ctx: &mut Ctx, cmd: SnapshotCommand) -> Result<(), CliError> {
    match cmd {
        SnapshotCommand::Create {
            canister,
            replace,
            quiet,
        } => {
            let canister_id = principal(&canister, "canister id")?;
            let replace = replace.as_deref().map(snapshot_id).transpose()?;
            create(ctx, canister_id, replace, quiet)
        }
        SnapshotCommand::List { canister, quiet } => {
            list(ctx, principal(&canister, "canister id")?, quiet)
        }
        SnapshotCommand::Download {
            canister,
            snapshot_id: id,
            output,
            resume,
        } => {
            let canister_id = principal(&canister, "canister id")?;
            let id = snapshot_id(&id)?;
            crate::snapshot_transfer::download(ctx, canister_id, &id, &output, resume)
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
            crate::snapshot_transfer::upload(ctx, canister_id, &input, resume, replace, quiet)
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
            ctx.management::<_, ()>("load_canister_snapshot", (args,))?;
            done(
                ctx,
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
            ctx.management::<_, ()>("delete_canister_snapshot", (args,))?;
            done(
                ctx,
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
    ctx: &mut Ctx,
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
    let s: Snapshot = ctx.management("take_canister_snapshot", (args,))?;
    let id = hex::encode(&s.id);
    ctx.out.data(
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

fn list(ctx: &mut Ctx, canister_id: Principal, quiet: bool) -> Result<(), CliError> {
    let snapshots: Vec<Snapshot> = ctx.management(
        "list_canister_snapshots",
        (CanisterIdRecord { canister_id },),
    )?;
    // drydock's labels (its automatic snapshots), for controllers.
    let labels: std::collections::HashMap<Vec<u8>, String> = ctx
        .replica
        .snapshot_infos(&ctx.sender, &canister_id)
        .map(|infos| {
            infos
                .into_iter()
                .filter_map(|i| Some((i.id, i.label?)))
                .collect()
        })
        .unwrap_or_default();
    ctx.out.data(
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
fn done(ctx: &Ctx, canister_id: Principal, snapshot_id: &[u8], message: String) {
    note(message);
    if ctx.out.json {
        ctx.out.data(String::new, || {
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

/// Parses a snapshot id given on the command line: hex, as `create` and `list` print it.
pub fn snapshot_id(text: &str) -> Result<Vec<u8>, CliError> {
    let problem = if text.is_empty() {
        "it is empty".to_string()
    } else {
        match hex::decode(text) {
            Ok(bytes) => return Ok(bytes),
            Err(hex::FromHexError::OddLength) => "it has an odd number of hex digits".to_string(),
            Err(hex::FromHexError::InvalidHexCharacter { c, index }) => {
                format!("{c:?} at position {index} is not a hex digit")
            }
            Err(e) => e.to_string(),
        }
    };
    Err(CliError::usage(format!(
        "invalid snapshot id `{text}`: {problem} (snapshot ids are hex, as `drydock canister \
         snapshot list` prints them)"
    )))
}

/// A size in the largest binary unit it reaches, with as many decimals as it needs
/// (`512 B`, `1.5 KiB`, `9.765625 KiB`), as icp-cli prints sizes.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    for (i, unit) in UNITS.iter().enumerate().rev() {
        let scale = 1u64 << (10 * (i + 1));
        if bytes >= scale {
            return format!("{} {unit}", bytes as f64 / scale as f64);
        }
    }
    format!("{bytes} B")
}

/// A time in nanoseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn timestamp(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_the_largest_binary_unit_reached() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(10_000), "9.765625 KiB");
        assert_eq!(size(3 << 20), "3 MiB");
        assert_eq!(size(5 << 30), "5 GiB");
        assert_eq!(size(u64::MAX), "16 EiB");
    }

    #[test]
    fn timestamps_are_utc_calendar_times() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            timestamp(1_700_000_000_123_456_789),
            "2023-11-14 22:13:20 UTC"
        );
        // A leap day, and the last second of a year.
        assert_eq!(
            timestamp(951_782_400 * 1_000_000_000),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            timestamp(1_735_689_599 * 1_000_000_000),
            "2024-12-31 23:59:59 UTC"
        );
        assert_eq!(timestamp(u64::MAX), "2554-07-21 23:34:33 UTC");
    }

    #[test]
    fn snapshot_ids_are_hex() {
        assert_eq!(snapshot_id("00ff10").expect("hex"), vec![0, 0xff, 0x10]);
        assert_eq!(snapshot_id("00FF").expect("upper case too"), vec![0, 0xff]);
        for (bad, problem) in [
            ("", "empty"),
            ("abc", "odd number"),
            ("zz", "'z' at position 0"),
            ("0x00", "'x' at position 1"),
        ] {
            let e = snapshot_id(bad).expect_err(bad);
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(problem), "{bad:?}: {e}");
        }
    }
}
