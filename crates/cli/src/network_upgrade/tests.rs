//! Every branch of `canister upgrade --network`, in process, against a fake network: which
//! management calls run, in which order, and what the canister is left with.

use std::collections::HashMap;
use std::path::PathBuf;

use candid::Principal;
use ic_management_canister_types::{
    CanisterInstallMode, InstallCodeArgs, Snapshot, TakeCanisterSnapshotArgs, WasmMemoryPersistence,
};

use super::*;
use crate::auto_snapshot::AUTO_LABEL;
use crate::cli::HealthArgs;
use crate::transport::CanisterInfo;

/// One canister on a pretend network. Modules are named by their "hash" (`v1`, `v2`).
struct Net {
    running: bool,
    module: Vec<u8>,
    snapshots: Vec<(Vec<u8>, u64, Vec<u8>)>,
    labels: HashMap<Vec<u8>, String>,
    metadata: HashMap<String, Vec<u8>>,
    /// `install_code` is rejected with this message.
    install_error: Option<String>,
    /// ... and changes the module anyway (a broken replica).
    install_changes_module: bool,
    /// What every query answers.
    reply: Vec<u8>,
    /// The management methods called, in order.
    log: Vec<String>,
    installed: Option<InstallCodeArgs>,
    clock: u64,
}

impl Net {
    fn new() -> Net {
        Net {
            running: true,
            module: b"v1".to_vec(),
            snapshots: Vec::new(),
            labels: HashMap::new(),
            metadata: HashMap::new(),
            install_error: None,
            install_changes_module: false,
            reply: candid::encode_one("v2").expect("encode"),
            log: Vec::new(),
            installed: None,
            clock: 100,
        }
    }

    fn with_snapshots(mut self, users: usize, drydock_s: usize) -> Net {
        for n in 0..users + drydock_s {
            let id = vec![n as u8];
            if n >= users {
                self.labels
                    .insert(id.clone(), format!("{AUTO_LABEL}: old {n}"));
            }
            self.snapshots.push((id, n as u64, b"v0".to_vec()));
        }
        self
    }

    fn changed_anything(&self) -> bool {
        self.log.iter().any(|m| {
            matches!(
                m.as_str(),
                "stop_canister" | "take_canister_snapshot" | "install_code" | "start_canister"
            )
        })
    }
}

fn ok<T: candid::CandidType>(v: T) -> Result<Vec<u8>, CliError> {
    Ok(candid::encode_one(v).expect("encode"))
}

impl Transport for Net {
    fn management_raw(
        &mut self,
        method: &str,
        _canister: Principal,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        self.log.push(method.to_string());
        match method {
            "canister_status" => ok(Status {
                status: if self.running {
                    CanisterStatusType::Running
                } else {
                    CanisterStatusType::Stopped
                },
            }),
            "stop_canister" => {
                self.running = false;
                ok(())
            }
            "start_canister" => {
                self.running = true;
                ok(())
            }
            "list_canister_snapshots" => ok(self
                .snapshots
                .iter()
                .map(|(id, at, _)| Snapshot {
                    id: id.clone(),
                    taken_at_timestamp: *at,
                    total_size: 1,
                })
                .collect::<Vec<_>>()),
            "install_code" => {
                let args: InstallCodeArgs = candid::decode_one(&arg).expect("install args");
                self.installed = Some(args);
                if let Some(message) = &self.install_error {
                    if self.install_changes_module {
                        self.module = b"v2".to_vec();
                    }
                    return Err(CliError::NetworkRejected {
                        reject_code: 5,
                        error_code: Some("IC0503".into()),
                        message: message.clone(),
                    });
                }
                self.module = b"v2".to_vec();
                ok(())
            }
            "load_canister_snapshot" => {
                let args: ic_management_canister_types::LoadCanisterSnapshotArgs =
                    candid::decode_one(&arg).expect("load args");
                let snap = self
                    .snapshots
                    .iter()
                    .find(|s| s.0 == args.snapshot_id)
                    .expect("a snapshot that exists");
                assert!(!self.running, "loaded into a stopped canister");
                self.module = snap.2.clone();
                ok(())
            }
            other => panic!("unexpected management call {other}"),
        }
    }

    fn management_query_raw(
        &mut self,
        method: &str,
        _canister: Principal,
        _arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        panic!("unexpected management query {method}")
    }

    fn metadata(&mut self, _canister: Principal, name: &str) -> Result<Option<Vec<u8>>, CliError> {
        Ok(self.metadata.get(name).cloned())
    }

    fn query(&mut self, _c: Principal, _m: &str, _a: Vec<u8>) -> Result<Vec<u8>, CliError> {
        Ok(self.reply.clone())
    }

    fn update(&mut self, _c: Principal, m: &str, _a: Vec<u8>) -> Result<Vec<u8>, CliError> {
        panic!("unexpected update call {m}")
    }

    fn take_labelled_snapshot(
        &mut self,
        args: TakeCanisterSnapshotArgs,
        label: String,
    ) -> Result<Snapshot, CliError> {
        self.log.push("take_canister_snapshot".into());
        if let Some(old) = &args.replace_snapshot {
            self.snapshots.retain(|s| &s.0 != old);
        }
        self.clock += 1;
        let id = vec![0xaa, self.clock as u8];
        self.snapshots
            .push((id.clone(), self.clock, self.module.clone()));
        self.labels.insert(id.clone(), label);
        Ok(Snapshot {
            id,
            taken_at_timestamp: self.clock,
            total_size: 1,
        })
    }

    fn labels(&mut self, _canister: Principal) -> HashMap<Vec<u8>, String> {
        self.labels.clone()
    }

    fn cli_flags(&self) -> String {
        " --network http://net".into()
    }

    fn info(&mut self, _canister: Principal) -> Result<CanisterInfo, CliError> {
        Ok(CanisterInfo {
            controllers: Vec::new(),
            module_hash: Some(self.module.clone()),
            history: None,
        })
    }
}

/// A Wasm module with these `icp:public` sections.
fn module(sections: &[(&str, &str)]) -> PathBuf {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    for (name, data) in sections {
        let name = format!("icp:public {name}");
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(data.as_bytes());
        m.push(0);
        m.push(body.len() as u8);
        m.extend(body);
    }
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let path = dir.join("new.wasm");
    std::fs::write(&path, m).expect("write");
    path
}

fn args(checks: &[&str], cmd: Option<&str>) -> UpgradeArgs {
    UpgradeArgs {
        canister: Principal::from_slice(&[7]).to_text(),
        wasm: module(&[]),
        arg: None,
        skip_pre_upgrade: false,
        wasm_memory_persistence: None,
        drain_timeout: 60,
        health: HealthArgs {
            checks: checks.iter().map(|c| c.to_string()).collect(),
            health_check_cmd: cmd.map(str::to_string),
        },
    }
}

fn run(net: &mut Net, u: &UpgradeArgs) -> Result<UpgradeReport, CliError> {
    upgrade(net, "http://net", u, false, false)
}

#[test]
fn a_good_upgrade_stops_snapshots_installs_starts_and_checks() {
    let mut net = Net::new();
    for round in 0..2 {
        net.log.clear();
        let report =
            run(&mut net, &args(&["version () => (\"v2\")"], Some("true"))).expect("upgrades");
        assert_eq!(
            net.log,
            [
                "list_canister_snapshots",
                "canister_status",
                "stop_canister",
                "take_canister_snapshot",
                "install_code",
                "start_canister"
            ],
            "round {round}"
        );
        assert!(net.running);
        assert_eq!(report.module_hash_after, hex::encode("v2"));
        let snap = report.snapshot_id.expect("a snapshot");
        let label = &net.labels[&hex::decode(&snap).expect("hex")];
        assert!(label.starts_with(AUTO_LABEL), "{label}");
        assert!(!report.kept_wasm_memory);
    }
    assert_eq!(net.snapshots.len(), 2, "one per upgrade");
}

#[test]
fn a_stopped_canister_is_upgraded_and_left_stopped() {
    let mut net = Net::new();
    net.running = false;
    run(&mut net, &args(&[], None)).expect("upgrades");
    assert_eq!(
        net.log,
        [
            "list_canister_snapshots",
            "canister_status",
            "take_canister_snapshot",
            "install_code"
        ]
    );
    assert!(!net.running);
}

#[test]
fn a_rejected_install_starts_the_canister_again_and_loads_nothing() {
    let mut net = Net::new();
    net.install_error = Some("Canister called `ic0.trap` with message: 'post_upgrade'".into());
    let err = run(&mut net, &args(&[], None)).expect_err("fails");
    let text = err.to_string();
    assert!(text.contains("The canister is unchanged"), "{text}");
    assert!(text.contains(&hex::encode("v1")), "{text}");
    assert_eq!(err.exit_code(), 1);
    assert_eq!(net.log.last().map(String::as_str), Some("start_canister"));
    assert!(!net.log.iter().any(|m| m == "load_canister_snapshot"));
    assert!(net.running);
    assert_eq!(net.module, b"v1");
}

#[test]
fn a_trapping_pre_upgrade_says_how_to_get_out() {
    let mut net = Net::new();
    net.install_error = Some("Canister trapped in canister_pre_upgrade".into());
    let text = run(&mut net, &args(&[], None))
        .expect_err("fails")
        .to_string();
    assert!(
        text.contains("--skip-pre-upgrade --network http://net"),
        "{text}"
    );
}

#[test]
fn a_failed_install_that_changed_the_module_loads_the_snapshot() {
    let mut net = Net::new();
    net.install_error = Some("rejected".into());
    net.install_changes_module = true;
    let text = run(&mut net, &args(&[], None))
        .expect_err("fails")
        .to_string();
    assert!(text.contains("loaded snapshot"), "{text}");
    assert_eq!(
        net.log[net.log.len() - 3..],
        ["stop_canister", "load_canister_snapshot", "start_canister"]
    );
    assert_eq!(net.module, b"v1");
    assert!(net.running);
}

#[test]
fn a_failed_health_check_stops_loads_the_snapshot_and_starts_again() {
    for (checks, cmd, why) in [
        (
            vec!["version () => (\"v3\")"],
            None,
            "replied (\"v2\"), expected (\"v3\")",
        ),
        (
            vec!["version () => (\"v2\")"],
            Some("exit 3"),
            "`exit 3` failed",
        ),
    ] {
        let mut net = Net::new();
        let err = run(&mut net, &args(&checks, cmd)).expect_err("rolled back");
        let text = err.to_string();
        assert!(text.contains(why), "{text}");
        assert!(text.contains("Rolled back"), "{text}");
        assert!(text.contains("the module hash is as before"), "{text}");
        assert_eq!(
            net.log[net.log.len() - 3..],
            ["stop_canister", "load_canister_snapshot", "start_canister"]
        );
        assert_eq!(net.module, b"v1");
        assert!(net.running);
    }
}

#[test]
fn a_failed_health_check_without_a_snapshot_keeps_the_new_module() {
    let mut net = Net::new();
    let u = args(&["version () => (\"v3\")"], None);
    let text = upgrade(&mut net, "http://net", &u, false, true)
        .expect_err("fails")
        .to_string();
    assert!(text.contains("No snapshot was taken"), "{text}");
    assert!(
        !net.log.iter().any(|m| m.contains("snapshot")),
        "{:?}",
        net.log
    );
    assert_eq!(net.module, b"v2");
}

#[test]
fn a_user_s_ten_snapshots_refuse_before_anything_changes() {
    let mut net = Net::new().with_snapshots(10, 0);
    for _ in 0..2 {
        let err = run(&mut net, &args(&[], None)).expect_err("refused");
        assert!(
            err.to_string().contains("none of them is drydock's own"),
            "{err}"
        );
        assert!(!net.changed_anything(), "{:?}", net.log);
    }
    assert_eq!(net.snapshots.len(), 10);
}

#[test]
fn at_the_limit_only_drydock_s_oldest_snapshot_is_replaced() {
    let mut net = Net::new().with_snapshots(8, 2);
    let oldest_auto = net.snapshots[8].0.clone();
    run(&mut net, &args(&[], None)).expect("upgrades");
    assert_eq!(net.snapshots.len(), 10);
    assert!(!net.snapshots.iter().any(|s| s.0 == oldest_auto));
    let users = net
        .snapshots
        .iter()
        .filter(|s| !net.labels.contains_key(&s.0))
        .count();
    assert_eq!(users, 8, "no user snapshot is touched");
}

#[test]
fn a_breaking_change_is_refused_before_anything_changes_unless_yes() {
    let mut net = Net::new();
    net.metadata.insert(
        "candid:service".into(),
        b"service : { keep : () -> (); gone : () -> () }".to_vec(),
    );
    let mut u = args(&[], None);
    u.wasm = module(&[("candid:service", "service : { keep : () -> () }")]);
    let err = run(&mut net, &u).expect_err("refused");
    assert!(err.to_string().contains("breaking change"), "{err}");
    assert!(net.log.is_empty(), "{:?}", net.log);
    let report = upgrade(&mut net, "http://net", &u, true, false).expect("--yes upgrades");
    assert!(report.report.is_breaking());
    assert_eq!(net.module, b"v2");
}

#[test]
fn an_eop_canister_keeps_its_wasm_memory_without_being_told() {
    let mut net = Net::new();
    net.metadata
        .insert("enhanced-orthogonal-persistence".into(), Vec::new());
    let report = run(&mut net, &args(&[], None)).expect("upgrades");
    assert!(report.kept_wasm_memory);
    let mode = net.installed.expect("installed").mode;
    let CanisterInstallMode::Upgrade(Some(flags)) = mode else {
        panic!("mode {mode:?}");
    };
    assert_eq!(
        flags.wasm_memory_persistence,
        Some(WasmMemoryPersistence::Keep)
    );
}
