//! Canister settings as `ic.did` defines them: every field of `canister_settings` is stored,
//! survives a reopen, and is reported by `canister_status`; environment variables reach the
//! canister through `ic0.env_var_*`.

use candid::Nat;
use drydock_replica::ErrorCode;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterSettings, EnvironmentVariable, LogVisibility, StatusVisibility,
    UpdateSettingsArgs,
};

use crate::support::{eve, user, wasm, Env};

fn var(name: &str, value: &str) -> EnvironmentVariable {
    EnvironmentVariable {
        name: name.into(),
        value: value.into(),
    }
}

fn update(
    env: &mut Env,
    id: candid::Principal,
    settings: CanisterSettings,
) -> Result<(), drydock_replica::UserError> {
    env.mgmt::<_, ()>(
        user(),
        "update_settings",
        &UpdateSettingsArgs {
            canister_id: id,
            settings,
            sender_canister_version: None,
        },
    )
}

/// Interface spec, "IC method update_settings" and "IC method canister_status"; the System
/// API's "Environment variables" section.
#[test]
fn a_canister_reads_the_environment_variables_its_controller_sets() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let (vars,): (Vec<(String, String)>,) = env.query(id, "env_vars", ()).unwrap();
    assert!(vars.is_empty(), "{vars:?}");
    update(
        &mut env,
        id,
        CanisterSettings {
            environment_variables: Some(vec![var("NETWORK", "local"), var("API", "https://x")]),
            log_visibility: Some(LogVisibility::AllowedViewers(vec![eve()])),
            log_memory_limit: Some(Nat::from(8192u64)),
            status_visibility: Some(StatusVisibility::Public),
            minimum_incoming_canister_call_cycles: Some(Nat::from(1000u64)),
            wasm_memory_threshold: Some(Nat::from(1u64 << 20)),
            ..Default::default()
        },
    )
    .unwrap();
    for _ in 0..2 {
        // Sorted by name, as the System API lists them; again after a reopen.
        let (vars,): (Vec<(String, String)>,) = env.query(id, "env_vars", ()).unwrap();
        assert_eq!(
            vars,
            vec![
                ("API".to_string(), "https://x".to_string()),
                ("NETWORK".to_string(), "local".to_string())
            ]
        );
        let one: (Option<String>,) = env.query(id, "env_var", ("NETWORK",)).unwrap();
        assert_eq!(one.0.as_deref(), Some("local"));
        let none: (Option<String>,) = env.query(id, "env_var", ("MISSING",)).unwrap();
        assert_eq!(none.0, None);
        let s = env.status(id).settings;
        assert_eq!(s.environment_variables.len(), 2);
        assert_eq!(s.log_visibility, LogVisibility::AllowedViewers(vec![eve()]));
        assert_eq!(s.log_memory_limit, Nat::from(8192u64));
        assert_eq!(s.status_visibility, StatusVisibility::Public);
        assert_eq!(s.minimum_incoming_canister_call_cycles, Nat::from(1000u64));
        assert_eq!(s.wasm_memory_threshold, Nat::from(1u64 << 20));
        // `status_visibility = public`: a non-controller reads the status too.
        let _: ic_management_canister_types::CanisterStatusResult = env
            .mgmt(
                eve(),
                "canister_status",
                &CanisterIdRecord { canister_id: id },
            )
            .unwrap();
        env.reopen();
    }
    // Settings not named stay as they are; an empty list clears the variables.
    update(
        &mut env,
        id,
        CanisterSettings {
            environment_variables: Some(vec![]),
            ..Default::default()
        },
    )
    .unwrap();
    let (vars,): (Vec<(String, String)>,) = env.query(id, "env_vars", ()).unwrap();
    assert!(vars.is_empty());
    assert_eq!(env.status(id).settings.log_memory_limit, Nat::from(8192u64));
}

/// Interface spec, "IC method update_settings": the IC's limits on environment variables
/// (20 variables, names and values of 128 bytes) and on `log_memory_limit` (2 MiB).
#[test]
fn settings_past_the_ics_limits_are_refused_and_change_nothing() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let before = env.status(id).settings;
    let too_many: Vec<_> = (0..21).map(|i| var(&format!("V{i}"), "x")).collect();
    let long = "n".repeat(129);
    for (settings, cause) in [
        (
            CanisterSettings {
                environment_variables: Some(too_many),
                ..Default::default()
            },
            "at most 20",
        ),
        (
            CanisterSettings {
                environment_variables: Some(vec![var(&long, "x")]),
                ..Default::default()
            },
            "128 bytes",
        ),
        (
            CanisterSettings {
                environment_variables: Some(vec![var("A", "1"), var("A", "2")]),
                ..Default::default()
            },
            "twice",
        ),
        (
            CanisterSettings {
                log_memory_limit: Some(Nat::from((2u64 << 20) + 1)),
                ..Default::default()
            },
            "log_memory_limit",
        ),
    ] {
        let err = update(&mut env, id, settings).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidManagementPayload, "{err}");
        assert!(err.message.contains(cause), "{cause}: {err}");
    }
    assert_eq!(env.status(id).settings, before);
    // A non-controller still cannot read the status (`status_visibility` is controllers).
    let err = env
        .mgmt::<_, ic_management_canister_types::CanisterStatusResult>(
            eve(),
            "canister_status",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterInvalidController, "{err}");
}
