//! Motoko canisters: enhanced orthogonal persistence (EOP) and classic persistence.

use crate::support::*;
use candid::Nat;
use drydock_replica::ErrorCode;
use ic_management_canister_types::WasmMemoryPersistence;

fn inc3(env: &mut Env, id: candid::Principal) {
    for i in 1..=3u64 {
        let (n,): (Nat,) = env.update(id, "inc", ()).unwrap();
        assert_eq!(n, Nat::from(i));
    }
}

// Interface spec, "Entry points": a query method called as an update runs in replicated
// mode and keeps none of its changes. Motoko's runtime marks its state on entry to a query;
// committing that mark bricked the canister ("unexpected state entering InQuery/InUpdate").
#[test]
fn motoko_query_methods_called_as_updates_many_times_leave_the_canister_healthy() {
    let mut env = Env::new();
    let id = env.installed(wasm("counter_eop"));
    inc3(&mut env, id);
    let before = env.replica.state_hashes(&id).unwrap();
    for round in 0..10 {
        let (n,): (Nat,) = env.update(id, "get", ()).unwrap();
        assert_eq!(n, Nat::from(3u64), "get as an update, call {round}");
        let (t,): (Nat,) = env.update(id, "transient_get", ()).unwrap();
        assert_eq!(
            t,
            Nat::from(3u64),
            "transient_get as an update, call {round}"
        );
        let (v,): (String,) = env.query(id, "version", ()).unwrap();
        assert_eq!(v, "v1");
    }
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    for i in 4..=6u64 {
        let (n,): (Nat,) = env.update(id, "inc", ()).unwrap();
        assert_eq!(n, Nat::from(i));
        let (n,): (Nat,) = env.update(id, "get", ()).unwrap();
        assert_eq!(n, Nat::from(i));
    }
    env.reopen();
    let (n,): (Nat,) = env.update(id, "get", ()).unwrap();
    assert_eq!(n, Nat::from(6u64));
    let (n,): (Nat,) = env.update(id, "inc", ()).unwrap();
    assert_eq!(n, Nat::from(7u64));
    // An upgrade still works afterwards.
    env.upgrade(
        id,
        wasm("counter_eop_v2"),
        false,
        Some(WasmMemoryPersistence::Keep),
    )
    .unwrap();
    let (n,): (Nat,) = env.update(id, "get", ()).unwrap();
    assert_eq!(n, Nat::from(7u64));
}

#[test]
fn motoko_eop_upgrade_without_persistence_option_is_rejected() {
    let mut env = Env::new();
    let id = env.installed(wasm("counter_eop"));
    inc3(&mut env, id);
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .upgrade(id, wasm("counter_eop_v2"), false, None)
        .unwrap_err();
    assert!(
        err.message.contains("Missing upgrade option: Enhanced orthogonal persistence requires the `wasm_memory_persistence` upgrade option."),
        "{err}"
    );
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
}

#[test]
fn motoko_eop_upgrade_with_keep_keeps_stable_variables_and_resets_transient_ones() {
    let mut env = Env::new();
    let id = env.installed(wasm("counter_eop"));
    inc3(&mut env, id);
    let (t,): (Nat,) = env.query(id, "transient_get", ()).unwrap();
    assert_eq!(t, Nat::from(3u64));
    env.upgrade(
        id,
        wasm("counter_eop_v2"),
        false,
        Some(WasmMemoryPersistence::Keep),
    )
    .unwrap();
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v2");
    let (n,): (Nat,) = env.query(id, "get", ()).unwrap();
    assert_eq!(
        n,
        Nat::from(3u64),
        "the stable counter lives in the kept heap"
    );
    // Motoko re-runs transient initialisers on upgrade, even when the heap is kept.
    let (t,): (Nat,) = env.query(id, "transient_get", ()).unwrap();
    assert_eq!(t, Nat::from(0u64));
    let (n,): (Nat,) = env.update(id, "inc", ()).unwrap();
    assert_eq!(n, Nat::from(4u64));
    env.reopen();
    let (n,): (Nat,) = env.query(id, "get", ()).unwrap();
    assert_eq!(n, Nat::from(4u64));
}

#[test]
fn motoko_eop_upgrade_with_replace_loses_the_heap() {
    let mut env = Env::new();
    let id = env.installed(wasm("counter_eop"));
    inc3(&mut env, id);
    match env.upgrade(
        id,
        wasm("counter_eop_v2"),
        false,
        Some(WasmMemoryPersistence::Replace),
    ) {
        Ok(()) => {
            let (n,): (Nat,) = env.query(id, "get", ()).unwrap();
            assert_eq!(n, Nat::from(0u64), "replace starts from a fresh heap");
        }
        Err(e) => {
            // The Motoko runtime may refuse to start over: the canister must then be unchanged.
            let (n,): (Nat,) = env.query(id, "get", ()).unwrap();
            assert_eq!(n, Nat::from(3u64), "{e}");
        }
    }
}

#[test]
fn keep_onto_a_classic_module_is_rejected() {
    let mut env = Env::new();
    let id = env.installed(wasm("counter_eop"));
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .upgrade(
            id,
            wasm("counter_classic"),
            false,
            Some(WasmMemoryPersistence::Keep),
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterContractViolation, "{err}");
    assert!(
        err.message.contains(
            "requires that the new canister module supports enhanced orthogonal persistence"
        ),
        "{err}"
    );
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
}

#[test]
fn motoko_eop_incompatible_stable_type_traps_and_keeps_the_old_canister() {
    let mut env = Env::new();
    let id = env.installed(wasm("counter_eop"));
    inc3(&mut env, id);
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .upgrade(
            id,
            wasm("counter_eop_incompatible"),
            false,
            Some(WasmMemoryPersistence::Keep),
        )
        .unwrap_err();
    assert!(
        err.message.contains("Memory-incompatible program upgrade"),
        "{err}"
    );
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (n,): (Nat,) = env.query(id, "get", ()).unwrap();
    assert_eq!(n, Nat::from(3u64));
}

#[test]
fn motoko_classic_canister_upgrades_and_keeps_stable_variables() {
    let mut env = Env::new();
    let id = env.installed(wasm("counter_classic"));
    inc3(&mut env, id);
    env.upgrade(id, wasm("counter_classic_v2"), false, None)
        .unwrap();
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v2");
    let (n,): (Nat,) = env.query(id, "get", ()).unwrap();
    assert_eq!(n, Nat::from(3u64));
    let (t,): (Nat,) = env.query(id, "transient_get", ()).unwrap();
    assert_eq!(t, Nat::from(0u64));
    env.reopen();
    let (n,): (Nat,) = env.update(id, "inc", ()).unwrap();
    assert_eq!(n, Nat::from(4u64));
}

#[test]
fn wat_module_with_the_eop_marker_follows_the_persistence_rules() {
    let mut env = Env::new();
    let id = env.installed(wat("eop_marker"));
    env.update_raw(id, "inc", vec![]).unwrap();
    env.update_raw(id, "inc", vec![]).unwrap();
    assert!(env.upgrade(id, wat("eop_marker"), false, None).is_err());
    env.upgrade(
        id,
        wat("eop_marker"),
        false,
        Some(WasmMemoryPersistence::Keep),
    )
    .unwrap();
    assert_eq!(
        env.query_raw(id, "read", vec![]).unwrap(),
        2u64.to_le_bytes()
    );
    env.upgrade(
        id,
        wat("eop_marker"),
        false,
        Some(WasmMemoryPersistence::Replace),
    )
    .unwrap();
    assert_eq!(
        env.query_raw(id, "read", vec![]).unwrap(),
        0u64.to_le_bytes()
    );
}
