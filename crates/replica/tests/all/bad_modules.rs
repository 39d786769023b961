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
