//! `drydock canister upgrade --network URL` and `drydock check --network URL` against a second
//! `drydock start` standing for "the network", through ic-agent as mainnet would be reached:
//! check, stop, snapshot, install, start, health checks as queries, and the rollback.

mod common;

use common::{command, test_canister, Drydock, Run, Server};

fn path(name: &str) -> String {
    test_canister(name)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

fn module_hash(server: &Server, id: &str) -> String {
    let v = server.run(&["--json", "canister", "info", id]).json();
    v["module_hash"].as_str().expect("module hash").to_string()
}

fn status(server: &Server, id: &str) -> String {
    let v = server.run(&["--json", "canister", "status", id]).json();
    v["status"].as_str().expect("status").to_string()
}

fn upgrade(server: &Server, id: &str, wasm: &str, more: &[&str]) -> Run {
    let mut args = vec!["canister", "upgrade", id, wasm];
    args.extend(more);
    server.run(&args)
}

/// A local call, once the server has released the state directory.
fn call(d: &Drydock, id: &str, method: &str, arg: &str) -> String {
    d.run(&["canister", "call", id, method, arg]).ok()
}

// Issue 13, item 4: a good version passes; a failed health check is rolled back to the
// snapshot, and the module hash and the state are the ones from before.
#[test]
fn upgrade_over_the_network_keeps_a_good_version_and_rolls_back_a_failed_health_check() {
    let d = Drydock::new();
    let (id, _) = d.with_test_canister("kv.wasm");
    call(&d, &id, "put", r#"("k", "v")"#);
    let server = d.serve();
    let v1 = module_hash(&server, &id);
    for _ in 0..2 {
        let err = upgrade(
            &server,
            &id,
            &path("kv_v2.wasm"),
            &["--health-check", r#"version () => ("v3")"#],
        )
        .fails(1);
        assert!(err.contains(r#"replied ("v2"), expected ("v3")"#), "{err}");
        assert!(err.contains("Rolled back"), "{err}");
        assert!(err.contains("the module hash is as before"), "{err}");
        assert_eq!(module_hash(&server, &id), v1);
        assert_eq!(status(&server, &id), "running");
    }
    for _ in 0..2 {
        let run = upgrade(
            &server,
            &id,
            &path("kv_v2.wasm"),
            &[
                "--health-check",
                r#"version () => ("v2")"#,
                "--health-check",
                r#"get ("k") => (opt "v")"#,
                "--health-check-cmd",
                r#"test -n "$DRYDOCK_NETWORK" && test -n "$DRYDOCK_CANISTER_ID""#,
                "--json",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("Stopping canister"), "{}", run.stderr);
        assert!(run.stderr.contains("Health check passed"), "{}", run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
        assert_eq!(
            report["module_hash_before"].as_str().map(str::len),
            Some(64)
        );
        assert!(report["snapshot_id"].is_string(), "{report}");
        assert_eq!(status(&server, &id), "running");
    }
    assert_ne!(module_hash(&server, &id), v1);
    // drydock's own snapshots are listed with their labels over the network.
    let list = server
        .run(&["--json", "canister", "snapshot", "list", &id])
        .json();
    let snaps = list["snapshots"].as_array().expect("snapshots");
    assert_eq!(snaps.len(), 4, "{list}");
    assert!(
        snaps.iter().all(|s| s["label"]
            .as_str()
            .is_some_and(|l| l.starts_with("drydock auto"))),
        "{list}"
    );
    drop(server);
    assert_eq!(call(&d, &id, "version", "()"), r#"("v2")"#);
    assert_eq!(call(&d, &id, "get", r#"("k")"#), r#"(opt "v")"#);
}

// A trapping post_upgrade: the IC rolls the install back; the canister runs again, unchanged.
#[test]
fn upgrade_over_the_network_with_a_trapping_post_upgrade_leaves_the_canister_unchanged() {
    let d = Drydock::new();
    let (id, _) = d.with_test_canister("brickable.wasm");
    call(&d, &id, "add", r#"("a")"#);
    let server = d.serve();
    let before = module_hash(&server, &id);
    for _ in 0..2 {
        let err = upgrade(&server, &id, &path("brickable_post_trap.wasm"), &[]).fails(1);
        assert!(err.contains("canister_post_upgrade"), "{err}");
        assert!(err.contains("The canister is unchanged"), "{err}");
        assert_eq!(module_hash(&server, &id), before);
        assert_eq!(status(&server, &id), "running");
    }
    drop(server);
    assert_eq!(call(&d, &id, "version", "()"), r#"("v1")"#);
    assert_eq!(call(&d, &id, "entry", "(0)"), r#"(opt "a")"#);
}

// At the IC's limit of 10 snapshots, all of them a user's, drydock refuses before it stops
// the canister or changes anything.
#[test]
fn upgrade_over_the_network_refuses_when_a_user_holds_ten_snapshots() {
    let d = Drydock::new();
    let (id, _) = d.with_test_canister("kv.wasm");
    let server = d.serve();
    for _ in 0..10 {
        server
            .run(&["canister", "snapshot", "create", &id, "-q"])
            .ok();
    }
    let before = module_hash(&server, &id);
    for _ in 0..2 {
        let err = upgrade(&server, &id, &path("kv_v2.wasm"), &[]).fails(1);
        assert!(err.contains("none of them is drydock's own"), "{err}");
        assert!(!err.contains("Stopping"), "{err}");
        assert_eq!(module_hash(&server, &id), before);
        assert_eq!(status(&server, &id), "running");
    }
    let list = server
        .run(&["--json", "canister", "snapshot", "list", &id])
        .json();
    assert_eq!(list["snapshots"].as_array().map(Vec::len), Some(10));
}

// An upgrade killed after the install (here by its own health check command, kill -9): the
// commands it printed once the snapshot existed bring the canister back.
#[test]
fn an_interrupted_upgrade_over_the_network_is_undone_by_the_printed_commands() {
    let d = Drydock::new();
    let (id, _) = d.with_test_canister("kv.wasm");
    call(&d, &id, "put", r#"("k", "v")"#);
    let server = d.serve();
    let before = module_hash(&server, &id);
    let run = upgrade(
        &server,
        &id,
        &path("kv_v2.wasm"),
        &["--health-check-cmd", "kill -9 $PPID; sleep 2"],
    );
    assert_ne!(run.code, 0, "killed: {}", run.stderr);
    assert_ne!(
        module_hash(&server, &id),
        before,
        "the new module was installed"
    );
    let commands: Vec<Vec<String>> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("  drydock "))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(commands.len(), 3, "{}", run.stderr);
    for args in &commands {
        let out = Run::from(command(&d.state()).args(args).output().expect("run"));
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    }
    assert_eq!(module_hash(&server, &id), before);
    assert_eq!(status(&server, &id), "running");
    drop(server);
    assert_eq!(call(&d, &id, "version", "()"), r#"("v1")"#);
    assert_eq!(call(&d, &id, "get", r#"("k")"#), r#"(opt "v")"#);
}

// A Motoko EOP canister upgrades with no flags: drydock keeps its Wasm memory, as icp-cli
// does (the IC refuses an EOP upgrade without `wasm_memory_persistence`).
#[test]
fn a_motoko_eop_canister_upgrades_without_flags_locally_and_over_the_network() {
    let d = Drydock::new();
    let (id, _) = d.with_test_canister("counter_eop.wasm");
    call(&d, &id, "inc", "()");
    let v2 = path("counter_eop_v2.wasm");
    let run = d.run(&["canister", "upgrade", &id, &v2]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("wasm_memory_persistence = keep"),
        "{}",
        run.stderr
    );
    assert_eq!(call(&d, &id, "get", "()"), "(1 : nat)");
    let server = d.serve();
    for _ in 0..2 {
        let run = upgrade(
            &server,
            &id,
            &v2,
            &[
                "--health-check",
                r#"version () => ("v2")"#,
                "--health-check",
                "get () => (1 : nat)",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains("wasm_memory_persistence = keep"),
            "{}",
            run.stderr
        );
    }
}

fn check_json(run: Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {} / {}", run.stdout, run.stderr))
}

// `check --network ID NEW` finds what the local `check ID NEW` finds in the interfaces; the
// Wasm structure check is skipped, since the IC does not give out a module's bytes.
#[test]
fn check_over_the_network_finds_what_the_local_check_finds() {
    let d = Drydock::new();
    let (shop, _) = d.with_test_canister("shop.wasm");
    let (stable, _) = d.with_test_canister("stable_nat.wasm");
    let cases = [
        (&shop, "shop_removed_method.wasm", 1),
        (&shop, "shop_added_method.wasm", 0),
        (&stable, "stable_dropped.wasm", 1),
        // Nat -> Int passes Motoko's rules, and the Candid of `get` still breaks clients.
        (&stable, "stable_int.wasm", 1),
    ];
    let local: Vec<(i32, serde_json::Value)> = cases
        .iter()
        .map(|(id, new, _)| {
            let run = d.run(&["--json", "check", id, &path(new)]);
            (run.code, check_json(run))
        })
        .collect();
    let server = d.serve();
    for _ in 0..2 {
        for ((id, new, code), (local_code, local)) in cases.iter().zip(&local) {
            let run = server.run(&["--json", "check", id, &path(new)]);
            assert_eq!(run.code, *code, "{new}: {}", run.stderr);
            assert_eq!(*local_code, *code, "{new}");
            let remote = check_json(run);
            let interface_findings = |r: &serde_json::Value| -> Vec<serde_json::Value> {
                r["report"]["findings"]
                    .as_array()
                    .expect("findings")
                    .iter()
                    .filter(|f| f["area"] != "wasm")
                    .cloned()
                    .collect()
            };
            assert_eq!(
                interface_findings(&remote),
                interface_findings(local),
                "{new}"
            );
            assert_eq!(remote["breaking"], local["breaking"], "{new}");
            let skipped = remote["report"]["skipped"].to_string();
            assert!(
                skipped.contains("cannot be read over a network"),
                "{skipped}"
            );
        }
    }
}

// Seed 000: a new pre_upgrade that traps passes the first upgrade and bricks the next. The
// state exists only on "the network" (another state directory serves it); the rehearsal
// copies it into this state directory, finds the bug, and leaves the remote canister as it was.
#[test]
fn rehearse_over_the_network_finds_the_second_upgrade_bug_on_remote_state() {
    let remote = Drydock::new();
    let (id, principal) = remote.with_test_canister("brickable.wasm");
    call(&remote, &id, "add_many", "(3)");
    // A production setting the rehearsal must reproduce: a 2 GiB wasm_memory_limit.
    {
        let mut replica = common::open_when_unlocked(&remote.state());
        let controller = replica
            .canister(&principal)
            .expect("canister")
            .settings
            .controllers[0];
        let arg = candid::encode_one(ic_management_canister_types::UpdateSettingsArgs {
            canister_id: principal,
            settings: ic_management_canister_types::CanisterSettings {
                wasm_memory_limit: Some(candid::Nat::from(2u64 << 30)),
                ..Default::default()
            },
            sender_canister_version: None,
        })
        .expect("encode");
        replica
            .update(
                controller,
                drydock_replica::MANAGEMENT_CANISTER,
                "update_settings",
                &arg,
            )
            .expect("update_settings");
    }
    // The same identity on this machine: its key file, not the remote state.
    let here = Drydock::new();
    let keys = here.state().join("identities");
    std::fs::create_dir_all(&keys).expect("mkdir");
    for entry in std::fs::read_dir(remote.state().join("identities")).expect("identities") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), keys.join(entry.file_name())).expect("copy key");
    }
    let server = remote.serve();
    let before = module_hash(&server, &id);
    let info_before = server.run(&["--json", "canister", "info", &id]).json();
    for _ in 0..2 {
        let run = Run::from(
            command(&here.state())
                .args([
                    "--network",
                    &server.url,
                    "--json",
                    "canister",
                    "rehearse",
                    &id,
                ])
                .arg(path("brickable_c2.wasm"))
                .output()
                .expect("run drydock"),
        );
        assert_eq!(run.code, 1, "{}", run.stderr);
        let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("json");
        let steps = report["steps"].as_array().expect("steps");
        assert_eq!(steps[0]["ok"], true, "{report:#}");
        // The copy upgraded under the production canister's limit, not the local default.
        let post = steps[0]["stats"]["hooks"]
            .as_array()
            .expect("hooks")
            .iter()
            .find(|h| h["name"] == "canister_post_upgrade")
            .expect("post_upgrade measured");
        assert_eq!(post["heap_limit"], 2u64 << 30, "{post}");
        let failed = steps
            .iter()
            .find(|s| s["ok"] == false)
            .expect("a failed step");
        assert!(
            failed["step"].as_str().unwrap().starts_with("upgrade 2"),
            "{report:#}"
        );
        assert!(
            failed["error"]
                .as_str()
                .unwrap()
                .contains("brickable c2 pre_upgrade"),
            "{report:#}"
        );
        // The remote canister: same module, running, no snapshot left, same info.
        assert_eq!(module_hash(&server, &id), before);
        assert_eq!(status(&server, &id), "running");
        let list = server
            .run(&["--json", "canister", "snapshot", "list", &id])
            .json();
        assert_eq!(
            list["snapshots"].as_array().map(Vec::len),
            Some(0),
            "{list}"
        );
        assert_eq!(
            server.run(&["--json", "canister", "info", &id]).json(),
            info_before
        );
        // The local copy is gone again.
        assert_eq!(here.run(&["canister", "list"]).ok(), "");
    }
    let rehearse = |extra: &[&str]| {
        Run::from(
            command(&here.state())
                .args(["--network", &server.url, "canister", "rehearse", &id])
                .arg(path("brickable_c2.wasm"))
                .args(extra)
                .output()
                .expect("run drydock"),
        )
    };
    let snapshots = || {
        server
            .run(&["canister", "snapshot", "list", &id, "-q"])
            .ok()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // --keep-snapshot leaves the snapshot it took; --snapshot rehearses from it, and keeps it.
    let run = rehearse(&["--keep-snapshot"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("Started canister"), "{}", run.stderr);
    let kept = snapshots();
    assert_eq!(kept.len(), 1, "{kept:?}");
    for _ in 0..2 {
        let run = rehearse(&["--snapshot", &kept[0]]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("rehearsal failed at upgrade 2"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("Stopping canister"), "{}", run.stderr);
        assert_eq!(snapshots(), kept);
    }
    let err = rehearse(&["--snapshot", "00ff"]).fails(2);
    assert!(err.contains("has no snapshot 00ff"), "{err}");
    // They are for a network only.
    let err = here
        .run(&["canister", "rehearse", &id, "x.wasm", "--keep-snapshot"])
        .fails(2);
    assert!(err.contains("go with --network"), "{err}");
    assert_eq!(module_hash(&server, &id), before);
    assert_eq!(status(&server, &id), "running");
    drop(server);
    assert_eq!(call(&remote, &id, "count", "()"), "(3 : nat64)");
}
