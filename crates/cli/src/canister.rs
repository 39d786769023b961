//! The `canister` subcommands that manage canisters through the management canister
//! (`create`, `status`, `stop`, `start`, `delete`, `info`) or read the state directory
//! (`list`, `metadata`). `install`, `call` and `snapshot` have their own modules.
//!
//! Every management call is the Candid request a real IC client sends, so these commands
//! exercise the same code paths as an agent would.

use candid::{Nat, Principal};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterSettings, CanisterStatusResult, CanisterStatusType, Change,
    ChangeDetails, ChangeOrigin, CodeDeploymentMode, ProvisionalCreateCanisterWithCyclesArgs,
};
use serde_json::{json, Value};

use crate::cli::{CanisterCommand, GlobalArgs};
use crate::context::{principal, Ctx};
use crate::error::CliError;
use crate::output::{note, Output};
use crate::transport::{management, Transport};
use crate::{call, install, snapshot};

/// Runs a `canister` subcommand.
pub fn run(cmd: CanisterCommand, global: &GlobalArgs) -> Result<(), CliError> {
    // Check what can be checked before opening the state directory.
    if let CanisterCommand::Install {
        mode,
        skip_pre_upgrade,
        wasm_memory_persistence,
        ..
    } = &cmd
    {
        install::check_flags(*mode, *skip_pre_upgrade, *wasm_memory_persistence)?;
    }
    if let CanisterCommand::Snapshot(snapshot) = &cmd {
        snapshot::check(snapshot)?;
    }
    // With --network the state directory is not opened (only its identities are read).
    if let Some(url) = &global.network {
        let supported = matches!(
            cmd,
            CanisterCommand::Snapshot(_)
                | CanisterCommand::Status { .. }
                | CanisterCommand::Start { .. }
                | CanisterCommand::Stop { no_wait: false, .. }
                | CanisterCommand::Delete { .. }
                | CanisterCommand::Info { .. }
                | CanisterCommand::Metadata { name: Some(_), .. }
                | CanisterCommand::Logs { .. }
                | CanisterCommand::Upgrade { .. }
                | CanisterCommand::Rehearse { .. }
                | CanisterCommand::Install { .. }
                | CanisterCommand::Create { .. }
                | CanisterCommand::Call {
                    async_call: false,
                    ..
                }
        );
        if !supported {
            return Err(CliError::usage(match cmd {
                CanisterCommand::Hotfix { .. } => {
                    "`canister hotfix` swaps the module keeping the heap and running no hook, \
                     which the IC offers no way to do: over --network it is refused. On the IC \
                     an EOP (Motoko) canister keeps its heap through `canister upgrade \
                     --skip-pre-upgrade` (the Wasm memory is kept); for any other canister, try \
                     the way out on a copy first with `canister rehearse --network`"
                }
                CanisterCommand::Stop { .. } => {
                    "--no-wait works on the state directory only: over --network, `canister \
                     stop` waits until the canister has stopped, as the IC answers the stop call"
                }
                CanisterCommand::Call { .. } => {
                    "--async works on the state directory only: over --network, `canister call` \
                     waits for the reply (`request status` reads this state directory's requests)"
                }
                CanisterCommand::Metadata { .. } => {
                    "over --network, name the section (e.g. candid:service): the IC's state \
                     tree gives a section by its name and has no list of them"
                }
                _ => {
                    "--network is supported by `canister create`, `status`, `start`, `stop`, \
                     `delete`, `info`, `metadata`, `logs`, `install`, `call`, `upgrade`, \
                     `rehearse` and the `canister snapshot` commands; the other commands work on \
                     the state directory"
                }
            }));
        }
        if let CanisterCommand::Rehearse {
            upgrade,
            keep,
            snapshot,
            keep_snapshot,
        } = cmd
        {
            let source = match snapshot {
                Some(text) => {
                    crate::network_rehearse::Source::Existing(crate::units::snapshot_id(&text)?)
                }
                None => crate::network_rehearse::Source::Take {
                    keep: keep_snapshot,
                },
            };
            return crate::network_rehearse::rehearse(url, upgrade, keep, source, global);
        }
        let mut transport = crate::context::connect(url, global)?;
        let out = crate::output::Output { json: global.json };
        return match cmd {
            CanisterCommand::Snapshot(snapshot) => snapshot::run(&mut transport, out, snapshot),
            CanisterCommand::Upgrade {
                upgrade,
                yes,
                no_snapshot,
            } => {
                let report = crate::network_upgrade::upgrade(
                    &mut transport,
                    url,
                    &upgrade,
                    yes,
                    no_snapshot,
                )?;
                if out.json {
                    out.data(String::new, || json!(report));
                }
                Ok(())
            }
            CanisterCommand::Create {
                controllers,
                cycles,
            } => {
                let sender =
                    crate::identity::sender_of(&*crate::context::selected_identity(global)?)?;
                buy(&mut transport, sender, out, &controllers, cycles)
            }
            other => managed(&mut transport, out, other),
        };
    }
    if global.root_key.is_some() {
        return Err(CliError::usage("--root-key goes with --network URL"));
    }
    // The safe paths open and close the state directory themselves (a health check command
    // may run drydock).
    let cmd = match cmd {
        CanisterCommand::Upgrade {
            upgrade,
            yes,
            no_snapshot,
        } => return crate::safe::upgrade(upgrade, yes, no_snapshot, global),
        CanisterCommand::Rehearse {
            snapshot: Some(_), ..
        }
        | CanisterCommand::Rehearse {
            keep_snapshot: true,
            ..
        } => {
            return Err(CliError::usage(
                "--snapshot and --keep-snapshot go with --network: on the state directory \
                 the rehearsal works on a clone of the canister, and no snapshot is taken",
            ))
        }
        CanisterCommand::Rehearse { upgrade, keep, .. } => {
            return crate::safe::rehearse(upgrade, keep, global)
        }
        CanisterCommand::Hotfix { canister, wasm } => {
            return crate::safe::hotfix(&canister, &wasm, global)
        }
        other => other,
    };
    let mut ctx = Ctx::open(global)?;
    let result = dispatch(&mut ctx, cmd);
    // What canisters printed (ic0.debug_print) and trap messages, as a replica's log shows them.
    for (id, line) in ctx.replica.take_logs() {
        crate::output::note(format!("[Canister {id}] {line}"));
    }
    result
}

fn dispatch(ctx: &mut Ctx, cmd: CanisterCommand) -> Result<(), CliError> {
    match cmd {
        CanisterCommand::Create {
            controllers,
            cycles,
        } => create(ctx, &controllers, cycles),
        CanisterCommand::Call {
            canister,
            method,
            args,
            args_file,
            raw_file,
            raw,
            async_call: true,
            ..
        } => {
            let id = principal(&canister, "canister id")?;
            let arg = call_arg(args, args_file, raw_file, raw)?;
            call::submit(ctx, id, &method, arg)
        }
        CanisterCommand::Stop {
            canister,
            no_wait: true,
        } => stop_without_waiting(ctx, &canister),
        CanisterCommand::Metadata {
            canister,
            name: None,
        } => metadata_names(ctx, &canister),
        cmd @ (CanisterCommand::Install { .. }
        | CanisterCommand::Call { .. }
        | CanisterCommand::Status { .. }
        | CanisterCommand::Start { .. }
        | CanisterCommand::Stop { .. }
        | CanisterCommand::Delete { .. }
        | CanisterCommand::Info { .. }
        | CanisterCommand::Metadata { .. }
        | CanisterCommand::Logs { .. }) => {
            let out = ctx.out;
            managed(ctx, out, cmd)
        }
        CanisterCommand::TopUp { canister, amount } => top_up(ctx, &canister, &amount),
        CanisterCommand::List => list(ctx),
        CanisterCommand::Snapshot(cmd) => {
            let out = ctx.out;
            snapshot::run(ctx, out, cmd)
        }
        CanisterCommand::Upgrade { .. }
        | CanisterCommand::Rehearse { .. }
        | CanisterCommand::Hotfix { .. } => Err(CliError::internal(
            "the safe upgrade commands are dispatched before the state directory is opened",
        )),
    }
}

fn create(ctx: &mut Ctx, extra: &[String], cycles: Option<u128>) -> Result<(), CliError> {
    let args = ProvisionalCreateCanisterWithCyclesArgs {
        amount: cycles.map(Nat::from),
        settings: Some(CanisterSettings {
            controllers: Some(controllers(ctx.sender, extra)?),
            ..CanisterSettings::default()
        }),
        specified_id: None,
        sender_canister_version: None,
    };
    let CanisterIdRecord { canister_id } =
        ctx.management("provisional_create_canister_with_cycles", (args,))?;
    let id = canister_id.to_text();
    ctx.out.data(|| id.clone(), || json!({ "canister_id": id }));
    Ok(())
}

/// The creator, then every `--controller` given (once each).
fn controllers(creator: Principal, extra: &[String]) -> Result<Vec<Principal>, CliError> {
    let mut controllers = vec![creator];
    for text in extra {
        let p = principal(text, "controller")?;
        if !controllers.contains(&p) {
            controllers.push(p);
        }
    }
    Ok(controllers)
}

/// What icp-cli pays for a canister when not told otherwise.
pub const NETWORK_CREATE_CYCLES: u128 = 2_000_000_000_000;

/// `canister create --network`: a canister bought from the caller's cycles through the cycles
/// ledger's `create_canister`, as icp-cli buys one. The IC has no
/// `provisional_create_canister_with_cycles`; the cycles ledger exists on the IC and on
/// `drydock start`, so the same command works on both.
pub fn buy(
    t: &mut dyn Transport,
    sender: Principal,
    out: Output,
    extra: &[String],
    cycles: Option<u128>,
) -> Result<(), CliError> {
    use drydock_replica::system::{
        CreateCanisterArgs, CreateCanisterError, CreateCanisterSuccess, CreationArgs, CYCLES_LEDGER,
    };
    let amount = cycles.unwrap_or(NETWORK_CREATE_CYCLES);
    let args = CreateCanisterArgs {
        from_subaccount: None,
        created_at_time: Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default(),
        ),
        amount: Nat::from(amount),
        creation_args: Some(CreationArgs {
            subnet_selection: None,
            settings: Some(CanisterSettings {
                controllers: Some(controllers(sender, extra)?),
                ..CanisterSettings::default()
            }),
        }),
    };
    let arg = candid::encode_one(args).map_err(|e| {
        CliError::internal(format!(
            "encoding the cycles ledger's create_canister argument: {e}"
        ))
    })?;
    let reply = t.update(CYCLES_LEDGER, "create_canister", arg)?;
    let result: Result<CreateCanisterSuccess, CreateCanisterError> = candid::decode_one(&reply)
        .map_err(|e| {
            CliError::internal(format!(
                "the cycles ledger's reply to create_canister does not decode: {e}"
            ))
        })?;
    match result {
        Ok(CreateCanisterSuccess { canister_id, .. }) => {
            let id = canister_id.to_text();
            note(format!(
                "Created canister {id} with {amount} cycles from the cycles ledger account of {sender}"
            ));
            out.data(|| id.clone(), || json!({ "canister_id": id }));
            Ok(())
        }
        Err(CreateCanisterError::InsufficientFunds { balance }) => Err(CliError::Refused(format!(
            "the cycles ledger refused to create a canister: {sender} has {balance} cycles and the canister costs {amount} (--cycles) plus the ledger's fee; nothing was created. Fund the account first (`icp cycles mint`, or a transfer from an account that holds cycles; on a local network the anonymous identity does), or pass a smaller --cycles"
        ))),
        Err(other) => Err(CliError::Refused(format!(
            "the cycles ledger refused to create a canister: {other:?}"
        ))),
    }
}

/// The argument of `canister call`, from the one flag that gives it.
fn call_arg(
    args: Option<String>,
    args_file: Option<std::path::PathBuf>,
    raw_file: Option<std::path::PathBuf>,
    raw: Option<String>,
) -> Result<call::Arg, CliError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))
    };
    Ok(if let Some(hex) = raw {
        call::Arg::Raw(hex)
    } else if let Some(path) = raw_file {
        call::Arg::Bytes(read(&path)?)
    } else if let Some(path) = args_file {
        let text = String::from_utf8(read(&path)?)
            .map_err(|_| CliError::usage(format!("{} is not UTF-8 Candid text", path.display())))?;
        call::Arg::Text(text)
    } else {
        call::Arg::Text(args.unwrap_or_else(|| "()".to_string()))
    })
}

/// `install`, `call`, `status`, `start`, `stop`, `delete`, `info`, `metadata ID NAME` and
/// `logs` through `t`: the embedded replica or a network.
fn managed(t: &mut dyn Transport, out: Output, cmd: CanisterCommand) -> Result<(), CliError> {
    match cmd {
        CanisterCommand::Install {
            canister,
            wasm,
            mode,
            skip_pre_upgrade,
            wasm_memory_persistence,
            arg,
        } => {
            let id = principal(&canister, "canister id")?;
            let flags = install::Flags {
                mode,
                skip_pre_upgrade,
                wasm_memory_persistence,
            };
            install::run(t, out, id, &wasm, flags, arg.as_deref())
        }
        CanisterCommand::Call {
            canister,
            method,
            args,
            args_file,
            raw_file,
            query,
            update,
            raw,
            output,
            async_call: false,
        } => {
            let id = principal(&canister, "canister id")?;
            let arg = call_arg(args, args_file, raw_file, raw)?;
            let kind = if query {
                Some(call::Kind::Query)
            } else if update {
                Some(call::Kind::Update)
            } else {
                None
            };
            call::run(t, out, id, &method, arg, kind, output)
        }
        CanisterCommand::Logs { canister, follow } => logs(t, out, &canister, follow),
        CanisterCommand::Info { canister } => info(t, out, &canister),
        CanisterCommand::Metadata {
            canister,
            name: Some(name),
        } => metadata(t, out, &canister, &name),
        CanisterCommand::Status { canister } => status(t, out, &canister),
        CanisterCommand::Start { canister } => simple(t, &canister, "start_canister", "Started"),
        CanisterCommand::Stop { canister, .. } => stop(t, &canister),
        CanisterCommand::Delete { canister } => simple(t, &canister, "delete_canister", "Deleted"),
        _ => Err(CliError::internal(
            "only status, start, stop, delete, info, metadata and logs go through a transport",
        )),
    }
}

fn status(t: &mut dyn Transport, out: Output, canister: &str) -> Result<(), CliError> {
    let canister_id = principal(canister, "canister id")?;
    let s: CanisterStatusResult = management(
        t,
        "canister_status",
        canister_id,
        (CanisterIdRecord { canister_id },),
    )?;
    let status = match s.status {
        CanisterStatusType::Running => "running",
        CanisterStatusType::Stopping => "stopping",
        CanisterStatusType::Stopped => "stopped",
    };
    let hash = s.module_hash.as_ref().map(hex::encode);
    let controllers: Vec<String> = s
        .settings
        .controllers
        .iter()
        .map(Principal::to_text)
        .collect();
    let m = &s.memory_metrics;
    let d = &s.settings;
    let env_vars: Vec<String> = d
        .environment_variables
        .iter()
        .map(|v| format!("{}={}", v.name, v.value))
        .collect();
    use ic_management_canister_types::{LogVisibility, StatusVisibility};
    let viewers = |v: &[Principal]| {
        let names: Vec<String> = v.iter().map(Principal::to_text).collect();
        format!("allowed viewers: {}", names.join(" "))
    };
    let log_visibility = match &d.log_visibility {
        LogVisibility::Controllers => "controllers".to_string(),
        LogVisibility::Public => "public".to_string(),
        LogVisibility::AllowedViewers(v) => viewers(v),
    };
    let status_visibility = match &d.status_visibility {
        StatusVisibility::Controllers => "controllers".to_string(),
        StatusVisibility::Public => "public".to_string(),
        StatusVisibility::AllowedViewers(v) => viewers(v),
    };
    // Only the embedded replica sees the canister's calls; over a network they are unknown.
    let calls = t.call_state(canister_id);
    out.data(
        || {
            let rows = [
                ("Status", status.to_string()),
                (
                    "Module hash",
                    hash.as_ref()
                        .map_or("None".to_string(), |h| format!("0x{h}")),
                ),
                ("Controllers", controllers.join(" ")),
                ("Memory size", dec(&s.memory_size)),
                ("Wasm memory size", dec(&m.wasm_memory_size)),
                ("Stable memory size", dec(&m.stable_memory_size)),
                ("Cycles", dec(&s.cycles)),
                ("Idle cycles burned per day", dec(&s.idle_cycles_burned_per_day)),
                ("Version", s.version.to_string()),
                ("Wasm memory limit", dec(&d.wasm_memory_limit)),
                ("Freezing threshold", dec(&d.freezing_threshold)),
                ("Compute allocation", dec(&d.compute_allocation)),
                ("Memory allocation", dec(&d.memory_allocation)),
                ("Reserved cycles limit", dec(&d.reserved_cycles_limit)),
                ("Wasm memory threshold", dec(&d.wasm_memory_threshold)),
                ("Log visibility", log_visibility.clone()),
                ("Log memory limit", dec(&d.log_memory_limit)),
                ("Status visibility", status_visibility.clone()),
                (
                    "Minimum incoming call cycles",
                    dec(&d.minimum_incoming_canister_call_cycles),
                ),
                ("Environment variables", env_vars.join(" ")),
            ];
            let mut lines: Vec<String> = rows.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            let Some(calls) = &calls else {
                return lines.join("\n");
            };
            lines.push(format!("Open call contexts: {}", calls.open_contexts));
            lines.push(format!("Outstanding calls: {}", calls.outstanding));
            for c in &calls.calls {
                let module = c.module_hash.as_deref().map_or("none", |h| &h[..h.len().min(16)]);
                lines.push(format!(
                    "  call {} to {}, made by module {module} at version {}{}",
                    c.call,
                    c.callee,
                    c.canister_version,
                    if c.module_changed {
                        " (the module has changed since: its response will run in the new module's table)"
                    } else {
                        ""
                    }
                ));
            }
            if !calls.stale.is_empty() {
                lines.push("Responses that ran in another module than the caller's:".into());
                lines.extend(calls.stale.iter().map(|n| format!("  {n}")));
            }
            lines.join("\n")
        },
        || {
            let mut v = json!({
                "canister_id": canister_id.to_text(),
                "status": status,
                "module_hash": hash,
                "controllers": controllers,
                "memory_size": nat(&s.memory_size),
                "wasm_memory_size": nat(&m.wasm_memory_size),
                "stable_memory_size": nat(&m.stable_memory_size),
                "cycles": nat(&s.cycles),
                "idle_cycles_burned_per_day": nat(&s.idle_cycles_burned_per_day),
                "version": s.version,
                "wasm_memory_limit": nat(&d.wasm_memory_limit),
                "freezing_threshold": nat(&d.freezing_threshold),
                "compute_allocation": nat(&d.compute_allocation),
                "memory_allocation": nat(&d.memory_allocation),
                "reserved_cycles_limit": nat(&d.reserved_cycles_limit),
                "wasm_memory_threshold": nat(&d.wasm_memory_threshold),
                "log_visibility": log_visibility,
                "log_memory_limit": nat(&d.log_memory_limit),
                "status_visibility": status_visibility,
                "minimum_incoming_canister_call_cycles": nat(&d.minimum_incoming_canister_call_cycles),
                "environment_variables": d.environment_variables.iter().map(|v| (v.name.clone(), v.value.clone())).collect::<std::collections::BTreeMap<_, _>>(),
            });
            if let Some(c) = &calls {
                v["open_call_contexts"] = json!(c.open_contexts);
                v["outstanding_calls"] = json!(c.outstanding);
                v["calls"] = json!(c.calls);
                v["stale_responses"] = json!(c.stale);
            }
            v
        },
    );
    Ok(())
}

/// `logs`: the canister's log records (`fetch_canister_logs`, a query to the management
/// canister); with `--follow`, prints new records every second (running a round each time on
/// the state directory).
fn logs(t: &mut dyn Transport, out: Output, canister: &str, follow: bool) -> Result<(), CliError> {
    use ic_management_canister_types::{FetchCanisterLogsArgs, FetchCanisterLogsResult};
    let canister_id = principal(canister, "canister id")?;
    let arg = candid::encode_one(FetchCanisterLogsArgs {
        canister_id,
        filter: None,
    })
    .map_err(|e| CliError::internal(format!("encoding: {e}")))?;
    let mut next = 0u64;
    loop {
        let reply = t.management_query_raw("fetch_canister_logs", canister_id, arg.clone())?;
        let result: FetchCanisterLogsResult = candid::decode_one(&reply)
            .map_err(|e| CliError::internal(format!("decoding fetch_canister_logs: {e}")))?;
        let from = next;
        for r in result.canister_log_records.iter().filter(|r| r.idx >= from) {
            let text = String::from_utf8_lossy(&r.content).into_owned();
            out.data(
                || format!("[{}. {}]: {text}", r.idx, r.timestamp_nanos),
                || json!({ "idx": r.idx, "timestamp_nanos": r.timestamp_nanos, "content": text }),
            );
            next = r.idx + 1;
        }
        if !follow {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
        t.run_round()?;
    }
}

/// `stop`: the canister becomes stopping, and stopped once no call context is open.
/// `stop --no-wait` (the state directory only): the canister becomes stopping, and this says
/// whether it has stopped already.
fn stop_without_waiting(ctx: &mut Ctx, canister: &str) -> Result<(), CliError> {
    let canister_id = principal(canister, "canister id")?;
    let open = ctx
        .replica
        .canister(&canister_id)
        .map_or(0, |r| r.calls.open_contexts());
    let status = ctx.replica.stop_without_waiting(ctx.sender, canister_id)?;
    let word = match status {
        drydock_replica::CanisterStatus::Stopped => "stopped",
        drydock_replica::CanisterStatus::Stopping => "stopping",
        drydock_replica::CanisterStatus::Running => "running",
    };
    ctx.out.data(
        || format!("Canister {canister_id} is {word} ({open} open call contexts)"),
        || json!({ "canister_id": canister_id.to_text(), "status": word, "open_call_contexts": open }),
    );
    Ok(())
}

/// `stop`: the canister becomes stopping, and the call answers once it is stopped (no call
/// context open).
fn stop(t: &mut dyn Transport, canister: &str) -> Result<(), CliError> {
    let canister_id = principal(canister, "canister id")?;
    let open = t.call_state(canister_id).map_or(0, |c| c.open_contexts);
    if open > 0 {
        note(format!(
            "stopping {canister_id}: waiting for {open} open call context(s) to finish (new calls are rejected meanwhile)"
        ));
    }
    management::<_, _, ()>(
        t,
        "stop_canister",
        canister_id,
        (CanisterIdRecord { canister_id },),
    )?;
    note(format!("Stopped {canister_id}"));
    Ok(())
}

/// `start`, `delete`: a management call taking a `CanisterIdRecord`, replying `()`.
fn simple(t: &mut dyn Transport, canister: &str, method: &str, done: &str) -> Result<(), CliError> {
    let canister_id = principal(canister, "canister id")?;
    management::<_, _, ()>(t, method, canister_id, (CanisterIdRecord { canister_id },))?;
    note(format!("{done} canister {canister_id}"));
    Ok(())
}

/// `top-up`: `provisional_top_up_canister`, then the new balance.
fn top_up(ctx: &mut Ctx, canister: &str, amount: &str) -> Result<(), CliError> {
    let canister_id = principal(canister, "canister id")?;
    let cycles = crate::units::cycles(amount)?;
    let args = ic_management_canister_types::ProvisionalTopUpCanisterArgs {
        canister_id,
        amount: candid::Nat::from(cycles),
    };
    ctx.management::<_, ()>("provisional_top_up_canister", (args,))?;
    let balance = ctx.replica.canister(&canister_id).map_or(0, |r| r.cycles);
    note(format!(
        "Topped up canister {canister_id} with {cycles} cycles; its balance is {balance}"
    ));
    ctx.out.data(
        String::new,
        || json!({ "canister_id": canister_id.to_text(), "added": cycles.to_string(), "cycles": balance.to_string() }),
    );
    Ok(())
}

fn list(ctx: &Ctx) -> Result<(), CliError> {
    let ids = ctx.replica.canister_ids();
    let rows: Vec<Value> = ids
        .iter()
        .filter_map(|id| ctx.replica.canister(id))
        .map(|r| {
            json!({
                "canister_id": r.id.to_text(),
                "status": serde_json::to_value(r.status).unwrap_or(Value::Null),
                "module_hash": r.module_hash,
            })
        })
        .collect();
    let text: Vec<String> = ids.iter().map(Principal::to_text).collect();
    ctx.out
        .data(|| text.join("\n"), || json!({ "canisters": rows }));
    Ok(())
}

/// `info`: controllers and module hash; the history where the transport sees it.
fn info(t: &mut dyn Transport, out: Output, canister: &str) -> Result<(), CliError> {
    let canister_id = principal(canister, "canister id")?;
    let i = t.info(canister_id)?;
    let hash = i.module_hash.as_ref().map(hex::encode);
    let controllers: Vec<String> = i.controllers.iter().map(Principal::to_text).collect();
    out.data(
        || {
            let mut lines = vec![
                format!("Controllers: {}", controllers.join(" ")),
                format!(
                    "Module hash: {}",
                    hash.as_ref()
                        .map_or("None".to_string(), |h| format!("0x{h}"))
                ),
            ];
            if let Some((total, changes)) = &i.history {
                lines.push(format!("Total changes: {total}"));
                lines.extend(changes.iter().map(change_text));
            }
            lines.join("\n")
        },
        || {
            let mut v = json!({
                "canister_id": canister_id.to_text(),
                "controllers": controllers,
                "module_hash": hash,
            });
            if let Some((total, changes)) = &i.history {
                v["total_num_changes"] = json!(total);
                v["recent_changes"] = json!(changes.iter().map(change_json).collect::<Vec<_>>());
            }
            v
        },
    );
    Ok(())
}

fn origin(c: &Change) -> String {
    match &c.origin {
        ChangeOrigin::FromUser(u) => format!("user {}", u.user_id),
        ChangeOrigin::FromCanister(f) => format!("canister {}", f.canister_id),
    }
}

fn mode_name(m: CodeDeploymentMode) -> &'static str {
    match m {
        CodeDeploymentMode::Install => "install",
        CodeDeploymentMode::Reinstall => "reinstall",
        CodeDeploymentMode::Upgrade => "upgrade",
    }
}

fn change_text(c: &Change) -> String {
    let what = match &c.details {
        Some(ChangeDetails::Creation(r)) => {
            format!(
                "created with controllers {}",
                r.controllers
                    .iter()
                    .map(Principal::to_text)
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        Some(ChangeDetails::CodeDeployment(r)) => {
            format!(
                "code {}: module 0x{}",
                mode_name(r.mode),
                hex::encode(&r.module_hash)
            )
        }
        Some(ChangeDetails::CodeUninstall) => "code uninstalled".to_string(),
        Some(ChangeDetails::ControllersChange(r)) => format!(
            "controllers set to {}",
            r.controllers
                .iter()
                .map(Principal::to_text)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Some(ChangeDetails::LoadSnapshot(r)) => {
            format!("snapshot 0x{} loaded", hex::encode(&r.snapshot_id))
        }
        Some(other) => format!("{other:?}"),
        None => "unknown change".to_string(),
    };
    format!(
        "  version {} at {} ns by {}: {what}",
        c.canister_version,
        c.timestamp_nanos,
        origin(c)
    )
}

fn change_json(c: &Change) -> Value {
    let details = match &c.details {
        Some(ChangeDetails::Creation(r)) => json!({
            "kind": "creation",
            "controllers": r.controllers.iter().map(Principal::to_text).collect::<Vec<_>>(),
        }),
        Some(ChangeDetails::CodeDeployment(r)) => json!({
            "kind": "code_deployment",
            "mode": mode_name(r.mode),
            "module_hash": hex::encode(&r.module_hash),
        }),
        Some(ChangeDetails::CodeUninstall) => json!({ "kind": "code_uninstall" }),
        Some(ChangeDetails::ControllersChange(r)) => json!({
            "kind": "controllers_change",
            "controllers": r.controllers.iter().map(Principal::to_text).collect::<Vec<_>>(),
        }),
        Some(ChangeDetails::LoadSnapshot(r)) => json!({
            "kind": "load_snapshot",
            "snapshot_id": hex::encode(&r.snapshot_id),
            "canister_version": r.canister_version,
            "taken_at_timestamp": r.taken_at_timestamp,
        }),
        Some(other) => json!({ "kind": "other", "debug": format!("{other:?}") }),
        None => Value::Null,
    };
    let (origin_kind, origin_id) = match &c.origin {
        ChangeOrigin::FromUser(u) => ("user", u.user_id),
        ChangeOrigin::FromCanister(f) => ("canister", f.canister_id),
    };
    json!({
        "timestamp_nanos": c.timestamp_nanos,
        "canister_version": c.canister_version,
        "origin": { "kind": origin_kind, "principal": origin_id.to_text() },
        "details": details,
    })
}

/// `metadata ID`: the sections' names and visibility (the state directory only).
fn metadata_names(ctx: &Ctx, canister: &str) -> Result<(), CliError> {
    let id = principal(canister, "canister id")?;
    {
        let mut names = ctx.replica.metadata_names(&ctx.sender, &id)?;
        names.sort();
        let vis = |public: bool| if public { "public" } else { "private" };
        let text: Vec<String> = names
            .iter()
            .map(|(n, p)| format!("{} {n}", vis(*p)))
            .collect();
        let rows: Vec<Value> = names
            .iter()
            .map(|(n, p)| json!({ "name": n, "visibility": vis(*p) }))
            .collect();
        ctx.out.data(
            || text.join("\n"),
            || json!({ "canister_id": id.to_text(), "sections": rows }),
        );
        Ok(())
    }
}

/// `metadata ID NAME`: one section's bytes, as text when they are UTF-8.
fn metadata(
    t: &mut dyn Transport,
    out: Output,
    canister: &str,
    name: &str,
) -> Result<(), CliError> {
    let id = principal(canister, "canister id")?;
    let bytes = t.metadata(id, name)?.ok_or_else(|| {
        CliError::usage(format!(
            "canister {id} has no metadata section `{name}` (give its name without the \
             icp:public or icp:private prefix)"
        ))
    })?;
    let text = std::str::from_utf8(&bytes).ok();
    out.data(
        || text.map_or_else(|| hex::encode(&bytes), str::to_string),
        || json!({ "canister_id": id.to_text(), "name": name, "text": text, "hex": hex::encode(&bytes) }),
    );
    Ok(())
}

/// A `Nat` in plain decimal digits (its `Display` adds `_` separators).
fn dec(n: &Nat) -> String {
    n.0.to_string()
}

/// A `Nat` as a JSON number when it fits 64 bits, else as a decimal string.
pub fn nat(n: &Nat) -> Value {
    let digits = n.0.to_string();
    digits
        .parse::<u64>()
        .map_or(Value::String(digits), Value::from)
}
