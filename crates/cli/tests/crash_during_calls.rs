//! Crash tests of inter-canister calls: `drydock` processes submitting and running 3-canister
//! call chains (A calls B calls C, the Rust `pingpong` canister) are killed with SIGKILL at
//! random moments, 200 times. After each kill the state directory opens, every acknowledged
//! chain gets exactly one response, and no chain runs twice: A and B count each completed
//! chain once, and the two counts agree.

mod common;

use std::process::Stdio;
use std::time::Duration;

use candid::{CandidType, Deserialize};
use drydock_replica::{Principal, Replica};

use common::{become_subreaper, drydock, next, open_when_unlocked, test_canister, CommandLoop};

#[derive(CandidType, Deserialize)]
struct Counters {
    completed: u64,
    cleanups: u64,
    timer_ticks: u64,
    heartbeats: u64,
}

fn completed(replica: &mut Replica, id: Principal) -> u64 {
    let reply = replica
        .query(
            Principal::anonymous(),
            id,
            "counters",
            &candid::encode_args(()).unwrap(),
        )
        .unwrap();
    let (c,): (Counters,) = candid::decode_args(&reply).unwrap();
    c.completed
}

#[test]
fn sigkill_during_call_chains_under_load_leaves_every_chain_completed_exactly_once() {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let wasm = test_canister("pingpong.wasm");
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let id = drydock(&state, &["canister", "create"]);
            drydock(
                &state,
                &["canister", "install", &id, wasm.to_str().unwrap()],
            );
            id
        })
        .collect();
    let [a, b, c] = [0, 1, 2].map(|i| Principal::from_text(&ids[i]).unwrap());
    let arg = format!(r#"(vec {{ principal "{b}"; principal "{c}" }})"#);
    let want = format!("{a} > {b} > end");
    let mut seed = 0xc4a1_u64;
    let trials = 200;
    let mut acked_total = 0u64;
    for trial in 0..trials {
        // A stream of chains submitted with --async; each submission also runs a round, so the
        // chains submitted before it progress (and are killed) in the middle.
        let script = format!(
            r#"for i in $(seq 0 100000); do "$0" --state-dir "$1" canister call "$2" chain '{arg}' --async || exit 1; done"#
        );
        let command_loop = CommandLoop::spawn(&script, &state, &ids[0], Stdio::null());
        let want_acks = 1 + next(&mut seed) % 3;
        let mut acked = command_loop.wait_for(want_acks as usize);
        assert!(!acked.is_empty(), "trial {trial}: no chain was submitted");
        std::thread::sleep(Duration::from_micros(next(&mut seed) % 40_000));
        acked.extend(command_loop.kill());

        let mut replica = open_when_unlocked(&state);
        for line in &acked {
            let id = u64::from_str_radix(line.trim(), 16)
                .unwrap_or_else(|e| panic!("trial {trial}: request id {line:?}: {e}"));
            let reply = replica
                .request_status(id, true)
                .unwrap()
                .unwrap_or_else(|| {
                    panic!("trial {trial}: acknowledged request {id} has no response")
                })
                .unwrap_or_else(|e| panic!("trial {trial}: request {id} failed: {e}"));
            let (text,): (String,) = candid::decode_args(&reply).unwrap();
            assert_eq!(text, want, "trial {trial}");
        }
        replica.run_until_idle().unwrap();
        assert!(
            !replica.has_pending_messages(),
            "trial {trial}: messages left"
        );
        acked_total += acked.len() as u64;
        let done_a = completed(&mut replica, a);
        let done_b = completed(&mut replica, b);
        assert_eq!(done_a, done_b, "trial {trial}: a chain ran twice or half");
        // A chain submitted but killed before its id was printed may have started: at most one
        // per trial.
        assert!(
            done_a >= acked_total && done_a <= acked_total + trial + 1,
            "trial {trial}: {done_a} chains completed, {acked_total} acknowledged"
        );
        for id in [a, b, c] {
            let rec = replica.canister(&id).unwrap();
            assert_eq!(rec.calls.open_contexts(), 0, "trial {trial}: {id}");
            assert!(rec.calls.callbacks.is_empty(), "trial {trial}: {id}");
        }
        drop(replica);
    }
    // The canisters still serve chains afterwards.
    let out = drydock(&state, &["canister", "call", &ids[0], "chain", &arg]);
    assert!(out.contains(&want), "{out}");
    assert!(acked_total >= trials);
}
