//! The Wasm chunk store: uploading a module in chunks and installing it with
//! `install_chunked_code`, as clients do for modules over 2 MiB.

use candid::Principal;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, ChunkHash, InstallChunkedCodeArgs, UploadChunkArgs,
};
use sha2::{Digest, Sha256};

use crate::support::{eve, user, wasm, Env};

fn upload(
    env: &mut Env,
    sender: Principal,
    id: Principal,
    chunk: &[u8],
) -> Result<ChunkHash, String> {
    env.mgmt(
        sender,
        "upload_chunk",
        &UploadChunkArgs {
            canister_id: id,
            chunk: chunk.to_vec(),
        },
    )
    .map_err(|e| e.to_string())
}

fn chunked(
    target: Principal,
    store: Option<Principal>,
    hashes: Vec<ChunkHash>,
    module_hash: Vec<u8>,
) -> InstallChunkedCodeArgs {
    InstallChunkedCodeArgs {
        mode: CanisterInstallMode::Install,
        target_canister: target,
        store_canister: store,
        chunk_hashes_list: hashes,
        wasm_module_hash: module_hash,
        arg: candid::encode_args(()).unwrap(),
        sender_canister_version: None,
    }
}

#[test]
fn a_module_uploaded_in_chunks_installs_and_runs() {
    let mut env = Env::new();
    let kv = wasm("kv");
    let id = env.create();
    let mut hashes = Vec::new();
    for chunk in kv.chunks(256 << 10) {
        hashes.push(upload(&mut env, user(), id, chunk).unwrap());
    }
    // The same bytes again are stored once.
    let again = upload(&mut env, user(), id, &kv[..256 << 10]).unwrap();
    assert_eq!(again, hashes[0]);
    let stored: Vec<ChunkHash> = env
        .mgmt(
            user(),
            "stored_chunks",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap();
    assert_eq!(stored, hashes);

    // A wrong module hash or a missing chunk is refused, and nothing is installed.
    let mut bad = Sha256::digest(&kv).to_vec();
    bad[0] ^= 1;
    let err = env
        .mgmt::<_, ()>(
            user(),
            "install_chunked_code",
            &chunked(id, None, hashes.clone(), bad),
        )
        .unwrap_err();
    assert!(err.message.contains("hash mismatch"), "{err}");
    let missing = vec![ChunkHash { hash: vec![7; 32] }];
    let err = env
        .mgmt::<_, ()>(
            user(),
            "install_chunked_code",
            &chunked(id, None, missing, Sha256::digest(&kv).to_vec()),
        )
        .unwrap_err();
    assert!(err.message.contains("not in the chunk store"), "{err}");
    assert!(env.replica.canister(&id).unwrap().module_hash.is_none());

    // A stranger may not use the store; the controller installs from it.
    let args = chunked(id, None, hashes.clone(), Sha256::digest(&kv).to_vec());
    assert!(env
        .mgmt::<_, ()>(eve(), "install_chunked_code", &args)
        .is_err());
    assert!(upload(&mut env, eve(), id, b"x").is_err());
    env.mgmt::<_, ()>(user(), "install_chunked_code", &args)
        .unwrap();
    env.update::<_, ()>(id, "put", ("k", "v")).unwrap();
    let (v,): (Option<String>,) = env.query(id, "get", ("k",)).unwrap();
    assert_eq!(v.as_deref(), Some("v"));

    // The store survives a restart, and clearing empties it.
    env.reopen();
    let stored: Vec<ChunkHash> = env
        .mgmt(
            user(),
            "stored_chunks",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap();
    assert_eq!(stored.len(), hashes.len());
    env.mgmt::<_, ()>(
        user(),
        "clear_chunk_store",
        &CanisterIdRecord { canister_id: id },
    )
    .unwrap();
    let stored: Vec<ChunkHash> = env
        .mgmt(
            user(),
            "stored_chunks",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap();
    assert!(stored.is_empty());
}

#[test]
fn chunks_over_1_mib_are_refused_and_another_canisters_store_can_be_used() {
    let mut env = Env::new();
    let store = env.create();
    let target = env.create();
    let err = upload(&mut env, user(), store, &vec![0u8; (1 << 20) + 1]).unwrap_err();
    assert!(err.contains("cannot exceed 1048576 bytes"), "{err}");
    let kv = wasm("kv");
    let hashes: Vec<ChunkHash> = kv
        .chunks(1 << 20)
        .map(|c| upload(&mut env, user(), store, c).unwrap())
        .collect();
    env.mgmt::<_, ()>(
        user(),
        "install_chunked_code",
        &chunked(target, Some(store), hashes, Sha256::digest(&kv).to_vec()),
    )
    .unwrap();
    let (n,): (u64,) = env.query(target, "len", ()).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_snapshot_keeps_the_chunk_store() {
    use ic_management_canister_types::{
        LoadCanisterSnapshotArgs, Snapshot, TakeCanisterSnapshotArgs,
    };
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    let hash = upload(&mut env, user(), id, b"chunk").unwrap();
    let snap: Snapshot = env
        .mgmt(
            user(),
            "take_canister_snapshot",
            &TakeCanisterSnapshotArgs {
                canister_id: id,
                replace_snapshot: None,
                uninstall_code: None,
                sender_canister_version: None,
            },
        )
        .unwrap();
    env.mgmt::<_, ()>(
        user(),
        "clear_chunk_store",
        &CanisterIdRecord { canister_id: id },
    )
    .unwrap();
    env.mgmt::<_, ()>(
        user(),
        "load_canister_snapshot",
        &LoadCanisterSnapshotArgs {
            canister_id: id,
            snapshot_id: snap.id,
            sender_canister_version: None,
        },
    )
    .unwrap();
    let stored: Vec<ChunkHash> = env
        .mgmt(
            user(),
            "stored_chunks",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap();
    assert_eq!(stored, vec![hash]);
}

// Interface spec, "IC method uninstall_code": the chunk store is cleared with the code.
#[test]
fn uninstall_code_clears_the_chunk_store() {
    let mut env = Env::new();
    let id = env.installed(wasm("kv"));
    upload(&mut env, user(), id, b"one chunk").unwrap();
    upload(&mut env, user(), id, b"another").unwrap();
    let stored: Vec<ChunkHash> = env
        .mgmt(
            user(),
            "stored_chunks",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap();
    assert_eq!(stored.len(), 2);
    env.mgmt::<_, ()>(
        user(),
        "uninstall_code",
        &CanisterIdRecord { canister_id: id },
    )
    .unwrap();
    let stored: Vec<ChunkHash> = env
        .mgmt(
            user(),
            "stored_chunks",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
}

// Interface spec, "IC method canister_status": `wasm_binary_size` is the module as uploaded,
// `wasm_chunk_store_size` the chunks' bytes, `log_memory_store_size` the log's.
#[test]
fn canister_status_reports_the_real_module_chunk_store_and_log_sizes() {
    let mut env = Env::new();
    let module = wasm("pingpong");
    let id = env.installed(module.clone());
    let _ = env.update::<_, ()>(id, "trap_now", ());
    let chunk = vec![7u8; 1000];
    let _: ic_management_canister_types::UploadChunkResult = env
        .mgmt(
            user(),
            "upload_chunk",
            &ic_management_canister_types::UploadChunkArgs {
                canister_id: id,
                chunk: chunk.clone(),
            },
        )
        .unwrap();
    for _ in 0..2 {
        let m = env.status(id).memory_metrics;
        assert_eq!(m.wasm_binary_size, candid::Nat::from(module.len()));
        assert_eq!(m.wasm_chunk_store_size, candid::Nat::from(chunk.len()));
        assert!(m.log_memory_store_size > 0u64);
        env.reopen();
    }
}
