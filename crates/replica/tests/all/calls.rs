//! Install, update and query; failures of updates and queries leave nothing behind.

use crate::support::*;
use drydock_replica::ErrorCode;

#[test]
fn kv_canister_installs_and_answers_updates_and_queries() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let () = env
        .update(id, "put", ("a".to_string(), "1".to_string()))
        .unwrap();
    let (v,): (Option<String>,) = env.query(id, "get", ("a".to_string(),)).unwrap();
    assert_eq!(v.as_deref(), Some("1"));
    let (who,): (candid::Principal,) = env.query(id, "whoami", ()).unwrap();
    assert_eq!(who, user());
}

#[test]
fn state_survives_reopening_the_state_directory() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    for i in 0..20 {
        let () = env
            .update(id, "put", (format!("k{i}"), format!("v{i}")))
            .unwrap();
    }
    let before = env.replica.state_hashes(&id).unwrap();
    env.reopen();
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (n,): (u64,) = env.query(id, "len", ()).unwrap();
    assert_eq!(n, 20);
    let () = env
        .update(id, "put", ("after".to_string(), "reopen".to_string()))
        .unwrap();
    let (v,): (Option<String>,) = env.query(id, "get", ("k7".to_string(),)).unwrap();
    assert_eq!(v.as_deref(), Some("v7"));
}

#[test]
fn trapping_update_leaves_nothing_changed() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let () = env
        .update(id, "put", ("a".to_string(), "1".to_string()))
        .unwrap();
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .update::<_, ()>(id, "trap_after_write", ("b".to_string(),))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterCalledTrap, "{err}");
    assert!(err.message.contains("boom"), "{err}");
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (v,): (Option<String>,) = env.query(id, "get", ("b".to_string(),)).unwrap();
    assert_eq!(v, None);
    let (n,): (u64,) = env.query(id, "heap_counter", ()).unwrap();
    assert_eq!(n, 0);
    // The canister keeps serving.
    let () = env
        .update(id, "put", ("c".to_string(), "3".to_string()))
        .unwrap();
}

#[test]
fn query_that_writes_memory_leaves_nothing_changed() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let before = env.replica.state_hashes(&id).unwrap();
    for _ in 0..3 {
        let (n,): (u64,) = env.query(id, "query_writes_heap", ()).unwrap();
        assert_eq!(n, 1, "each query starts from the committed heap");
    }
    let (_,): (u64,) = env.query(id, "grow_heap_query", (8u64,)).unwrap();
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (n,): (u64,) = env.query(id, "heap_counter", ()).unwrap();
    assert_eq!(n, 0);
    let (v,): (Option<String>,) = env
        .query(id, "get", ("__query_write".to_string(),))
        .unwrap();
    assert_eq!(v, None);
}

// Interface spec, "Entry points": a `canister_query` method may be called as an update; it
// then runs in replicated mode and its state changes are discarded (abstract behaviour,
// "Message execution").
#[test]
fn query_method_called_as_an_update_replies_and_keeps_none_of_its_writes() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let () = env
        .update(id, "put", ("a".to_string(), "1".to_string()))
        .unwrap();
    let before = env.replica.state_hashes(&id).unwrap();
    for round in 0..5 {
        // Writes the heap counter and the stable map, as an update.
        let (n,): (u64,) = env.update(id, "query_writes_heap", ()).unwrap();
        assert_eq!(
            n, 1,
            "call {round}: each call starts from the committed heap"
        );
        assert_eq!(
            env.replica.state_hashes(&id).unwrap(),
            before,
            "call {round}: nothing of the replicated query is committed"
        );
        let (v,): (Option<String>,) = env
            .update(id, "get", ("__query_write".to_string(),))
            .unwrap();
        assert_eq!(
            v, None,
            "call {round}: the stable-memory write was discarded"
        );
    }
    let (_,): (u64,) = env.update(id, "grow_heap_query", (8u64,)).unwrap();
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (n,): (u64,) = env.update(id, "heap_counter", ()).unwrap();
    assert_eq!(n, 0);
    // The canister's own updates still commit.
    let () = env
        .update(id, "put", ("b".to_string(), "2".to_string()))
        .unwrap();
    let (n,): (u64,) = env.update(id, "len", ()).unwrap();
    assert_eq!(n, 2);
    env.reopen();
    assert_eq!(env.query::<_, (u64,)>(id, "len", ()).unwrap().0, 2);
    assert_eq!(env.query::<_, (u64,)>(id, "heap_counter", ()).unwrap().0, 0);
}

#[test]
fn unknown_method_is_rejected_and_the_canister_keeps_serving() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let err = env
        .update_raw(id, "nope", candid::encode_args(()).unwrap())
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterMethodNotFound, "{err}");
    assert!(err.message.contains("nope"));
    let err = env
        .query_raw(id, "put", candid::encode_args(()).unwrap())
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterMethodNotFound, "{err}");
    let () = env
        .update(id, "put", ("a".to_string(), "1".to_string()))
        .unwrap();
}

#[test]
fn calls_to_a_missing_canister_or_an_empty_one_are_rejected() {
    let mut env = Env::new();
    let id = env.create();
    let err = env.update_raw(id, "put", vec![]).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterWasmModuleNotFound, "{err}");
    let missing = drydock_replica::canister_id_from_index(7);
    let err = env.update_raw(missing, "put", vec![]).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterNotFound, "{err}");
}

#[test]
fn certified_data_is_kept_and_over_32_bytes_traps() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let () = env
        .update(id, "certify", (serde_bytes::ByteBuf::from(vec![7u8; 32]),))
        .unwrap();
    assert_eq!(
        env.replica.state_hashes(&id).unwrap().certified_data,
        vec![7u8; 32]
    );
    let err = env
        .update::<_, ()>(id, "certify", (serde_bytes::ByteBuf::from(vec![1u8; 33]),))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterContractViolation, "{err}");
    assert_eq!(
        env.replica.state_hashes(&id).unwrap().certified_data,
        vec![7u8; 32]
    );
}

#[test]
fn stopped_canister_rejects_calls_and_start_resumes_it() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    env.mgmt::<_, ()>(
        user(),
        "stop_canister",
        &ic_management_canister_types::CanisterIdRecord { canister_id: id },
    )
    .unwrap();
    assert_eq!(
        env.status(id).status,
        ic_management_canister_types::CanisterStatusType::Stopped
    );
    let err = env
        .update::<_, ()>(id, "put", ("a".to_string(), "1".to_string()))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterStopped, "{err}");
    env.mgmt::<_, ()>(
        user(),
        "start_canister",
        &ic_management_canister_types::CanisterIdRecord { canister_id: id },
    )
    .unwrap();
    let () = env
        .update(id, "put", ("a".to_string(), "1".to_string()))
        .unwrap();
}

#[test]
fn malformed_candid_to_the_management_canister_is_rejected_and_nothing_changes() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let before = env.replica.state_hashes(&id).unwrap();
    for method in [
        "install_code",
        "canister_status",
        "update_settings",
        "provisional_create_canister_with_cycles",
    ] {
        match env.replica.update(
            user(),
            drydock_replica::MANAGEMENT_CANISTER,
            method,
            b"DIDL\x00garbage",
        ) {
            Err(drydock_replica::CallError::User(e)) => {
                assert_eq!(e.code, ErrorCode::InvalidManagementPayload, "{e}");
                assert!(e.message.contains(method), "{e}");
            }
            other => panic!("{method}: expected a rejection, got {other:?}"),
        }
    }
    let err = env
        .update_raw(
            drydock_replica::MANAGEMENT_CANISTER,
            "no_such_method",
            vec![],
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownManagementMessage, "{err}");
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    assert_eq!(env.replica.canister_ids().len(), 1);
    let () = env
        .update(id, "put", ("still".to_string(), "serving".to_string()))
        .unwrap();
}

// Interface spec, "The IC management canister": methods only canisters may call are refused
// over ingress with the IC's code and text, and change nothing.
#[test]
fn ingress_to_management_methods_only_canisters_may_call_is_refused() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let before = env.replica.state_hashes(&id).unwrap();
    let arg =
        candid::encode_one(ic_management_canister_types::CanisterIdRecord { canister_id: id })
            .unwrap();
    for _ in 0..2 {
        for method in [
            "raw_rand",
            "canister_info",
            "create_canister",
            "deposit_cycles",
        ] {
            match env
                .replica
                .update(user(), drydock_replica::MANAGEMENT_CANISTER, method, &arg)
            {
                Err(drydock_replica::CallError::User(e)) => {
                    assert_eq!(e.code, ErrorCode::CanisterRejectedMessage, "{e}");
                    assert_eq!(
                        e.message,
                        format!("Only canisters can call ic00 method {method}")
                    );
                }
                other => panic!("{method}: expected a rejection, got {other:?}"),
            }
        }
    }
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
}

// Interface spec, "IC method canister_status": a query call to the management canister, with
// the update's access control.
#[test]
fn canister_status_answers_a_query_call_to_the_management_canister() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let arg =
        candid::encode_one(ic_management_canister_types::CanisterIdRecord { canister_id: id })
            .unwrap();
    for _ in 0..2 {
        let reply = env
            .replica
            .query(
                user(),
                drydock_replica::MANAGEMENT_CANISTER,
                "canister_status",
                &arg,
            )
            .unwrap();
        let status: ic_management_canister_types::CanisterStatusResult =
            candid::decode_one(&reply).unwrap();
        assert!(status.module_hash.is_some());
        match env.replica.query(
            eve(),
            drydock_replica::MANAGEMENT_CANISTER,
            "canister_status",
            &arg,
        ) {
            Err(drydock_replica::CallError::User(e)) => {
                assert_eq!(e.code, ErrorCode::CanisterInvalidController, "{e}")
            }
            other => panic!("a non-controller's status query: {other:?}"),
        }
    }
}

// Interface spec, "IC method provisional_create_canister_with_cycles": `specified_id` gives
// the new canister that id; an id in use is refused (IC0538), and later canisters skip it.
#[test]
fn a_canister_is_created_at_a_specified_id_and_the_id_is_not_given_twice() {
    use ic_management_canister_types::{CanisterIdRecord, ProvisionalCreateCanisterWithCyclesArgs};
    let mut env = Env::new();
    let wanted = drydock_replica::canister_id_from_index((1 << 20) + 1);
    let args = ProvisionalCreateCanisterWithCyclesArgs {
        specified_id: Some(wanted),
        ..Default::default()
    };
    let made: CanisterIdRecord = env
        .mgmt(user(), "provisional_create_canister_with_cycles", &args)
        .unwrap();
    assert_eq!(made.canister_id, wanted);
    let err = env
        .mgmt::<_, CanisterIdRecord>(user(), "provisional_create_canister_with_cycles", &args)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterAlreadyInstalled, "{err}");
    assert!(err.message.contains("is already installed"), "{err}");
    // The allocator hands out index 2^20, then skips the specified one.
    let a = env.create();
    let b = env.create();
    assert_eq!(a, drydock_replica::canister_id_from_index(1 << 20));
    assert_eq!(b, drydock_replica::canister_id_from_index((1 << 20) + 2));
    env.reopen();
    assert!(env.replica.canister(&wanted).is_some());
    assert_ne!(env.create(), wanted);
}
