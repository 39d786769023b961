//! The local safe paths in process: `canister upgrade` on a state directory, every branch of
//! it (a good upgrade, a refusal before anything changes, a rejected install, a failed health
//! check or command and its rollback), with small hand-written modules; and the headroom
//! report.

use std::path::{Path, PathBuf};

use ic_management_canister_types::{
    CanisterIdRecord, CanisterSettings, ProvisionalCreateCanisterWithCyclesArgs, Snapshot,
    TakeCanisterSnapshotArgs,
};

use super::*;
use crate::auto_snapshot::AUTO_LABEL;
use crate::cli::{GlobalArgs, HealthArgs};
use crate::install::Flags;

#[test]
fn headroom_warns_above_half_of_a_limit() {
    use drydock_replica::{HookModule, HookStats};
    let hook = |name: &str, instructions, peak_heap| HookStats {
        name: name.into(),
        module: HookModule::Old,
        instructions,
        peak_heap,
        heap_limit: 4 << 30,
    };
    let stats = InstallStats {
        mode: "upgrade".into(),
        hooks: vec![
            hook("canister_pre_upgrade", 10, 3 << 30),
            hook("canister_post_upgrade", 160_000_000_000, 1 << 20),
        ],
        instruction_limit: 300_000_000_000,
        stable_before: 1 << 20,
        stable_after: 3 << 20,
        heap_after: 1 << 20,
    };
    let (text, warnings) = headroom(&stats, "upgrade 1", 0);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("canister_pre_upgrade") && warnings[0].contains("75 %"));
    assert!(warnings[0].contains("Wasm memory limit"));
    assert!(warnings[1].contains("canister_post_upgrade") && warnings[1].contains("53 %"));
    assert!(text.contains("(+2 MiB)"), "{text}");
    let calm = InstallStats {
        hooks: vec![hook("canister_pre_upgrade", 10, 1 << 30)],
        ..stats
    };
    assert!(headroom(&calm, "upgrade 1", 0).1.is_empty());
}

#[test]
fn headroom_says_which_memory_limit_applies_to_which_hook() {
    use drydock_replica::{HookModule, HookStats};
    let hook = |name: &str, module, heap_limit| HookStats {
        name: name.into(),
        module,
        instructions: 1,
        peak_heap: 1 << 20,
        heap_limit,
    };
    let stats = InstallStats {
        mode: "upgrade".into(),
        hooks: vec![
            hook("canister_pre_upgrade", HookModule::Old, 4 << 30),
            hook("canister_post_upgrade", HookModule::New, 3 << 30),
        ],
        instruction_limit: 300_000_000_000,
        stable_before: 0,
        stable_after: 0,
        heap_after: 1 << 20,
    };
    let (text, _) = headroom(&stats, "upgrade 1", 3 << 30);
    let line = |hook: &str| {
        text.lines()
            .find(|l| l.contains(hook))
            .unwrap_or_else(|| panic!("no {hook} in {text}"))
            .to_string()
    };
    assert!(
        line("canister_pre_upgrade").contains("of 4 GiB ("),
        "{text}"
    );
    assert!(
        line("canister_pre_upgrade").ends_with("wasm32 maximum)"),
        "{text}"
    );
    assert!(
        line("canister_post_upgrade").contains("of 3 GiB ("),
        "{text}"
    );
    assert!(
        line("canister_post_upgrade").ends_with("wasm_memory_limit)"),
        "{text}"
    );
    assert!(text.contains("pre_upgrade is exempt from it"), "{text}");
    // Without a wasm_memory_limit every hook has the module's maximum, and no note.
    let stats = InstallStats {
        hooks: vec![
            hook("canister_pre_upgrade", HookModule::Old, 4 << 30),
            hook("canister_post_upgrade", HookModule::New, 4 << 30),
        ],
        ..stats
    };
    let (text, _) = headroom(&stats, "upgrade 1", 0);
    assert_eq!(text.matches("wasm32 maximum)").count(), 2, "{text}");
    assert!(!text.contains("exempt"), "{text}");
}

#[test]
fn numbers_group_by_thousands() {
    assert_eq!(group(300_000_000_000), "300_000_000_000");
    assert_eq!(group(12), "12");
    assert_eq!(billions(300_000_000_000), "300 B");
}

/// A canister module: `version` answers `("NAME")`, `inc` counts up in the heap and `count`
/// answers the count (as a `nat8`, Candid type `nat8`); `pre_upgrade` and `post_upgrade` trap
/// when told to. `service`, when given, goes into an `icp:public candid:service` section.
fn module(
    dir: &Path,
    name: &str,
    trap_pre: bool,
    trap_post: bool,
    service: Option<&str>,
) -> PathBuf {
    assert_eq!(name.len(), 2, "names are two letters");
    let trap = |yes: bool, what: &str| {
        if yes {
            format!("(call $trap (i32.const 300) (i32.const {}))", what.len())
        } else {
            String::new()
        }
    };
    let wat = format!(
        r#"(module
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "DIDL\00\01\71\02{name}")
  (data (i32.const 100) "DIDL\00\01\7b\00")
  (data (i32.const 120) "DIDL\00\00")
  (data (i32.const 300) "hook")
  (func (export "canister_query version")
    (call $append (i32.const 0) (i32.const 10)) (call $reply))
  (func (export "canister_update inc")
    (i32.store (i32.const 200) (i32.add (i32.load (i32.const 200)) (i32.const 1)))
    (call $append (i32.const 120) (i32.const 6)) (call $reply))
  (func (export "canister_query count")
    (i32.store8 (i32.const 107) (i32.load (i32.const 200)))
    (call $append (i32.const 100) (i32.const 8)) (call $reply))
  (func (export "canister_pre_upgrade") {pre})
  (func (export "canister_post_upgrade") {post}))"#,
        pre = trap(trap_pre, "hook"),
        post = trap(trap_post, "hook"),
    );
    let mut wasm = wat::parse_str(&wat).expect("valid WAT");
    if let Some(text) = service {
        use drydock_compat::metadata::{write, Visibility};
        wasm = write(&wasm, "candid:service", Visibility::Public, text.as_bytes())
            .expect("the candid:service section");
    }
    let path = dir.join(format!(
        "{name}{}{}{}.wasm",
        if trap_pre { "-pre" } else { "" },
        if trap_post { "-post" } else { "" },
        if service.is_some() { "-did" } else { "" }
    ));
    std::fs::write(&path, wasm).expect("write the module");
    path
}

/// A state directory with one canister running module `v1`, whose count is 2.
struct Local {
    dir: tempfile::TempDir,
    global: GlobalArgs,
    id: Principal,
}

impl Local {
    fn new(v1: impl FnOnce(&Path) -> PathBuf) -> Local {
        let dir = tempfile::tempdir().expect("tempdir");
        let global = crate::cli::parse_from(
            [
                "drydock",
                "--state-dir",
                &dir.path().display().to_string(),
                "identity",
                "list",
            ]
            .map(String::from)
            .to_vec(),
        )
        .global;
        std::fs::create_dir(dir.path().join("modules")).expect("mkdir");
        let wasm = read_wasm(&v1(&dir.path().join("modules"))).expect("v1");
        let mut ctx = open(&global).expect("open");
        let created: CanisterIdRecord = ctx
            .management(
                "provisional_create_canister_with_cycles",
                (ProvisionalCreateCanisterWithCyclesArgs {
                    amount: None,
                    settings: Some(CanisterSettings {
                        controllers: Some(vec![ctx.sender]),
                        ..CanisterSettings::default()
                    }),
                    specified_id: None,
                    sender_canister_version: None,
                },),
            )
            .expect("create");
        let id = created.canister_id;
        let flags = Flags {
            mode: InstallMode::Install,
            skip_pre_upgrade: false,
            wasm_memory_persistence: None,
        };
        crate::install::send(
            &mut ctx,
            install_code_args(id, wasm, flags, None).expect("args"),
        )
        .expect("install v1");
        for _ in 0..2 {
            ctx.replica
                .update(ctx.sender, id, "inc", b"DIDL\0\0")
                .expect("inc");
        }
        close(ctx);
        Local { dir, global, id }
    }

    /// Where the test's modules are written.
    fn path(&self) -> PathBuf {
        self.dir.path().join("modules")
    }

    fn args(&self, wasm: PathBuf, checks: &[&str], cmd: Option<&str>) -> UpgradeArgs {
        UpgradeArgs {
            canister: self.id.to_text(),
            wasm,
            arg: None,
            skip_pre_upgrade: false,
            wasm_memory_persistence: None,
            drain_timeout: 5,
            health: HealthArgs {
                checks: checks.iter().map(|c| c.to_string()).collect(),
                health_check_cmd: cmd.map(str::to_string),
            },
        }
    }

    fn upgrade(&self, u: UpgradeArgs, yes: bool, no_snapshot: bool) -> Result<(), CliError> {
        upgrade(u, yes, no_snapshot, &self.global)
    }

    /// What the canister answers to `method`, as Candid bytes.
    fn query(&self, method: &str) -> Vec<u8> {
        let mut ctx = open(&self.global).expect("open");
        let reply = ctx.replica.query(ctx.sender, self.id, method, b"DIDL\0\0");
        close(ctx);
        reply.expect("query")
    }

    fn version(&self) -> String {
        candid::decode_one(&self.query("version")).expect("text")
    }

    fn count(&self) -> u8 {
        candid::decode_one(&self.query("count")).expect("nat8")
    }

    fn hashes(&self) -> StateHashes {
        let ctx = open(&self.global).expect("open");
        let h = ctx.replica.state_hashes(&self.id).expect("hashes");
        close(ctx);
        h
    }

    fn status(&self) -> drydock_replica::CanisterStatus {
        let ctx = open(&self.global).expect("open");
        let s = ctx.replica.canister(&self.id).expect("canister").status;
        close(ctx);
        s
    }

    /// The canister's snapshots, and which of them are drydock's own.
    fn snapshots(&self) -> (Vec<Snapshot>, usize) {
        use crate::transport::Transport;
        let mut ctx = open(&self.global).expect("open");
        let list: Vec<Snapshot> = ctx
            .management(
                "list_canister_snapshots",
                (CanisterIdRecord {
                    canister_id: self.id,
                },),
            )
            .expect("list");
        let labels = ctx.labels(self.id);
        let autos = labels
            .values()
            .filter(|l| l.starts_with(AUTO_LABEL))
            .count();
        close(ctx);
        (list, autos)
    }
}

fn v1(dir: &Path) -> PathBuf {
    module(dir, "v1", false, false, None)
}

const HEALTHY: &str = "version () => (\"v2\")";

#[test]
fn a_local_upgrade_checks_snapshots_installs_and_passes_its_health_checks_twice() {
    let c = Local::new(v1);
    let v2 = module(&c.path(), "v2", false, false, None);
    for round in 1..=2 {
        c.upgrade(c.args(v2.clone(), &[HEALTHY], Some("true")), false, false)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(c.version(), "v2");
        assert_eq!(c.status(), drydock_replica::CanisterStatus::Running);
        let (list, autos) = c.snapshots();
        assert_eq!(
            (list.len(), autos),
            (round, round),
            "one automatic snapshot per upgrade"
        );
    }
    // The heap went with the old module (an upgrade without EOP), as on the IC.
    assert_eq!(c.count(), 0);
}

#[test]
fn a_failed_local_health_check_loads_the_snapshot_and_the_canister_is_as_before() {
    let c = Local::new(v1);
    // v3 is up but answers the wrong version.
    let v3 = module(&c.path(), "v3", false, false, None);
    let before = c.hashes();
    for round in 1..=2 {
        let err = c
            .upgrade(c.args(v3.clone(), &[HEALTHY], None), false, false)
            .expect_err("the health check fails");
        let text = err.to_string();
        assert!(
            text.contains("health check") && text.contains("Rolled back"),
            "{text}"
        );
        assert!(
            text.contains("the canister is back as it was"),
            "round {round}: {text}"
        );
        assert_eq!(c.version(), "v1");
        assert_eq!(c.count(), 2, "the heap is the one from before the upgrade");
        assert!(same_state(&before, &c.hashes()), "round {round}");
        assert_eq!(c.status(), drydock_replica::CanisterStatus::Running);
    }
}

#[test]
fn a_failed_local_health_check_command_rolls_back_too() {
    let c = Local::new(v1);
    let v2 = module(&c.path(), "v2", false, false, None);
    let err = c
        .upgrade(c.args(v2, &[HEALTHY], Some("exit 3")), false, false)
        .expect_err("the command fails");
    assert!(err.to_string().contains("Rolled back"), "{err}");
    assert_eq!((c.version(), c.count()), ("v1".to_string(), 2));
}

#[test]
fn a_failed_local_health_check_without_a_snapshot_keeps_the_new_module() {
    let c = Local::new(v1);
    let v3 = module(&c.path(), "v3", false, false, None);
    let err = c
        .upgrade(c.args(v3, &[HEALTHY], None), false, true)
        .expect_err("the health check fails");
    assert!(err.to_string().contains("No snapshot was taken"), "{err}");
    assert_eq!(c.version(), "v3");
    assert_eq!(c.snapshots().0.len(), 0);
}

#[test]
fn a_trapping_local_post_upgrade_leaves_the_canister_unchanged_and_running() {
    let c = Local::new(v1);
    let bad = module(&c.path(), "v2", false, true, None);
    let before = c.hashes();
    for _ in 0..2 {
        let err = c
            .upgrade(c.args(bad.clone(), &[HEALTHY], None), false, false)
            .expect_err("post_upgrade traps");
        let text = err.to_string();
        assert!(text.contains("The canister is unchanged"), "{text}");
        assert_eq!(err.exit_code(), 1);
        assert_eq!(c.status(), drydock_replica::CanisterStatus::Running);
        assert_eq!((c.version(), c.count()), ("v1".to_string(), 2));
        assert!(same_state(&before, &c.hashes()));
    }
}

#[test]
fn a_trapping_local_pre_upgrade_says_how_to_get_out() {
    let c = Local::new(|d| module(d, "v1", true, false, None));
    let v2 = module(&c.path(), "v2", false, false, None);
    let err = c
        .upgrade(c.args(v2, &[], None), false, false)
        .expect_err("pre_upgrade traps");
    let text = err.to_string();
    assert!(text.contains("--skip-pre-upgrade"), "{text}");
    assert!(text.contains("canister hotfix"), "{text}");
    assert!(text.contains("snapshot restore"), "{text}");
    assert_eq!(c.version(), "v1");
}

#[test]
fn a_local_breaking_change_is_refused_before_anything_changes_unless_yes() {
    let c = Local::new(|d| {
        module(
            d,
            "v1",
            false,
            false,
            Some("service : { version : () -> (text) query }"),
        )
    });
    let breaking = module(
        &c.path(),
        "v2",
        false,
        false,
        Some("service : { version : () -> (nat) query }"),
    );
    let before = c.hashes();
    let err = c
        .upgrade(c.args(breaking.clone(), &[], None), false, false)
        .expect_err("breaking");
    assert!(err.to_string().contains("breaking change"), "{err}");
    assert_eq!(before, c.hashes(), "nothing changed, not even the version");
    assert_eq!(c.snapshots().0.len(), 0);
    c.upgrade(c.args(breaking, &[], None), true, false)
        .expect("--yes upgrades");
    assert_eq!(c.version(), "v2");
}

#[test]
fn a_user_s_ten_local_snapshots_refuse_the_upgrade_before_anything_changes() {
    let c = Local::new(v1);
    {
        let mut ctx = open(&c.global).expect("open");
        for _ in 0..drydock_replica::MAX_SNAPSHOTS_PER_CANISTER {
            let _: Snapshot = ctx
                .management(
                    "take_canister_snapshot",
                    (TakeCanisterSnapshotArgs {
                        canister_id: c.id,
                        replace_snapshot: None,
                        uninstall_code: None,
                        sender_canister_version: None,
                    },),
                )
                .expect("take");
        }
        close(ctx);
    }
    let before = c.hashes();
    let v2 = module(&c.path(), "v2", false, false, None);
    for _ in 0..2 {
        let err = c
            .upgrade(c.args(v2.clone(), &[HEALTHY], None), false, false)
            .expect_err("refused");
        assert!(
            err.to_string().contains("none of them is drydock's own"),
            "{err}"
        );
        assert_eq!(before, c.hashes());
        assert_eq!(c.status(), drydock_replica::CanisterStatus::Running);
    }
    // --no-snapshot goes ahead without one.
    c.upgrade(c.args(v2, &[HEALTHY], None), false, true)
        .expect("upgrades without a snapshot");
    assert_eq!(c.version(), "v2");
}

#[test]
fn a_stopped_canister_is_upgraded_locally_and_left_stopped() {
    let c = Local::new(v1);
    {
        let mut ctx = open(&c.global).expect("open");
        ctx.management::<_, ()>("stop_canister", (CanisterIdRecord { canister_id: c.id },))
            .expect("stop");
        close(ctx);
    }
    let v2 = module(&c.path(), "v2", false, false, None);
    c.upgrade(c.args(v2, &[], None), false, false)
        .expect("upgrades");
    assert_eq!(c.status(), drydock_replica::CanisterStatus::Stopped);
}

/// The canister ids of the state directory.
fn canister_ids(c: &Local) -> Vec<Principal> {
    let ctx = open(&c.global).expect("open");
    let ids = ctx.replica.canister_ids();
    close(ctx);
    ids
}

#[test]
fn a_local_rehearsal_finds_the_new_module_s_trapping_pre_upgrade_and_leaves_the_canister() {
    let c = Local::new(v1);
    // NEW upgrades fine from v1, but its own pre_upgrade traps: the next upgrade would fail.
    let new = module(&c.path(), "v2", true, false, None);
    let before = c.hashes();
    let ids = canister_ids(&c);
    for _ in 0..2 {
        let err = rehearse(c.args(new.clone(), &[HEALTHY], None), false, &c.global)
            .expect_err("the second upgrade fails");
        let text = err.to_string();
        assert!(text.contains("the rehearsal failed at upgrade 2"), "{text}");
        assert!(text.contains("was not touched"), "{text}");
        assert!(
            text.contains("the canister would be stuck at the next upgrade"),
            "{text}"
        );
        assert_eq!(before, c.hashes(), "the rehearsed canister is as it was");
        assert_eq!(canister_ids(&c), ids, "the scratch canister was deleted");
    }
}

#[test]
fn a_local_rehearsal_passes_and_a_failed_health_check_fails_it() {
    let c = Local::new(v1);
    let good = module(&c.path(), "v2", false, false, None);
    let before = c.hashes();
    for _ in 0..2 {
        rehearse(c.args(good.clone(), &[HEALTHY], None), false, &c.global).expect("passes");
        assert_eq!(before, c.hashes());
    }
    let wrong = module(&c.path(), "v3", false, false, None);
    let err = rehearse(c.args(wrong, &[HEALTHY], None), false, &c.global)
        .expect_err("the health check fails");
    assert!(
        err.to_string()
            .contains("the rehearsal failed at health check after upgrade 1"),
        "{err}"
    );
    assert_eq!(before, c.hashes());
    assert_eq!(c.version(), "v1");
}
