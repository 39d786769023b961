//! Canister logs: `debug_print` and trap messages kept per canister, durably, within the log
//! memory, read with the management canister's `fetch_canister_logs` (a query).

use crate::support::*;
use drydock_replica::{ErrorCode, LOG_MEMORY_LIMIT, MANAGEMENT_CANISTER};
use ic_management_canister_types::{FetchCanisterLogsArgs, FetchCanisterLogsResult};

fn fetch(
    env: &mut Env,
    sender: candid::Principal,
    id: candid::Principal,
) -> Result<FetchCanisterLogsResult, drydock_replica::CallError> {
    let arg = candid::encode_one(FetchCanisterLogsArgs {
        canister_id: id,
        filter: None,
    })
    .unwrap();
    env.replica
        .query(sender, MANAGEMENT_CANISTER, "fetch_canister_logs", &arg)
        .map(|r| candid::decode_one(&r).unwrap())
}

// Interface spec, "IC method fetch_canister_logs".
#[test]
fn a_trap_message_is_kept_in_the_canister_log_across_a_reopen() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    for _ in 0..2 {
        let err = env.update::<_, ()>(a, "trap_now", ()).unwrap_err();
        assert_eq!(err.code, ErrorCode::CanisterCalledTrap, "{err}");
    }
    let logs = fetch(&mut env, user(), a).unwrap().canister_log_records;
    assert_eq!(logs.len(), 2, "{logs:?}");
    for (i, r) in logs.iter().enumerate() {
        let text = String::from_utf8_lossy(&r.content);
        assert!(
            text.starts_with("[TRAP]") && text.contains("pingpong: trap_now"),
            "{text}"
        );
        assert_eq!(r.idx, i as u64);
    }
    // A later commit carried the records to disk.
    let () = env.update(a, "noop", ()).unwrap();
    env.reopen();
    assert_eq!(
        fetch(&mut env, user(), a)
            .unwrap()
            .canister_log_records
            .len(),
        2
    );
    // Only controllers read a private log.
    let Err(drydock_replica::CallError::User(e)) = fetch(&mut env, eve(), a) else {
        panic!("a non-controller read the log");
    };
    assert!(e.message.contains("not allowed"), "{e}");
}

#[test]
fn the_log_keeps_the_newest_records_within_the_log_memory() {
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    for _ in 0..60 {
        let _ = env.update::<_, ()>(a, "trap_now", ());
    }
    let logs = fetch(&mut env, user(), a).unwrap().canister_log_records;
    let total: usize = logs.iter().map(|r| r.content.len()).sum();
    assert!(total <= LOG_MEMORY_LIMIT, "{total}");
    assert!(logs.len() < 60 && !logs.is_empty());
    assert_eq!(logs.last().unwrap().idx, 59, "the newest record is kept");
}

// Interface spec, "IC method fetch_canister_logs" and the settings `log_visibility` and
// `log_memory_limit`.
#[test]
fn allowed_viewers_read_the_log_and_a_zero_log_memory_keeps_nothing() {
    use ic_management_canister_types::{CanisterSettings, LogVisibility, UpdateSettingsArgs};
    let mut env = Env::new();
    let a = env.installed(wasm("pingpong"));
    let set = |env: &mut Env, settings: CanisterSettings| {
        env.mgmt::<_, ()>(
            user(),
            "update_settings",
            &UpdateSettingsArgs {
                canister_id: a,
                settings,
                sender_canister_version: None,
            },
        )
        .unwrap()
    };
    let _ = env.update::<_, ()>(a, "trap_now", ());
    assert!(fetch(&mut env, eve(), a).is_err(), "eve is no viewer yet");
    set(
        &mut env,
        CanisterSettings {
            log_visibility: Some(LogVisibility::AllowedViewers(vec![eve()])),
            ..Default::default()
        },
    );
    for _ in 0..2 {
        let logs = fetch(&mut env, eve(), a).unwrap().canister_log_records;
        assert_eq!(logs.len(), 1, "{logs:?}");
    }
    set(
        &mut env,
        CanisterSettings {
            log_memory_limit: Some(candid::Nat::from(0u64)),
            ..Default::default()
        },
    );
    let _ = env.update::<_, ()>(a, "trap_now", ());
    let logs = fetch(&mut env, user(), a).unwrap().canister_log_records;
    assert!(logs.is_empty(), "a log memory of 0 keeps nothing: {logs:?}");
}
