//! `upgrader`: an upgrade through the upgrader canister vs `drydock canister upgrade` of the
//! same canister, both as a user runs them: `drydock` commands on one state directory
//! (embedded mode), each a process of its own.
//!
//! - `cli_upgrade` (the baseline): `drydock canister upgrade T MODULE --yes --health-check
//!   'health () => ("ok")'` — checks, stop and drain, snapshot, upgrade, start, health check.
//! - `through_upgrader`: `drydock canister call T upgrade_me --args-file ARGS` (the canister
//!   asks the upgrader for its own upgrade, with the same health check), then
//!   `drydock canister call UP upgrade_status '(N : nat64)' --update` until it is no longer
//!   pending. In embedded mode each command runs rounds only until its own call is answered,
//!   so the upgrader's steps advance one command at a time: the figure includes one process
//!   start per step (see `one_command`).
//! - `one_command`: `drydock canister call T version`, the cost of one command.
//!
//! Each iteration upgrades the `selfup` canister to its other version (v1 ↔ v2).
//!
//! Run: `cargo build --release -p drydock-cli`, `scripts/build-test-canisters.sh`, then
//! `cargo bench -p drydock-bench --bench upgrader`.

use std::path::Path;
use std::time::Duration;

use criterion::Criterion;
use drydock_bench::report::Report;
use drydock_bench::{drydock, machine_summary, workspace_target};

/// Runs `drydock --state-dir STATE ARGS`; its stdout, or a panic naming what failed.
fn run(state: &Path, args: &[&str]) -> String {
    let out = drydock(state)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("drydock {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "drydock {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The Candid text `(principal "UP", blob "...", opt record { health check })`.
fn upgrade_me_args(upgrader: &str, wasm: &[u8]) -> String {
    let blob: String = wasm.iter().map(|b| format!("\\{b:02x}")).collect();
    let ok: String = candid::encode_one("ok")
        .expect("encoding")
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect();
    format!(
        "(principal \"{upgrader}\", blob \"{blob}\", opt record {{ method = \"health\"; arg = blob \"DIDL\\00\\00\"; expected_reply = opt blob \"{ok}\" }})"
    )
}

#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn main() {
    let dir = tempfile::tempdir_in(workspace_target()).expect("a bench directory");
    let state = dir.path().join("state");
    let canisters = workspace_target().join("test-canisters");
    let module = |name: &str| {
        let path = canisters.join(format!("{name}.wasm"));
        assert!(
            path.is_file(),
            "{} is missing: run scripts/build-test-canisters.sh first",
            path.display()
        );
        path
    };
    let versions = [module("selfup"), module("selfup_v2")];

    let up_wasm = dir.path().join("upgrader.wasm");
    run(
        &state,
        &["upgrader", "wasm", "-o", up_wasm.to_str().unwrap()],
    );
    let me = run(&state, &["identity", "principal"]);
    let upgrader = run(&state, &["canister", "create"]);
    run(
        &state,
        &["canister", "install", &upgrader, up_wasm.to_str().unwrap()],
    );
    let install = |wasm: &Path| {
        let id = run(&state, &["canister", "create"]);
        run(
            &state,
            &["canister", "install", &id, wasm.to_str().unwrap()],
        );
        id
    };
    let by_upgrader = install(&versions[0]);
    let by_cli = install(&versions[0]);
    run(
        &state,
        &[
            "canister",
            "call",
            "aaaaa-aa",
            "update_settings",
            &format!(
                "(record {{ canister_id = principal \"{by_upgrader}\"; settings = record {{ controllers = opt vec {{ principal \"{upgrader}\"; principal \"{me}\" }} }} }})"
            ),
        ],
    );
    let args_files: Vec<_> = versions
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let file = dir.path().join(format!("args{i}.did"));
            let wasm = std::fs::read(path).expect("module");
            std::fs::write(&file, upgrade_me_args(&upgrader, &wasm)).expect("args file");
            file
        })
        .collect();

    let report = Report::start();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .configure_from_args();
    println!("machine: {}", machine_summary());
    let mut g = c.benchmark_group("upgrade");
    let mut next = 1usize;
    g.bench_function("cli_upgrade", |b| {
        b.iter(|| {
            let wasm = &versions[next % 2];
            next += 1;
            run(
                &state,
                &[
                    "canister",
                    "upgrade",
                    &by_cli,
                    wasm.to_str().unwrap(),
                    "--yes",
                    "--health-check",
                    "health () => (\"ok\")",
                ],
            )
        })
    });
    let mut next = 1usize;
    let (mut upgrades, mut commands) = (0u64, 0u64);
    g.bench_function("through_upgrader", |b| {
        b.iter(|| {
            let args = &args_files[next % 2];
            next += 1;
            let out = run(
                &state,
                &[
                    "canister",
                    "call",
                    &by_upgrader,
                    "upgrade_me",
                    "--args-file",
                    args.to_str().unwrap(),
                ],
            );
            // `(12 : nat64)`: the digits before the type.
            let ticket: String = out
                .trim_start_matches('(')
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '_')
                .filter(char::is_ascii_digit)
                .collect();
            let query = format!("({ticket} : nat64)");
            upgrades += 1;
            commands += 1;
            loop {
                commands += 1;
                let status = run(
                    &state,
                    &[
                        "canister",
                        "call",
                        &upgrader,
                        "upgrade_status",
                        &query,
                        "--update",
                    ],
                );
                if !status.contains("pending") {
                    assert!(status.contains("upgraded"), "ticket {ticket}: {status}");
                    break;
                }
            }
        })
    });
    println!(
        "through_upgrader: {:.1} drydock commands per upgrade ({commands} for {upgrades})",
        commands as f64 / upgrades.max(1) as f64
    );
    g.bench_function("one_command", |b| {
        b.iter(|| run(&state, &["canister", "call", &by_upgrader, "version"]))
    });
    g.finish();
    report.print_ratios(
        "upgrader",
        &[
            (
                "through the upgrader vs drydock canister upgrade",
                "upgrade/through_upgrader",
                "upgrade/cli_upgrade",
            ),
            (
                "one drydock command vs drydock canister upgrade",
                "upgrade/one_command",
                "upgrade/cli_upgrade",
            ),
        ],
    );
}
