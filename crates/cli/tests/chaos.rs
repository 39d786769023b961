//! Chaos: `drydock start` killed with SIGKILL at random moments while 4 clients send updates
//! and replay requests already answered, then started again on the same state directory, for
//! `DRYDOCK_CHAOS_TRIALS` trials (10 by default; `scripts/chaos.sh --trials 1000` runs more).
//!
//! The canister is `pingpong`, whose version grows by one for every update that runs. Across
//! all trials, with A the updates acknowledged (HTTP 200 with a certificate) and S the distinct
//! requests sent:
//! - nothing acknowledged is lost and nothing runs twice: A ≤ version growth ≤ S;
//! - a replayed request (the same bytes again, after restarts) is answered and does not run
//!   again (interface spec, "Request ids");
//! - the directory is never left corrupt: every restart comes up and answers.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{call_envelope, next, pingpong_version, post_cbor, Drydock};

const CLIENTS: usize = 4;
/// Requests expire after this long; replays are drawn from the answered ones of the last
/// minute, so they are still within their expiry.
const TTL: Duration = Duration::from_secs(240);

/// An answered request, kept for replays.
struct Answered {
    body: Vec<u8>,
    at: Instant,
}

#[allow(clippy::print_stderr)] // the run's figures, shown with --nocapture
#[test]
fn sigkill_of_drydock_start_under_load_loses_nothing_acknowledged_and_runs_nothing_twice() {
    let trials: u64 = std::env::var("DRYDOCK_CHAOS_TRIALS")
        .ok()
        .map(|t| t.parse().expect("DRYDOCK_CHAOS_TRIALS: a number"))
        .unwrap_or(10);
    let d = Drydock::new();
    let (id, canister) = d.with_test_canister("pingpong.wasm");
    let path = format!("/api/v3/canister/{id}/call");

    let acked = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let replays = Arc::new(AtomicU64::new(0));
    let replays_answered = Arc::new(AtomicU64::new(0));
    let answered: Arc<Mutex<Vec<Answered>>> = Arc::new(Mutex::new(Vec::new()));
    let mut seed = 0x000c_4a05_u64;
    let start = Instant::now();
    let mut first_version = None;
    let mut restarts = 0u64;

    for trial in 0..trials {
        let server = d.serve();
        restarts += 1;
        let version = pingpong_version(&server.url, canister);
        let first = *first_version.get_or_insert(version);
        // The invariant, after every restart.
        let (a, s) = (acked.load(Ordering::SeqCst), sent.load(Ordering::SeqCst));
        let ran = version - first;
        assert!(
            a <= ran && ran <= s,
            "trial {trial}: {a} acknowledged, {ran} ran, {s} sent"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (url, path) = (server.url.clone(), path.clone());
                let (acked, sent, stop) = (acked.clone(), sent.clone(), stop.clone());
                let (replays, replays_answered) = (replays.clone(), replays_answered.clone());
                let answered = answered.clone();
                let mut seed = seed ^ ((client as u64 + 1) * 0x9e37);
                std::thread::spawn(move || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        // One request in four replays an answered one.
                        if next(&mut seed).is_multiple_of(4) {
                            let old = {
                                let mut kept = answered.lock().expect("lock");
                                kept.retain(|a| a.at.elapsed() < Duration::from_secs(60));
                                (!kept.is_empty()).then(|| {
                                    let n = next(&mut seed) as usize % kept.len();
                                    kept[n].body.clone()
                                })
                            };
                            if let Some(body) = old {
                                replays.fetch_add(1, Ordering::SeqCst);
                                match post_cbor(&url, &path, &body) {
                                    Some(200) => {
                                        replays_answered.fetch_add(1, Ordering::SeqCst);
                                    }
                                    Some(other) => panic!("a replay was answered {other}"),
                                    None => return,
                                }
                                continue;
                            }
                        }
                        let nonce = format!("{trial}/{client}/{i}");
                        i += 1;
                        let body = call_envelope(canister, "noop", nonce.as_bytes(), TTL);
                        sent.fetch_add(1, Ordering::SeqCst);
                        match post_cbor(&url, &path, &body) {
                            Some(200) => {
                                acked.fetch_add(1, Ordering::SeqCst);
                                answered.lock().expect("lock").push(Answered {
                                    body,
                                    at: Instant::now(),
                                });
                            }
                            // Accepted, not yet answered: it may or may not run.
                            Some(202) => {}
                            Some(other) => panic!("an update was answered {other}"),
                            // The server was killed.
                            None => return,
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50 + next(&mut seed) % 350));
        // SAFETY: kill(2) on the pid of a child the guard owns and has not reaped.
        unsafe {
            libc::kill(server.child.id() as i32, libc::SIGKILL);
        }
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.join().expect("a client panicked");
        }
        drop(server);
    }

    // After the last kill: everything acknowledged is there, nothing ran twice, and a replay
    // of every request answered in the last minute runs nothing.
    let server = d.serve();
    let version = pingpong_version(&server.url, canister);
    let first = first_version.expect("at least one trial");
    let (a, s) = (acked.load(Ordering::SeqCst), sent.load(Ordering::SeqCst));
    let ran = version - first;
    assert!(
        a <= ran && ran <= s,
        "{a} acknowledged, {ran} ran, {s} sent"
    );
    let recent: Vec<Vec<u8>> = answered
        .lock()
        .expect("lock")
        .iter()
        .filter(|a| a.at.elapsed() < Duration::from_secs(60))
        .map(|a| a.body.clone())
        .collect();
    for body in &recent {
        assert_eq!(post_cbor(&server.url, &path, body), Some(200));
    }
    assert_eq!(
        pingpong_version(&server.url, canister),
        version,
        "a replay after the last restart ran again"
    );
    assert!(a > 0, "no update was acknowledged in {trials} trials");
    eprintln!(
        "chaos: {trials} SIGKILL trials and {restarts} restarts in {:.1?}; {s} updates sent, \
         {a} acknowledged, {ran} ran (lost: 0, twice: 0); {} replays sent, {} answered without \
         running, {} more after the last restart",
        start.elapsed(),
        replays.load(Ordering::SeqCst),
        replays_answered.load(Ordering::SeqCst),
        recent.len()
    );
}
