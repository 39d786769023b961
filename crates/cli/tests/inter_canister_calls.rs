//! Inter-canister calls through the embedded `drydock` CLI (each command opens the state
//! directory, runs what is due, and exits): call chains across Rust and Motoko canisters,
//! query methods called as updates, `canister call --async` with `request status`, stopping a
//! canister that waits on another, and timers and heartbeats between commands.
//!
//! In the embedded mode nothing runs between commands. Every command that opens the state
//! directory runs one round first (due timers, heartbeats, then the queued messages); an
//! update call runs another, then rounds until its reply is there; `request status --wait`
//! runs rounds until the reply is there.

mod common;

use std::time::{Duration, Instant};

use common::{test_canister, Drydock};

/// A canister with `wasm` installed; returns its id.
fn install(d: &Drydock, wasm: &str) -> String {
    let id = d.create_canister();
    let path = test_canister(wasm);
    d.run(&["canister", "install", &id, path.to_str().unwrap()])
        .ok();
    id
}

/// `canister call ID METHOD ARG [extra]`, asserting success; returns stdout.
fn call(d: &Drydock, id: &str, method: &str, arg: &str, extra: &[&str]) -> String {
    let mut args = vec!["canister", "call", id, method, arg];
    args.extend_from_slice(extra);
    d.run(&args).ok()
}

/// The Candid text argument of `chain` over `hops`.
fn hops(ids: &[&str]) -> String {
    let list: Vec<String> = ids.iter().map(|id| format!("principal \"{id}\"")).collect();
    format!("(vec {{ {} }})", list.join("; "))
}

/// The `chain` reply when `ids[0]` calls through the rest (the last one answers "end"):
/// "A > B > end".
fn chain_reply(ids: &[&str]) -> String {
    let mut text = String::from("end");
    for id in ids[..ids.len() - 1].iter().rev() {
        text = format!("{id} > {text}");
    }
    text
}

/// `canister call FIRST chain (vec { REST })`, the reply's text (read with `--output json`,
/// since the Candid text of a long reply spans lines).
fn chain(d: &Drydock, first: &str, rest: &[&str]) -> String {
    let out = call(d, first, "chain", &hops(rest), &["--output", "json"]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    v[0].as_str()
        .unwrap_or_else(|| panic!("chain reply: {out}"))
        .to_string()
}

/// The text of a one-text Candid reply, as `request status` prints it: `("...")`, perhaps
/// over several lines.
fn text_reply(out: &str) -> String {
    let flat: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let inner = flat
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim()
        .trim_end_matches(',')
        .trim();
    inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a text reply: {out}"))
        .to_string()
}

/// pingpong's `counters` query, as JSON: completed, cleanups, timer_ticks, heartbeats.
fn counters(d: &Drydock, id: &str) -> serde_json::Value {
    let v = d
        .run(&["--json", "canister", "call", id, "counters", "()"])
        .json();
    let reply = v["reply"].as_str().unwrap_or_else(|| panic!("{v}"));
    let field = |name: &str| -> u64 {
        let at = reply
            .find(&format!("{name} = "))
            .unwrap_or_else(|| panic!("no {name} in {reply}"))
            + name.len()
            + 3;
        let digits: String = reply[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '_')
            .filter(|c| *c != '_')
            .collect();
        digits
            .parse()
            .unwrap_or_else(|e| panic!("{name} in {reply}: {e}"))
    };
    serde_json::json!({
        "completed": field("completed"),
        "cleanups": field("cleanups"),
        "timer_ticks": field("timer_ticks"),
        "heartbeats": field("heartbeats"),
    })
}

fn status_json(d: &Drydock, id: &str) -> serde_json::Value {
    d.run(&["canister", "status", id, "--json"]).json()
}

// Interface spec, "Call contexts" and "Message execution": a canister's call is answered
// only after the calls it made are answered; the reply travels back hop by hop.
#[test]
fn drydock_canister_call_runs_a_call_chain_across_canisters() {
    let d = Drydock::new();
    let a = install(&d, "pingpong.wasm");
    let b = install(&d, "pingpong.wasm");
    let c = install(&d, "pingpong.wasm");

    // A calls B, B calls C, C answers "end"; twice, with the same reply.
    for round in 1..=2u64 {
        let out = chain(&d, &a, &[&b, &c]);
        assert_eq!(out, chain_reply(&[&a, &b, &c]), "chain, call {round}");
        // Each caller's code after the await ran once per call; C never awaited.
        assert_eq!(counters(&d, &a)["completed"], round, "A after call {round}");
        assert_eq!(counters(&d, &b)["completed"], round, "B after call {round}");
        assert_eq!(counters(&d, &c)["completed"], 0, "C after call {round}");
    }
    // Every call context closed, no callback left behind.
    for id in [&a, &b, &c] {
        let s = status_json(&d, id);
        assert_eq!(s["open_call_contexts"], 0, "{id}: {s}");
        assert_eq!(s["outstanding_calls"], 0, "{id}: {s}");
        assert_eq!(s["status"], "running", "{id}: {s}");
    }
    // A longer chain that visits a canister twice (A is re-entered while it awaits).
    let out = chain(&d, &a, &[&b, &a, &c]);
    assert_eq!(out, chain_reply(&[&a, &b, &a, &c]));

    // Motoko: M1 calls M2, M2 calls M3; and chains that mix Rust and Motoko hops.
    let m1 = install(&d, "pingpong_mo.wasm");
    let m2 = install(&d, "pingpong_mo.wasm");
    let m3 = install(&d, "pingpong_mo.wasm");
    for round in 1..=2 {
        let out = chain(&d, &m1, &[&m2, &m3]);
        assert_eq!(out, chain_reply(&[&m1, &m2, &m3]), "Motoko chain {round}");
    }
    let out = chain(&d, &a, &[&m1, &b, &m2]);
    assert_eq!(out, chain_reply(&[&a, &m1, &b, &m2]), "Rust > Motoko > ...");
    let out = chain(&d, &m1, &[&a, &m2]);
    assert_eq!(out, chain_reply(&[&m1, &a, &m2]), "Motoko > Rust > ...");
    // The Motoko canisters' state is intact after being called from others.
    assert_eq!(call(&d, &m2, "inc", "()", &[]), "(1 : nat)");
    assert_eq!(call(&d, &m2, "get", "()", &[]), "(1 : nat)");

    // A hop that is rejected (the management canister has no `chain`) comes back to its
    // caller (B) as a reject, which B answers with a reply that A passes on.
    for round in 1..=2 {
        let out = chain(&d, &a, &[&b, "aaaaa-aa"]);
        assert!(
            out.starts_with(&format!("{a} > reject ")) && out.contains("no method 'chain'"),
            "a chain ending at the management canister, call {round}: {out}"
        );
    }
    // Interface spec, "IC method stop_canister": a call to a stopped canister is rejected
    // with CANISTER_ERROR (5); so is a call to a method the callee does not export.
    let t = install(&d, "kv.wasm");
    d.run(&["canister", "stop", &t]).ok();
    for round in 1..=2 {
        let out = chain(&d, &a, &[&t]);
        assert_eq!(
            out,
            format!("reject 5 Canister {t} is stopped"),
            "a chain to a stopped canister, call {round}"
        );
    }
    d.run(&["canister", "start", &t]).ok();
    let out = chain(&d, &a, &[&t]);
    assert!(
        out.starts_with("reject 5 ") && out.contains("no update method 'chain'"),
        "a chain to a canister without `chain`: {out}"
    );
}

// Interface spec, "Overview of canister calling": a query method called as an update runs
// as a replicated query, whose changes to the canister's state are discarded.
#[test]
fn query_methods_called_with_update_keep_no_changes_and_motoko_stays_healthy() {
    let d = Drydock::new();
    let counter = install(&d, "counter_eop.wasm");
    assert_eq!(call(&d, &counter, "inc", "()", &[]), "(1 : nat)");
    for i in 1..=5 {
        assert_eq!(
            call(&d, &counter, "get", "()", &["--update"]),
            "(1 : nat)",
            "get --update, call {i}"
        );
    }
    // The Motoko runtime is not left inside a query: updates and queries still work.
    assert_eq!(call(&d, &counter, "inc", "()", &[]), "(2 : nat)");
    assert_eq!(call(&d, &counter, "get", "()", &[]), "(2 : nat)");
    assert_eq!(call(&d, &counter, "get", "()", &["--query"]), "(2 : nat)");
    assert_eq!(
        call(&d, &counter, "transient_get", "()", &["--update"]),
        call(&d, &counter, "transient_get", "()", &["--query"])
    );
    assert_eq!(call(&d, &counter, "get", "()", &["--update"]), "(2 : nat)");
    assert_eq!(call(&d, &counter, "inc", "()", &[]), "(3 : nat)");
    // And it still upgrades (the runtime checks its state on the way).
    let v2 = test_canister("counter_eop_v2.wasm");
    d.run(&[
        "canister",
        "install",
        &counter,
        v2.to_str().unwrap(),
        "--mode",
        "upgrade",
        "--wasm-memory-persistence",
        "keep",
    ])
    .ok();
    assert_eq!(call(&d, &counter, "get", "()", &["--update"]), "(3 : nat)");
    assert_eq!(call(&d, &counter, "version", "()", &[]), "(\"v2\")");

    // Rust: query_writes_heap bumps a heap counter and inserts a key; as an update each call
    // still starts from the committed heap.
    let kv = install(&d, "kv.wasm");
    call(&d, &kv, "put", r#"("k", "v")"#, &[]);
    for i in 1..=3 {
        assert_eq!(
            call(&d, &kv, "query_writes_heap", "()", &["--update"]),
            "(1 : nat64)",
            "query_writes_heap --update, call {i}"
        );
    }
    assert_eq!(
        call(&d, &kv, "query_writes_heap", "()", &["--query"]),
        "(1 : nat64)"
    );
    assert_eq!(call(&d, &kv, "heap_counter", "()", &[]), "(0 : nat64)");
    assert_eq!(call(&d, &kv, "len", "()", &[]), "(1 : nat64)");
    assert_eq!(call(&d, &kv, "get", r#"("__query_write")"#, &[]), "(null)");
    assert_eq!(call(&d, &kv, "get", r#"("k")"#, &[]), r#"(opt "v")"#);
}

// Interface spec, "Request status" (the HTTP interface's read_state): a submitted call is
// processing until it is replied to; its reply stays readable.
#[test]
fn canister_call_async_and_request_status_wait_return_the_reply() {
    let d = Drydock::new();
    let a = install(&d, "pingpong.wasm");
    let b = install(&d, "pingpong.wasm");
    let c = install(&d, "pingpong.wasm");
    let want = chain_reply(&[&a, &b, &c]);

    let mut seen = Vec::new();
    for i in 1..=2 {
        let id = call(&d, &a, "chain", &hops(&[&b, &c]), &["--async"]);
        assert!(
            id.len() == 16 && id.chars().all(|ch| ch.is_ascii_hexdigit()),
            "--async should print a 16-hex-digit request id, got {id:?}"
        );
        assert!(
            !seen.contains(&id),
            "request ids must differ: {seen:?} {id}"
        );
        seen.push(id.clone());

        // Not waiting: either still processing or already the reply.
        let now = d.run(&["request", "status", &id]).ok();
        assert!(
            now == "processing" || text_reply(&now) == want,
            "request status {id} (submission {i}): {now}"
        );
        let status = |extra: &[&str]| {
            let mut args = vec!["request", "status", id.as_str()];
            args.extend_from_slice(extra);
            text_reply(&d.run(&args).ok())
        };
        assert_eq!(status(&["--wait"]), want);
        // The reply stays readable, with or without --wait.
        assert_eq!(status(&[]), want);
        assert_eq!(status(&["--wait"]), want);
    }
    assert_eq!(counters(&d, &a)["completed"], 2);

    // --json names the request.
    let v = d
        .run(&[
            "--json",
            "canister",
            "call",
            &a,
            "chain",
            &hops(&[&c]),
            "--async",
        ])
        .json();
    let id = v["request_id"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(v["canister_id"], a.as_str(), "{v}");
    assert_eq!(v["method"], "chain", "{v}");
    assert_eq!(
        text_reply(&d.run(&["request", "status", id, "--wait"]).ok()),
        chain_reply(&[&a, &c])
    );

    // A submitted call that traps: the status is the rejection (exit 1, the IC's code).
    let trap = call(&d, &a, "trap_now", "()", &["--async"]);
    let err = d.run(&["request", "status", &trap, "--wait"]).fails(1);
    assert!(err.contains("IC0503"), "{err}");
    assert!(err.contains("pingpong: trap_now"), "{err}");

    // Ids this state directory never issued are usage errors naming the cause.
    for bad in ["ffffffffffffffff", "0000000000000000", "not-hex"] {
        let err = d.run(&["request", "status", bad]).fails(2);
        assert!(err.contains("unknown request id"), "{bad}: {err}");
        assert!(err.contains(bad), "{bad}: {err}");
        let err = d.run(&["request", "status", bad, "--wait"]).fails(2);
        assert!(err.contains("unknown request id"), "{bad} --wait: {err}");
    }
    // Another state directory's ids mean nothing here.
    let other = Drydock::new();
    let err = other.run(&["request", "status", &seen[0]]).fails(2);
    assert!(err.contains("unknown request id"), "{err}");
}

// Interface spec, "IC method stop_canister": a stopping canister rejects new calls, finishes
// the call contexts it has, and is stopped once none is open.
#[test]
fn canister_stop_no_wait_leaves_a_canister_stopping_while_it_waits() {
    let d = Drydock::new();
    let a = install(&d, "pingpong.wasm");
    let b = install(&d, "pingpong.wasm");
    // B.slow self-calls until 3 s have passed; A.wait_on waits for it.
    let wait_arg = format!("(principal \"{b}\", 3_000_000_000 : nat64)");

    let rid = call(&d, &a, "wait_on", &wait_arg, &["--async"]);
    let out = d.run(&["canister", "stop", &a, "--no-wait"]).ok();
    assert!(out.contains("is stopping"), "{out}");
    assert!(out.contains("1 open call context"), "{out}");

    for i in 1..=2 {
        let text = d.run(&["canister", "status", &a]).ok();
        assert!(text.contains("Status: stopping"), "status {i}: {text}");
        assert!(text.contains("Open call contexts: 1"), "status {i}: {text}");
        assert!(text.contains("Outstanding calls: 1"), "status {i}: {text}");
        assert!(
            text.contains(&format!("  call 0 to {b}, made by module ")),
            "status {i}: {text}"
        );
        assert!(
            !text.contains("the module has changed"),
            "status {i}: {text}"
        );
        let s = status_json(&d, &a);
        assert_eq!(s["calls"][0]["callee"], b.as_str(), "{s}");
        assert_eq!(s["calls"][0]["module_changed"], false, "{s}");
        assert_eq!(s["status"], "stopping", "{s}");
        assert_eq!(s["open_call_contexts"], 1, "{s}");
        assert_eq!(s["outstanding_calls"], 1, "{s}");

        // New calls are refused while it stops; the callee B is not affected.
        let err = d.run(&["canister", "call", &a, "noop", "()"]).fails(1);
        assert!(
            err.contains("IC0509"),
            "call {i} to a stopping canister: {err}"
        );
        call(&d, &b, "noop", "()", &[]);
    }
    // A second stop --no-wait is fine and still reports stopping.
    let out = d.run(&["canister", "stop", &a, "--no-wait"]).ok();
    assert!(out.contains("is stopping"), "{out}");

    // The call that was open completes: B's count of self-calls comes back through A.
    let reply = d.run(&["request", "status", &rid, "--wait"]).ok();
    assert!(
        reply.starts_with('(') && reply.ends_with(": nat64)"),
        "wait_on reply: {reply}"
    );
    // The round that delivered the reply also completed the stop.
    let s = status_json(&d, &a);
    assert_eq!(s["status"], "stopped", "{s}");
    assert_eq!(s["open_call_contexts"], 0, "{s}");
    assert_eq!(s["outstanding_calls"], 0, "{s}");
    let err = d.run(&["canister", "call", &a, "noop", "()"]).fails(1);
    assert!(err.contains("IC0508"), "a stopped canister: {err}");
    // Stopping a stopped canister returns at once.
    let run = d.run(&["canister", "stop", &a]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("Stopped {a}")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("waiting for"), "{}", run.stderr);

    // Started again, the completed call ran its code after the await.
    d.run(&["canister", "start", &a]).ok();
    assert_eq!(counters(&d, &a)["completed"], 1);

    // A stop that waits: it runs the replica until the open call context closes.
    let rid = call(&d, &a, "wait_on", &wait_arg, &["--async"]);
    let started = Instant::now();
    let run = d.run(&["canister", "stop", &a]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("waiting for 1 open call context(s)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("Stopped {a}")),
        "{}",
        run.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "stop took {:?}",
        started.elapsed()
    );
    assert_eq!(status_json(&d, &a)["status"], "stopped");
    // Its reply was kept for `request status`, which no longer has to run anything.
    let reply = d.run(&["request", "status", &rid]).ok();
    assert!(reply.ends_with(": nat64)"), "wait_on reply: {reply}");
    d.run(&["canister", "start", &a]).ok();
    assert_eq!(counters(&d, &a)["completed"], 2);
}

// Interface spec, "Global timer" and "Heartbeat": the embedded replica runs them in the
// round each command runs when it opens the state directory (nothing runs between commands).
// ic-cdk-timers reschedules an interval timer from its scheduled time, so the first command
// after an idle spell catches up on the missed ticks — at most 5 at once, its limit of
// concurrent calls per timer.
#[test]
fn timers_fire_in_embedded_mode_as_later_commands_run() {
    let d = Drydock::new();
    let a = install(&d, "pingpong.wasm");
    let ticks = |d: &Drydock| counters(d, &a)["timer_ticks"].as_u64().unwrap();
    let set = Instant::now();
    assert_eq!(call(&d, &a, "start_timer", "(1 : nat64)", &[]), "()");
    let at_start = ticks(&d);
    if set.elapsed() < Duration::from_millis(900) {
        assert_eq!(at_start, 0, "ticks before the first interval is over");
    }

    // Idle for 2.5 s: the next command (a query) runs the two missed ticks first.
    std::thread::sleep(Duration::from_millis(2500));
    let first = ticks(&d);
    assert!(
        first >= at_start + 2 && first <= at_start + 5,
        "ticks after 2.5 s: {first} (were {at_start})"
    );
    std::thread::sleep(Duration::from_millis(1200));
    let second = ticks(&d);
    assert!(
        second > first,
        "ticks after another 1.2 s: {second} (were {first})"
    );
    // Idle for 5.5 s: at least 5 ticks are due. One command's round runs the global timer,
    // then delivers the queued messages: the timer's self-calls and the responses to the
    // previous command's self-calls, which ic-cdk-timers therefore still counts against its
    // 5 concurrent calls per timer when the timer runs. So this command runs 5 minus the
    // ticks of the previous one.
    std::thread::sleep(Duration::from_millis(5500));
    let third = ticks(&d);
    assert!(second - first < 5, "{first} {second}");
    assert_eq!(
        third,
        second + 5 - (second - first),
        "ticks after 5.5 s idle (were {first}, then {second})"
    );

    // A stopped canister's timer does not run; started again, it resumes.
    d.run(&["canister", "stop", &a]).ok();
    std::thread::sleep(Duration::from_millis(1200));
    let s = status_json(&d, &a);
    assert_eq!(s["status"], "stopped", "{s}");
    let err = d.run(&["canister", "call", &a, "counters", "()"]).fails(1);
    assert!(
        err.contains("IC0508"),
        "a query to a stopped canister: {err}"
    );
    d.run(&["canister", "start", &a]).ok();
    std::thread::sleep(Duration::from_millis(1200));
    let resumed = ticks(&d);
    assert!(
        resumed > third,
        "ticks after the restart: {resumed} (were {third})"
    );

    // Motoko: a recurring timer. Its global timer makes a self-call that runs the job, which
    // is itself an `async` call, so the tick lands a command or two after the timer ran.
    let m = install(&d, "pingpong_mo.wasm");
    assert_eq!(call(&d, &m, "startTimer", "(1 : nat)", &[]), "()");
    let mo_ticks = |d: &Drydock| -> u64 {
        let out = call(d, &m, "ticks", "()", &[]);
        out.trim_start_matches('(')
            .trim_end_matches(" : nat)")
            .parse()
            .unwrap_or_else(|e| panic!("ticks: {out}: {e}"))
    };
    // Within 3 commands after an idle spell, the due tick has landed.
    let within_3 = |d: &Drydock, above: u64| -> u64 {
        for _ in 0..3 {
            let t = mo_ticks(d);
            if t > above {
                return t;
            }
        }
        panic!("the Motoko timer did not tick within 3 commands (ticks {above})");
    };
    std::thread::sleep(Duration::from_millis(2500));
    let t1 = within_3(&d, 0);
    std::thread::sleep(Duration::from_millis(1200));
    let t2 = within_3(&d, t1);
    assert!(t2 > t1);

    // A Motoko heartbeat: exactly one beat per command that opens the state directory.
    let h = install(&d, "heartbeat.wasm");
    let beats = |d: &Drydock| -> u64 {
        let out = call(d, &h, "beats", "()", &[]);
        out.trim_start_matches('(')
            .trim_end_matches(" : nat)")
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("beats: {out}: {e}"))
    };
    let b1 = beats(&d);
    assert!(b1 >= 1, "a heartbeat before the first query: {b1}");
    let b2 = beats(&d);
    let b3 = beats(&d);
    assert_eq!((b2, b3), (b1 + 1, b1 + 2), "beats, one per command");
    // An idle second adds nothing: the next command runs one round, one beat.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(beats(&d), b3 + 1, "beats after an idle second");
    // An update runs two rounds: the one at open and the one before its message.
    call(&d, &m, "inc", "()", &[]);
    assert_eq!(
        beats(&d),
        b3 + 4,
        "beats after an update to another canister"
    );
}

// Interface spec, "IC method fetch_canister_logs": `drydock canister logs` prints the trap
// messages a canister's log keeps, in later processes too.
#[test]
fn drydock_canister_logs_prints_trap_messages() {
    let d = Drydock::new();
    let a = install(&d, "pingpong.wasm");
    for _ in 0..2 {
        let err = d.run(&["canister", "call", &a, "trap_now"]).fails(1);
        assert!(err.contains("pingpong: trap_now"), "{err}");
    }
    let out = d.run(&["canister", "logs", &a]).ok();
    let traps: Vec<&str> = out.lines().filter(|l| l.contains("[TRAP]")).collect();
    assert_eq!(traps.len(), 2, "{out}");
    assert!(
        traps[0].starts_with("[0. ") && traps[1].starts_with("[1. "),
        "{out}"
    );
    let json = d.run(&["--json", "canister", "logs", &a]).ok();
    assert!(
        json.contains("\"idx\":1") || json.contains("\"idx\": 1"),
        "{json}"
    );
}

// Seed 001 and the IC's advice ("stop the canister before upgrading it"): `canister upgrade`
// stops a canister with outstanding calls and waits for them, so no callback of the old
// module runs in the new one; past --drain-timeout it gives up, starts the canister again
// and changes nothing. The raw `canister install --mode upgrade` stays IC-faithful and warns.
#[test]
fn canister_upgrade_waits_for_outstanding_calls_before_installing() {
    let d = Drydock::new();
    let a = install(&d, "pingpong.wasm");
    let b = install(&d, "pingpong.wasm");
    let wasm = test_canister("pingpong.wasm");
    let wasm = wasm.to_str().unwrap();
    for _ in 0..2 {
        let req = call(
            &d,
            &a,
            "wait_on",
            &format!("(principal \"{b}\", 300_000_000 : nat64)"),
            &["--async"],
        );
        let out = d.run(&["canister", "upgrade", &a, wasm]);
        assert_eq!(out.code, 0, "stderr: {}", out.stderr);
        assert!(
            out.stderr.contains("waiting") && out.stderr.contains("outstanding call"),
            "upgrade says what it waits for: {}",
            out.stderr
        );
        // The call finished in the old module, before the upgrade: its reply is there.
        let reply = d.run(&["request", "status", &req]).ok();
        assert!(reply.contains(": nat64"), "{reply}");
        assert_eq!(status_json(&d, &a)["status"], "running");
    }

    // A call that outlasts --drain-timeout: refused, running again, unchanged.
    let req = call(
        &d,
        &a,
        "wait_on",
        &format!("(principal \"{b}\", 5_000_000_000 : nat64)"),
        &["--async"],
    );
    let hash = status_json(&d, &a)["module_hash"].clone();
    let err = d
        .run(&[
            "canister",
            "upgrade",
            &a,
            test_canister("kv.wasm").to_str().unwrap(),
            "--drain-timeout",
            "0",
            "--yes",
        ])
        .fails(1);
    assert!(err.contains("did not finish its calls"), "{err}");
    assert_eq!(status_json(&d, &a)["status"], "running");
    assert_eq!(status_json(&d, &a)["module_hash"], hash);
    // The raw install warns, and proceeds as the IC would.
    let out = d.run(&["canister", "install", &a, wasm, "--mode", "upgrade"]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("new module's function table"),
        "{}",
        out.stderr
    );
    let _ = d.run(&["request", "status", &req, "--wait"]);
}

// Seed 001 from the command line: a Rust canister that is its own controller upgrades itself
// through the management canister. The upgrade happens (ic-cdk has no guard), and the response
// to its install_code call runs in the new module, as on the IC: the call fails, and the
// canister's log and `drydock canister status` name the event.
#[test]
fn a_canister_that_upgrades_itself_fails_as_on_the_ic_and_status_names_the_event() {
    let d = Drydock::new();
    let id = install(&d, "selfup.wasm");
    let me = d.run(&["identity", "principal"]).ok().trim().to_string();
    call(
        &d,
        "aaaaa-aa",
        "update_settings",
        &format!(
            "(record {{ canister_id = principal \"{id}\"; settings = record {{ controllers = opt vec {{ principal \"{id}\"; principal \"{me}\" }} }} }})"
        ),
        &[],
    );
    let wasm = std::fs::read(test_canister("selfup_v2.wasm")).unwrap();
    let blob: String = wasm.iter().map(|b| format!("\\{b:02x}")).collect();
    let args = d.state().with_file_name("install_self.did");
    std::fs::write(&args, format!("(blob \"{blob}\")")).unwrap();
    let err = d
        .run(&[
            "canister",
            "call",
            &id,
            "install_self",
            "--args-file",
            args.to_str().unwrap(),
        ])
        .fails(1);
    // The old closure, run in the new module: here a trap (the IC gives the same).
    assert!(
        err.contains("IC0502") && err.contains("Canister trapped"),
        "{err}"
    );
    assert_eq!(text_reply(&call(&d, &id, "version", "()", &[])), "v2");
    for i in 1..=2 {
        let text = d.run(&["canister", "status", &id]).ok();
        assert!(
            text.contains("Responses that ran in another module than the caller's:"),
            "status {i}: {text}"
        );
        assert!(
            text.contains(
                "[drydock] the response to call 0 (to aaaaa-aa) was registered by module "
            ),
            "status {i}: {text}"
        );
        let s = status_json(&d, &id);
        assert_eq!(
            s["stale_responses"].as_array().map(Vec::len),
            Some(1),
            "{s}"
        );
    }
    let logs = d.run(&["canister", "logs", &id]).ok();
    assert!(logs.contains("[drydock] the response to call 0"), "{logs}");
}

// "Cycles costs" and interface spec, "IC method update_settings" (`freezing_threshold`): a
// canister created with few cycles cannot pay for an install in advance (IC0207); a frozen
// canister refuses calls with IC0207; `drydock canister top-up` is the way out of both.
#[test]
fn a_canister_short_of_cycles_is_unfrozen_by_drydock_canister_top_up() {
    let d = Drydock::new();
    let created = call(
        &d,
        "aaaaa-aa",
        "provisional_create_canister_with_cycles",
        "(record { amount = opt (1_000_000 : nat); settings = null })",
        &[],
    );
    let id = created
        .split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("no id in {created}"))
        .to_string();
    let path = test_canister("kv.wasm");
    let path = path.to_str().unwrap();
    for _ in 0..2 {
        let err = d.run(&["canister", "install", &id, path]).fails(1);
        assert!(err.contains("IC0207"), "{err}");
        assert!(
            err.contains("Canister installation failed with `Canister")
                && err.contains("is out of cycles: please top up the canister with at least"),
            "{err}"
        );
    }
    let run = d.run(&["canister", "top-up", &id, "1T"]);
    let stderr = run.stderr.clone();
    run.ok();
    assert!(stderr.contains("Topped up canister"), "{stderr}");
    assert!(stderr.contains("its balance is 1000001000000"), "{stderr}");
    d.run(&["canister", "install", &id, path]).ok();
    call(&d, &id, "put", "(\"k\", \"v\")", &[]);
    // A freezing threshold of 10^15 seconds freezes it.
    call(
        &d,
        "aaaaa-aa",
        "update_settings",
        &format!(
            "(record {{ canister_id = principal \"{id}\"; settings = record {{ freezing_threshold = opt (1_000_000_000_000_000 : nat) }} }})"
        ),
        &[],
    );
    for _ in 0..2 {
        let err = d
            .run(&["canister", "call", &id, "put", "(\"k\", \"v\")"])
            .fails(1);
        assert!(err.contains("IC0207"), "{err}");
        assert!(
            err.contains("is out of cycles: please top up the canister with at least"),
            "{err}"
        );
    }
    let s = status_json(&d, &id);
    assert!(!s["idle_cycles_burned_per_day"].is_null(), "{s}");
    assert_ne!(s["idle_cycles_burned_per_day"], 0, "{s}");
    d.run(&["canister", "top-up", &id, "1000000T"]).ok();
    for _ in 0..2 {
        call(&d, &id, "put", "(\"k\", \"v\")", &[]);
        assert!(call(&d, &id, "get", "(\"k\")", &[]).contains("opt \"v\""));
    }
    d.run(&["canister", "top-up", &id, "lots"]).fails(2);
}
