//! icp-cli 1.5.0 against `drydock start` (a connected network, `icp ... -n URL -k fetch`):
//! inter-canister calls, query methods called as updates (icp-cli's default for a call without
//! `--query`), stopping a canister while it waits on another, and timers and heartbeats that
//! fire in the server's background rounds with nobody calling.
//!
//! icp-cli runs with `HOME` in a temp dir, so its identities are its own: the default one is
//! anonymous (funded by drydock's genesis, so it creates the canisters and controls them);
//! the calls are made with a named identity, `alice`, created with plaintext key storage.

mod common;
mod e2e;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::test_canister;
use e2e::{icp_bin, run_with_timeout, Ran, Server};
use tempfile::TempDir;

/// The named identity the calls are made with.
const NAMED: &str = "alice";

/// icp-cli with a home of its own, talking to one `drydock start`.
struct Icp {
    home: TempDir,
    network: Vec<String>,
}

impl Icp {
    fn connected(url: &str) -> Icp {
        Icp {
            home: tempfile::tempdir().unwrap(),
            network: vec!["-n".into(), url.into(), "-k".into(), "fetch".into()],
        }
    }

    /// `icp ARGS`, in its home, without network flags.
    fn bare(&self) -> Command {
        let mut cmd = Command::new(icp_bin());
        let home = self.home.path();
        cmd.current_dir(home)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("DO_NOT_TRACK", "1")
            .env("RUST_BACKTRACE", "0")
            .env_remove("ICP_ENVIRONMENT")
            .env_remove("ICP_PROJECT_ROOT")
            .env_remove("ICP_NETWORK")
            .env_remove("ICP_CLI_NETWORK_LAUNCHER_PATH");
        cmd
    }

    /// `icp ARGS -n URL -k fetch`.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare();
        cmd.args(args).args(&self.network);
        cmd
    }

    /// Runs `icp ARGS -n URL -k fetch` (killed after 3 minutes).
    fn run(&self, args: &[&str]) -> Ran {
        run_with_timeout(
            format!("icp {}", args.join(" ")),
            &mut self.command(args),
            Duration::from_secs(180),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        self.run(args).ok()
    }

    /// `icp identity new NAME --storage plaintext`; returns its principal.
    fn new_identity(&self, name: &str) -> String {
        let mut cmd = self.bare();
        cmd.args(["identity", "new", name, "--storage", "plaintext"]);
        run_with_timeout(
            format!("icp identity new {name}"),
            &mut cmd,
            Duration::from_secs(60),
        )
        .ok();
        let mut cmd = self.bare();
        cmd.args(["identity", "principal", "--identity", name]);
        let out = run_with_timeout(
            format!("icp identity principal --identity {name}"),
            &mut cmd,
            Duration::from_secs(60),
        )
        .ok();
        let principal = out.lines().last().unwrap_or_default().trim().to_string();
        candid::Principal::from_text(&principal)
            .unwrap_or_else(|e| panic!("no principal for {name} ({e}): {out}"));
        principal
    }

    /// `icp canister create --detached` (by the anonymous default identity); the new id.
    fn create(&self) -> String {
        let out = self.ok(&["canister", "create", "--detached"]);
        word_after(&out, "with ID").unwrap_or_else(|| panic!("no canister id in: {out}"))
    }

    /// A canister with the test canister `wasm` installed.
    fn install(&self, wasm: &str) -> String {
        let id = self.create();
        let path = test_canister(wasm);
        let out = self.ok(&["canister", "install", &id, "--wasm", path_str(&path)]);
        assert!(out.contains("installed successfully"), "{out}");
        id
    }

    /// `icp canister call ID METHOD ARG --identity alice` (an update call).
    fn call(&self, id: &str, method: &str, arg: &str) -> String {
        self.ok(&["canister", "call", id, method, arg, "--identity", NAMED])
    }

    /// The same with `--query`.
    fn query(&self, id: &str, method: &str, arg: &str) -> String {
        self.ok(&[
            "canister",
            "call",
            id,
            method,
            arg,
            "--query",
            "--identity",
            NAMED,
        ])
    }

    /// `icp canister status ID`: "Running", "Stopping" or "Stopped".
    fn status(&self, id: &str) -> String {
        let out = self.ok(&["canister", "status", id]);
        word_after(&out, "Status:").unwrap_or_else(|| panic!("no status in: {out}"))
    }

    /// Starts `icp ARGS -n URL -k fetch` in the background.
    fn spawn(&self, args: &[&str]) -> Background {
        let child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run icp {}: {e}", args.join(" ")));
        Background {
            what: format!("icp {}", args.join(" ")),
            child: Some(child),
        }
    }
}

/// An icp command running in the background; killed if the test ends first.
struct Background {
    what: String,
    child: Option<Child>,
}

impl Background {
    /// Whether it has exited.
    fn exited(&mut self) -> bool {
        let child = self.child.as_mut().expect("running");
        child.try_wait().expect("try_wait").is_some()
    }

    /// Waits (at most `limit`) for it to exit; what it printed and its exit code.
    fn finish(mut self, limit: Duration) -> Ran {
        let start = Instant::now();
        while !self.exited() {
            assert!(
                start.elapsed() < limit,
                "`{}` did not finish in {limit:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let child = self.child.take().unwrap();
        Ran::new(self.what.clone(), child.wait_with_output().expect("output"))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The word that follows `marker` in `text`.
fn word_after(text: &str, marker: &str) -> Option<String> {
    let at = text.find(marker)? + marker.len();
    text[at..].split_whitespace().next().map(String::from)
}

/// Asserts that `out` has `want` on a line of its own (ignoring icp's warnings).
fn assert_reply(out: &str, want: &str, what: &str) {
    assert!(
        out.lines().any(|l| l.trim() == want),
        "{what}: expected the reply {want}, got:\n{out}"
    );
}

/// Asserts that icp's output holds the one-text Candid reply `("want")`, perhaps spread over
/// lines as icp prints a long one (`(\n  "...",\n)`).
fn assert_text_reply(out: &str, want: &str, what: &str) {
    let flat: String = out
        .lines()
        .filter(|l| !l.starts_with("WARN"))
        .flat_map(str::split_whitespace)
        .collect();
    let quoted = format!("\"{}\"", want.replace(' ', ""));
    assert!(
        flat == format!("({quoted})") || flat == format!("({quoted},)"),
        "{what}: expected the reply (\"{want}\"), got:\n{out}"
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The number in a one-value Candid reply such as `(12 : nat)` or `(1_234 : nat64)`.
fn number(out: &str) -> u64 {
    let line = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('(') && l.ends_with(')'))
        .unwrap_or_else(|| panic!("no Candid reply in: {out}"));
    let digits: String = line
        .trim_start_matches('(')
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '_')
        .filter(|c| *c != '_')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|e| panic!("no number in {line}: {e}"))
}

/// A field of pingpong's `counters` record, from icp's Candid text.
fn counter_field(out: &str, name: &str) -> u64 {
    let at = out
        .find(&format!("{name} = "))
        .unwrap_or_else(|| panic!("no {name} in: {out}"))
        + name.len()
        + 3;
    let digits: String = out[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '_')
        .filter(|c| *c != '_')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|e| panic!("{name} in {out}: {e}"))
}

/// A server and icp-cli pointed at it, with the named identity made.
fn setup() -> (TempDir, Server, Icp) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"));
    let icp = Icp::connected(&server.url());
    icp.new_identity(NAMED);
    (dir, server, icp)
}

fn assert_no_panic(server: &Server) {
    let log = server.log();
    assert!(!log.contains("panicked"), "server log: {log}");
}

// Interface spec, "Overview of canister calling": a query method called as an update runs
// as a replicated query; its changes to the canister's state are discarded.
#[test]
fn icp_cli_calls_motoko_query_methods_as_updates_and_the_canister_stays_healthy() {
    let (_dir, server, icp) = setup();
    let counter = icp.install("counter_eop.wasm");

    assert_reply(&icp.call(&counter, "inc", "()"), "(1 : nat)", "inc");
    // Without --query icp-cli sends an update call, even to a query method.
    for i in 1..=6 {
        assert_reply(
            &icp.call(&counter, "get", "()"),
            "(1 : nat)",
            &format!("get as an update, call {i}"),
        );
    }
    // The Motoko runtime was not left inside a query: updates and queries still work.
    assert_reply(&icp.call(&counter, "inc", "()"), "(2 : nat)", "inc after");
    assert_reply(
        &icp.query(&counter, "get", "()"),
        "(2 : nat)",
        "get --query",
    );
    assert_reply(&icp.call(&counter, "get", "()"), "(2 : nat)", "get again");
    assert_reply(&icp.call(&counter, "inc", "()"), "(3 : nat)", "inc again");
    assert_reply(
        &icp.query(&counter, "version", "()"),
        r#"("v1")"#,
        "version --query",
    );

    // Rust: query_writes_heap bumps a heap counter and inserts a key; as an update each call
    // starts from the committed heap again.
    let kv = icp.install("kv.wasm");
    assert_reply(&icp.call(&kv, "put", r#"("k", "v")"#), "()", "kv put");
    for i in 1..=4 {
        assert_reply(
            &icp.call(&kv, "query_writes_heap", "()"),
            "(1 : nat64)",
            &format!("query_writes_heap as an update, call {i}"),
        );
        assert_reply(
            &icp.query(&kv, "heap_counter", "()"),
            "(0 : nat64)",
            &format!("heap_counter after call {i}"),
        );
    }
    assert_reply(
        &icp.call(&kv, "heap_counter", "()"),
        "(0 : nat64)",
        "heap_counter",
    );
    assert_reply(&icp.query(&kv, "len", "()"), "(1 : nat64)", "len");
    assert_reply(
        &icp.query(&kv, "get", r#"("__query_write")"#),
        "(null)",
        "the key query_writes_heap inserted",
    );
    assert_reply(&icp.call(&kv, "put", r#"("k2", "v2")"#), "()", "kv put");
    assert_reply(&icp.query(&kv, "len", "()"), "(2 : nat64)", "len");
    assert_no_panic(&server);
}

// Interface spec, "Call contexts" and "Message execution": a canister's call is answered
// only after the calls it made are answered; the reply travels back hop by hop.
#[test]
fn icp_cli_calls_a_canister_that_calls_other_canisters() {
    let (_dir, server, icp) = setup();
    let a = icp.install("pingpong.wasm");
    let b = icp.install("pingpong.wasm");
    let c = icp.install("pingpong.wasm");
    let arg = format!("(vec {{ principal \"{b}\"; principal \"{c}\" }})");
    let want = format!("{a} > {b} > end");
    for i in 1..=2 {
        assert_text_reply(&icp.call(&a, "chain", &arg), &want, &format!("chain {i}"));
    }
    // The code after each await ran once per call, in A and B; C never awaited.
    let completed = |id: &str| counter_field(&icp.query(id, "counters", "()"), "completed");
    assert_eq!(completed(&a), 2);
    assert_eq!(completed(&b), 2);
    assert_eq!(completed(&c), 0);

    // Through a Motoko canister in the middle.
    let m = icp.install("pingpong_mo.wasm");
    let arg = format!("(vec {{ principal \"{m}\"; principal \"{b}\"; principal \"{c}\" }})");
    let want = format!("{a} > {m} > {b} > end");
    for i in 1..=2 {
        assert_text_reply(
            &icp.call(&a, "chain", &arg),
            &want,
            &format!("mixed chain {i}"),
        );
    }
    assert_eq!(completed(&b), 4);
    assert_no_panic(&server);
}

// Interface spec, "IC method stop_canister": a stopping canister rejects new calls, finishes
// the call contexts it has open, and is stopped (and the stop call answered) once none is.
// `drydock start` holds the replica for one step at a time, so the stop, the status polls
// and the queries are served while A waits.
#[test]
fn icp_cli_stop_waits_while_a_canister_waits_on_a_slow_callee() {
    let (_dir, server, icp) = setup();
    let a = icp.install("pingpong.wasm");
    let b = icp.install("pingpong.wasm");
    assert_eq!(icp.status(&a), "Running");

    // A.wait_on(B, 3 s): B self-calls until 3 s have passed, A waits for its reply.
    let arg = format!("(principal \"{b}\", 3_000_000_000 : nat64)");
    let wait_on = icp.spawn(&["canister", "call", &a, "wait_on", &arg, "--identity", NAMED]);
    // Give the call time to reach the server (ordering only; nothing is asserted on it).
    std::thread::sleep(Duration::from_millis(500));
    let mut stop = icp.spawn(&["canister", "stop", &a]);

    // While A waits on B, its status is Stopping and calls to it are refused.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let s = icp.status(&a);
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "Stopping" || s == "Stopped" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A never became Stopping: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("Stopping"),
        "A should be Stopping while its call waits on B (statuses seen: {seen:?})"
    );
    assert!(
        !stop.exited(),
        "`icp canister stop` returned while A was stopping"
    );
    for i in 1..=2 {
        let refused = icp
            .run(&["canister", "call", &a, "noop", "()", "--identity", NAMED])
            .fails();
        assert!(
            refused.contains("IC0509"),
            "call {i} to a stopping canister: {refused}"
        );
    }
    // B is not stopping: it takes calls meanwhile.
    assert_reply(&icp.call(&b, "noop", "()"), "()", "B noop");

    // The open call completes with B's count of self-calls, then A is stopped.
    let out = wait_on.finish(Duration::from_secs(120)).ok();
    assert!(
        out.lines()
            .any(|l| l.trim().starts_with('(') && l.trim().ends_with(": nat64)")),
        "wait_on reply: {out}"
    );
    let out = stop.finish(Duration::from_secs(120));
    out.ok();
    assert_eq!(icp.status(&a), "Stopped");
    let refused = icp
        .run(&["canister", "call", &a, "noop", "()", "--identity", NAMED])
        .fails();
    assert!(refused.contains("IC0508"), "a stopped canister: {refused}");

    // Started again, the call's code after the await had run once.
    icp.ok(&["canister", "start", &a]);
    assert_eq!(icp.status(&a), "Running");
    assert_eq!(
        counter_field(&icp.query(&a, "counters", "()"), "completed"),
        1
    );
    assert_no_panic(&server);
}

// Interface spec, "Global timer" and "Heartbeat": they run in rounds, with nobody calling.
#[test]
fn timers_fire_in_drydock_start_with_nobody_calling() {
    let (_dir, server, icp) = setup();
    let a = icp.install("pingpong.wasm");
    assert_reply(
        &icp.call(&a, "start_timer", "(1 : nat64)"),
        "()",
        "start_timer",
    );

    // Only queries from here on: they change nothing, yet the ticks grow.
    let ticks = || counter_field(&icp.query(&a, "counters", "()"), "timer_ticks");
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = ticks();
    let target = first.max(1) + 1;
    let mut last = first;
    while last < target {
        assert!(
            Instant::now() < deadline,
            "timer_ticks is {last} (was {first}) after 30 s of a 1 s timer"
        );
        std::thread::sleep(Duration::from_millis(200));
        let now = ticks();
        assert!(now >= last, "timer_ticks went back from {last} to {now}");
        last = now;
    }

    // A Motoko heartbeat canister beats every round.
    let h = icp.install("heartbeat.wasm");
    let beats = || number(&icp.query(&h, "beats", "()"));
    let first = beats();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut now = beats();
    while now <= first {
        assert!(
            Instant::now() < deadline,
            "beats stayed at {first} for 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
        now = beats();
    }
    let later = {
        std::thread::sleep(Duration::from_millis(600));
        beats()
    };
    assert!(later > now, "beats {first}, {now}, then {later}");
    // The pingpong timer went on meanwhile (queries only since `last` was read).
    let deadline = Instant::now() + Duration::from_secs(30);
    while ticks() <= last {
        assert!(Instant::now() < deadline, "timer_ticks stayed at {last}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_no_panic(&server);
}

// Interface spec, "IC method fetch_canister_logs": a query to the management canister, which
// icp-cli's `canister logs` makes; a trap's message is in the log.
#[test]
fn icp_canister_logs_shows_a_trap_message() {
    let (_dir, server, icp) = setup();
    let a = icp.install("pingpong.wasm");
    for _ in 0..2 {
        let failed = icp.run(&["canister", "call", &a, "trap_now", "()"]).fails();
        assert!(failed.contains("pingpong: trap_now"), "{failed}");
    }
    let logs = icp.ok(&["canister", "logs", &a]);
    let traps = logs
        .lines()
        .filter(|l| l.contains("[TRAP]") && l.contains("pingpong: trap_now"))
        .count();
    assert_eq!(traps, 2, "two trap records expected in:\n{logs}");
    assert_no_panic(&server);
}

// Interface spec, "IC method update_settings" and the System API's environment variables:
// icp-cli sets them with `update_settings`, the canister reads them with `ic0.env_var_*`, and
// `canister status` shows the settings.
#[test]
fn icp_cli_sets_environment_variables_and_log_settings_a_canister_sees() {
    let (_dir, server, icp) = setup();
    let a = icp.install("kv.wasm");
    for (i, value) in ["local", "staging"].iter().enumerate() {
        let var = format!("NETWORK={value}");
        icp.ok(&[
            "canister",
            "settings",
            "update",
            &a,
            "--add-environment-variable",
            &var,
            "--log-memory-limit",
            &format!("{}", 8192 * (i + 1)),
        ]);
        let out = icp.query(&a, "env_var", "(\"NETWORK\")");
        assert!(out.contains(value), "env_var NETWORK: {out}");
        let status = icp.ok(&["canister", "status", &a]);
        assert!(
            status.contains("NETWORK"),
            "status shows the variable: {status}"
        );
    }
    icp.ok(&[
        "canister",
        "settings",
        "update",
        &a,
        "--remove-environment-variable",
        "NETWORK",
    ]);
    let out = icp.query(&a, "env_vars", "()");
    assert!(!out.contains("NETWORK"), "removed: {out}");
    assert_no_panic(&server);
}

/// The upgrader's health check: `health` must answer "ok".
#[derive(candid::CandidType)]
struct HealthCheck {
    method: String,
    arg: serde_bytes::ByteBuf,
    expected_reply: Option<serde_bytes::ByteBuf>,
}

/// Polls `upgrade_status(ticket)` until it is no longer pending; returns icp's text of it.
fn await_ticket(icp: &Icp, upgrader: &str, ticket: u64) -> String {
    let start = Instant::now();
    loop {
        let out = icp.query(upgrader, "upgrade_status", &format!("({ticket} : nat64)"));
        if !out.contains("variant { pending }") {
            return out;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "ticket {ticket} still pending: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// Issue 14: the upgrader canister, deployed and made a controller with icp-cli; a canister
// asks it for its own upgrade (the good version is upgraded keeping its state, the unhealthy
// one is rolled back), and a stranger is refused.
#[test]
fn icp_cli_deploys_the_upgrader_and_a_canister_upgrades_itself_through_it() {
    let (dir, server, icp) = setup();
    let up_wasm = dir.path().join("upgrader.wasm");
    let out = Command::new(common::bin())
        .args(["upgrader", "wasm", "-o", path_str(&up_wasm)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let upgrader = icp.create();
    let out = icp.ok(&[
        "canister",
        "install",
        &upgrader,
        "--wasm",
        path_str(&up_wasm),
    ]);
    assert!(out.contains("installed successfully"), "{out}");
    let target = icp.install("selfup.wasm");
    icp.ok(&[
        "canister",
        "settings",
        "update",
        &target,
        "--add-controller",
        &upgrader,
    ]);
    icp.call(&target, "set", "(42 : nat64)");
    let up = candid::Principal::from_text(&upgrader).unwrap();
    let health = HealthCheck {
        method: "health".into(),
        arg: serde_bytes::ByteBuf::from(candid::encode_args(()).unwrap()),
        expected_reply: Some(serde_bytes::ByteBuf::from(
            candid::encode_one("ok").unwrap(),
        )),
    };
    let mut tickets = Vec::new();
    for (module, state, version) in [
        ("selfup_v2.wasm", "variant { upgraded }", "v2"),
        ("selfup_unhealthy.wasm", "rolled_back", "v2"),
        ("selfup_post_trap.wasm", "rolled_back", "v2"),
        ("selfup.wasm", "variant { upgraded }", "v1"),
    ] {
        // A 470 kB blob is too long for a command line: the argument goes in a file.
        let args = dir.path().join("args.bin");
        let wasm = serde_bytes::ByteBuf::from(std::fs::read(test_canister(module)).unwrap());
        std::fs::write(
            &args,
            candid::encode_args((up, wasm, Some(&health))).unwrap(),
        )
        .unwrap();
        let out = icp.ok(&[
            "canister",
            "call",
            &target,
            "upgrade_me",
            "--args-file",
            path_str(&args),
            "--args-format",
            "bin",
            "--identity",
            NAMED,
        ]);
        let ticket = number(&out);
        tickets.push(ticket);
        let status = await_ticket(&icp, &upgrader, ticket);
        assert!(status.contains(state), "{module}: {status}");
        assert_text_reply(&icp.query(&target, "version", "()"), version, module);
        assert_reply(&icp.query(&target, "get", "()"), "(42 : nat64)", module);
        assert_eq!(icp.status(&target), "Running", "{module}");
    }
    // A controller of the upgrader (icp's default identity) asks for two targets at once.
    let second = icp.install("selfup.wasm");
    icp.ok(&[
        "canister",
        "settings",
        "update",
        &second,
        "--add-controller",
        &upgrader,
    ]);
    let mut pair = Vec::new();
    for id in [&target, &second] {
        #[derive(candid::CandidType)]
        struct UpgradeRequest<'a> {
            canister_id: candid::Principal,
            wasm_module: serde_bytes::ByteBuf,
            arg: serde_bytes::ByteBuf,
            health_check: Option<&'a HealthCheck>,
        }
        let req = UpgradeRequest {
            canister_id: candid::Principal::from_text(id).unwrap(),
            wasm_module: serde_bytes::ByteBuf::from(
                std::fs::read(test_canister("selfup_v2.wasm")).unwrap(),
            ),
            arg: serde_bytes::ByteBuf::from(candid::encode_args(()).unwrap()),
            health_check: Some(&health),
        };
        let args = dir.path().join("request.bin");
        std::fs::write(&args, candid::encode_one(&req).unwrap()).unwrap();
        let out = icp.ok(&[
            "canister",
            "call",
            &upgrader,
            "request_upgrade",
            "--args-file",
            path_str(&args),
            "--args-format",
            "bin",
        ]);
        pair.push(number(&out));
    }
    for (ticket, id) in pair.iter().zip([&target, &second]) {
        let status = await_ticket(&icp, &upgrader, *ticket);
        assert!(status.contains("variant { upgraded }"), "{id}: {status}");
        assert_text_reply(&icp.query(id, "version", "()"), "v2", id);
    }
    // The upgrader's own upgrade (icp-cli drains nothing: it is idle) keeps its tickets.
    let out = icp.ok(&[
        "canister",
        "install",
        &upgrader,
        "--mode",
        "upgrade",
        "--wasm",
        path_str(&up_wasm),
    ]);
    assert!(
        out.contains("installed successfully") || out.contains("upgraded"),
        "{out}"
    );
    for ticket in tickets.iter().chain(&pair) {
        let out = icp.query(&upgrader, "upgrade_status", &format!("({ticket} : nat64)"));
        assert!(out.contains("opt record"), "ticket {ticket} lost: {out}");
    }
    // alice is neither the target nor a controller of the upgrader.
    let err = icp
        .run(&[
            "canister",
            "call",
            &upgrader,
            "request_upgrade",
            &format!(
                "(record {{ canister_id = principal \"{target}\"; wasm_module = blob \"\"; arg = blob \"\"; health_check = null }})"
            ),
            "--identity",
            NAMED,
        ])
        .fails();
    assert!(err.contains("may not request an upgrade"), "{err}");
    assert_no_panic(&server);
}

// A named identity gets cycles on `drydock start` with one command, as on a local IC network:
// `icp cycles transfer` from the anonymous identity, which drydock's genesis funds. With them
// it buys canisters from the cycles ledger, through icp-cli and through `drydock canister
// create --network` (which finds icp-cli's identity by name).
#[test]
fn a_named_identity_funded_from_genesis_buys_canisters_with_icp_cli_and_drydock() {
    let (dir, server, icp) = setup();
    let alice = icp.new_identity("carol");
    let balance = |icp: &Icp| {
        let out = icp.ok(&["cycles", "balance", "--identity", "carol"]);
        let digits: String = out
            .split_whitespace()
            .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .unwrap_or_else(|| panic!("no balance in: {out}"))
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect();
        digits.parse::<u128>().unwrap_or(0)
    };
    assert_eq!(balance(&icp), 0);
    // The one documented command (README), run by the default (anonymous) identity.
    for round in 1..=2u128 {
        icp.ok(&["cycles", "transfer", "5t", &alice]);
        assert_eq!(balance(&icp), round * 5_000_000_000_000);
    }
    let out = icp.ok(&["canister", "create", "--detached", "--identity", "carol"]);
    let by_icp = word_after(&out, "with ID").unwrap_or_else(|| panic!("no canister id in: {out}"));
    let after_icp = balance(&icp);
    assert!(after_icp < 10_000_000_000_000, "{after_icp}");
    // drydock, signing as icp-cli's `carol`, buys one too, and controls it.
    let drydock = |args: &[&str]| {
        let mut cmd = common::command(&dir.path().join("cli-state"));
        let home = icp.home.path();
        cmd.env("HOME", home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .args(["--network", &server.url(), "--identity", "carol"])
            .args(args);
        run_with_timeout(
            format!("drydock {}", args.join(" ")),
            &mut cmd,
            Duration::from_secs(120),
        )
    };
    for _ in 0..2 {
        let out = drydock(&["canister", "create", "--cycles", "1000000000000"]).ok();
        let id = out.lines().next().unwrap_or_default().trim();
        assert_ne!(id, by_icp);
        let status = drydock(&["canister", "status", id]).ok();
        assert!(status.contains("Status: running"), "{status}");
    }
    let after = balance(&icp);
    assert!(
        after + 2_000_000_000_000 <= after_icp,
        "{after} vs {after_icp}"
    );
    let status = drydock(&["canister", "status", &by_icp]).ok();
    assert!(status.contains("Status: running"), "{status}");
    assert_no_panic(&server);
}
