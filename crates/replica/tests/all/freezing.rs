//! Freezing: a canister whose balance is below what it would burn idle in
//! `freezing_threshold` seconds refuses messages until it is topped up.

use candid::{Nat, Principal};
use drydock_replica::{ErrorCode, RejectCode};
use ic_management_canister_types::{
    CanisterSettings, ProvisionalTopUpCanisterArgs, UpdateSettingsArgs,
};

use crate::support::{eve, missing_cycles, user, wasm, Env};

/// A `kv` canister frozen by its freezing threshold: installed with the default cycles, then
/// given a threshold whose idle burn is far more than its balance.
fn poor_canister(env: &mut Env) -> Principal {
    let id = env.installed(wasm("kv"));
    let settings = CanisterSettings {
        freezing_threshold: Some(Nat::from(1_000_000_000_000_000u64)),
        ..Default::default()
    };
    let args = UpdateSettingsArgs {
        canister_id: id,
        settings,
        sender_canister_version: None,
    };
    env.mgmt::<_, ()>(user(), "update_settings", &args).unwrap();
    id
}

// Interface spec, "IC method canister_status": `idle_cycles_burned_per_day` is what the
// canister's memory costs at the 13-node subnet's storage fee.
#[test]
fn canister_status_reports_the_idle_burn_of_the_canisters_memory() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let status = env.status(id);
    let memory: u128 = status.memory_size.0.try_into().unwrap();
    let burn: u128 = status.idle_cycles_burned_per_day.0.try_into().unwrap();
    assert_eq!(burn, memory * 127_000 * 86_400 / (1 << 30));
    assert!(burn > 0);
    // More memory, more burn.
    let (_,): (u64,) = env.update(id, "grow_heap", (8u64,)).unwrap();
    let after: u128 = env
        .status(id)
        .idle_cycles_burned_per_day
        .0
        .try_into()
        .unwrap();
    assert!(after > burn, "{after} vs {burn}");
}

// Interface spec, "IC method update_settings" (`freezing_threshold`): a canister below its
// freezing threshold is frozen; it refuses updates (IC0207, telling a controller how many
// cycles are missing), queries and calls from other canisters until it is topped up.
#[test]
fn a_canister_below_its_freezing_threshold_refuses_calls_until_a_top_up() {
    let mut env = Env::new();
    let id = poor_canister(&mut env);
    for _ in 0..2 {
        let err = env
            .update::<_, ()>(id, "put", ("k".to_string(), "v".to_string()))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::CanisterOutOfCycles, "{err}");
        assert_eq!(err.code.reject_code(), RejectCode::SysTransient);
        assert!(
            err.message.starts_with(&format!(
                "Canister {id} is out of cycles: please top up the canister with at least "
            )),
            "{err}"
        );
        let err = env
            .query::<_, (Option<String>,)>(id, "get", ("k".to_string(),))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::CanisterOutOfCycles, "{err}");
        assert!(err.message.contains("because it's frozen"), "{err}");
    }
    // A non-controller is not told the amount.
    let err = match env
        .replica
        .update(eve(), id, "put", &candid::encode_args(("k", "v")).unwrap())
    {
        Err(drydock_replica::CallError::User(e)) => e,
        other => panic!("expected IC0207, got {other:?}"),
    };
    assert_eq!(err.message, format!("Canister {id} is out of cycles"));
    // Another canister's call is rejected as SYS_TRANSIENT.
    let caller = env.installed(wasm("pingpong"));
    let (code, text): (u32, String) = env.update(caller, "call_and_report", (id, "noop")).unwrap();
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("out of cycles"), "{text}");

    // A top-up of what the message named unfreezes it (twice that: the put makes the canister
    // hold more memory, which raises its threshold).
    let missing: u128 = {
        let err = env
            .update::<_, ()>(id, "put", ("k".to_string(), "v".to_string()))
            .unwrap_err();
        missing_cycles(&err.message)
    };
    let top_up = ProvisionalTopUpCanisterArgs {
        canister_id: id,
        amount: Nat::from(2 * missing),
    };
    env.mgmt::<_, ()>(user(), "provisional_top_up_canister", &top_up)
        .unwrap();
    for _ in 0..2 {
        let () = env
            .update(id, "put", ("k".to_string(), "v".to_string()))
            .unwrap();
        let (v,): (Option<String>,) = env.query(id, "get", ("k".to_string(),)).unwrap();
        assert_eq!(v.as_deref(), Some("v"));
    }
}
