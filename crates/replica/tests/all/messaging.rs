//! Inter-canister calls between real canisters (the Rust `pingpong`, built with ic-cdk 0.20,
//! and the Motoko `pingpong_mo`): call contexts, callbacks, rejects, cleanup, cycles, timers,
//! heartbeats, composite queries, stopping, and durability across a reopen.

use crate::support::*;
use candid::{CandidType, Deserialize, Nat, Principal};
use drydock_replica::{CanisterStatus, ErrorCode};
use ic_management_canister_types::CanisterIdRecord;

#[derive(CandidType, Deserialize, Debug, PartialEq, Eq)]
struct Counters {
    completed: u64,
    cleanups: u64,
    timer_ticks: u64,
    heartbeats: u64,
}

fn counters(env: &mut Env, id: Principal) -> Counters {
    let (c,): (Counters,) = env.query(id, "counters", ()).unwrap();
    c
}

fn three(env: &mut Env, name: &str) -> (Principal, Principal, Principal) {
    (
        env.installed(wasm(name)),
        env.installed(wasm(name)),
        env.installed(wasm(name)),
    )
}

// Interface spec, "Inter-canister method calls" and abstract behaviour "Call contexts":
// A calls B calls C; each reply runs the caller's reply callback, whose changes are kept.
#[test]
fn rust_canisters_call_each_other_in_a_chain_and_keep_state_after_await() {
    let mut env = Env::new();
    let (a, b, c) = three(&mut env, "pingpong");
    for round in 1..=3u64 {
        let (text,): (String,) = env.update(a, "chain", (vec![b, c],)).unwrap();
        assert_eq!(text, format!("{a} > {b} > end"), "call {round}");
        assert_eq!(counters(&mut env, a).completed, round);
        assert_eq!(counters(&mut env, b).completed, round);
        assert_eq!(counters(&mut env, c).completed, 0, "C made no call");
    }
    // Nothing is left open.
    for id in [a, b, c] {
        assert_eq!(env.replica.canister(&id).unwrap().calls.open_contexts(), 0);
        assert!(env
            .replica
            .canister(&id)
            .unwrap()
            .calls
            .callbacks
            .is_empty());
    }
    assert!(!env.replica.has_pending_messages());
    env.reopen();
    assert_eq!(counters(&mut env, a).completed, 3);
}

#[test]
fn motoko_canisters_call_each_other_in_a_chain() {
    let mut env = Env::new();
    let (a, b, c) = three(&mut env, "pingpong_mo");
    for _ in 0..2 {
        let (text,): (String,) = env.update(a, "chain", (vec![b, c],)).unwrap();
        assert!(text.ends_with("end"), "{text}");
        assert!(text.contains(&b.to_text()), "{text}");
    }
    // A Rust canister in the middle of a Motoko chain.
    let r = env.installed(wasm("pingpong"));
    let (text,): (String,) = env.update(a, "chain", (vec![r, c],)).unwrap();
    assert!(
        text.contains(&r.to_text()) && text.ends_with("end"),
        "{text}"
    );
}

// Interface spec, "Reject codes": a trap in the callee reaches the caller as CANISTER_ERROR
// (5); an explicit reject as CANISTER_REJECT (4); an unknown canister as DESTINATION_INVALID
// (3); an unknown method as CANISTER_ERROR with IC0536.
#[test]
fn reject_codes_and_traps_propagate_to_the_caller() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("pingpong"));
    for _ in 0..2 {
        let (code, msg): (u32, String) = env
            .update(a, "call_and_report", (b, "trap_now".to_string()))
            .unwrap();
        assert_eq!(code, 5, "{msg}");
        assert!(msg.contains("pingpong: trap_now"), "{msg}");
        assert!(msg.contains(&b.to_text()), "{msg}");
    }
    let (code, msg): (u32, String) = env
        .update(a, "call_and_report", (b, "no_such_method".to_string()))
        .unwrap();
    assert_eq!(code, 5, "{msg}");
    assert!(msg.contains("no_such_method"), "{msg}");
    let missing = drydock_replica::canister_id_from_index(4000);
    let (code, msg): (u32, String) = env
        .update(a, "call_and_report", (missing, "noop".to_string()))
        .unwrap();
    assert_eq!(code, 3, "{msg}");
    // A chain reports the inner reject as text.
    let (text,): (String,) = env.update(a, "chain", (vec![missing],)).unwrap();
    assert!(text.contains("reject 3"), "{text}");
    // The caller's state after each await was committed (call_and_report 4 times, chain once).
    assert_eq!(counters(&mut env, a).completed, 5);
}

// Interface spec, "Performance counter": in a callback, type 0 counts the callback's own
// instructions and type 1 those of the whole call context (the message before its await, and
// the callback).
#[test]
fn a_callback_counts_its_own_instructions_and_its_call_contexts() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("pingpong"));
    for _ in 0..2 {
        let (before, callback, context): (u64, u64, u64) =
            env.update(a, "performance_counters", (b,)).unwrap();
        // The message ran a 10,000-step loop before its call; the callback did not.
        assert!(before > 50_000, "before the call: {before}");
        assert!(callback < before, "callback {callback} vs message {before}");
        assert!(
            context >= before + callback,
            "the context counts the message ({before}) and the callback ({callback}): {context}"
        );
    }
}

// Interface spec, "Callback invocation": a trapping callback is rolled back, then its
// cleanup callback runs and keeps its changes; ic-cdk drops the awaiting future there.
#[test]
fn a_trap_after_await_rolls_back_the_callback_and_runs_on_cleanup() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("pingpong"));
    for n in 1..=2u64 {
        let err = env
            .update::<_, ()>(a, "trap_after_await", (b,))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::CanisterCalledTrap, "{err}");
        assert!(err.message.contains("trap after await"), "{err}");
        assert_eq!(counters(&mut env, a).cleanups, n);
    }
    assert_eq!(env.replica.canister(&a).unwrap().calls.open_contexts(), 0);
}

#[test]
fn a_fan_out_of_one_hundred_parallel_calls_all_come_back() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("pingpong"));
    for _ in 0..2 {
        let (n,): (u32,) = env.update(a, "fan_out", (b, 100u32)).unwrap();
        assert_eq!(n, 100);
    }
    // Self-calls too.
    let (n,): (u32,) = env.update(a, "fan_out", (a, 50u32)).unwrap();
    assert_eq!(n, 50);
    assert!(!env.replica.has_pending_messages());
}

// Interface spec, "Cycles": cycles attached to a call move to the callee as far as it
// accepts them; the rest come back with the response. Each canister also pays its own fees
// ("Cycles costs"), and the balances add up exactly with them.
#[test]
fn cycles_sent_and_refunded_add_up_exactly() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("pingpong"));
    let state = |env: &Env, id: Principal| {
        let r = env.replica.canister(&id).unwrap();
        (r.cycles, r.cycles_burned)
    };
    for _ in 0..2 {
        let ((a0, fa0), (b0, fb0)) = (state(&env, a), state(&env, b));
        let (accepted, refunded): (Nat, Nat) = env
            .update(
                a,
                "send_cycles",
                (b, Nat::from(1_000_000u64), Nat::from(300_000u64)),
            )
            .unwrap();
        assert_eq!(accepted, Nat::from(300_000u64));
        assert_eq!(refunded, Nat::from(700_000u64));
        let ((a1, fa1), (b1, fb1)) = (state(&env, a), state(&env, b));
        let (fees_a, fees_b) = (fa1 - fa0, fb1 - fb0);
        assert_eq!(b1 + fees_b - b0, 300_000);
        assert_eq!(a0 - a1 - fees_a, 300_000);
        assert_eq!(
            a0 + b0,
            a1 + b1 + fees_a + fees_b,
            "no cycle is created or lost"
        );
        // A paid for the ingress message, two executions and the call; B for one execution.
        assert!(fees_a > 2 * 5_000_000 + 1_200_000 + 260_000, "{fees_a}");
        assert!(fees_b > 5_000_000, "{fees_b}");
    }
}

// Interface spec, "Global timer": ic-cdk-timers runs every timer through a self-call.
#[test]
fn ic_cdk_timers_fire_with_nobody_calling() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let () = env.update(a, "start_timer", (1u64,)).unwrap();
    let () = env.update(a, "start_once", (1u64,)).unwrap();
    let start = std::time::Instant::now();
    while counters(&mut env, a).timer_ticks < 3 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "timers did not fire: {:?}",
            counters(&mut env, a)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        env.replica.run_round().unwrap();
    }
}

#[test]
fn a_heartbeat_runs_every_round() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong_heartbeat"));
    let h = env.installed(wasm("heartbeat"));
    for _ in 0..5 {
        env.replica.run_round().unwrap();
    }
    let c = counters(&mut env, a);
    assert!(c.heartbeats >= 5, "{c:?}");
    let (beats,): (Nat,) = env.query(h, "beats", ()).unwrap();
    assert!(beats >= 5u64, "{beats}");
}

#[test]
fn a_motoko_recurring_timer_fires() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong_mo"));
    let () = env.update(a, "startTimer", (Nat::from(1u64),)).unwrap();
    let start = std::time::Instant::now();
    loop {
        let (ticks,): (Nat,) = env.query(a, "ticks", ()).unwrap();
        if ticks >= 2u64 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{ticks}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        env.replica.run_round().unwrap();
    }
}

// Interface spec, "Composite query methods".
#[test]
fn a_motoko_composite_query_reads_another_canisters_query() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong_mo"));
    let b = env.installed(wasm("pingpong_mo"));
    for _ in 0..3 {
        let (_,): (Nat,) = env.update(b, "inc", ()).unwrap();
    }
    for _ in 0..2 {
        let (n,): (Nat,) = env.query(a, "peek", (b,)).unwrap();
        assert_eq!(n, Nat::from(3u64));
    }
    // As an update it is refused with IC0527.
    let err = env.update::<_, (Nat,)>(a, "peek", (b,)).unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::CompositeQueryCalledInReplicatedMode,
        "{err}"
    );
}

// Interface spec, "IC method create_canister" called by a canister, paying with cycles.
#[test]
fn a_canister_creates_and_installs_a_canister() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let kv = wasm("kv");
    let (child,): (Principal,) = env
        .update(
            a,
            "create_and_install",
            (
                serde_bytes::ByteBuf::from(kv),
                Nat::from(1_000_000_000_000u64),
            ),
        )
        .unwrap();
    let () = env
        .update(child, "put", ("k".to_string(), "v".to_string()))
        .unwrap();
    let (v,): (Option<String>,) = env.query(child, "get", ("k".to_string(),)).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let rec = env.replica.canister(&child).unwrap();
    assert_eq!(rec.settings.controllers, vec![a]);
    // The child paid for its install and its `put` from the cycles it was created with.
    assert_eq!(rec.cycles + rec.cycles_burned, 1_000_000_000_000);
    assert!(rec.cycles_burned > 0);
    let (bytes,): (serde_bytes::ByteBuf,) = env.update(a, "raw_rand", ()).unwrap();
    assert_eq!(bytes.len(), 32);
}

// Interface spec, "IC method stop_canister": A waits on B (which self-calls for a while);
// A is stopping meanwhile and rejects new calls, its callback still runs, and then it stops.
// Requests to a stopping canister are rejected, its own self-calls included, as on the IC.
#[test]
fn a_canister_waiting_on_a_slow_callee_is_stopping_until_the_reply() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("pingpong"));
    for _ in 0..2 {
        let arg = candid::encode_args((b, 500_000_000u64)).unwrap();
        let req = env.replica.submit(user(), a, "wait_on", &arg).unwrap();
        let status = env.replica.stop_without_waiting(user(), a).unwrap();
        assert_eq!(status, CanisterStatus::Stopping);
        assert_eq!(env.replica.canister(&a).unwrap().calls.open_contexts(), 1);
        let err = env.update::<_, ()>(a, "noop", ()).unwrap_err();
        assert_eq!(err.code, ErrorCode::CanisterStopping, "{err}");
        // B keeps working; its reply reaches A's callback, then A stops.
        let reply = env.replica.request_status(req, true).unwrap();
        let (n,): (u64,) = candid::decode_args(&reply.unwrap().unwrap()).unwrap();
        assert!(n >= 1, "{n}");
        env.replica.run_round().unwrap();
        assert_eq!(
            env.replica.canister(&a).unwrap().status,
            CanisterStatus::Stopped
        );
        let err = env.update::<_, ()>(a, "noop", ()).unwrap_err();
        assert_eq!(err.code, ErrorCode::CanisterStopped, "{err}");
        env.mgmt::<_, ()>(
            user(),
            "start_canister",
            &CanisterIdRecord { canister_id: a },
        )
        .unwrap();
        let () = env.update(a, "noop", ()).unwrap();
    }
    // A canister stopping with a self-call outstanding: the self-call is rejected (IC0509).
    let arg = candid::encode_args((1_000_000_000u64,)).unwrap();
    let req = env.replica.submit(user(), b, "slow", &arg).unwrap();
    env.replica.stop_without_waiting(user(), b).unwrap();
    let err = env
        .replica
        .request_status(req, true)
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(err.message.contains("is stopping"), "{err}");
}

#[test]
fn stop_canister_called_by_a_user_waits_for_the_open_call_context() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("pingpong"));
    let arg = candid::encode_args((b, 300_000_000u64)).unwrap();
    let req = env.replica.submit(user(), a, "wait_on", &arg).unwrap();
    env.mgmt::<_, ()>(
        user(),
        "stop_canister",
        &CanisterIdRecord { canister_id: a },
    )
    .unwrap();
    assert_eq!(
        env.replica.canister(&a).unwrap().status,
        CanisterStatus::Stopped
    );
    // The call was answered before the stop completed.
    assert!(env
        .replica
        .request_status(req, false)
        .unwrap()
        .unwrap()
        .is_ok());
    env.mgmt::<_, ()>(
        user(),
        "start_canister",
        &CanisterIdRecord { canister_id: a },
    )
    .unwrap();
}

// Durability: queued messages and open call contexts survive a reopen (a new process).
#[test]
fn a_call_chain_interrupted_by_a_reopen_completes_exactly_once() {
    let mut env = Env::new();
    let (a, b, c) = three(&mut env, "pingpong");
    let arg = candid::encode_args((vec![b, c],)).unwrap();
    let req = env.replica.submit(user(), a, "chain", &arg).unwrap();
    assert!(env.replica.has_pending_messages());
    env.reopen();
    let reply = env
        .replica
        .request_status(req, true)
        .unwrap()
        .unwrap()
        .unwrap();
    let (text,): (String,) = candid::decode_args(&reply).unwrap();
    assert_eq!(text, format!("{a} > {b} > end"));
    assert_eq!(counters(&mut env, a).completed, 1);
    assert_eq!(counters(&mut env, b).completed, 1);
    env.reopen();
    assert_eq!(counters(&mut env, a).completed, 1);
    assert!(!env.replica.has_pending_messages());
}

// Interface spec, "IC method uninstall_code": open call contexts are rejected.
#[test]
fn uninstalling_a_canister_rejects_its_open_call_contexts() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let arg = candid::encode_args((2_000_000_000u64,)).unwrap();
    let req = env.replica.submit(user(), a, "slow", &arg).unwrap();
    env.mgmt::<_, ()>(
        user(),
        "uninstall_code",
        &CanisterIdRecord { canister_id: a },
    )
    .unwrap();
    let err = env
        .replica
        .request_status(req, true)
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterRejectedMessage, "{err}");
    assert!(err.message.contains("uninstalled"), "{err}");
    env.replica.run_until_idle().unwrap();
    assert!(!env.replica.has_pending_messages());
}

// Interface spec, "Best-effort responses": a bounded-wait call whose deadline passes before the
// callee replies is rejected with SYS_UNKNOWN (6); the late reply is dropped.
#[test]
fn a_best_effort_call_times_out_with_sys_unknown() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("pingpong"));
    // B works for 2.5 s; A waits at most 1 s.
    let (code, msg): (u32, String) = env
        .update(a, "wait_on_bounded", (b, 2_500_000_000u64, 1u32))
        .unwrap();
    assert_eq!(code, 6, "{msg}");
    // A call that finishes in time replies.
    let (code, msg): (u32, String) = env
        .update(a, "wait_on_bounded", (b, 1_000_000u64, 30u32))
        .unwrap();
    assert_eq!((code, msg.as_str()), (0, "replied"));
    // B's late reply to the first call is dropped and nothing stays open.
    let start = std::time::Instant::now();
    while env.replica.has_pending_messages() {
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        env.replica.run_round().unwrap();
    }
    assert_eq!(env.replica.canister(&a).unwrap().calls.open_contexts(), 0);
    assert!(env.replica.canister(&a).unwrap().calls.callbacks.is_empty());
}

// Interface spec, "IC method provisional_top_up_canister".
#[test]
fn provisional_top_up_adds_cycles_to_a_canister() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let (before,): (Nat,) = env.query(a, "balance", ()).unwrap();
    for _ in 0..2 {
        env.mgmt::<_, ()>(
            eve(),
            "provisional_top_up_canister",
            &ic_management_canister_types::ProvisionalTopUpCanisterArgs {
                canister_id: a,
                amount: Nat::from(1_000u64),
            },
        )
        .unwrap();
    }
    let (after,): (Nat,) = env.query(a, "balance", ()).unwrap();
    assert_eq!(after - before, Nat::from(2_000u64));
}

// Interface spec, "Callback invocation" (seed 001): a callback registered before an upgrade
// runs in the new module's table, as on the IC — here kv's, whose table does not hold
// pingpong's closure, so the callback fails and the call is answered with the trap. drydock
// names the event in the canister's log: which call, which module registered it, which runs it.
#[test]
fn a_callback_registered_before_an_upgrade_runs_in_the_new_modules_table_and_is_logged() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("pingpong"));
    let arg = candid::encode_args((b, 300_000_000u64)).unwrap();
    let req = env.replica.submit(user(), a, "wait_on", &arg).unwrap();
    assert_eq!(env.replica.canister(&a).unwrap().calls.callbacks.len(), 1);
    let registered = env.replica.canister(&a).unwrap().version;
    // The raw upgrade stays IC-faithful: it does not wait for the call.
    env.upgrade(a, wasm("kv"), false, None).unwrap();
    let answer = env.replica.request_status(req, true).unwrap().unwrap();
    let err = answer.unwrap_err();
    env.assert_stale_response(a, &err, registered);
    // The canister itself is healthy: kv answers.
    let (v,): (String,) = env.query(a, "version", ()).unwrap();
    assert_eq!(v, "v1");
}

/// The scheduler's group commit (`begin_sync`, as `drydock start` runs it): between rounds
/// it syncs only when an answer waits, so an accepted call's answer waits for one
/// `fdatasync` (its execution's), not first for one of its own acceptance; the answer, which
/// can be copied for its certificate while the sync runs, is handed out only after it. Twice.
#[test]
fn between_rounds_a_sync_is_taken_only_for_an_answer_and_the_answer_only_after_it() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let cutoff = drydock_replica::Cutoff::running(64);
    for i in 0..2u8 {
        let r = &mut env.replica;
        let (arg, key) = (
            candid::encode_args((format!("k{i}"), format!("v{i}"))).unwrap(),
            format!("k{i}"),
        );
        // As `drydock start` accepts a call: its request id is kept with its number.
        let expiry = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            + 300_000_000_000;
        let started = r
            .start_request(drydock_replica::IngressRequest {
                id: [i + 1; 32],
                expiry,
                sender: user(),
                canister: id,
                method: "put",
                arg: &arg,
                caller_info: None,
            })
            .unwrap();
        let drydock_replica::Started::Pending(n) = started else {
            panic!("the update was not accepted for a round: {started:?}")
        };
        // Its acceptance is written, not synced: no answer waits, so no sync between rounds;
        // at a round (`answers_only` false) there is one, covering no answer.
        assert!(r.begin_sync(true).unwrap().is_none());
        let round = r.begin_sync(false).unwrap().expect("a round's sync");
        assert!(r.pending_results(&round, |_| true).is_empty());
        round.run().unwrap();
        r.published(round);
        assert!(r.poll_update(n).is_none());
        let jobs = r.take_work(None, cutoff).unwrap();
        assert_eq!(jobs.len(), 1, "one job for the accepted call");
        let replica = std::sync::Mutex::new(&mut *r);
        let with =
            |f: &mut dyn FnMut(&mut drydock_replica::Replica)| f(&mut replica.lock().unwrap());
        for job in jobs {
            drydock_replica::drain(&with, job, cutoff).unwrap();
        }
        let sync = r
            .begin_sync(true)
            .unwrap()
            .expect("an answer waits for a sync");
        let ahead = r.pending_results(&sync, |m| m == n);
        assert_eq!(ahead.len(), 1);
        assert_eq!(ahead[0].0, n);
        assert!(r.pending_results(&sync, |m| m != n).is_empty());
        // Not handed out before the sync ran and was published.
        assert!(r.poll_update(n).is_none());
        sync.run().unwrap();
        r.published(sync);
        let answer = r
            .poll_update(n)
            .expect("the answer after the sync")
            .unwrap();
        assert_eq!(Some(&answer), ahead[0].1.as_ref().ok());
        let () = candid::decode_args(&answer).unwrap();
        let (v,): (Option<String>,) = env.query(id, "get", (key,)).unwrap();
        assert_eq!(v, Some(format!("v{i}")));
    }
}
