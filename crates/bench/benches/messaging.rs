//! `messaging`: what an inter-canister call costs. In one replica, in one process, with the
//! Rust `pingpong` test canister installed twice (A and B):
//!
//! - `noop`: an ingress update `A.noop()` (execution + durable commit): the baseline.
//! - `ping`: an ingress update `A.call_and_report(B, "noop")`: A's method runs and calls B
//!   (commit), B's `noop` runs (commit), A's reply callback runs and replies (commit) — one
//!   inter-canister call and its reply inside one ingress update.
//!
//! Run: `cargo bench -p drydock-bench --bench messaging` (needs the test canisters).

use std::io::Write;
use std::time::Duration;

use candid::Principal;
use criterion::Criterion;
use drydock_bench::report::Report;
use drydock_bench::{machine_summary, test_canister, user, KvReplica};
use drydock_replica::MANAGEMENT_CANISTER;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, InstallCodeArgs, ProvisionalCreateCanisterWithCyclesArgs,
};

/// A second canister running `wasm` in the same replica.
fn second(kv: &mut KvReplica, wasm: Vec<u8>) -> Principal {
    let create =
        candid::encode_one(ProvisionalCreateCanisterWithCyclesArgs::default()).expect("encoding");
    let reply = kv
        .replica
        .update(
            user(),
            MANAGEMENT_CANISTER,
            "provisional_create_canister_with_cycles",
            &create,
        )
        .expect("creating B");
    let id = candid::decode_one::<CanisterIdRecord>(&reply)
        .expect("decoding")
        .canister_id;
    let install = InstallCodeArgs {
        mode: CanisterInstallMode::Install,
        canister_id: id,
        wasm_module: wasm,
        arg: candid::encode_args(()).expect("encoding"),
        sender_canister_version: None,
    };
    kv.replica
        .update(
            user(),
            MANAGEMENT_CANISTER,
            "install_code",
            &candid::encode_one(install).expect("encoding"),
        )
        .expect("installing B");
    id
}

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
    let b = second(&mut a, wasm);
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
    c.final_summary();
    report.print_ratios(
        "messaging: ping / noop (same replica, same process)",
        &[(
            "one inter-canister call and its reply in an ingress update vs a noop update",
            "messaging/ping",
            "messaging/noop",
        )],
    );
    let _ = std::io::stdout().flush();
}
