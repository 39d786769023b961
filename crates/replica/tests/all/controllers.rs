//! Only controllers manage a canister.

use crate::support::*;
use drydock_replica::ErrorCode;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, CanisterSettings, InstallCodeArgs, UpdateSettingsArgs,
};

#[test]
fn non_controller_is_refused_install_stop_status_update_settings_and_delete() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let before = env.replica.state_hashes(&id).unwrap();
    let rec = CanisterIdRecord { canister_id: id };
    let install = InstallCodeArgs {
        mode: CanisterInstallMode::Reinstall,
        canister_id: id,
        wasm_module: wasm("kv"),
        arg: vec![],
        sender_canister_version: None,
    };
    let settings = UpdateSettingsArgs {
        canister_id: id,
        settings: CanisterSettings {
            controllers: Some(vec![eve()]),
            ..Default::default()
        },
        sender_canister_version: None,
    };
    let errors = [
        env.mgmt::<_, ()>(eve(), "install_code", &install)
            .unwrap_err(),
        env.mgmt::<_, ()>(eve(), "stop_canister", &rec).unwrap_err(),
        env.mgmt::<_, ic_management_canister_types::CanisterStatusResult>(
            eve(),
            "canister_status",
            &rec,
        )
        .unwrap_err(),
        env.mgmt::<_, ()>(eve(), "update_settings", &settings)
            .unwrap_err(),
        env.mgmt::<_, ()>(eve(), "delete_canister", &rec)
            .unwrap_err(),
        env.mgmt::<_, ()>(
            eve(),
            "uninstall_code",
            &ic_management_canister_types::UninstallCodeArgs {
                canister_id: id,
                sender_canister_version: None,
            },
        )
        .unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.code, ErrorCode::CanisterInvalidController, "{e}");
        assert!(
            e.message.contains("Only the controllers of the canister"),
            "{e}"
        );
        assert!(e.message.contains(&eve().to_text()), "{e}");
    }
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    assert_eq!(env.status(id).settings.controllers, vec![user()]);
}

#[test]
fn controllers_can_be_changed_and_deleted_canisters_are_gone() {
    let mut env = Env::new();
    let id = env.create();
    let settings = UpdateSettingsArgs {
        canister_id: id,
        settings: CanisterSettings {
            controllers: Some(vec![user(), eve()]),
            ..Default::default()
        },
        sender_canister_version: None,
    };
    env.mgmt::<_, ()>(user(), "update_settings", &settings)
        .unwrap();
    let rec = CanisterIdRecord { canister_id: id };
    let _: ic_management_canister_types::CanisterStatusResult =
        env.mgmt(eve(), "canister_status", &rec).unwrap();
    let err = env
        .mgmt::<_, ()>(eve(), "delete_canister", &rec)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterNotStopped, "{err}");
    env.mgmt::<_, ()>(eve(), "stop_canister", &rec).unwrap();
    env.mgmt::<_, ()>(eve(), "delete_canister", &rec).unwrap();
    let err = env
        .mgmt::<_, ic_management_canister_types::CanisterStatusResult>(
            user(),
            "canister_status",
            &rec,
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterNotFound, "{err}");
    env.reopen();
    assert!(env.replica.canister(&id).is_none());
}

#[test]
fn more_than_ten_controllers_are_refused() {
    let mut env = Env::new();
    let id = env.create();
    let many: Vec<_> = (0..11u8)
        .map(|i| candid::Principal::self_authenticating([i; 44]))
        .collect();
    let settings = UpdateSettingsArgs {
        canister_id: id,
        settings: CanisterSettings {
            controllers: Some(many),
            ..Default::default()
        },
        sender_canister_version: None,
    };
    let err = env
        .mgmt::<_, ()>(user(), "update_settings", &settings)
        .unwrap_err();
    assert!(err.message.contains("at most 10"), "{err}");
}
