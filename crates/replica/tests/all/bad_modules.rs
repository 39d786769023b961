//! Bad modules are refused with a clear error, and the canister is unchanged.

use crate::support::*;
use drydock_replica::ErrorCode;
use ic_management_canister_types::CanisterInstallMode;

fn refused(env: &mut Env, id: candid::Principal, module: Vec<u8>) -> drydock_replica::UserError {
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env
        .install_mode(id, module, CanisterInstallMode::Reinstall, vec![])
        .unwrap_err();
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before);
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v1");
    err
}

#[test]
fn module_with_an_unknown_ic0_import_is_refused_naming_it() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let err = refused(&mut env, id, wat("unknown_import"));
    assert_eq!(err.code, ErrorCode::CanisterInvalidWasm, "{err}");
    assert!(err.message.contains("ic0.not_a_function"), "{err}");
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let err = refused(&mut env, id, b"hello, this is not a module".to_vec());
    assert_eq!(err.code, ErrorCode::CanisterInvalidWasm, "{err}");
    assert!(
        err.message.to_lowercase().contains("not a wasm module"),
        "{err}"
    );
}

#[test]
fn module_over_100_mib_is_refused() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let mut big = wasm("kv");
    // A custom section padding the module past 100 MiB.
    let pad = 100 * 1024 * 1024 + 1 - big.len() + 16;
    big.push(0);
    let mut len = Vec::new();
    leb128(&mut len, (pad + 2) as u64);
    big.extend(len);
    big.extend([1u8, b'x']);
    big.extend(std::iter::repeat_n(0u8, pad));
    let err = refused(&mut env, id, big);
    assert_eq!(err.code, ErrorCode::CanisterInvalidWasm, "{err}");
    assert!(err.message.contains("100 MiB"), "{err}");
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
}

#[test]
fn gzipped_module_installs_and_its_hash_is_of_the_gzipped_bytes() {
    use std::io::Write;
    let mut env = Env::new();
    let id = env.create();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&wasm("kv")).unwrap();
    let gz = gz.finish().unwrap();
    env.install(id, gz.clone());
    use sha2::Digest;
    assert_eq!(
        env.status(id).module_hash,
        Some(sha2::Sha256::digest(&gz).to_vec())
    );
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v1");
}

/// A module that cannot be instantiated by its own fault is the canister's error — IC0505,
/// reject code 5 (CANISTER_ERROR) — never a failure of drydock (which clients would retry):
/// for a fresh install, a reinstall and an upgrade, and the canister stays as it was.
fn refused_as_invalid_wasm(fixture: &str, names: &str) {
    let mut env = Env::new();
    let empty = env.create();
    let err = env
        .install_mode(
            empty,
            wat(fixture),
            CanisterInstallMode::Install,
            candid::encode_args(()).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterInvalidWasm, "{fixture}: {err}");
    assert_eq!(
        err.reject_code(),
        drydock_replica::RejectCode::CanisterError,
        "{fixture}"
    );
    assert!(err.message.contains(names), "{fixture}: {err}");
    assert_eq!(env.status(empty).module_hash, None, "{fixture}");

    let id = env.installed(wasm("kv"));
    let err = refused(&mut env, id, wat(fixture));
    assert_eq!(err.code, ErrorCode::CanisterInvalidWasm, "{fixture}: {err}");
    let before = env.replica.state_hashes(&id).unwrap();
    let err = env.upgrade(id, wat(fixture), false, None).unwrap_err();
    assert_eq!(err.code, ErrorCode::CanisterInvalidWasm, "{fixture}: {err}");
    assert_eq!(env.replica.state_hashes(&id).unwrap(), before, "{fixture}");
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v1");
}

#[test]
fn module_whose_data_segment_is_out_of_bounds_is_the_canisters_error_ic0505() {
    refused_as_invalid_wasm("data_out_of_bounds", "out of bounds");
}

#[test]
fn module_whose_element_segment_is_out_of_bounds_is_the_canisters_error_ic0505() {
    refused_as_invalid_wasm("elem_out_of_bounds", "out of bounds");
}

#[test]
fn module_asking_for_a_memory_past_the_wasm64_maximum_is_the_canisters_error_ic0505() {
    refused_as_invalid_wasm("memory_too_large", "maximum");
}

#[test]
fn module_asking_for_a_table_past_the_maximum_is_the_canisters_error_ic0505() {
    refused_as_invalid_wasm("table_too_large", "table");
}

#[test]
fn module_whose_initial_memory_passes_the_wasm_memory_limit_is_the_canisters_error_ic0505() {
    refused_as_invalid_wasm("memory_over_wasm_memory_limit", "wasm_memory_limit");
}

#[test]
fn module_whose_start_function_traps_is_a_canister_error_ic0502() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let err = refused(&mut env, id, wat("start_traps"));
    assert_eq!(err.code, ErrorCode::CanisterTrapped, "{err}");
    assert_eq!(
        err.reject_code(),
        drydock_replica::RejectCode::CanisterError
    );
    assert!(err.message.contains("start"), "{err}");
}
