//! Candid arguments as drydock decodes them from the network:
//! - `drydock_http::envelope::management_target`: the `canister_id` of a management call's
//!   argument, read on the HTTP path (before authentication has reached the replica) to check
//!   the effective canister id, with a decoding quota;
//! - the management canister's own decoding of its arguments (`candid::decode_one` within drydock's quotas into
//!   the `ic-management-canister-types` records, as `drydock_replica::management` does), for the
//!   methods a user may call.
//!
//! Promises checked: no panic; the work is bounded (libFuzzer's timeout catches the rest);
//! and an argument that really is a record with `canister_id` (built by [`Target`]) gives
//! exactly that id back.

use arbitrary::Arbitrary;
use candid::Principal;
use drydock_http::envelope::management_target;
use ic_management_canister_types as mgmt;

/// Decodes `arg` every way drydock does. Panics only if a decoder breaks a promise.
pub fn decode_bytes(arg: &[u8]) {
    let _ = management_target(arg);
    let _ = crate::decode_arg::<mgmt::CanisterIdRecord>(arg);
    let _ = crate::decode_arg::<mgmt::InstallCodeArgs>(arg);
    let _ = crate::decode_arg::<mgmt::UpdateSettingsArgs>(arg);
    let _ = crate::decode_arg::<mgmt::ProvisionalCreateCanisterWithCyclesArgs>(arg);
    let _ = crate::decode_arg::<mgmt::UploadChunkArgs>(arg);
    let _ = crate::decode_arg::<mgmt::InstallChunkedCodeArgs>(arg);
    let _ = crate::decode_arg::<mgmt::TakeCanisterSnapshotArgs>(arg);
    let _ = crate::decode_arg::<mgmt::LoadCanisterSnapshotArgs>(arg);
    let _ = crate::decode_arg::<mgmt::FetchCanisterLogsArgs>(arg);
}

/// A management argument with a `canister_id` and other fields around it.
#[derive(Arbitrary, Debug)]
pub struct Target {
    pub id: Vec<u8>,
    pub wasm: Vec<u8>,
    pub extra: Option<u64>,
}

impl Target {
    /// Encodes an `install_code`-like record and checks that `management_target` finds the id.
    pub fn check(&self) {
        #[derive(candid::CandidType)]
        struct Arg {
            canister_id: Principal,
            wasm_module: Vec<u8>,
            extra: Option<u64>,
        }
        let Ok(id) = Principal::try_from_slice(&self.id) else {
            return;
        };
        let bytes = candid::encode_one(Arg {
            canister_id: id,
            wasm_module: self.wasm.clone(),
            extra: self.extra,
        })
        .expect("encodes");
        assert_eq!(management_target(&bytes), Some(id));
        decode_bytes(&bytes);
    }
}

/// The seeds: well-formed arguments of the methods above.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let id = Principal::from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0, 1, 1]);
    let mut out = vec![
        (
            "canister_id_record.bin".to_string(),
            candid::encode_one(mgmt::CanisterIdRecord { canister_id: id }).expect("encodes"),
        ),
        (
            "install_code.bin".to_string(),
            candid::encode_one(mgmt::InstallCodeArgs {
                mode: mgmt::CanisterInstallMode::Upgrade(Some(mgmt::UpgradeFlags {
                    skip_pre_upgrade: Some(true),
                    wasm_memory_persistence: Some(mgmt::WasmMemoryPersistence::Keep),
                })),
                canister_id: id,
                wasm_module: b"\0asm\x01\0\0\0".to_vec(),
                arg: vec![1, 2, 3],
                sender_canister_version: Some(3),
            })
            .expect("encodes"),
        ),
        (
            "take_snapshot.bin".to_string(),
            candid::encode_one(mgmt::TakeCanisterSnapshotArgs {
                canister_id: id,
                replace_snapshot: Some(vec![0; 16]),
                uninstall_code: Some(false),
                sender_canister_version: None,
            })
            .expect("encodes"),
        ),
    ];
    out.push((
        "vec_null.bin".to_string(),
        // `(vec null)` claiming 2^32 elements: the quota must stop it quickly.
        b"DIDL\x01\x6d\x7f\x01\x00\x80\x80\x80\x80\x10".to_vec(),
    ));
    out
}
