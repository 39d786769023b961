//! Fees: executions, messages and memory are paid for with the 13-node application subnet's
//! fee table ("Cycles costs" in the developer docs), in advance for an execution's
//! instruction limit and above the freezing threshold, as on the IC.

use candid::{Nat, Principal};
use drydock_exec::fees;
use drydock_replica::ErrorCode;
use ic_management_canister_types::{
    CanisterInstallMode, CanisterSettings, ProvisionalCreateCanisterWithCyclesArgs,
    ProvisionalTopUpCanisterArgs, UpdateSettingsArgs,
};

use crate::snapshots::{load, take, take_as};
use crate::support::{missing_cycles, user, wasm, wat, Env};

/// An environment whose clock stands still, so that no memory is charged over time.
fn still_env() -> Env {
    let mut env = Env::new();
    let now = env.replica.time().max(1_700_000_000_000_000_000);
    env.replica.set_time(Some(now)).unwrap();
    env
}

fn balance(env: &Env, id: Principal) -> (u128, u128) {
    let r = env.replica.canister(&id).unwrap();
    (r.cycles, r.cycles_burned)
}

fn set_freezing_threshold(env: &mut Env, id: Principal, seconds: u128) {
    let args = UpdateSettingsArgs {
        canister_id: id,
        settings: CanisterSettings {
            freezing_threshold: Some(Nat::from(seconds)),
            ..Default::default()
        },
        sender_canister_version: None,
    };
    env.mgmt::<_, ()>(user(), "update_settings", &args).unwrap();
}

/// Sets the threshold so that the canister's idle burn over it is its balance less `spare`.
fn leave_spare(env: &mut Env, id: Principal, spare: u128) {
    let per_day: u128 = env
        .status(id)
        .idle_cycles_burned_per_day
        .0
        .try_into()
        .unwrap();
    let (cycles, _) = balance(env, id);
    set_freezing_threshold(env, id, (cycles - spare) * 86_400 / per_day);
}

fn top_up(env: &mut Env, id: Principal, amount: u128) {
    let args = ProvisionalTopUpCanisterArgs {
        canister_id: id,
        amount: Nat::from(amount),
    };
    env.mgmt::<_, ()>(user(), "provisional_top_up_canister", &args)
        .unwrap();
}

// "Cycles costs": an update pays the ingress reception fee for its bytes, the update
// execution fee and one cycle per instruction it executed; nothing else.
#[test]
fn an_update_pays_for_its_message_and_the_instructions_it_executed() {
    let mut env = still_env();
    let id = env.installed(wasm("kv"));
    for i in 0..3 {
        let (c0, b0) = balance(&env, id);
        let arg = candid::encode_args((format!("k{i}"), "v".to_string())).unwrap();
        env.replica.update(user(), id, "put", &arg).unwrap();
        let instructions = env.replica.last_instructions(&id).unwrap();
        let expected =
            fees::ingress_induction("put".len() + arg.len()) + fees::execution(instructions);
        let (c1, b1) = balance(&env, id);
        assert_eq!(b1 - b0, expected);
        assert_eq!(c0 - c1, expected);
        assert!(expected > 5_000_000 + 1_200_000);
    }
}

// Interface spec, "Entry points": a query method called as an update keeps no change, but its
// execution is paid for as an update's.
#[test]
fn a_query_method_called_as_an_update_is_paid_for() {
    let mut env = still_env();
    let id = env.installed(wasm("kv"));
    for _ in 0..2 {
        let (c0, b0) = balance(&env, id);
        let arg = candid::encode_args(("k".to_string(),)).unwrap();
        env.replica.update(user(), id, "get", &arg).unwrap();
        let instructions = env.replica.last_instructions(&id).unwrap();
        let expected =
            fees::ingress_induction("get".len() + arg.len()) + fees::execution(instructions);
        assert_eq!(balance(&env, id), (c0 - expected, b0 + expected));
    }
}

// "Cycles costs" (execution cost formula): an update is paid in advance for its whole
// instruction limit (40 B), above the freezing threshold. A canister that can stay unfrozen
// but not prepay is refused with IC0207 and the amount missing; queries still run.
#[test]
fn an_update_the_canister_cannot_prepay_is_refused_until_a_top_up() {
    let mut env = still_env();
    let id = env.installed(wasm("kv"));
    // Written once first, so that writing it again does not grow the heap.
    let () = env
        .update(id, "put", ("k".to_string(), "v".to_string()))
        .unwrap();
    leave_spare(&mut env, id, 20_000_000_000);
    let put = candid::encode_args(("k".to_string(), "v".to_string())).unwrap();
    let mut missing = 0;
    for _ in 0..2 {
        let before = balance(&env, id);
        let err = match env.replica.update(user(), id, "put", &put) {
            Err(drydock_replica::CallError::User(e)) => e,
            other => panic!("expected IC0207, got {other:?}"),
        };
        assert_eq!(err.code, ErrorCode::CanisterOutOfCycles, "{err}");
        let text =
            format!("Canister {id} is out of cycles: please top up the canister with at least ");
        assert!(err.message.starts_with(&text), "{err}");
        missing = missing_cycles(&err.message);
        // The limit's cost less the spare, and the message's.
        assert!(
            missing > 20_000_000_000 && missing < 21_000_000_000,
            "{missing}"
        );
        assert_eq!(balance(&env, id), before, "a refused message costs nothing");
        let (v,): (Option<String>,) = env.query(id, "get", ("k".to_string(),)).unwrap();
        assert_eq!(v.as_deref(), Some("v"));
    }
    top_up(&mut env, id, missing);
    for _ in 0..2 {
        let () = env
            .update(id, "put", ("k".to_string(), "v".to_string()))
            .unwrap();
        // The unused instructions were refunded: there is enough left for the next one.
        top_up(&mut env, id, 1_000_000_000);
    }
}

// "Cycles costs": an install is paid in advance for 300 B instructions. A canister that
// cannot is refused with IC0207 ("Canister installation failed with ..."), unchanged.
#[test]
fn an_install_the_canister_cannot_prepay_is_refused_and_changes_nothing() {
    let mut env = still_env();
    let args = ProvisionalCreateCanisterWithCyclesArgs {
        amount: Some(Nat::from(100_000_000_000u64)),
        ..Default::default()
    };
    let r: ic_management_canister_types::CanisterIdRecord = env
        .mgmt(user(), "provisional_create_canister_with_cycles", &args)
        .unwrap();
    let id = r.canister_id;
    let arg = candid::encode_args(()).unwrap();
    for _ in 0..2 {
        let err = env
            .install_mode(id, wasm("kv"), CanisterInstallMode::Install, arg.clone())
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::CanisterOutOfCycles, "{err}");
        assert!(
            err.message.starts_with(&format!(
                "Canister installation failed with `Canister {id} is out of cycles: please top up the canister with at least "
            )),
            "{err}"
        );
        let rec = env.replica.canister(&id).unwrap();
        assert_eq!(rec.module_hash, None);
        assert_eq!(rec.cycles, 100_000_000_000);
    }
    top_up(&mut env, id, 300_000_000_000);
    env.install_mode(id, wasm("kv"), CanisterInstallMode::Install, arg)
        .unwrap();
    // The install paid the execution fee and the instructions its hooks used.
    let stats = env.replica.take_install_stats().unwrap();
    let (cycles, burned) = balance(&env, id);
    assert_eq!(burned, fees::execution(stats.instructions()));
    assert_eq!(cycles + burned, 400_000_000_000);
}

// "Cycles costs" and the IC's `InsufficientCyclesInMemoryGrow`: an upgrade or an update that
// grows memory beyond what the balance keeps above the freezing threshold fails with IC0532,
// and nothing of it is kept: the old module, its state and its memory stay.
#[test]
fn memory_growth_the_canister_cannot_pay_for_is_refused_atomically() {
    let mut env = still_env();
    let id = env.installed(wasm("kv"));
    let () = env
        .update(id, "put", ("k".to_string(), "v".to_string()))
        .unwrap();
    leave_spare(&mut env, id, 1_000_000_000_000);
    let hash = env.replica.canister(&id).unwrap().module_hash.clone();
    let heap = env.replica.canister(&id).unwrap().heap_size;
    for _ in 0..2 {
        let err = env
            .upgrade(id, wat("grow_in_post_upgrade"), false, None)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InsufficientCyclesInMemoryGrow, "{err}");
        assert!(
            err.message.contains("Canister cannot grow memory by")
                && err.message.contains("due to insufficient cycles"),
            "{err}"
        );
        let err = env
            .update::<_, (u64,)>(id, "grow_heap", (64u64,))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InsufficientCyclesInMemoryGrow, "{err}");
        let rec = env.replica.canister(&id).unwrap();
        assert_eq!(rec.module_hash, hash);
        assert_eq!(rec.heap_size, heap);
        let (v,): (Option<String>,) = env.query(id, "get", ("k".to_string(),)).unwrap();
        assert_eq!(v.as_deref(), Some("v"));
        // Small messages still run.
        let () = env
            .update(id, "put", ("k".to_string(), "v".to_string()))
            .unwrap();
    }
    // With a lower threshold the same upgrade goes through.
    set_freezing_threshold(&mut env, id, 0);
    env.upgrade(id, wat("grow_in_post_upgrade"), false, None)
        .unwrap();
    assert_ne!(env.replica.canister(&id).unwrap().module_hash, hash);
}

// "Cycles costs" and the System API's `ic0.call_perform`: a call's fees (the request, the
// largest response, its callback's execution) are taken in advance, above the freezing
// threshold. A canister that cannot pay them does not make the call; the unused part comes
// back with the response, and the balances add up exactly.
#[test]
fn a_call_the_canister_cannot_pay_for_is_not_made() {
    let mut env = still_env();
    let a = env.installed(wasm("pingpong"));
    let b = env.installed(wasm("kv"));
    let () = env.update(a, "noop", ()).unwrap();
    let call_fee = fees::call(
        "noop".len() as u64,
        candid::encode_args(()).unwrap().len() as u64,
    );
    assert!(call_fee > 7_000_000_000, "{call_fee}");
    // Enough for the update's own 40 B in advance, not for the call's fees as well.
    leave_spare(&mut env, a, 40_000_000_000 + call_fee / 2);
    for _ in 0..2 {
        let before = balance(&env, a);
        let (code, text): (u32, String) = env.update(a, "call_and_report", (b, "noop")).unwrap();
        assert_eq!(code, 2, "{text}");
        // Only the message and the execution were paid; no call was made.
        let after = balance(&env, a);
        assert_eq!(before.0 - after.0, after.1 - before.1);
        assert!(after.1 - before.1 < 1_000_000_000, "{before:?} {after:?}");
    }
    top_up(&mut env, a, call_fee);
    for _ in 0..2 {
        let ((a0, fa0), (b0, fb0)) = (balance(&env, a), balance(&env, b));
        let (code, text): (u32, String) = env.update(a, "call_and_report", (b, "noop")).unwrap();
        assert_eq!(code, 0, "{text}");
        let ((a1, fa1), (b1, fb1)) = (balance(&env, a), balance(&env, b));
        // Everything reserved came back but what was spent.
        assert_eq!(a0 - a1, fa1 - fa0);
        assert_eq!(b0 - b1, fb1 - fb0);
        assert!(fa1 - fa0 < call_fee, "{} vs {call_fee}", fa1 - fa0);
        top_up(&mut env, a, fa1 - fa0);
    }
}

// System API, "Cycles": `ic0.canister_liquid_cycle_balance128` is the balance less the
// freezing threshold in cycles, the most the canister can spend without freezing; in a query
// and in a query method called as an update alike.
#[test]
fn a_canister_reads_its_liquid_balance_as_its_balance_above_the_freezing_threshold() {
    let mut env = still_env();
    let id = env.installed(wasm("pingpong"));
    for days in [10u128, 0, 30] {
        set_freezing_threshold(&mut env, id, days * 86_400);
        for _ in 0..2 {
            let per_day: u128 = env
                .status(id)
                .idle_cycles_burned_per_day
                .0
                .try_into()
                .unwrap();
            assert!(per_day > 0);
            let (b, l): (Nat, Nat) = env.query(id, "balances", ()).unwrap();
            assert_eq!(
                b.clone() - l,
                Nat::from(per_day * days),
                "query, {days} days"
            );
            let (cycles, _) = balance(&env, id);
            assert_eq!(b, Nat::from(cycles));
            let (b, l): (Nat, Nat) = env.update(id, "balances", ()).unwrap();
            assert_eq!(b - l, Nat::from(per_day * days), "update, {days} days");
        }
    }
}

// "Cycles costs" and the interface spec's "IC method take_canister_snapshot" and "IC method
// load_canister_snapshot": taking or loading a snapshot is paid as an execution of the IC's
// 2 B-instruction baseline and one instruction per byte of the snapshot. A canister that
// cannot pay above its freezing threshold is refused with IC0207, and nothing changes.
#[test]
fn a_snapshot_is_paid_for_and_refused_to_a_canister_that_cannot_pay() {
    let mut env = still_env();
    let id = env.installed(wasm("kv"));
    let () = env
        .update(id, "put", ("k".to_string(), "v".to_string()))
        .unwrap();
    let mut snapshot = None;
    for _ in 0..2 {
        let (c0, b0) = balance(&env, id);
        let s = take(&mut env, id);
        let cost = fees::take_snapshot(s.total_size);
        assert!(cost > 2_000_000_000, "{cost}");
        assert_eq!(balance(&env, id), (c0 - cost, b0 + cost));
        let (c0, b0) = balance(&env, id);
        load(&mut env, id, &s.id).unwrap();
        let cost = fees::load_snapshot(s.total_size);
        assert_eq!(balance(&env, id), (c0 - cost, b0 + cost));
        snapshot = Some(s);
    }
    let kept = snapshot.unwrap();
    leave_spare(&mut env, id, 1_000_000_000);
    let mut missing = 0;
    for _ in 0..2 {
        let before = balance(&env, id);
        for err in [
            take_as(&mut env, user(), id, None, false).unwrap_err(),
            load(&mut env, id, &kept.id).unwrap_err(),
        ] {
            assert_eq!(err.code, ErrorCode::CanisterOutOfCycles, "{err}");
            let text = format!(
                "Canister snapshotting failed with: `Canister {id} is out of cycles: please top up the canister with at least "
            );
            assert!(err.message.starts_with(&text), "{err}");
            missing = missing.max(missing_cycles(&err.message));
        }
        assert_eq!(
            balance(&env, id),
            before,
            "a refused snapshot costs nothing"
        );
        let snapshots: Vec<ic_management_canister_types::Snapshot> = env
            .mgmt(
                user(),
                "list_canister_snapshots",
                &ic_management_canister_types::ListCanisterSnapshotsArgs { canister_id: id },
            )
            .unwrap();
        assert_eq!(snapshots.len(), 2);
    }
    // What was missing, and some more: the load adds a change to the canister's history, and
    // at this threshold (about 5,000 years of idle burn) its 64 bytes raise the freezing
    // limit by about 1 B cycles.
    top_up(&mut env, id, missing + 5_000_000_000);
    load(&mut env, id, &kept.id).unwrap();
    let (v,): (Option<String>,) = env.query(id, "get", ("k".to_string(),)).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
}

// "Cycles costs": an install, reinstall or upgrade whose hook traps changes nothing of the
// canister's state, but pays for the execution: the base fee and the instructions that ran
// (the rest of what it prepaid comes back). One refused before any hook runs pays nothing.
#[test]
fn a_failed_install_pays_for_what_its_hooks_ran_and_changes_nothing_else() {
    let mut env = still_env();
    let id = env.create();
    for _ in 0..2 {
        let (c0, b0) = balance(&env, id);
        let err = env
            .install_mode(
                id,
                wat("trap_in_init"),
                CanisterInstallMode::Install,
                vec![],
            )
            .unwrap_err();
        assert!(err.message.contains("init trap"), "{err}");
        let (c1, b1) = balance(&env, id);
        let paid = b1 - b0;
        assert_eq!(c0 - c1, paid);
        assert!(
            paid > fees::execution(0) && paid < fees::execution(10_000),
            "{paid}"
        );
        assert_eq!(env.replica.canister(&id).unwrap().module_hash, None);
    }
    env.install(id, wasm("kv"));
    let () = env
        .update(id, "put", ("k".to_string(), "v".to_string()))
        .unwrap();
    let hash = env.replica.canister(&id).unwrap().module_hash.clone();
    for _ in 0..2 {
        let (c0, b0) = balance(&env, id);
        let err = env
            .upgrade(id, wat("trap_in_post_upgrade"), false, None)
            .unwrap_err();
        assert!(err.message.contains("post_upgrade trap"), "{err}");
        let (c1, b1) = balance(&env, id);
        // kv has no pre_upgrade; the new module's post_upgrade trapped at once.
        assert_eq!(c0 - c1, b1 - b0);
        assert!(
            b1 - b0 > fees::execution(0) && b1 - b0 < fees::execution(10_000),
            "{}",
            b1 - b0
        );
        assert_eq!(env.replica.canister(&id).unwrap().module_hash, hash);
        let (v,): (Option<String>,) = env.query(id, "get", ("k".to_string(),)).unwrap();
        assert_eq!(v.as_deref(), Some("v"));
    }
    // Refused before any hook ran (not Wasm): nothing to pay.
    let before = balance(&env, id);
    env.upgrade(id, b"not wasm".to_vec(), false, None)
        .unwrap_err();
    assert_eq!(balance(&env, id), before);
}
