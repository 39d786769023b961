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

/// How many ways [`decode_way`] decodes.
pub const WAYS: u8 = 10;

/// Decodes `arg` the `way`-th way drydock does (`way % WAYS`). Panics only if a decoder breaks
/// a promise.
pub fn decode_way(way: u8, arg: &[u8]) {
    match way % WAYS {
        0 => drop(management_target(arg)),
        1 => drop(crate::decode_arg::<mgmt::CanisterIdRecord>(arg)),
        2 => drop(crate::decode_arg::<mgmt::InstallCodeArgs>(arg)),
        3 => drop(crate::decode_arg::<mgmt::UpdateSettingsArgs>(arg)),
        4 => drop(crate::decode_arg::<
            mgmt::ProvisionalCreateCanisterWithCyclesArgs,
        >(arg)),
        5 => drop(crate::decode_arg::<mgmt::UploadChunkArgs>(arg)),
        6 => drop(crate::decode_arg::<mgmt::InstallChunkedCodeArgs>(arg)),
        7 => drop(crate::decode_arg::<mgmt::TakeCanisterSnapshotArgs>(arg)),
        8 => drop(crate::decode_arg::<mgmt::LoadCanisterSnapshotArgs>(arg)),
        _ => drop(crate::decode_arg::<mgmt::FetchCanisterLogsArgs>(arg)),
    }
}

/// Decodes `arg` every way drydock does.
pub fn decode_bytes(arg: &[u8]) {
    for way in 0..WAYS {
        decode_way(way, arg);
    }
}

/// One fuzz input: its first byte picks one decoding of the rest (`0..WAYS`), or (`WAYS`)
/// a structured [`Target`] built from the rest. One decoding per execution keeps an input
/// that is costly to decode (one that spends its whole quota) from costing ten times over.
pub fn fuzz_one(input: &[u8]) {
    let Some((&pick, rest)) = input.split_first() else {
        return;
    };
    let pick = pick % (WAYS + 1);
    if pick == WAYS {
        if let Ok(t) = arbitrary::Unstructured::new(rest).arbitrary::<Target>() {
            t.check();
        }
    } else {
        decode_way(pick, rest);
    }
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

/// The seeds: well-formed arguments of the methods above, each after the byte that picks the
/// decoding meant for it (see [`fuzz_one`]).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    raw_seeds()
        .into_iter()
        .map(|(name, way, bytes)| {
            let mut input = vec![way];
            input.extend(bytes);
            (name, input)
        })
        .collect()
}

fn raw_seeds() -> Vec<(String, u8, Vec<u8>)> {
    let id = Principal::from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0, 1, 1]);
    let mut out = vec![
        (
            "canister_id_record.bin".to_string(),
            1,
            candid::encode_one(mgmt::CanisterIdRecord { canister_id: id }).expect("encodes"),
        ),
        (
            "install_code.bin".to_string(),
            2,
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
            7,
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
        0,
        // `(vec null)` claiming 2^32 elements: the quota must stop it quickly.
        b"DIDL\x01\x6d\x7f\x01\x00\x80\x80\x80\x80\x10".to_vec(),
    ));
    out
}
