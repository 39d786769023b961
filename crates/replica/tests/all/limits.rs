//! Instruction and memory limits.

use crate::support::*;
use candid::Nat;
use drydock_replica::{ErrorCode, Limits};
use ic_management_canister_types::{CanisterSettings, UpdateSettingsArgs};

#[test]
fn default_limits_are_the_ics() {
    let l = Limits::default();
    assert_eq!(l.update_instructions, 40_000_000_000);
    assert_eq!(l.query_instructions, 5_000_000_000);
    assert_eq!(l.install_instructions, 300_000_000_000);
    assert_eq!(l.inspect_instructions, 200_000_000);
    assert_eq!(l.heap32_max, 4 << 30);
    assert_eq!(l.heap64_max, 6 << 30);
    assert_eq!(l.stable_max, 500 << 30);
}

fn low() -> Limits {
    Limits {
        update_instructions: 50_000_000,
        query_instructions: 20_000_000,
        install_instructions: 30_000_000,
        ..Limits::default()
    }
}

#[test]
fn endless_update_is_stopped_at_the_update_limit_with_the_ics_error() {
    let mut env = Env::with_limits(low());
    let id = env.installed(wasm("kv"));
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env.update::<_, ()>(id, "loop_forever", ()).unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::CanisterInstructionLimitExceeded,
        "{err}"
    );
    assert!(
        err.message.contains(
            "Canister exceeded the limit of 50000000 instructions for single message execution."
        ),
        "{err}"
    );
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);

    let lp = env.installed(wat("loop"));
    let err = env.update_raw(lp, "loop", vec![]).unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::CanisterInstructionLimitExceeded,
        "{err}"
    );
    let err = env.query_raw(lp, "loop_query", vec![]).unwrap_err();
    assert!(
        err.message.contains("limit of 20000000 instructions"),
        "queries have their own limit: {err}"
    );
}

#[test]
fn post_upgrade_over_the_install_limit_is_stopped_and_changes_nothing() {
    // serde_state's hooks serialise and deserialise its whole heap state: with enough entries
    // they need more than the (lowered) install limit.
    let mut env = Env::with_limits(Limits {
        install_instructions: 150_000_000,
        ..Limits::default()
    });
    let id = env.installed(wasm("serde_state"));
    for _ in 0..4 {
        let (_,): (u64,) = env.update(id, "fill", (5_000u64, 200u64)).unwrap();
    }
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .upgrade(id, wasm("serde_state_v2"), false, None)
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::CanisterInstructionLimitExceeded,
        "{err}"
    );
    assert!(err.message.contains("upgrade"), "names the hook: {err}");
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (n,): (u64,) = env.query(id, "count", ()).unwrap();
    assert_eq!(n, 20_000);
}

#[test]
fn post_upgrade_alone_over_the_install_limit_is_stopped_there() {
    let mut env = Env::new();
    let id = env.installed(wasm("serde_state"));
    let (_,): (u64,) = env.update(id, "fill", (20_000u64, 100u64)).unwrap();
    // A first upgrade saves the state to stable memory.
    env.upgrade(id, wasm("serde_state_v2"), false, None)
        .unwrap();
    // Now skip pre_upgrade: only post_upgrade runs, restoring 20 000 entries, under a budget
    // too small for it.
    env.reopen_with_limits(Limits {
        install_instructions: 2_000_000,
        ..Limits::default()
    });
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .upgrade(id, wasm("serde_state"), true, None)
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::CanisterInstructionLimitExceeded,
        "{err}"
    );
    assert!(err.message.contains("canister_post_upgrade"), "{err}");
    assert!(
        err.message.contains("limit of 2000000 instructions"),
        "{err}"
    );
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v2");
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn no_wasm_memory_limit(env: &mut Env, id: candid::Principal) {
    let settings = CanisterSettings {
        wasm_memory_limit: Some(Nat::from(0u64)),
        ..Default::default()
    };
    env.mgmt::<_, ()>(
        user(),
        "update_settings",
        &UpdateSettingsArgs {
            canister_id: id,
            settings,
            sender_canister_version: None,
        },
    )
    .unwrap();
}

#[test]
fn wasm32_memory_grow_past_4_gib_fails_without_allocating_it() {
    let mut env = Env::new();
    let id = env.installed(wat("grow_past_4gib"));
    no_wasm_memory_limit(&mut env, id);
    let rss_before = rss_kib();
    let reply = env.update_raw(id, "grow", vec![]).unwrap();
    assert_eq!(
        reply,
        3u32.to_le_bytes(),
        "three 1 GiB grows fit under 4 GiB, the fourth fails"
    );
    assert_eq!(
        env.query_raw(id, "size", vec![]).unwrap(),
        (1u32 + 3 * 16384).to_le_bytes()
    );
    let grown_kib = rss_kib().saturating_sub(rss_before);
    assert!(
        grown_kib < 256 * 1024,
        "a 3 GiB heap that is never touched must not be resident: grew {grown_kib} KiB"
    );
    assert_eq!(
        env.status(id).memory_metrics.wasm_memory_size,
        Nat::from((1u64 + 3 * 16384) * 65536)
    );
}

#[test]
fn wasm64_memory_grow_stops_at_6_gib() {
    let mut env = Env::new();
    let id = env.installed(wat("grow_past_4gib_64"));
    no_wasm_memory_limit(&mut env, id);
    let reply = env.update_raw(id, "grow", vec![]).unwrap();
    assert_eq!(
        &reply[..4],
        &5u32.to_le_bytes()[..],
        "5 GiB + 64 KiB is under the 6 GiB wasm64 limit"
    );
}

#[test]
fn wasm_memory_limit_traps_updates_but_not_queries() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let settings = CanisterSettings {
        wasm_memory_limit: Some(Nat::from(32u64 << 20)),
        ..Default::default()
    };
    env.mgmt::<_, ()>(
        user(),
        "update_settings",
        &UpdateSettingsArgs {
            canister_id: id,
            settings,
            sender_canister_version: None,
        },
    )
    .unwrap();
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .update::<_, (u64,)>(id, "grow_heap", (64u64,))
        .unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::CanisterWasmMemoryLimitExceeded,
        "{err}"
    );
    assert!(
        err.message.contains("Wasm memory limit of 33554432 bytes"),
        "{err}"
    );
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (size,): (u64,) = env.query(id, "grow_heap_query", (64u64,)).unwrap();
    assert!(size > 64 << 20, "queries are exempt: heap reached {size}");
    let (_,): (u64,) = env.update(id, "grow_heap", (4u64,)).unwrap();
}
