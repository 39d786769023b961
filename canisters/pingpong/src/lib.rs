//! `pingpong`: inter-canister messaging. Calls between instances of itself
//! (or any canister with the same method names: the Motoko `pingpong_mo`
//! has a compatible `chain`), rejects and traps on either side, traps after
//! an await (ic-cdk's cleanup callback), concurrent calls, cycles transfer and
//! refund, timers (ic-cdk-timers), a heartbeat (feature `heartbeat`),
//! self-call loops across rounds, and management-canister calls.
//!
//! Every call is an unbounded-wait (guaranteed response) call, except the
//! timers' own self-calls, which ic-cdk-timers makes best-effort (300 s).
//!
//! Reject codes are reported as the IC's raw numbers: 1 SYS_FATAL,
//! 2 SYS_TRANSIENT, 3 DESTINATION_INVALID, 4 CANISTER_REJECT, 5 CANISTER_ERROR,
//! 6 SYS_UNKNOWN. A call that fails synchronously (`ic0.call_perform` returns
//! non-zero, or ic-cdk's liquid-balance check refuses it) has no reject code
//! in ic-cdk, so it is reported as 2 (SYS_TRANSIENT), what the IC's
//! `call_perform` itself returns for a full queue or a lack of cycles.
//!
//! All counters are heap-only (reset by an upgrade). The Candid interface is
//! embedded as the custom section `icp:public candid:service` from
//! `pingpong.did` (the same for the `heartbeat` variant).

use std::cell::Cell;
use std::future::IntoFuture;
use std::thread::LocalKey;
use std::time::Duration;

use candid::{CandidType, Nat, Principal};
use ic_cdk::api::canister_self;
use ic_cdk::call::{Call, CallFailed};
use ic_cdk::trap;
use ic_cdk_management_canister as mgmt;
use serde::Deserialize;
use serde_bytes::ByteBuf;

const CANDID_LEN: usize = include_bytes!("../pingpong.did").len();
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../pingpong.did");

/// The reject code reported for a call that failed synchronously.
const SYS_TRANSIENT: u32 = 2;

thread_local! {
    /// Bumped after the await in `chain` and `call_and_report` (reply or reject).
    static COMPLETED: Cell<u64> = const { Cell::new(0) };
    /// Bumped by `CleanupGuard::drop`, which only runs in ic-cdk's cleanup callback.
    static CLEANUPS: Cell<u64> = const { Cell::new(0) };
    static TIMER_TICKS: Cell<u64> = const { Cell::new(0) };
    static HEARTBEATS: Cell<u64> = const { Cell::new(0) };
    /// `ic0.canister_version` as `canister_init` or `canister_post_upgrade` saw it.
    static HOOK_VERSION: Cell<u64> = const { Cell::new(u64::MAX) };
}

#[ic_cdk::init]
fn init() {
    HOOK_VERSION.set(ic_cdk::api::canister_version());
}

#[ic_cdk::post_upgrade]
fn post_upgrade() {
    HOOK_VERSION.set(ic_cdk::api::canister_version());
}

/// The version the last install hook saw, and the version now.
#[ic_cdk::query]
fn canister_versions() -> (u64, u64) {
    (HOOK_VERSION.get(), ic_cdk::api::canister_version())
}

fn bump(counter: &'static LocalKey<Cell<u64>>) {
    counter.set(counter.get() + 1);
}

/// `nat` -> u128, saturating (no call can attach or accept more anyway).
fn to_u128(n: &Nat) -> u128 {
    u128::try_from(&n.0).unwrap_or(u128::MAX)
}

/// (reject code, message) of a failed call.
fn failure(e: &CallFailed) -> (u32, String) {
    match e {
        CallFailed::CallRejected(r) => (r.raw_reject_code(), r.reject_message().to_string()),
        CallFailed::CallPerformFailed(e) => (SYS_TRANSIENT, e.to_string()),
        CallFailed::InsufficientLiquidCycleBalance(e) => (SYS_TRANSIENT, e.to_string()),
    }
}

// ---------------------------------------------------------------- basic

#[ic_cdk::update]
fn noop() {}

#[ic_cdk::update]
fn trap_now() {
    trap("pingpong: trap_now");
}

/// Explicit reject (`ic0.msg_reject`): the caller sees CANISTER_REJECT (4) and `msg`.
#[ic_cdk::update(manual_reply = true)]
fn reject_now(msg: String) {
    ic_cdk::api::msg_reject(msg);
}

// ---------------------------------------------------------------- calls

/// `chain([])` = "end"; `chain([a, b, ...])` calls `a.chain([b, ...])` and
/// replies "<self> > <a's reply>", or "reject <code> <message>" when that call
/// fails (a reject is answered with a reply, not passed on).
#[ic_cdk::update]
async fn chain(hops: Vec<Principal>) -> String {
    let Some((next, rest)) = hops.split_first() else {
        return "end".to_string();
    };
    let res = Call::unbounded_wait(*next, "chain").with_arg(rest.to_vec()).await;
    bump(&COMPLETED);
    match res {
        Ok(reply) => match reply.candid::<String>() {
            Ok(inner) => format!("{} > {}", canister_self(), inner),
            Err(e) => trap(format!("pingpong chain: bad reply from {next}: {e}")),
        },
        Err(e) => {
            let (code, msg) = failure(&e);
            format!("reject {code} {msg}")
        }
    }
}

/// `ic0.performance_counter` across an await (interface spec, "Performance counter"): before
/// the call (type 0), then in the reply callback type 0 (the callback alone) and type 1 (the
/// whole call context: the message and the callback).
#[ic_cdk::update]
async fn performance_counters(callee: Principal) -> (u64, u64, u64) {
    let mut x: u64 = 1;
    for i in 0..10_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    let before = ic_cdk::api::performance_counter(0);
    let res = Call::unbounded_wait(callee, "noop").await;
    if let Err(e) = res {
        trap(format!("performance_counters: {e} ({x})"));
    }
    let callback = ic_cdk::api::performance_counter(0);
    let context = ic_cdk::api::performance_counter(1);
    (before, callback, context)
}

/// Calls `callee.<method>()` and reports (0, "replied") or (reject code, message).
#[ic_cdk::update]
async fn call_and_report(callee: Principal, method: String) -> (u32, String) {
    let res = Call::unbounded_wait(callee, &method).await;
    bump(&COMPLETED);
    match res {
        Ok(_) => (0, "replied".to_string()),
        Err(e) => failure(&e),
    }
}

/// Calls `callee.slow(ns)` as a bounded-wait (best-effort) call with the given timeout and
/// reports (0, "replied") or (reject code, message): SYS_UNKNOWN (6) when the deadline passes
/// before the reply.
#[ic_cdk::update]
async fn wait_on_bounded(callee: Principal, ns: u64, timeout_seconds: u32) -> (u32, String) {
    let res = Call::bounded_wait(callee, "slow")
        .change_timeout(timeout_seconds)
        .with_arg(ns)
        .await;
    bump(&COMPLETED);
    match res {
        Ok(_) => (0, "replied".to_string()),
        Err(e) => failure(&e),
    }
}

/// `ic0.root_key_copy`: the root key of the network the canister runs on (DER).
#[ic_cdk::query]
fn root_key() -> ByteBuf {
    ByteBuf::from(ic_cdk::api::root_key())
}

/// Counts in CLEANUPS when dropped. `trap_after_await` never returns
/// normally, so the only drop is ic-cdk cancelling the task in the cleanup
/// callback (`ic0.call_on_cleanup`) after the reply callback trapped.
struct CleanupGuard;

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        bump(&CLEANUPS);
    }
}

/// Calls `callee.noop()`, then (in the reply or reject callback) traps.
/// The callback's changes roll back; the cleanup callback then drops this
/// method's future, whose `CleanupGuard` bumps CLEANUPS (and that persists).
/// The caller gets no reply from this method (CANISTER_ERROR).
#[ic_cdk::update]
async fn trap_after_await(callee: Principal) {
    let _guard = CleanupGuard;
    let _ = Call::unbounded_wait(callee, "noop").await;
    trap("pingpong: trap after await");
}

/// `n` concurrent `callee.noop()` calls (all sent in this message), joined;
/// returns how many replied.
#[ic_cdk::update]
async fn fan_out(callee: Principal, n: u32) -> u32 {
    let calls = (0..n).map(|_| Call::unbounded_wait(callee, "noop").into_future());
    let results = futures::future::join_all(calls).await;
    results.iter().filter(|r| r.is_ok()).count() as u32
}

/// Calls `callee.accept_cycles(max)` with `amount` cycles attached. Returns
/// (accepted as replied by the callee, refunded per `msg_cycles_refunded`).
/// On a reject: (0, refunded). A synchronous failure traps.
#[ic_cdk::update]
async fn send_cycles(callee: Principal, amount: Nat, max: Nat) -> (Nat, Nat) {
    let res = Call::unbounded_wait(callee, "accept_cycles")
        .with_arg(max)
        .with_cycles(to_u128(&amount))
        .await;
    match res {
        Ok(reply) => {
            let accepted: Nat = reply
                .candid()
                .unwrap_or_else(|e| trap(format!("pingpong send_cycles: bad reply: {e}")));
            (accepted, Nat::from(ic_cdk::api::msg_cycles_refunded()))
        }
        Err(CallFailed::CallRejected(_)) => (Nat::from(0u32), Nat::from(ic_cdk::api::msg_cycles_refunded())),
        Err(e) => trap(format!("pingpong send_cycles: {e}")),
    }
}

/// Accepts up to `max` of the attached cycles; returns the amount accepted.
#[ic_cdk::update]
fn accept_cycles(max: Nat) -> Nat {
    Nat::from(ic_cdk::api::msg_cycles_accept(to_u128(&max)))
}

#[ic_cdk::query]
fn balance() -> Nat {
    Nat::from(ic_cdk::api::canister_cycle_balance())
}

/// The balance and the liquid balance (what it can spend above its freezing threshold), read
/// in one execution.
#[ic_cdk::query]
fn balances() -> (Nat, Nat) {
    (
        Nat::from(ic_cdk::api::canister_cycle_balance()),
        Nat::from(ic_cdk::api::canister_liquid_cycle_balance()),
    )
}

#[derive(CandidType, Deserialize)]
struct Counters {
    completed: u64,
    cleanups: u64,
    timer_ticks: u64,
    heartbeats: u64,
}

#[ic_cdk::query]
fn counters() -> Counters {
    Counters {
        completed: COMPLETED.get(),
        cleanups: CLEANUPS.get(),
        timer_ticks: TIMER_TICKS.get(),
        heartbeats: HEARTBEATS.get(),
    }
}

// ---------------------------------------------------------------- timers, heartbeat

/// A recurring ic-cdk-timers timer every `secs` seconds, bumping TIMER_TICKS.
#[ic_cdk::update]
fn start_timer(secs: u64) {
    ic_cdk_timers::set_timer_interval(Duration::from_secs(secs), || async { bump(&TIMER_TICKS) });
}

/// A one-shot ic-cdk-timers timer after `secs` seconds, bumping TIMER_TICKS.
#[ic_cdk::update]
fn start_once(secs: u64) {
    ic_cdk_timers::set_timer(Duration::from_secs(secs), async { bump(&TIMER_TICKS) });
}

#[cfg(feature = "heartbeat")]
#[ic_cdk::heartbeat]
fn heartbeat() {
    bump(&HEARTBEATS);
}

/// Self-calls `noop` (one await each) until `time()` has advanced by `ns`
/// nanoseconds since the start; returns the number of self-calls.
#[ic_cdk::update]
async fn slow(ns: u64) -> u64 {
    let deadline = ic_cdk::api::time().saturating_add(ns);
    let mut calls = 0u64;
    while ic_cdk::api::time() < deadline {
        if let Err(e) = Call::unbounded_wait(canister_self(), "noop").await {
            trap(format!("pingpong slow: self-call {calls} failed: {e}"));
        }
        calls += 1;
    }
    calls
}

/// Calls `callee.slow(ns)` and returns its reply: this canister's call context stays open
/// while the callee works (for stopping tests).
#[ic_cdk::update]
async fn wait_on(callee: Principal, ns: u64) -> u64 {
    let reply = Call::unbounded_wait(callee, "slow")
        .with_arg(ns)
        .await
        .unwrap_or_else(|e| trap(format!("pingpong wait_on: {e}")));
    let n: u64 = reply
        .candid()
        .unwrap_or_else(|e| trap(format!("pingpong wait_on: decoding the reply: {e}")));
    COMPLETED.with(|c| c.set(c.get() + 1));
    n
}

// ---------------------------------------------------------------- management canister

/// `create_canister` (ic-cdk-management-canister's
/// `create_canister_with_extra_cycles`: attaches `cost_create_canister()` +
/// `cycles`, so the new canister starts with `cycles`), then `install_code`
/// (mode install, empty arg) of `wasm`. Returns the new canister id; traps
/// when either call fails.
#[ic_cdk::update]
async fn create_and_install(wasm: ByteBuf, cycles: Nat) -> Principal {
    let created = mgmt::create_canister_with_extra_cycles(&mgmt::CreateCanisterArgs::default(), to_u128(&cycles))
        .await
        .unwrap_or_else(|e| trap(format!("pingpong create_and_install: create_canister: {e}")));
    let id = created.canister_id;
    mgmt::install_code(&mgmt::InstallCodeArgs {
        mode: mgmt::CanisterInstallMode::Install,
        canister_id: id,
        wasm_module: wasm.into_vec(),
        arg: Vec::new(),
    })
    .await
    .unwrap_or_else(|e| trap(format!("pingpong create_and_install: install_code on {id}: {e}")));
    id
}

/// The management canister's `raw_rand` (unbounded wait): 32 bytes.
#[ic_cdk::update]
async fn raw_rand() -> ByteBuf {
    Call::unbounded_wait(Principal::management_canister(), "raw_rand")
        .await
        .unwrap_or_else(|e| trap(format!("pingpong raw_rand: {e}")))
        .candid::<ByteBuf>()
        .unwrap_or_else(|e| trap(format!("pingpong raw_rand: bad reply: {e}")))
}
