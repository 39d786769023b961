//! Upgrades of every test canister, and the ways they fail atomically.

use crate::support::*;
use candid::Encode;
use drydock_replica::ErrorCode;
use ic_management_canister_types::{CanisterInfoArgs, CanisterInfoResult, ChangeDetails};

#[test]
fn kv_canister_upgrades_to_v2_and_keeps_its_data() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let () = env
        .update(id, "put", ("a".to_string(), "1".to_string()))
        .unwrap();
    let version_before = env.status(id).version;
    env.upgrade(id, wasm("kv_v2"), false, None).unwrap();
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v2");
    let (a,): (Option<String>,) = env.query(id, "get", ("a".to_string(),)).unwrap();
    assert_eq!(a.as_deref(), Some("1"));
    assert_eq!(env.status(id).version, version_before + 1);
    let info: CanisterInfoResult = env
        .replica
        .canister_info(CanisterInfoArgs {
            canister_id: id,
            num_requested_changes: Some(10),
        })
        .unwrap();
    let kinds: Vec<_> = info
        .recent_changes
        .iter()
        .map(|c| c.details.clone())
        .collect();
    assert!(
        matches!(kinds[0], Some(ChangeDetails::Creation(_))),
        "{kinds:?}"
    );
    assert_eq!(info.total_num_changes, 3);
    assert_eq!(info.module_hash, env.status(id).module_hash);
}

#[test]
fn serde_canister_saves_in_pre_upgrade_and_restores_in_post_upgrade() {
    let mut env = Env::new();
    let id = env.installed(wasm("serde_state"));
    let () = env.update(id, "add", ("x".to_string(), 42u64)).unwrap();
    let (n,): (u64,) = env.update(id, "fill", (100u64, 100u64)).unwrap();
    assert_eq!(n, 101);
    env.upgrade(id, wasm("serde_state_v2"), false, None)
        .unwrap();
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v2");
    let (x,): (Option<u64>,) = env.query(id, "get", ("x".to_string(),)).unwrap();
    assert_eq!(x, Some(42));
    let (n,): (u64,) = env.query(id, "count", ()).unwrap();
    assert_eq!(n, 101);
    env.reopen();
    let (n,): (u64,) = env.query(id, "count", ()).unwrap();
    assert_eq!(n, 101);
}

#[test]
fn brickable_canister_upgrades_while_small() {
    let mut env = Env::new();
    let id = env.installed(wasm("brickable"));
    let () = env.update(id, "add", ("one".to_string(),)).unwrap();
    env.upgrade(id, wasm("brickable_v2"), false, None).unwrap();
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v2");
    let (n,): (u64,) = env.query(id, "count", ()).unwrap();
    assert_eq!(n, 1);
    let (from,): (String,) = env.query(id, "restored_from", ()).unwrap();
    assert_eq!(from, "serialized");
}

fn brick(env: &mut Env) -> candid::Principal {
    let id = env.create();
    env.install_mode(
        id,
        wasm("brickable"),
        ic_management_canister_types::CanisterInstallMode::Install,
        Encode!(&Some(10u64)).unwrap(),
    )
    .unwrap();
    let (n,): (u64,) = env.update(id, "add_many", (50u64,)).unwrap();
    assert_eq!(n, 50);
    id
}

#[test]
fn upgrade_with_trapping_pre_upgrade_is_rejected_and_changes_nothing() {
    let mut env = Env::new();
    let id = brick(&mut env);
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .upgrade(id, wasm("brickable_v2"), false, None)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterCalledTrap, "{err}");
    assert!(
        err.message.contains("canister_pre_upgrade"),
        "names the hook: {err}"
    );
    assert!(
        err.message.contains("threshold"),
        "carries the trap message: {err}"
    );
    assert!(
        !err.message.contains("drydock"),
        "the replica's text is the IC's kind, without the CLI's advice: {err}"
    );
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v1");
    let (n,): (u64,) = env.query(id, "count", ()).unwrap();
    assert_eq!(n, 50);
    env.reopen();
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
}

#[test]
fn upgrade_with_skip_pre_upgrade_unbricks_the_canister_and_keeps_stable_data() {
    let mut env = Env::new();
    let id = brick(&mut env);
    assert!(env.upgrade(id, wasm("brickable_v2"), false, None).is_err());
    env.upgrade(id, wasm("brickable_v2"), true, None).unwrap();
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v2");
    let (n,): (u64,) = env.query(id, "stable_count", ()).unwrap();
    assert_eq!(n, 50);
    let (from,): (String,) = env.query(id, "restored_from", ()).unwrap();
    assert_eq!(from, "stable_map");
    let (e,): (Option<String>,) = env.query(id, "entry", (7u64,)).unwrap();
    assert!(e.is_some());
}

#[test]
fn upgrade_with_trapping_post_upgrade_is_rejected_and_changes_nothing() {
    let mut env = Env::new();
    let id = env.installed(wasm("brickable"));
    let () = env.update(id, "add", ("one".to_string(),)).unwrap();
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .upgrade(id, wasm("brickable_post_trap"), false, None)
        .unwrap_err();
    assert!(
        err.message.contains("canister_post_upgrade"),
        "names the hook: {err}"
    );
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v1");
    let () = env.update(id, "add", ("two".to_string(),)).unwrap();
    let (n,): (u64,) = env.query(id, "count", ()).unwrap();
    assert_eq!(n, 2);
}

#[test]
fn wat_hooks_that_trap_leave_the_canister_as_it_was() {
    let mut env = Env::new();
    let id = env.installed(wat("trap_in_pre_upgrade"));
    let () = env
        .update_raw(id, "set", vec![1, 2, 3, 4])
        .map(|_| ())
        .unwrap();
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env.upgrade(id, wat("counter"), false, None).unwrap_err();
    assert!(err.message.contains("pre_upgrade trap"), "{err}");
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    assert_eq!(env.query_raw(id, "get", vec![]).unwrap(), vec![1, 2, 3, 4]);

    let id2 = env.create();
    let err = env
        .install_mode(
            id2,
            wat("trap_in_init"),
            ic_management_canister_types::CanisterInstallMode::Install,
            vec![],
        )
        .unwrap_err();
    assert!(
        err.message.contains("canister_init") && err.message.contains("init trap"),
        "{err}"
    );
    assert_eq!(env.status(id2).module_hash, None);
    let err = env
        .install_mode(
            id2,
            wat("start_traps"),
            ic_management_canister_types::CanisterInstallMode::Install,
            vec![],
        )
        .unwrap_err();
    assert!(err.message.contains("start"), "{err}");
    assert_eq!(env.status(id2).module_hash, None);
}

#[test]
fn start_function_runs_at_install_and_upgrade_not_on_every_load() {
    let mut env = Env::new();
    let id = env.installed(wat("start_function"));
    assert_eq!(
        env.query_raw(id, "read", vec![]).unwrap(),
        1u32.to_le_bytes()
    );
    env.update_raw(id, "bump", vec![]).unwrap();
    assert_eq!(
        env.query_raw(id, "read", vec![]).unwrap(),
        2u32.to_le_bytes()
    );
    env.reopen();
    assert_eq!(
        env.query_raw(id, "read", vec![]).unwrap(),
        2u32.to_le_bytes()
    );
    env.upgrade(id, wat("start_function"), false, None).unwrap();
    assert_eq!(
        env.query_raw(id, "read", vec![]).unwrap(),
        1u32.to_le_bytes()
    );
}

#[test]
fn reinstall_wipes_heap_and_stable_memory() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let () = env
        .update(id, "put", ("a".to_string(), "1".to_string()))
        .unwrap();
    env.install_mode(
        id,
        wasm("kv"),
        ic_management_canister_types::CanisterInstallMode::Reinstall,
        candid::encode_args(()).unwrap(),
    )
    .unwrap();
    let (n,): (u64,) = env.query(id, "len", ()).unwrap();
    assert_eq!(n, 0);
    let err = env
        .install_mode(
            id,
            wasm("kv"),
            ic_management_canister_types::CanisterInstallMode::Install,
            vec![],
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterNonEmpty, "{err}");
}

#[test]
fn uninstall_then_install_starts_from_empty_state() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let () = env
        .update(id, "put", ("a".to_string(), "1".to_string()))
        .unwrap();
    env.mgmt::<_, ()>(
        user(),
        "uninstall_code",
        &ic_management_canister_types::UninstallCodeArgs {
            canister_id: id,
            sender_canister_version: None,
        },
    )
    .unwrap();
    assert_eq!(env.status(id).module_hash, None);
    env.install(id, wasm("kv"));
    let (n,): (u64,) = env.query(id, "len", ()).unwrap();
    assert_eq!(n, 0);
}

// Interface spec, "Canister version": bumped by every successful non-query execution, by a
// code change (`canister_init` and `canister_post_upgrade` see the new version) and by a
// status change; a query method, even called as an update, leaves it.
#[test]
fn the_canister_version_follows_executions_upgrades_and_status_changes() {
    let mut env = Env::new();
    let id = env.installed(wasm("pingpong"));
    let versions =
        |env: &mut Env| -> (u64, u64) { env.query(id, "canister_versions", ()).unwrap() };
    let (hook, now) = versions(&mut env);
    assert_eq!(hook, now, "init sees the version the install gives");
    assert_eq!(now, env.status(id).version);
    for i in 1..=2u64 {
        let () = env.update(id, "noop", ()).unwrap();
        assert_eq!(versions(&mut env).1, now + i);
    }
    // A query method called as an update keeps nothing, the version included.
    let _: (candid::Nat,) = env.update(id, "balance", ()).unwrap();
    assert_eq!(versions(&mut env).1, now + 2);
    env.upgrade(id, wasm("pingpong"), false, None).unwrap();
    let (hook, after) = versions(&mut env);
    assert_eq!(after, now + 3);
    assert_eq!(hook, after, "post_upgrade sees the new version");
    let rec = ic_management_canister_types::CanisterIdRecord { canister_id: id };
    env.mgmt::<_, ()>(user(), "stop_canister", &rec).unwrap();
    env.mgmt::<_, ()>(user(), "start_canister", &rec).unwrap();
    assert_eq!(
        versions(&mut env).1,
        after + 3,
        "stopping, stopped, running"
    );
}
