//! The safe paths of an upgrade: `canister upgrade` (check → snapshot → upgrade → health
//! check → load the snapshot back on failure), `canister rehearse` (the same on a clone,
//! twice, with a headroom report) and `canister hotfix` (a module swap that keeps the heap,
//! after a layout check and a snapshot).
//!
//! # Invariants
//! - A failed `canister upgrade` leaves the canister as it was: `install_code` is atomic, and
//!   a health check that fails after it loads the automatic snapshot. Either way the state
//!   hashes are compared with the ones from before, and the user is told they match.
//! - drydock deletes only snapshots it labelled itself ([`AUTO_LABEL`]); a user's snapshot is
//!   never deleted or replaced.
//! - `rehearse` never changes the canister it rehearses: it works on a clone.
//! - The state directory is released while a `--health-check-cmd` runs, so the command may
//!   run `drydock` itself.

use candid::Principal;
use drydock_replica::{InstallStats, StateHashes};
use ic_management_canister_types::CanisterIdRecord;
use serde_json::json;

use crate::check::{check, deployed_module, render};
use crate::cli::{GlobalArgs, HealthArgs, InstallMode, UpgradeArgs};
use crate::context::{principal, state_dir, Ctx};
use crate::error::CliError;
use crate::health::HealthCheck;
use crate::install::{install_code_args, read_wasm, Flags};
use crate::output::{note, warn};
use crate::units::size;

/// Said when `upgrade` keeps the Wasm memory of an EOP canister without being asked to.
pub const EOP_KEEP: &str = "The deployed module uses enhanced orthogonal persistence: upgrading with wasm_memory_persistence = keep, as icp-cli does (--wasm-memory-persistence replace drops the heap)";
/// A figure above this share of its limit gets a warning.
const WARN_SHARE: f64 = 0.5;

/// Opens the replica for a step of a safe path.
fn open(global: &GlobalArgs) -> Result<Ctx, CliError> {
    Ctx::open(global)
}

/// Closes the replica (releasing the state directory), printing what canisters logged.
fn close(mut ctx: Ctx) {
    for (id, line) in ctx.replica.take_logs() {
        note(format!("[Canister {id}] {line}"));
    }
}

/// The upgrade's flags. An upgrade of an EOP module without `--wasm-memory-persistence` keeps
/// the Wasm memory (saying so), as icp-cli does: the IC refuses it without the option.
fn flags(u: &UpgradeArgs, old_is_eop: bool) -> Flags {
    let mut persistence = u.wasm_memory_persistence;
    if persistence.is_none() && old_is_eop {
        note(EOP_KEEP);
        persistence = Some(crate::cli::Persistence::Keep);
    }
    Flags {
        mode: InstallMode::Upgrade,
        skip_pre_upgrade: u.skip_pre_upgrade,
        wasm_memory_persistence: persistence,
    }
}

/// Whether the module deployed on `id` uses enhanced orthogonal persistence.
fn deployed_is_eop(ctx: &Ctx, id: &Principal) -> bool {
    deployed_module(ctx, id)
        .ok()
        .and_then(|m| drydock_compat::wasm::parse_module(&m).ok())
        .is_some_and(|m| m.eop)
}

/// What `canister upgrade` did, for `--json`.
#[derive(serde::Serialize)]
pub struct UpgradeReport {
    pub canister_id: String,
    pub upgraded: bool,
    pub snapshot_id: Option<String>,
    pub report: drydock_compat::Report,
    /// The instructions and memory of the upgrade's hooks, where measured.
    pub stats: Option<InstallStats>,
}

/// What `canister rehearse` found, for `--json`.
#[derive(serde::Serialize)]
pub struct RehearsalReport<'a> {
    pub canister_id: String,
    pub clone_id: String,
    pub kept: bool,
    pub ok: bool,
    pub steps: &'a [Step],
    pub warnings: &'a [String],
    /// The rehearsed canister hashes as before the rehearsal.
    pub original_untouched: bool,
}

/// What `canister hotfix` did, for `--json`.
#[derive(serde::Serialize)]
pub struct HotfixReport {
    pub canister_id: String,
    pub module_hash: Option<String>,
    pub snapshot_id: String,
}

/// Runs `canister upgrade`.
pub fn upgrade(
    u: UpgradeArgs,
    yes: bool,
    no_snapshot: bool,
    global: &GlobalArgs,
) -> Result<(), CliError> {
    let id = principal(&u.canister, "canister id")?;
    let new = read_wasm(&u.wasm)?;
    let health = HealthCheck::parse_all(&u.health)?;
    let mut ctx = open(global)?;
    let json = ctx.out.json;

    // 1. The static checks.
    let old = deployed_module(&ctx, &id)?;
    let report = check(&old, &new)?;
    let args = install_code_args(
        id,
        new.clone(),
        flags(&u, deployed_is_eop(&ctx, &id)),
        u.arg.as_deref(),
    )?;
    note(render(
        &report,
        &format!("canister {id}"),
        &u.wasm.display().to_string(),
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    ));
    if report.is_breaking() {
        if !yes {
            return Err(CliError::Refused(format!(
                "the upgrade of canister {id} has {} breaking change(s) (above); nothing was changed. Fix them, or pass --yes to upgrade anyway",
                report.errors().count()
            )));
        }
        warn("upgrading despite breaking changes (--yes)");
    }

    // The snapshot's place, before anything changes: at the IC's limit with no snapshot of
    // drydock's own to replace, the upgrade refuses here.
    let replace = if no_snapshot {
        None
    } else {
        Some(crate::auto_snapshot::plan(&mut ctx, id)?)
    };

    // 2. Stop, and let the canister's calls finish: a callback registered by the old module
    // would run in the new module's table (seed 001).
    let restart = drain(&mut ctx, id, u.drain_timeout)?;

    // 3. The snapshot.
    let before = fingerprint(&ctx, &id)?;
    let snapshot = match replace {
        None => {
            warn("--no-snapshot: a failed health check cannot be rolled back");
            None
        }
        Some(replace) => match crate::auto_snapshot::take(
            &mut ctx,
            id,
            replace,
            &format!("before upgrade to {}", short_hash(&new)),
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                if restart {
                    start_again(&mut ctx, id)?;
                }
                return Err(e);
            }
        },
    };
    let snap_id = snapshot.as_ref().map(|s| s.id.clone());
    let snap_text = snap_id.as_ref().map(hex::encode);

    // 4. The upgrade.
    let installed = crate::install::send(&mut ctx, args);
    if restart {
        start_again(&mut ctx, id)?;
    }
    if let Err(e) = installed {
        let unchanged = fingerprint(&ctx, &id)? == before;
        let mut msg = format!("Upgrade of canister {id} failed: {e}\n");
        if !unchanged {
            // install_code is atomic, so this is drydock's bug; the snapshot still saves the day.
            if let Some(s) = &snap_id {
                crate::auto_snapshot::load(&mut ctx, id, s)?;
            }
        }
        msg += &format!(
            "The canister is unchanged: its module, memories and globals hash as before{}.",
            snap_text
                .as_ref()
                .map(|s| format!(" (snapshot {s} was taken before)"))
                .unwrap_or_default()
        );
        if e.to_string().contains("canister_pre_upgrade") {
            msg += &pre_upgrade_advice(id, &u, snap_text.as_deref());
        }
        close(ctx);
        return Err(CliError::Refused(msg));
    }
    let stats = ctx.replica.take_install_stats();
    note(format!("Upgraded canister {id} to {}", short_hash(&new)));

    // 5. The health check.
    let dir = state_dir(global)?;
    let (ctx, verdict) = run_health(ctx, global, &dir, id, &health, &u.health)?;
    let mut ctx = ctx;
    if let Err(why) = verdict {
        let Some(s) = &snap_id else {
            close(ctx);
            return Err(CliError::Refused(format!(
                "the health check of canister {id} failed: {why}. No snapshot was taken (--no-snapshot), so the canister keeps running the new module"
            )));
        };
        crate::auto_snapshot::load(&mut ctx, id, s)?;
        let after = fingerprint(&ctx, &id)?;
        let same = same_state(&before, &after);
        let timer_note = if before.global_timer != 0 {
            " The global timer is off, as after any snapshot load on the IC: set it again if the canister needs it."
        } else {
            ""
        };
        close(ctx);
        return Err(CliError::Refused(format!(
            "the health check of canister {id} failed: {why}\nRolled back: loaded snapshot {}; {}",
            hex::encode(s),
            if same {
                "the canister is back as it was (module, memories, globals and certified data hash as before the upgrade)."
            } else {
                "but the state does not hash as before — please report this."
            }
        ) + timer_note));
    }
    if json {
        ctx.out.data(String::new, || {
            json!(UpgradeReport {
                canister_id: id.to_text(),
                upgraded: true,
                snapshot_id: snap_text,
                report,
                stats,
            })
        });
    } else if let Some(stats) = &stats {
        note(headroom(stats, "upgrade", wasm_memory_limit(&ctx, &id)).0);
    }
    close(ctx);
    Ok(())
}

/// Stops a running canister and waits, running rounds, until no call context is open (the
/// canister is `stopped`), saying what it waits for. Returns whether the canister must be
/// started again. Gives up after `timeout` seconds, starting the canister again.
fn drain(ctx: &mut Ctx, id: Principal, timeout: u64) -> Result<bool, CliError> {
    use drydock_replica::CanisterStatus;
    let Some(record) = ctx.replica.canister(&id) else {
        return Ok(false);
    };
    if record.status != CanisterStatus::Running {
        return Ok(false);
    }
    let (open, outstanding) = (record.calls.open_contexts(), record.calls.callbacks.len());
    if open > 0 || outstanding > 0 {
        note(format!(
            "Stopping canister {id} and waiting (up to {timeout} s) for {open} open call context(s) and {outstanding} outstanding call(s) to finish, so that no callback of the old module runs in the new one"
        ));
    }
    ctx.replica.stop_without_waiting(ctx.sender, id)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    loop {
        let Some(r) = ctx.replica.canister(&id) else {
            return Ok(false);
        };
        if r.status == CanisterStatus::Stopped {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            let (open, outstanding) = (r.calls.open_contexts(), r.calls.callbacks.len());
            start_again(ctx, id)?;
            return Err(CliError::Refused(format!(
                "canister {id} did not finish its calls within {timeout} s ({open} open call context(s), {outstanding} outstanding call(s)); it is running again and nothing was changed. Wait for the calls to finish, or raise --drain-timeout"
            )));
        }
        ctx.replica
            .run_round()
            .map_err(|e| CliError::from(drydock_replica::CallError::from(e)))?;
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Starts a canister `drain` stopped.
fn start_again(ctx: &mut Ctx, id: Principal) -> Result<(), CliError> {
    ctx.management::<_, ()>("start_canister", (CanisterIdRecord { canister_id: id },))
}

/// Memories up to this size in all are hashed to prove a failed upgrade changed nothing;
/// above it only the record (module hash, sizes, globals, certified data) is compared, so a
/// 50 GiB canister does not pay a full read per upgrade.
const HASH_MEMORIES_UP_TO: u64 = 1 << 30;

/// What must be the same before an upgrade and after its rollback.
fn fingerprint(ctx: &Ctx, id: &Principal) -> Result<StateHashes, CliError> {
    let Some(r) = ctx.replica.canister(id) else {
        return Ok(ctx.replica.state_hashes(id)?);
    };
    if r.heap_size + r.stable_size <= HASH_MEMORIES_UP_TO {
        return Ok(ctx.replica.state_hashes(id)?);
    }
    Ok(StateHashes {
        module_hash: r.module_hash.clone(),
        version: r.version,
        heap: "not hashed (over 1 GiB)".into(),
        heap_size: r.heap_size,
        stable: "not hashed (over 1 GiB)".into(),
        stable_size: r.stable_size,
        globals: format!("{:?}", r.globals),
        certified_data: r.certified_data.clone(),
        global_timer: r.global_timer,
    })
}

/// Whether the canister holds what it held: the version (bumped by a load) and the global
/// timer (which a load does not restore, as on the IC) aside.
fn same_state(a: &StateHashes, b: &StateHashes) -> bool {
    let strip = |h: &StateHashes| StateHashes {
        version: 0,
        global_timer: 0,
        ..h.clone()
    };
    strip(a) == strip(b)
}

fn pre_upgrade_advice(id: Principal, u: &UpgradeArgs, snap: Option<&str>) -> String {
    let wasm = u.wasm.display();
    let mut s = format!(
        "\nThe old module's canister_pre_upgrade trapped, so this canister cannot be upgraded normally. Ways out:\n  - `drydock canister upgrade {id} {wasm} --skip-pre-upgrade`: stable memory is kept and the heap is not; only safe when the state also lives in stable memory.\n  - `drydock canister hotfix {id} FIXED.wasm`: replace the module keeping the heap, with a build whose only change is the fix in pre_upgrade (checked by layout); then upgrade normally.\n  - `drydock canister rehearse {id} {wasm} ...` tries either on a clone first."
    );
    if let Some(snap) = snap {
        s += &format!("\n  - snapshot {snap} holds the state as it is now: `drydock canister snapshot restore {id} {snap}` brings it back after any experiment.");
    }
    s
}

/// Runs the health checks, releasing the state directory while a command runs. Returns the
/// reopened context and the verdict.
fn run_health(
    mut ctx: Ctx,
    global: &GlobalArgs,
    dir: &std::path::Path,
    id: Principal,
    checks: &[HealthCheck],
    args: &HealthArgs,
) -> Result<(Ctx, Result<(), String>), CliError> {
    for c in checks {
        if let Err(why) = c.run(&mut ctx, id) {
            return Ok((ctx, Err(why)));
        }
        note(format!("Health check passed: {}", c.text()));
    }
    if let Some(cmd) = &args.health_check_cmd {
        close(ctx);
        let verdict = crate::health::run_command(cmd, id, ("DRYDOCK_STATE_DIR", dir.as_os_str()));
        let ctx = open(global)?;
        return Ok((ctx, verdict));
    }
    Ok((ctx, Ok(())))
}

/// The first 12 hex digits of a module's sha256 (of the bytes as given).
pub fn short_hash(wasm: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(wasm)[..6])
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Which limit a hook's Wasm memory was measured against. On the IC, `wasm_memory_limit` (the
/// canister setting; 0 is none) makes init and post_upgrade trap past it, but pre_upgrade is
/// exempt (as are queries, callbacks, timers and heartbeats), so that a canister past its
/// limit can still be upgraded: pre_upgrade has the module's maximum, 4 GiB for wasm32.
fn memory_limit_name(h: &drydock_replica::HookStats, wasm_memory_limit: u64) -> &'static str {
    let max = drydock_replica::Limits::default();
    if h.name != "canister_pre_upgrade"
        && wasm_memory_limit > 0
        && h.heap_limit == wasm_memory_limit
    {
        "wasm_memory_limit"
    } else if h.heap_limit == max.heap32_max {
        "wasm32 maximum"
    } else if h.heap_limit == max.heap64_max {
        "wasm64 maximum"
    } else {
        "Wasm maximum"
    }
}

/// The headroom report of one install: each hook's instructions and peak Wasm memory against
/// their limits (saying which limit: the canister's `wasm_memory_limit`, 0 for none, or the
/// module's maximum), and the stable memory growth. Returns the text and the warnings.
pub fn headroom(
    stats: &InstallStats,
    title: &str,
    wasm_memory_limit: u64,
) -> (String, Vec<String>) {
    let mut s = format!(
        "{title}: {} instructions in all, {:.2} % of the {} limit\n",
        group(stats.instructions()),
        100.0 * pct(stats.instructions(), stats.instruction_limit),
        billions(stats.instruction_limit)
    );
    let mut warnings = Vec::new();
    for h in &stats.hooks {
        let ip = pct(h.instructions, stats.instruction_limit);
        let mp = pct(h.peak_heap, h.heap_limit);
        s += &format!(
            "  {:<24} {:>3} module  {:>19} instructions ({:>6.2} %)  peak wasm memory {:>10} of {} ({:>6.2} %, {})\n",
            h.name,
            format!("{:?}", h.module).to_lowercase(),
            group(h.instructions),
            100.0 * ip,
            size(h.peak_heap),
            size(h.heap_limit),
            100.0 * mp,
            memory_limit_name(h, wasm_memory_limit)
        );
        if ip > WARN_SHARE {
            warnings.push(format!(
                "{} ({title}) used {:.0} % of the instruction limit: the state it handles may soon outgrow it (seed 002: long-running upgrades)",
                h.name,
                100.0 * ip
            ));
        }
        if mp > WARN_SHARE {
            warnings.push(format!(
                "{} ({title}) peaked at {:.0} % of its Wasm memory limit: serialising more state may run out of heap",
                h.name,
                100.0 * mp
            ));
        }
    }
    let names: std::collections::BTreeSet<_> = stats
        .hooks
        .iter()
        .map(|h| memory_limit_name(h, wasm_memory_limit))
        .collect();
    if names.len() > 1 && names.contains("wasm_memory_limit") {
        s += &format!(
            "  (the memory limits differ as on the IC: init and post_upgrade trap past the canister's wasm_memory_limit, {}; pre_upgrade is exempt from it, so that a canister past its limit can still be upgraded, and has the module's maximum)\n",
            size(wasm_memory_limit)
        );
    }
    let growth = stats.stable_after as i128 - stats.stable_before as i128;
    s += &format!(
        "  stable memory: {} -> {} ({}{})\n",
        size(stats.stable_before),
        size(stats.stable_after),
        if growth >= 0 { "+" } else { "-" },
        size(growth.unsigned_abs() as u64)
    );
    (s, warnings)
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

fn billions(n: u64) -> String {
    if n.is_multiple_of(1_000_000_000) {
        format!("{} B", n / 1_000_000_000)
    } else {
        group(n)
    }
}

/// One step of a rehearsal and how it went.
#[derive(Debug, serde::Serialize)]
pub struct Step {
    pub step: String,
    pub ok: bool,
    pub error: Option<String>,
    pub stats: Option<InstallStats>,
}

/// Runs `canister rehearse`.
pub fn rehearse(u: UpgradeArgs, keep: bool, global: &GlobalArgs) -> Result<(), CliError> {
    let id = principal(&u.canister, "canister id")?;
    let new = read_wasm(&u.wasm)?;
    let health = HealthCheck::parse_all(&u.health)?;
    let mut ctx = open(global)?;
    let json = ctx.out.json;
    let before = fingerprint(&ctx, &id)?;
    // Whether each rehearsed upgrade starts from an EOP module: the deployed one, then NEW.
    let eop = [
        deployed_is_eop(&ctx, &id),
        drydock_compat::wasm::parse_module(&new).is_ok_and(|m| m.eop),
    ];
    if let Some(r) = ctx.replica.canister(&id) {
        let (open, outstanding) = (r.calls.open_contexts(), r.calls.callbacks.len());
        if outstanding > 0 {
            note(format!(
                "Canister {id} has {outstanding} outstanding call(s) ({open} open call context(s)): an upgrade now would run their callbacks in the new module's table. `drydock canister upgrade` stops the canister and waits for them first (--drain-timeout)."
            ));
        }
    }
    let started = std::time::Instant::now();
    let clone = ctx.replica.clone_canister(ctx.sender, id)?;
    let copied = ctx
        .replica
        .canister(&clone)
        .map_or(0, |r| r.heap_size + r.stable_size);
    // Read now: the clone is deleted before the report is written.
    let memory_limit = wasm_memory_limit(&ctx, &clone);
    note(format!(
        "Cloned canister {id} into scratch canister {clone} ({} of memories in {:.0?})",
        size(copied),
        started.elapsed()
    ));
    let dir = state_dir(global)?;
    let mut steps: Vec<Step> = Vec::new();
    // First from the deployed module to NEW, then NEW to NEW: the second runs NEW's own
    // pre_upgrade, which a real upgrade would only meet at the next release.
    for (n, title) in [
        (1, "upgrade 1 (current -> new)"),
        (2, "upgrade 2 (new -> new)"),
    ] {
        let mut f = flags(&u, eop[n - 1]);
        if n == 2 {
            // The second upgrade is the next release's: it runs pre_upgrade.
            f.skip_pre_upgrade = false;
        }
        let args = install_code_args(clone, new.clone(), f, u.arg.as_deref())?;
        match crate::install::send(&mut ctx, args) {
            Ok(()) => {
                let stats = ctx.replica.take_install_stats();
                steps.push(Step {
                    step: title.into(),
                    ok: true,
                    error: None,
                    stats,
                });
            }
            Err(e) => {
                steps.push(Step {
                    step: title.into(),
                    ok: false,
                    error: Some(e.to_string()),
                    stats: None,
                });
                break;
            }
        }
        let (c, verdict) = run_health(ctx, global, &dir, clone, &health, &u.health)?;
        ctx = c;
        if let Err(why) = verdict {
            steps.push(Step {
                step: format!("health check after {title}"),
                ok: false,
                error: Some(why),
                stats: None,
            });
            break;
        }
        if !health.is_empty() || u.health.health_check_cmd.is_some() {
            steps.push(Step {
                step: format!("health check after {title}"),
                ok: true,
                error: None,
                stats: None,
            });
        }
    }
    let untouched = fingerprint(&ctx, &id)? == before;
    if !keep {
        let _ =
            ctx.management::<_, ()>("stop_canister", (CanisterIdRecord { canister_id: clone },));
        match ctx.management::<_, ()>(
            "delete_canister",
            (CanisterIdRecord { canister_id: clone },),
        ) {
            Ok(()) => note(format!("Deleted scratch canister {clone}")),
            Err(e) => warn(format!("could not delete scratch canister {clone}: {e}")),
        }
    } else {
        note(format!("Kept scratch canister {clone} (--keep)"));
    }
    let failed = steps.iter().find(|s| !s.ok);
    let mut text = format!(
        "Rehearsal of upgrading canister {id} to {}:\n",
        u.wasm.display()
    );
    let mut warnings = Vec::new();
    for s in &steps {
        match (&s.error, &s.stats) {
            (Some(e), _) => text += &format!("FAILED {}: {e}\n", s.step),
            (None, Some(stats)) => {
                let (t, w) = headroom(stats, &s.step, memory_limit);
                text += &t;
                warnings.extend(w);
            }
            (None, None) => text += &format!("ok {}\n", s.step),
        }
    }
    for w in &warnings {
        text += &format!("Warning: {w}\n");
    }
    if !untouched {
        text += "Warning: the rehearsed canister's state changed during the rehearsal — please report this\n";
    }
    let out = ctx.out;
    out.data(
        || text.clone(),
        || {
            json!(RehearsalReport {
                canister_id: id.to_text(),
                clone_id: clone.to_text(),
                kept: keep,
                ok: failed.is_none(),
                steps: &steps,
                warnings: &warnings,
                original_untouched: untouched,
            })
        },
    );
    close(ctx);
    if let Some(f) = failed {
        let error = f.error.clone().unwrap_or_default();
        // The text report above already says why; with --json the error is said here once.
        let mut msg = if json {
            format!("the rehearsal failed at {}: {error}", f.step)
        } else {
            format!("the rehearsal failed at {} (above)", f.step)
        };
        if untouched {
            msg += &format!("; canister {id} was not touched");
        }
        if f.step.starts_with("upgrade 2") {
            msg += "\nThe first upgrade works, but the NEW module's own pre_upgrade fails: the canister would be stuck at the next upgrade. Fix NEW before deploying it.";
        } else if f.step.starts_with("upgrade 1") && error.contains("canister_pre_upgrade trapped")
        {
            msg += &rehearsal_pre_upgrade_advice(id, &u);
        }
        return Err(CliError::Refused(msg));
    }
    if !json {
        note(format!("Rehearsal passed; canister {id} was not touched"));
    }
    Ok(())
}

/// A canister's `wasm_memory_limit` setting (0: none).
fn wasm_memory_limit(ctx: &Ctx, id: &Principal) -> u64 {
    ctx.replica
        .canister(id)
        .map_or(0, |r| r.settings.wasm_memory_limit)
}

/// The ways out when the deployed module's pre_upgrade traps, for the rehearsed canister.
fn rehearsal_pre_upgrade_advice(id: Principal, u: &UpgradeArgs) -> String {
    let wasm = u.wasm.display();
    format!(
        "\nThe current module's canister_pre_upgrade traps, so canister {id} cannot be upgraded normally. Ways out:\n  - `drydock canister rehearse {id} {wasm} --skip-pre-upgrade` rehearses an upgrade that skips it (stable memory is kept, the heap is not), and `drydock canister upgrade {id} {wasm} --skip-pre-upgrade` does it.\n  - `drydock canister hotfix {id} FIXED.wasm` replaces the module keeping the heap, with a build whose only change is the fix in pre_upgrade (checked by layout); then upgrade normally."
    )
}

/// Runs `canister hotfix`.
pub fn hotfix(canister: &str, wasm: &std::path::Path, global: &GlobalArgs) -> Result<(), CliError> {
    let id = principal(canister, "canister id")?;
    let new = read_wasm(wasm)?;
    let mut ctx = open(global)?;
    let old = deployed_module(&ctx, &id)?;
    match drydock_compat::layout::check_hotfix_layout(&old, &new) {
        Ok(None) => note("Layout check passed: memories, tables, globals, data and element segments are identical"),
        Ok(Some(diff)) => {
            close(ctx);
            return Err(CliError::Refused(format!(
                "hotfix of canister {id} refused, nothing was changed: {diff}\nA hotfix keeps the heap as it is, so the new module must lay out memory, tables, globals and static data exactly as the old one; use `drydock canister upgrade` instead"
            )));
        }
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot compare the modules: {e}"
            )))
        }
    }
    let snap = crate::auto_snapshot::plan_and_take(
        &mut ctx,
        id,
        &format!("before hotfix to {}", short_hash(&new)),
    )?;
    ctx.replica.hotfix(ctx.sender, id, &new)?;
    let hash = ctx
        .replica
        .canister(&id)
        .and_then(|r| r.module_hash.clone());
    note(format!(
        "Hotfixed canister {id}: the module is now {}; heap, globals and stable memory were kept and no hook ran. Snapshot {} holds the state from before.",
        hash.clone().unwrap_or_default(),
        hex::encode(&snap.id)
    ));
    let out = ctx.out;
    out.data(String::new, || {
        json!(HotfixReport {
            canister_id: id.to_text(),
            module_hash: hash,
            snapshot_id: hex::encode(&snap.id),
        })
    });
    close(ctx);
    Ok(())
}

#[cfg(test)]
mod tests;
