//! `canister upgrade --network` and `check --network`: the safe path of an upgrade against any
//! IC endpoint (`drydock start`, another replica, the IC itself), through a [`Transport`]. Each
//! step is a public IC interface: the deployed module's hash and metadata (`read_state`),
//! `canister_status`, `stop_canister`, `take_canister_snapshot`, `install_code` (chunked over
//! 2 MB), `start_canister`, queries, and `load_canister_snapshot` to roll back.
//!
//! # Invariants
//! - Nothing on the network changes before the checks have passed and the snapshot's place is
//!   known: a canister holding the IC's limit of snapshots, none of them drydock's, refuses
//!   first.
//! - From the snapshot on, the commands that roll back by hand are printed before the next
//!   step runs, and every later failure repeats them: an interrupted run can be finished.
//! - A failed install leaves the module as it was (`install_code` is atomic on the IC); the
//!   module hash is read back to say so. A failed health check stops the canister, loads the
//!   snapshot and starts it again, and the module hash is compared with the one before.
//! - The orchestration knows nothing of ic-agent: [`upgrade`] runs on any [`Transport`], so the
//!   tests below drive every branch against a fake network.

use candid::{CandidType, Deserialize, Principal};
use drydock_compat::{Interfaces, Report};
use ic_management_canister_types::{CanisterIdRecord, CanisterStatusType};
use serde::Serialize;

use crate::check::render;
use crate::cli::{InstallMode, Persistence, UpgradeArgs};
use crate::context::principal;
use crate::error::CliError;
use crate::health::HealthCheck;
use crate::install::{install_code_args, read_wasm, Flags};
use crate::output::{note, warn};
use crate::transport::{management, Transport};

/// The interface texts of the module deployed on `id`, from its metadata sections (private
/// ones are readable by a controller).
fn deployed_interfaces(t: &mut dyn Transport, id: Principal) -> Result<Interfaces, CliError> {
    let mut text = |name: &str| -> Result<Option<String>, CliError> {
        Ok(t.metadata(id, name)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    };
    Ok(Interfaces {
        candid_service: text("candid:service")?,
        candid_args: text("candid:args")?,
        motoko_stable: text("motoko:stable-types")?,
    })
}

/// The checks of an upgrade of the deployed `id` to `new`: its interfaces (Candid, Motoko
/// stable types), read from the network's state tree.
pub fn check(t: &mut dyn Transport, id: Principal, new: &[u8]) -> Result<Report, CliError> {
    if t.info(id)?.module_hash.is_none() {
        return Err(no_module(id));
    }
    let old = deployed_interfaces(t, id)?;
    drydock_compat::check_upgrade_from_interfaces(&old, new)
        .map_err(|e| CliError::usage(format!("cannot check the upgrade: {e}")))
}

/// Runs `drydock --network URL check ID NEW`.
pub fn check_command(
    url: &str,
    old: &str,
    new: &std::path::Path,
    global: &crate::cli::GlobalArgs,
) -> Result<(), CliError> {
    let new_bytes = read_wasm(new)?;
    let id = Principal::from_text(old).map_err(|_| {
        CliError::usage(format!(
            "with --network, OLD is the id of a canister on that network, not `{old}`"
        ))
    })?;
    drydock_compat::wasm::parse_module(&new_bytes).map_err(|e| {
        CliError::usage(format!("cannot check the upgrade: {}: {e}", new.display()))
    })?;
    let mut t = crate::context::connect(url, global)?;
    let report = check(&mut t, id, &new_bytes)?;
    crate::check::show(report, &format!("canister {id}"), new, global)
}

fn no_module(id: Principal) -> CliError {
    CliError::usage(format!(
        "canister {id} has no module installed: there is nothing to upgrade from (use `drydock canister install`)"
    ))
}

/// The part of `canister_status` the upgrade needs (Candid ignores the other fields).
#[derive(CandidType, Deserialize)]
struct Status {
    status: CanisterStatusType,
}

/// What `canister upgrade --network` did, for `--json`.
#[derive(Debug, Serialize)]
pub struct UpgradeReport {
    pub canister_id: String,
    pub network: String,
    pub module_hash_before: String,
    pub module_hash_after: String,
    pub snapshot_id: Option<String>,
    /// The Wasm memory was kept (`wasm_memory_persistence = keep`).
    pub kept_wasm_memory: bool,
    pub report: Report,
}

/// How to roll back by hand once the snapshot exists.
fn recovery(id: Principal, snap: &str, flags: &str) -> String {
    format!(
        "If this run is interrupted, roll back with:\n  drydock canister stop {id}{flags}\n  drydock canister snapshot restore {id} {snap}{flags}\n  drydock canister start {id}{flags}"
    )
}

/// Runs `canister upgrade` through `t`; `network` names the endpoint for the health check
/// command (`DRYDOCK_NETWORK`).
pub fn upgrade(
    t: &mut dyn Transport,
    network: &str,
    u: &UpgradeArgs,
    yes: bool,
    no_snapshot: bool,
) -> Result<UpgradeReport, CliError> {
    let id = principal(&u.canister, "canister id")?;
    let new = read_wasm(&u.wasm)?;
    let health = HealthCheck::parse_all(&u.health)?;
    let flags_text = t.cli_flags();

    // 1. The checks, against what the network says is deployed.
    let before = t.info(id)?.module_hash.ok_or_else(|| no_module(id))?;
    let report = check(t, id, &new)?;
    note(render(
        &report,
        &format!("canister {id}{flags_text}"),
        &u.wasm.display().to_string(),
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    ));
    if report.is_breaking() && !yes {
        return Err(CliError::Refused(format!(
            "the upgrade of canister {id} has {} breaking change(s) (above); nothing was changed. Fix them, or pass --yes to upgrade anyway",
            report.errors().count()
        )));
    }
    if report.is_breaking() {
        warn("upgrading despite breaking changes (--yes)");
    }
    let mut flags = Flags {
        mode: InstallMode::Upgrade,
        skip_pre_upgrade: u.skip_pre_upgrade,
        wasm_memory_persistence: u.wasm_memory_persistence,
    };
    if flags.wasm_memory_persistence.is_none()
        && t.metadata(id, "enhanced-orthogonal-persistence")?.is_some()
    {
        note(crate::safe::EOP_KEEP);
        flags.wasm_memory_persistence = Some(Persistence::Keep);
    }
    let kept_wasm_memory = flags.wasm_memory_persistence == Some(Persistence::Keep);
    let args = install_code_args(id, new.clone(), flags, u.arg.as_deref())?;
    let replace = if no_snapshot {
        None
    } else {
        Some(crate::auto_snapshot::plan(t, id)?)
    };

    // 2. Stop: the IC answers the stop call once the canister's open calls have finished, so
    // no callback of the old module runs in the new one (seed 001).
    let status: Status = management(
        t,
        "canister_status",
        id,
        (CanisterIdRecord { canister_id: id },),
    )?;
    let restart = status.status == CanisterStatusType::Running;
    if restart {
        note(format!(
            "Stopping canister {id}{flags_text} (the network answers once its open calls have finished)"
        ));
        stop(t, id).map_err(|e| {
            e.with_hint(format!(
                "nothing was installed; the canister may still be stopping: `drydock canister status {id}{flags_text}` shows it, and `drydock canister start {id}{flags_text}` runs it again"
            ))
        })?;
    }

    // 3. The snapshot.
    let snapshot = match replace {
        None => {
            warn("--no-snapshot: a failed health check cannot be rolled back");
            None
        }
        Some(replace) => {
            let why = format!("before upgrade to {}", crate::safe::short_hash(&new));
            match crate::auto_snapshot::take(t, id, replace, &why) {
                Ok(s) => Some(hex::encode(&s.id)),
                Err(e) => {
                    if restart {
                        start(t, id)?;
                    }
                    return Err(e);
                }
            }
        }
    };
    let recover = |e: CliError| match &snapshot {
        Some(s) => e.with_hint(recovery(id, s, &flags_text)),
        None => e,
    };
    if let Some(s) = &snapshot {
        note(recovery(id, s, &flags_text));
    }

    // 4. Install, then start.
    let installed = crate::install::send(t, args);
    if restart {
        start(t, id).map_err(recover)?;
    }
    if let Err(e) = installed {
        let after = t.info(id).map_err(recover)?.module_hash;
        let mut msg = format!("Upgrade of canister {id} failed: {e}\n");
        if after.as_ref() == Some(&before) {
            msg += &format!(
                "The canister is unchanged: the IC rolled the install back, and its module hash is as before (0x{}).",
                hex::encode(&before)
            );
        } else {
            msg += "The module hash is not the one from before: ";
            msg += &match &snapshot {
                Some(s) => {
                    roll_back(t, id, s, restart).map_err(recover)?;
                    format!("loaded snapshot {s}.")
                }
                None => "no snapshot was taken (--no-snapshot).".into(),
            };
        }
        if e.to_string().contains("canister_pre_upgrade") {
            msg += &format!("\nThe old module's canister_pre_upgrade trapped. `drydock canister upgrade {id} {} --skip-pre-upgrade{flags_text}` keeps stable memory and drops the heap; only safe when the state lives in stable memory. `drydock canister rehearse` tries it on a local clone first.", u.wasm.display());
        }
        return Err(CliError::Refused(msg));
    }
    note(format!(
        "Upgraded canister {id}{flags_text} to {}",
        crate::safe::short_hash(&new)
    ));

    // 5. The health checks, then the command.
    let mut verdict = Ok(());
    for c in &health {
        verdict = c.run(t, id);
        if verdict.is_err() {
            break;
        }
        note(format!("Health check passed: {}", c.text()));
    }
    if let (Ok(()), Some(cmd)) = (&verdict, &u.health.health_check_cmd) {
        verdict = crate::health::run_command(cmd, id, ("DRYDOCK_NETWORK", network.as_ref()));
    }
    if let Err(why) = verdict {
        let Some(s) = &snapshot else {
            return Err(CliError::Refused(format!(
                "the health check of canister {id} failed: {why}. No snapshot was taken (--no-snapshot), so the canister keeps running the new module"
            )));
        };
        roll_back(t, id, s, restart).map_err(recover)?;
        let after = t.info(id).map_err(recover)?.module_hash;
        return Err(CliError::Refused(format!(
            "the health check of canister {id} failed: {why}\nRolled back: stopped the canister, loaded snapshot {s}{}; {}",
            if restart { " and started it again" } else { "" },
            if after.as_ref() == Some(&before) {
                format!("the module hash is as before (0x{}). The global timer is off, as after any snapshot load on the IC: set it again if the canister needs it.", hex::encode(&before))
            } else {
                "but the module hash is not the one from before — please report this.".into()
            }
        )));
    }
    let after = t.info(id)?.module_hash.unwrap_or_default();
    Ok(UpgradeReport {
        canister_id: id.to_text(),
        network: network.to_string(),
        module_hash_before: hex::encode(before),
        module_hash_after: hex::encode(after),
        snapshot_id: snapshot,
        kept_wasm_memory,
        report,
    })
}

fn stop(t: &mut dyn Transport, id: Principal) -> Result<(), CliError> {
    management(
        t,
        "stop_canister",
        id,
        (CanisterIdRecord { canister_id: id },),
    )
}

fn start(t: &mut dyn Transport, id: Principal) -> Result<(), CliError> {
    management(
        t,
        "start_canister",
        id,
        (CanisterIdRecord { canister_id: id },),
    )
}

/// Stops the canister, loads snapshot `snap` (hex) and starts it again if it was running.
fn roll_back(
    t: &mut dyn Transport,
    id: Principal,
    snap: &str,
    restart: bool,
) -> Result<(), CliError> {
    let bytes =
        hex::decode(snap).map_err(|e| CliError::internal(format!("snapshot id {snap}: {e}")))?;
    stop(t, id)?;
    crate::auto_snapshot::load(t, id, &bytes)?;
    if restart {
        start(t, id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
