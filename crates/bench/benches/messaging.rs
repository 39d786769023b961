//! `messaging`: what an inter-canister call costs. In one replica, in one process, with the
//! Rust `pingpong` test canister installed twice (A and B):
//!
//! - `noop`: an ingress update `A.noop()` (execution + durable commit): the baseline.
//! - `ping`: an ingress update `A.call_and_report(B, "noop")`: A's method runs and calls B
//!   (commit), B's `noop` runs (commit), A's reply callback runs and replies (commit) — one
//!   inter-canister call and its reply inside one ingress update.
//!
//! - `parallel/one_canister` vs `parallel/two_canisters`: 16 `compute(2_000_000)` updates
//!   (a CPU-bound loop, ≈ 5 ms each) accepted at once, then rounds until all are answered —
//!   all 16 on one `kv` canister (which runs one message at a time), or 8 on each of two
//!   (which run in parallel). The ratio is the speed-up of running canisters in parallel.
//!
//! Run: `cargo bench -p drydock-bench --bench messaging` (needs the test canisters).

use std::io::Write;
use std::time::Duration;

use candid::Principal;
use criterion::Criterion;
use drydock_bench::report::Report;
use drydock_bench::{machine_summary, test_canister, user, KvReplica};

#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn main() {
    let wasm = test_canister("pingpong");
    let report = Report::start();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    println!("machine: {}", machine_summary());
    let mut a = KvReplica::new(wasm.clone());
    let b = drydock_bench::another_canister(&mut a.replica, wasm);
    let noop = candid::encode_args(()).expect("encoding");
    let ping = candid::encode_args((b, "noop")).expect("encoding");
    let (code, text): (u32, String) =
        candid::decode_args(&a.update("call_and_report", &ping)).expect("decoding");
    assert_eq!(
        (code, text.as_str()),
        (0, "replied"),
        "A's call to B must reply"
    );
    let mut g = c.benchmark_group("messaging");
    g.bench_function("noop", |bench| bench.iter(|| a.update("noop", &noop)));
    g.bench_function("ping", |bench| {
        bench.iter(|| a.update("call_and_report", &ping))
    });
    g.finish();

    let mut k = KvReplica::new(test_canister("kv"));
    let k2 = drydock_bench::another_canister(&mut k.replica, test_canister("kv"));
    let k1 = k.canister;
    let compute = candid::encode_one(2_000_000u32).expect("encoding");
    let burst = |replica: &mut drydock_replica::Replica, targets: &[Principal]| {
        let ids: Vec<u64> = targets
            .iter()
            .map(
                |t| match replica.start_update(user(), *t, "compute", &compute) {
                    Ok(drydock_replica::Started::Pending(id)) => id,
                    _ => panic!("compute must be accepted for a round"),
                },
            )
            .collect();
        replica.run_until_idle().expect("rounds");
        for id in ids {
            replica
                .poll_update(id)
                .expect("every compute call has its answer after the rounds")
                .expect("compute replies");
        }
    };
    let one: Vec<Principal> = vec![k1; 16];
    let two: Vec<Principal> = (0..16).map(|i| if i % 2 == 0 { k1 } else { k2 }).collect();
    let mut g = c.benchmark_group("parallel");
    g.sample_size(10);
    g.bench_function("one_canister", |bench| {
        bench.iter(|| burst(&mut k.replica, &one))
    });
    g.bench_function("two_canisters", |bench| {
        bench.iter(|| burst(&mut k.replica, &two))
    });
    g.finish();
    c.final_summary();
    report.print_ratios(
        "messaging: ping / noop (same replica, same process)",
        &[(
            "one inter-canister call and its reply in an ingress update vs a noop update",
            "messaging/ping",
            "messaging/noop",
        )],
    );
    report.print_ratios(
        "parallel: 16 compute updates on one canister / 8 on each of two (speed-up)",
        &[(
            "one canister's time over two canisters' time",
            "parallel/one_canister",
            "parallel/two_canisters",
        )],
    );
    let _ = std::io::stdout().flush();
}
