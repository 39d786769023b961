//! The safe paths of an upgrade as a user runs them: `drydock check`, `canister upgrade`
//! (snapshot, health check, rollback), `canister rehearse` and `canister hotfix`, on the test
//! canisters built from source (`scripts/build-test-canisters.sh`).

mod common;

use std::path::PathBuf;

use common::{test_canister, Drydock};

fn path(name: &str) -> String {
    test_canister(name)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// A WAT fixture compiled into the test's directory.
fn wat(dd: &Drydock, name: &str) -> String {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/wat")
        .join(format!("{name}.wat"));
    let wasm = wat::parse_file(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let out = dd.state().with_extension(format!("{name}.wasm"));
    std::fs::write(&out, wasm).expect("write wasm");
    out.to_str().expect("utf-8").to_string()
}

impl Drydock {
    fn installed(&self, wasm: &str, arg: Option<&str>) -> String {
        let id = self.create_canister();
        let mut args = vec!["canister", "install", &id, wasm];
        if let Some(a) = arg {
            args.extend(["--arg", a]);
        }
        self.run(&args).ok();
        id
    }

    fn call(&self, id: &str, method: &str, arg: &str) -> String {
        self.run(&["canister", "call", id, method, arg]).ok()
    }

    fn module_hash(&self, id: &str) -> String {
        let info = self.run(&["canister", "info", id, "--json"]).json();
        info["module_hash"]
            .as_str()
            .expect("module hash")
            .to_string()
    }

    fn snapshot_labels(&self, id: &str) -> Vec<Option<String>> {
        let list = self
            .run(&["canister", "snapshot", "list", id, "--json"])
            .json();
        list["snapshots"]
            .as_array()
            .expect("snapshots")
            .iter()
            .map(|s| s["label"].as_str().map(str::to_string))
            .collect()
    }
}

/// Runs `drydock check` with --json; returns the exit code and the report.
fn check_json(dd: &Drydock, old: &str, new: &str) -> (i32, serde_json::Value) {
    let run = dd.run(&["check", old, new, "--json"]);
    let code = run.code;
    let v = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {} / {}", run.stdout, run.stderr));
    (code, v)
}

fn findings(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["report"]["findings"]
        .as_array()
        .expect("findings")
        .clone()
}

fn errors(report: &serde_json::Value) -> Vec<serde_json::Value> {
    findings(report)
        .into_iter()
        .filter(|f| f["severity"] == "error")
        .collect()
}

#[test]
fn check_flags_breaking_candid_changes_with_path_and_hint() {
    let dd = Drydock::new();
    let shop = path("shop.wasm");
    let cases = [
        (
            "shop_required_field.wasm",
            "method `create`: argument 1, record field `owner`",
            "opt principal",
        ),
        (
            "shop_result_tag.wasm",
            "variant tag `notFound`",
            "argument position",
        ),
        ("shop_removed_method.wasm", "method `remove`", "keep"),
    ];
    for (new, path_part, hint_part) in cases {
        let (code, report) = check_json(&dd, &shop, &path(new));
        assert_eq!(code, 1, "{new}: a breaking change exits with 1");
        assert_eq!(report["breaking"], true);
        let errs = errors(&report);
        let hit = errs
            .iter()
            .find(|f| f["area"] == "candid" && f["path"].as_str().unwrap().contains(path_part))
            .unwrap_or_else(|| panic!("{new}: no Candid error at {path_part}: {errs:#?}"));
        assert!(
            hit["hint"].as_str().unwrap_or("").contains(hint_part),
            "{new}: hint {hit}"
        );
    }
    // The human report names the path and the hint too.
    let run = dd.run(&["check", &shop, &path("shop_required_field.wasm")]);
    assert_eq!(run.code, 1);
    assert!(run
        .stdout
        .contains("record field `owner`: added as non-optional `principal`"));
    assert!(run.stdout.contains("hint: make it `opt principal`"));
}

#[test]
fn check_passes_compatible_candid_changes() {
    let dd = Drydock::new();
    let shop = path("shop.wasm");
    for new in [
        "shop_opt_field.wasm",
        "shop_added_method.wasm",
        "shop_nat_to_int.wasm",
    ] {
        let (code, report) = check_json(&dd, &shop, &path(new));
        assert_eq!(code, 0, "{new}: {report:#}");
        assert_eq!(report["breaking"], false);
        assert!(errors(&report).is_empty());
        let checked = report["report"]["checked"].as_array().unwrap();
        assert!(checked.iter().any(|c| c == "candid:service"), "{checked:?}");
    }
}

/// The Motoko findings of a report (the stable-type actors also change their Candid: `get`
/// returns the variable, so Nat -> Int is a Candid break of its result, reported apart).
fn motoko_errors(report: &serde_json::Value) -> Vec<String> {
    let checked = report["report"]["checked"].as_array().unwrap();
    assert!(
        checked.iter().any(|c| c == "motoko:stable-types"),
        "the stable signatures were checked: {checked:?}"
    );
    errors(report)
        .into_iter()
        .filter(|f| f["area"] == "motoko")
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn check_applies_motoko_stable_type_rules() {
    let dd = Drydock::new();
    let (code, report) = check_json(&dd, &path("stable_int.wasm"), &path("stable_nat.wasm"));
    assert_eq!(code, 1, "Int -> Nat must be refused: {report:#}");
    assert_eq!(motoko_errors(&report), ["M0170"], "{report:#}");
    let (_, report) = check_json(&dd, &path("stable_nat.wasm"), &path("stable_int.wasm"));
    assert!(
        motoko_errors(&report).is_empty(),
        "Nat -> Int must pass: {report:#}"
    );
    let (code, report) = check_json(&dd, &path("stable_nat.wasm"), &path("stable_dropped.wasm"));
    assert_eq!(code, 1, "a dropped variable must be refused: {report:#}");
    assert_eq!(motoko_errors(&report), ["M0169"], "{report:#}");
    // The human report carries moc's code and the variable.
    let run = dd.run(&[
        "check",
        &path("stable_nat.wasm"),
        &path("stable_dropped.wasm"),
    ]);
    assert!(run.stdout.contains("M0169"), "{}", run.stdout);
    assert!(run.stdout.contains("`value`"), "{}", run.stdout);
}

#[test]
fn check_compares_a_deployed_canister_with_a_file() {
    let dd = Drydock::new();
    let id = dd.installed(&path("shop.wasm"), None);
    let (code, report) = check_json(&dd, &id, &path("shop_removed_method.wasm"));
    assert_eq!(code, 1);
    assert_eq!(report["old"], format!("canister {id}"));
    let (code, _) = check_json(&dd, &id, &path("shop_added_method.wasm"));
    assert_eq!(code, 0);
    let err = dd
        .run(&["check", "no-such-thing", &path("shop.wasm")])
        .fails(2);
    assert!(err.contains("neither a file nor a canister id"), "{err}");
}

#[test]
fn upgrade_refuses_a_breaking_change_unless_yes() {
    let dd = Drydock::new();
    let id = dd.installed(&path("shop.wasm"), None);
    let hash = dd.module_hash(&id);
    let err = dd
        .run(&[
            "canister",
            "upgrade",
            &id,
            &path("shop_removed_method.wasm"),
        ])
        .fails(1);
    assert!(err.contains("breaking change"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(dd.module_hash(&id), hash);
    assert!(
        dd.snapshot_labels(&id).is_empty(),
        "no snapshot before a refused upgrade"
    );
    dd.run(&[
        "canister",
        "upgrade",
        &id,
        &path("shop_removed_method.wasm"),
        "--yes",
    ])
    .ok();
    assert_ne!(dd.module_hash(&id), hash);
}

#[test]
fn upgrade_with_trapping_pre_upgrade_leaves_the_canister_unchanged_and_explains_the_way_out() {
    let dd = Drydock::new();
    let id = dd.installed(&path("brickable.wasm"), Some("(opt 5)"));
    assert_eq!(dd.call(&id, "add_many", "(4)"), "(4 : nat64)");
    // Small state: brickable passes the static checks and upgrades fine.
    let (code, _) = check_json(&dd, &id, &path("brickable_v2.wasm"));
    assert_eq!(code, 0);
    // The state grows past what pre_upgrade can serialise.
    dd.call(&id, "add_many", "(10)");
    let hash = dd.module_hash(&id);
    let err = dd
        .run(&["canister", "upgrade", &id, &path("brickable_v2.wasm")])
        .fails(1);
    assert!(err.contains("canister_pre_upgrade"), "{err}");
    assert!(err.contains("The canister is unchanged"), "{err}");
    assert!(err.contains("--skip-pre-upgrade"), "{err}");
    assert!(err.contains("drydock canister hotfix"), "{err}");
    assert!(err.contains("snapshot restore"), "{err}");
    assert_eq!(dd.module_hash(&id), hash);
    assert_eq!(dd.call(&id, "count", "()"), "(14 : nat64)");
    assert_eq!(dd.call(&id, "version", "()"), "(\"v1\")");
    // The automatic snapshot is there, labelled.
    let labels = dd.snapshot_labels(&id);
    assert_eq!(labels.len(), 1);
    assert!(labels[0]
        .as_deref()
        .unwrap()
        .starts_with("drydock auto: before upgrade"));
    // The raw install: the replica's reject as the IC gives it, drydock's advice after it.
    for _ in 0..2 {
        let err = dd
            .run(&[
                "canister",
                "install",
                &id,
                &path("brickable_v2.wasm"),
                "--mode",
                "upgrade",
            ])
            .fails(1);
        let (reject, hint) = err.split_once("hint:").expect("a hint line");
        assert!(reject.contains("canister_pre_upgrade trapped"), "{err}");
        assert!(
            !reject.contains("drydock"),
            "the reject is the replica's own: {err}"
        );
        assert!(hint.contains("--skip-pre-upgrade"), "{err}");
        assert_eq!(dd.module_hash(&id), hash);
    }
}

#[test]
fn upgrade_with_trapping_post_upgrade_rolls_back_and_the_old_module_serves() {
    let dd = Drydock::new();
    let id = dd.installed(&path("brickable.wasm"), None);
    dd.call(&id, "add", "(\"a\")");
    let hash = dd.module_hash(&id);
    let err = dd
        .run(&[
            "canister",
            "upgrade",
            &id,
            &path("brickable_post_trap.wasm"),
        ])
        .fails(1);
    assert!(err.contains("canister_post_upgrade"), "{err}");
    assert!(err.contains("The canister is unchanged"), "{err}");
    assert_eq!(dd.module_hash(&id), hash);
    assert_eq!(dd.call(&id, "version", "()"), "(\"v1\")");
    assert_eq!(dd.call(&id, "entry", "(0)"), "(opt \"a\")");
}

#[test]
fn upgrade_with_failing_health_check_is_rolled_back_to_the_snapshot() {
    let dd = Drydock::new();
    let id = dd.installed(&path("kv.wasm"), None);
    dd.call(&id, "put", "(\"k\", \"v\")");
    let hash = dd.module_hash(&id);
    let err = dd
        .run(&[
            "canister",
            "upgrade",
            &id,
            &path("kv_v2.wasm"),
            "--health-check",
            "version () => (\"v3\")",
        ])
        .fails(1);
    assert!(err.contains("health check"), "{err}");
    assert!(err.contains("replied (\"v2\"), expected (\"v3\")"), "{err}");
    assert!(err.contains("Rolled back"), "{err}");
    assert!(err.contains("back as it was"), "{err}");
    assert_eq!(dd.module_hash(&id), hash);
    assert_eq!(dd.call(&id, "version", "()"), "(\"v1\")");
    assert_eq!(dd.call(&id, "get", "(\"k\")"), "(opt \"v\")");

    // A passing health check (query and command) keeps the upgrade.
    dd.run(&[
        "canister",
        "upgrade",
        &id,
        &path("kv_v2.wasm"),
        "--health-check",
        "version () => (\"v2\")",
        "--health-check",
        "get (\"k\") => (opt \"v\")",
        "--health-check-cmd",
        "test -n \"$DRYDOCK_CANISTER_ID\"",
    ])
    .ok();
    assert_eq!(dd.call(&id, "version", "()"), "(\"v2\")");
}

#[test]
fn health_check_command_may_run_drydock_and_its_failure_rolls_back() {
    let dd = Drydock::new();
    let id = dd.installed(&path("kv.wasm"), None);
    let hash = dd.module_hash(&id);
    // The command runs drydock on the same state directory: the upgrade released it.
    let cmd = format!(
        "{} --state-dir \"$DRYDOCK_STATE_DIR\" canister call \"$DRYDOCK_CANISTER_ID\" version | grep -q v3",
        common::bin()
    );
    let err = dd
        .run(&[
            "canister",
            "upgrade",
            &id,
            &path("kv_v2.wasm"),
            "--health-check-cmd",
            &cmd,
        ])
        .fails(1);
    assert!(err.contains("health check command"), "{err}");
    assert!(err.contains("Rolled back"), "{err}");
    assert_eq!(dd.module_hash(&id), hash);
}

#[test]
fn automatic_snapshots_rotate_and_never_replace_a_users_snapshot() {
    let dd = Drydock::new();
    let id = dd.installed(&path("kv.wasm"), None);
    let kv = path("kv.wasm");
    let mine = dd.run(&["canister", "snapshot", "create", &id, "-q"]).ok();
    for _ in 0..7 {
        dd.run(&["canister", "upgrade", &id, &kv]).ok();
    }
    let labels = dd.snapshot_labels(&id);
    assert_eq!(
        labels.len(),
        6,
        "the user's + at most 5 automatic: {labels:?}"
    );
    assert_eq!(labels.iter().filter(|l| l.is_none()).count(), 1);
    let list = dd.run(&["canister", "snapshot", "list", &id, "-q"]).ok();
    assert!(
        list.lines().any(|l| l == mine),
        "the user's snapshot survives"
    );

    // At the IC's limit with only user snapshots, the upgrade refuses (before changing anything).
    let dd = Drydock::new();
    let id = dd.installed(&kv, None);
    for _ in 0..10 {
        dd.run(&["canister", "snapshot", "create", &id, "-q"]).ok();
    }
    let err = dd.run(&["canister", "upgrade", &id, &kv]).fails(1);
    assert!(err.contains("none of them is drydock's own"), "{err}");
    let out = dd.run(&["canister", "upgrade", &id, &kv, "--no-snapshot"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("--no-snapshot"),
        "it warns: {}",
        out.stderr
    );
}

#[test]
fn rehearse_catches_a_pre_upgrade_that_only_fails_on_the_second_upgrade() {
    let dd = Drydock::new();
    let id = dd.installed(&path("brickable.wasm"), None);
    dd.call(&id, "add_many", "(3)");
    let hash = dd.module_hash(&id);
    let info_before = dd.run(&["canister", "info", &id, "--json"]).json();
    let run = dd.run(&[
        "canister",
        "rehearse",
        &id,
        &path("brickable_c2.wasm"),
        "--json",
    ]);
    assert_eq!(run.code, 1, "stderr: {}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("json");
    assert_eq!(report["ok"], false);
    assert_eq!(report["original_untouched"], true);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["ok"], true, "the first upgrade works: {steps:#?}");
    let failed = steps.iter().find(|s| s["ok"] == false).unwrap();
    assert!(failed["step"].as_str().unwrap().starts_with("upgrade 2"));
    assert!(failed["error"]
        .as_str()
        .unwrap()
        .contains("brickable c2 pre_upgrade"));
    assert!(run.stderr.contains("next upgrade"), "{}", run.stderr);
    // The original is untouched and the scratch canister is gone.
    assert_eq!(dd.module_hash(&id), hash);
    let info_after = dd.run(&["canister", "info", &id, "--json"]).json();
    assert_eq!(info_before, info_after);
    let list = dd.run(&["canister", "list"]).ok();
    assert_eq!(list.lines().count(), 1, "{list}");
    // Without the rehearsal the upgrade itself succeeds: the bug waits for the next one.
    dd.run(&["canister", "upgrade", &id, &path("brickable_c2.wasm")])
        .ok();
    assert_eq!(dd.call(&id, "version", "()"), "(\"c2\")");
    assert_eq!(dd.call(&id, "count", "()"), "(3 : nat64)");
    let err = dd
        .run(&["canister", "upgrade", &id, &path("brickable_c2.wasm")])
        .fails(1);
    assert!(err.contains("brickable c2 pre_upgrade"), "{err}");
}

#[test]
fn rehearse_keep_leaves_a_working_clone() {
    let dd = Drydock::new();
    let id = dd.installed(&path("kv.wasm"), None);
    dd.call(&id, "put", "(\"k\", \"v\")");
    let report = dd
        .run(&[
            "canister",
            "rehearse",
            &id,
            &path("kv_v2.wasm"),
            "--keep",
            "--health-check",
            "get (\"k\") => (opt \"v\")",
            "--json",
        ])
        .json();
    assert_eq!(report["ok"], true, "{report:#}");
    let clone = report["clone_id"].as_str().unwrap();
    assert_eq!(dd.call(clone, "version", "()"), "(\"v2\")");
    assert_eq!(dd.call(clone, "get", "(\"k\")"), "(opt \"v\")");
    assert_eq!(dd.call(&id, "version", "()"), "(\"v1\")");
    // The clone is independent.
    dd.call(clone, "put", "(\"k\", \"changed\")");
    assert_eq!(dd.call(&id, "get", "(\"k\")"), "(opt \"v\")");
}

fn hook<'a>(step: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    step["stats"]["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {step:#}"))
}

#[test]
fn rehearse_reports_headroom_for_a_classic_motoko_canister() {
    let dd = Drydock::new();
    let id = dd.installed(&path("counter_classic.wasm"), None);
    let run = dd.run(&[
        "canister",
        "rehearse",
        &id,
        &path("counter_classic_v2.wasm"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("canister_pre_upgrade"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("canister_post_upgrade"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("of the 300 B limit"), "{}", run.stdout);
    assert!(run.stdout.contains("peak wasm memory"), "{}", run.stdout);
    assert!(run.stdout.contains("stable memory:"), "{}", run.stdout);
    let report = dd
        .run(&[
            "canister",
            "rehearse",
            &id,
            &path("counter_classic_v2.wasm"),
            "--json",
        ])
        .json();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for step in steps {
        let stats = &step["stats"];
        assert_eq!(stats["instruction_limit"], 300_000_000_000u64);
        let pre = hook(step, "canister_pre_upgrade");
        assert!(pre["instructions"].as_u64().unwrap() > 0);
        assert_eq!(pre["heap_limit"], 4u64 << 30, "classic Motoko is wasm32");
        assert!(pre["peak_heap"].as_u64().unwrap() > 0);
        assert!(
            hook(step, "canister_post_upgrade")["instructions"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}

#[test]
fn rehearse_reports_headroom_for_a_serde_canister_with_100_mb_of_state() {
    let dd = Drydock::new();
    let id = dd.installed(&path("serde_state.wasm"), None);
    for _ in 0..10 {
        dd.call(&id, "fill", "(10_000, 1_000)");
    }
    assert_eq!(dd.call(&id, "payload_bytes", "()"), "(100_000_000 : nat64)");
    let run = dd.run(&[
        "canister",
        "rehearse",
        &id,
        &path("serde_state_v2.wasm"),
        "--json",
        "--health-check",
        "count () => (100_000 : nat64)",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let step = &report["steps"][0];
    let pre = hook(step, "canister_pre_upgrade");
    let post = hook(step, "canister_post_upgrade");
    // Serialising 100 MB costs real instructions and heap, and writes it to stable memory.
    assert!(pre["instructions"].as_u64().unwrap() > 100_000_000, "{pre}");
    assert!(pre["peak_heap"].as_u64().unwrap() > 100_000_000, "{pre}");
    assert!(
        post["instructions"].as_u64().unwrap() > 100_000_000,
        "{post}"
    );
    assert!(step["stats"]["stable_after"].as_u64().unwrap() > 100_000_000);
    assert!(
        report["warnings"].as_array().unwrap().is_empty(),
        "{report:#}"
    );

    // With a tenth of the IC's budget the same upgrade passes but is flagged: post_upgrade
    // uses over half of it (seed 002's long-running upgrade, caught before it happens).
    let run = dd.run(&[
        "--install-instruction-limit",
        "3000000000",
        "canister",
        "rehearse",
        &id,
        &path("serde_state_v2.wasm"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("Warning: canister_post_upgrade (upgrade 1 (current -> new)) used"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("of the instruction limit"),
        "{}",
        run.stdout
    );
}

#[test]
fn hotfix_accepts_a_code_only_change_and_the_canister_then_upgrades() {
    let dd = Drydock::new();
    let v1 = wat(&dd, "hotfix_v1");
    let v2 = wat(&dd, "hotfix_v2");
    let id = dd.installed(&v1, None);
    dd.call(&id, "inc", "()");
    dd.call(&id, "inc", "()");
    let err = dd.run(&["canister", "upgrade", &id, &v2]).fails(1);
    assert!(err.contains("pre_upgrade: bug"), "{err}");
    let out = dd.run(&["canister", "hotfix", &id, &v2]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("Layout check passed"), "{}", out.stderr);
    // The heap was kept.
    assert_eq!(dd.call(&id, "get", "()"), "(2 : nat)");
    // One automatic snapshot from the failed upgrade, one from the hotfix.
    let labels = dd.snapshot_labels(&id);
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels[1].as_deref().unwrap().contains("before hotfix"));
    // Now the fixed pre_upgrade runs and the canister upgrades normally.
    dd.run(&["canister", "upgrade", &id, &v2]).ok();
}

#[test]
fn hotfix_is_refused_when_a_data_segment_differs() {
    let dd = Drydock::new();
    let v1 = wat(&dd, "hotfix_v1");
    let bad = wat(&dd, "hotfix_data_differs");
    let id = dd.installed(&v1, None);
    let hash = dd.module_hash(&id);
    let err = dd.run(&["canister", "hotfix", &id, &bad]).fails(1);
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains("data segment"), "{err}");
    assert_eq!(dd.module_hash(&id), hash);
    assert!(dd.snapshot_labels(&id).is_empty());
}

#[test]
fn hotfix_rescues_a_bricked_rust_canister_keeping_its_heap() {
    let dd = Drydock::new();
    let id = dd.installed(&path("brickable.wasm"), Some("(opt 5)"));
    dd.call(&id, "add_many", "(20)");
    dd.run(&["canister", "upgrade", &id, &path("brickable_v2.wasm")])
        .fails(1);
    dd.run(&["canister", "hotfix", &id, &path("brickable_hotfix.wasm")])
        .ok();
    assert_eq!(dd.call(&id, "version", "()"), "(\"hotfix\")");
    assert_eq!(dd.call(&id, "count", "()"), "(20 : nat64)");
    // The hotfixed pre_upgrade serialises the heap: the real fix goes in normally.
    dd.run(&["canister", "upgrade", &id, &path("brickable_v2.wasm")])
        .ok();
    assert_eq!(dd.call(&id, "count", "()"), "(20 : nat64)");
    assert_eq!(dd.call(&id, "restored_from", "()"), "(\"serialized\")");
}

#[test]
fn rehearsing_an_upgrade_past_a_trapping_pre_upgrade_advises_on_the_canister_itself_once() {
    let dd = Drydock::new();
    let id = dd.installed(&path("brickable.wasm"), Some("(opt 5)"));
    // Past the threshold brickable's pre_upgrade traps.
    dd.call(&id, "add_many", "(10)");
    let run = dd.run(&["canister", "rehearse", &id, &path("brickable_v2.wasm")]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let clone = run
        .stderr
        .split("into scratch canister ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no scratch canister named: {}", run.stderr))
        .to_string();
    let all = format!("{}{}", run.stdout, run.stderr);
    // The clone is deleted: no advice may name it.
    assert!(
        !all.contains(&format!("drydock canister install {clone}")),
        "advice names the deleted clone:\n{all}"
    );
    assert!(
        all.contains(&format!("Deleted scratch canister {clone}")),
        "{all}"
    );
    // The advice names the canister that was rehearsed, and the flag.
    assert!(
        run.stderr.contains(&format!(
            "drydock canister rehearse {id} {} --skip-pre-upgrade",
            path("brickable_v2.wasm")
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("drydock canister hotfix {id}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("canister {id} was not touched")),
        "{}",
        run.stderr
    );
    // The trap is reported once: in the report's FAILED line, not again in the error.
    assert_eq!(
        all.matches("canister_pre_upgrade trapped").count(),
        1,
        "{all}"
    );
    assert!(run.stdout.contains("FAILED upgrade 1"), "{}", run.stdout);

    // With --json the error carries the trap (stdout is the JSON alone), once.
    let run = dd.run(&[
        "canister",
        "rehearse",
        &id,
        &path("brickable_v2.wasm"),
        "--json",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("json");
    let error = report["steps"][0]["error"]
        .as_str()
        .expect("the step's error");
    assert!(error.contains("canister_pre_upgrade trapped"), "{error}");
    assert!(!error.contains("to upgrade anyway"), "{error}");
    assert_eq!(
        run.stderr.matches("canister_pre_upgrade trapped").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn rehearsal_report_says_which_memory_limit_each_hook_is_measured_against() {
    let dd = Drydock::new();
    // A new canister's wasm_memory_limit is 3 GiB, as on the IC.
    let id = dd.installed(&path("counter_classic.wasm"), None);
    let run = dd.run(&[
        "canister",
        "rehearse",
        &id,
        &path("counter_classic_v2.wasm"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = |hook: &str| {
        run.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(hook))
            .unwrap_or_else(|| panic!("no {hook} line in:\n{}", run.stdout))
    };
    let pre = line("canister_pre_upgrade");
    assert!(
        pre.contains(" of 4 GiB (") && pre.ends_with("wasm32 maximum)"),
        "{pre}"
    );
    let post = line("canister_post_upgrade");
    assert!(
        post.contains(" of 3 GiB (") && post.ends_with("wasm_memory_limit)"),
        "{post}"
    );
    assert!(
        run.stdout.contains("pre_upgrade is exempt from it"),
        "the report says why:\n{}",
        run.stdout
    );
}

#[test]
fn checking_a_file_that_is_not_wasm_says_so_in_one_line() {
    let dd = Drydock::new();
    let id = dd.installed(&path("kv.wasm"), None);
    let garbage = dd.state().with_extension("garbage.wasm");
    std::fs::write(&garbage, b"garbage, not a module").expect("write");
    let garbage = garbage.to_str().expect("utf-8").to_string();
    let kv = path("kv.wasm");
    for (old, new) in [
        (id.as_str(), garbage.as_str()),
        (garbage.as_str(), kv.as_str()),
    ] {
        let run = dd.run(&["check", old, new]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        let err = run.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "one line:\n{err}");
        assert!(
            err.contains(&format!("{garbage}: not a valid Wasm module")),
            "{err}"
        );
        assert!(
            err.contains("expected the magic \\0asm (00 61 73 6d)"),
            "{err}"
        );
        assert!(err.contains("found 67 61 72 62"), "the bytes found: {err}");
    }
    // `canister install` gives the replica's verdict, in one line too.
    let install = dd.run(&["canister", "install", &dd.create_canister(), &garbage]);
    assert_eq!(install.code, 1);
    assert_eq!(
        install.stderr.trim_end().lines().count(),
        1,
        "{}",
        install.stderr
    );
}
