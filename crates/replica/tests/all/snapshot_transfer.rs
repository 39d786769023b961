//! Snapshot download and upload (`read_canister_snapshot_metadata`/`_data`,
//! `upload_canister_snapshot_metadata`/`_data`): a real canister's snapshot read in slices,
//! uploaded into another canister and loaded there; and every refusal, with nothing changed.

use crate::snapshots::{live_content, load, load_as, take, take_as, KV_RAW_BASE};
use crate::support::*;
use candid::Principal;
use drydock_replica::{ErrorCode, UserError, MAX_SLICE_BYTES, MAX_SNAPSHOTS_PER_CANISTER};
use ic_management_canister_types::{
    CanisterSettings, ReadCanisterSnapshotDataArgs, ReadCanisterSnapshotDataResult,
    ReadCanisterSnapshotMetadataArgs, ReadCanisterSnapshotMetadataResult, SnapshotDataKind,
    SnapshotDataOffset, SnapshotSource, SnapshotVisibility, UpdateSettingsArgs,
    UploadCanisterSnapshotDataArgs, UploadCanisterSnapshotMetadataArgs,
    UploadCanisterSnapshotMetadataResult, UploadChunkArgs,
};

/// Everything a download gives.
struct Downloaded {
    meta: ReadCanisterSnapshotMetadataResult,
    module: Vec<u8>,
    heap: Vec<u8>,
    stable: Vec<u8>,
    chunks: Vec<Vec<u8>>,
}

fn read_meta(
    env: &mut Env,
    sender: Principal,
    canister: Principal,
    snapshot: &[u8],
) -> Result<ReadCanisterSnapshotMetadataResult, UserError> {
    env.mgmt(
        sender,
        "read_canister_snapshot_metadata",
        &ReadCanisterSnapshotMetadataArgs {
            canister_id: canister,
            snapshot_id: snapshot.to_vec(),
        },
    )
}

fn read_data(
    env: &mut Env,
    sender: Principal,
    canister: Principal,
    snapshot: &[u8],
    kind: SnapshotDataKind,
) -> Result<Vec<u8>, UserError> {
    let r: ReadCanisterSnapshotDataResult = env.mgmt(
        sender,
        "read_canister_snapshot_data",
        &ReadCanisterSnapshotDataArgs {
            canister_id: canister,
            snapshot_id: snapshot.to_vec(),
            kind,
        },
    )?;
    Ok(r.chunk)
}

/// Reads a region in slices of the largest size allowed.
fn read_region(
    env: &mut Env,
    canister: Principal,
    snapshot: &[u8],
    size: u64,
    kind: fn(u64, u64) -> SnapshotDataKind,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(size as usize);
    while (out.len() as u64) < size {
        let offset = out.len() as u64;
        let n = (size - offset).min(MAX_SLICE_BYTES);
        let slice = read_data(env, user(), canister, snapshot, kind(offset, n)).unwrap();
        assert_eq!(slice.len() as u64, n);
        out.extend_from_slice(&slice);
    }
    out
}

fn download(env: &mut Env, canister: Principal, snapshot: &[u8]) -> Downloaded {
    let meta = read_meta(env, user(), canister, snapshot).unwrap();
    let module = read_region(
        env,
        canister,
        snapshot,
        meta.wasm_module_size,
        |offset, size| SnapshotDataKind::WasmModule { offset, size },
    );
    let heap = read_region(
        env,
        canister,
        snapshot,
        meta.wasm_memory_size,
        |offset, size| SnapshotDataKind::WasmMemory { offset, size },
    );
    let stable = read_region(
        env,
        canister,
        snapshot,
        meta.stable_memory_size,
        |offset, size| SnapshotDataKind::StableMemory { offset, size },
    );
    let chunks = meta
        .wasm_chunk_store
        .iter()
        .map(|c| {
            read_data(
                env,
                user(),
                canister,
                snapshot,
                SnapshotDataKind::WasmChunk {
                    hash: c.hash.clone(),
                },
            )
            .unwrap()
        })
        .collect();
    Downloaded {
        meta,
        module,
        heap,
        stable,
        chunks,
    }
}

fn upload_meta(
    env: &mut Env,
    sender: Principal,
    canister: Principal,
    meta: &ReadCanisterSnapshotMetadataResult,
    replace: Option<Vec<u8>>,
) -> Result<Vec<u8>, UserError> {
    let r: UploadCanisterSnapshotMetadataResult = env.mgmt(
        sender,
        "upload_canister_snapshot_metadata",
        &UploadCanisterSnapshotMetadataArgs {
            canister_id: canister,
            replace_snapshot: replace,
            wasm_module_size: meta.wasm_module_size,
            globals: meta.globals.iter().map(|g| g.clone().unwrap()).collect(),
            wasm_memory_size: meta.wasm_memory_size,
            stable_memory_size: meta.stable_memory_size,
            certified_data: meta.certified_data.clone(),
            global_timer: meta.global_timer.clone(),
            on_low_wasm_memory_hook_status: meta.on_low_wasm_memory_hook_status.clone(),
        },
    )?;
    Ok(r.snapshot_id)
}

fn upload_data(
    env: &mut Env,
    sender: Principal,
    canister: Principal,
    snapshot: &[u8],
    kind: SnapshotDataOffset,
    chunk: &[u8],
) -> Result<(), UserError> {
    env.mgmt(
        sender,
        "upload_canister_snapshot_data",
        &UploadCanisterSnapshotDataArgs {
            canister_id: canister,
            snapshot_id: snapshot.to_vec(),
            kind,
            chunk: chunk.to_vec(),
        },
    )
}

fn upload_region(
    env: &mut Env,
    canister: Principal,
    snapshot: &[u8],
    bytes: &[u8],
    kind: fn(u64) -> SnapshotDataOffset,
) {
    for (i, chunk) in bytes.chunks(MAX_SLICE_BYTES as usize).enumerate() {
        let offset = i as u64 * MAX_SLICE_BYTES;
        upload_data(env, user(), canister, snapshot, kind(offset), chunk).unwrap();
    }
}

/// Uploads a download into `canister` as a new snapshot and returns its id.
fn upload(env: &mut Env, canister: Principal, d: &Downloaded) -> Vec<u8> {
    let id = upload_meta(env, user(), canister, &d.meta, None).unwrap();
    upload_region(env, canister, &id, &d.module, |offset| {
        SnapshotDataOffset::WasmModule { offset }
    });
    upload_region(env, canister, &id, &d.heap, |offset| {
        SnapshotDataOffset::WasmMemory { offset }
    });
    upload_region(env, canister, &id, &d.stable, |offset| {
        SnapshotDataOffset::StableMemory { offset }
    });
    for c in &d.chunks {
        upload_data(env, user(), canister, &id, SnapshotDataOffset::WasmChunk, c).unwrap();
    }
    id
}

fn put(env: &mut Env, id: Principal, k: &str, v: &str) {
    let () = env
        .update(id, "put", (k.to_string(), v.to_string()))
        .unwrap();
}

fn get(env: &mut Env, id: Principal, k: &str) -> Option<String> {
    let (v,): (Option<String>,) = env.query(id, "get", (k.to_string(),)).unwrap();
    v
}

fn stable_write(env: &mut Env, id: Principal, offset: u64, data: &[u8]) {
    let () = env
        .update(id, "stable_write", (offset, data.to_vec()))
        .unwrap();
}

fn stable_read(env: &mut Env, id: Principal, offset: u64, len: u64) -> Vec<u8> {
    let (v,): (Vec<u8>,) = env.query(id, "stable_read", (offset, len)).unwrap();
    v
}

/// A pattern that differs at every offset, so a slice in the wrong place shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// A kv canister with keys, a chunk in its chunk store, and raw stable memory written well
/// past 64 MiB, so regions span many slices; and a snapshot of it.
fn kv_with_snapshot(env: &mut Env) -> (Principal, Vec<u8>) {
    let a = env.installed(wasm("kv"));
    put(env, a, "greeting", "hello");
    put(env, a, "answer", "42");
    stable_write(env, a, KV_RAW_BASE + 3, &pattern(1_500_000, 7));
    stable_write(env, a, KV_RAW_BASE + 9_000_001, &pattern(1_000_000, 9));
    let _: ic_management_canister_types::ChunkHash = env
        .mgmt(
            user(),
            "upload_chunk",
            &UploadChunkArgs {
                canister_id: a,
                chunk: b"a chunk of some module".to_vec(),
            },
        )
        .unwrap();
    let snap = take(env, a).id;
    (a, snap)
}

#[test]
fn a_downloaded_snapshot_uploaded_into_another_canister_and_loaded_answers_like_the_original() {
    let mut env = Env::new();
    let (a, snap) = kv_with_snapshot(&mut env);
    // Changes after the snapshot are not in the download.
    put(&mut env, a, "greeting", "changed");

    let d = download(&mut env, a, &snap);
    assert_eq!(
        d.meta.source,
        Some(SnapshotSource::TakenFromCanister(candid::Reserved))
    );
    assert!(d.meta.stable_memory_size > KV_RAW_BASE + 10_000_000);
    assert!(d.meta.stable_memory_size > 30 * MAX_SLICE_BYTES);
    assert_eq!(d.module, wasm("kv"), "the module as installed");
    assert_eq!(d.chunks, vec![b"a chunk of some module".to_vec()]);

    let b = env.create();
    let uploaded = upload(&mut env, b, &d);
    let meta_b = read_meta(&mut env, user(), b, &uploaded).unwrap();
    assert_eq!(
        meta_b.source,
        Some(SnapshotSource::MetadataUpload(candid::Reserved))
    );
    assert_eq!(meta_b.wasm_memory_size, d.meta.wasm_memory_size);
    assert_eq!(meta_b.stable_memory_size, d.meta.stable_memory_size);
    assert_eq!(meta_b.wasm_chunk_store.len(), 1);
    // Downloading the uploaded snapshot gives the same bytes back.
    let again = download(&mut env, b, &uploaded);
    assert!(again.module == d.module && again.heap == d.heap && again.stable == d.stable);

    load(&mut env, b, &uploaded).unwrap();
    assert_eq!(get(&mut env, b, "greeting").as_deref(), Some("hello"));
    assert_eq!(get(&mut env, b, "answer").as_deref(), Some("42"));
    assert_eq!(
        stable_read(&mut env, b, KV_RAW_BASE + 9_000_001, 1_000_000),
        pattern(1_000_000, 9)
    );
    // B's state is A's at the snapshot, byte for byte.
    load(&mut env, a, &snap).unwrap();
    let (la, lb) = (live_content(&env, a), live_content(&env, b));
    assert_eq!(la, lb);
    // And B keeps working as a canister: it takes writes and answers them.
    put(&mut env, b, "new", "value");
    assert_eq!(get(&mut env, b, "new").as_deref(), Some("value"));
    // The upload survives a restart.
    env.reopen();
    load(&mut env, b, &uploaded).unwrap();
    assert_eq!(get(&mut env, b, "new"), None);
}

#[test]
fn an_uploaded_snapshot_loads_only_once_every_byte_of_its_metadata_is_uploaded() {
    let mut env = Env::new();
    let (a, snap) = kv_with_snapshot(&mut env);
    let d = download(&mut env, a, &snap);
    let b = env.create();
    let id = upload_meta(&mut env, user(), b, &d.meta, None).unwrap();
    upload_region(&mut env, b, &id, &d.module, |offset| {
        SnapshotDataOffset::WasmModule { offset }
    });
    upload_region(&mut env, b, &id, &d.heap, |offset| {
        SnapshotDataOffset::WasmMemory { offset }
    });
    // All of the stable memory but one byte in the middle.
    let hole = d.stable.len() as u64 / 2;
    upload_data(
        &mut env,
        user(),
        b,
        &id,
        SnapshotDataOffset::StableMemory { offset: 0 },
        &d.stable[..MAX_SLICE_BYTES as usize],
    )
    .unwrap();
    let mut offset = MAX_SLICE_BYTES;
    while offset < d.stable.len() as u64 {
        let end = (offset + MAX_SLICE_BYTES).min(d.stable.len() as u64);
        for (s, e) in [(offset, end.min(hole)), (offset.max(hole + 1), end)] {
            if s < e {
                upload_data(
                    &mut env,
                    user(),
                    b,
                    &id,
                    SnapshotDataOffset::StableMemory { offset: s },
                    &d.stable[s as usize..e as usize],
                )
                .unwrap();
            }
        }
        offset = end;
    }
    let before = env.replica.canister(&b).unwrap().version;
    let e = load(&mut env, b, &id).unwrap_err();
    assert_eq!(e.code, ErrorCode::CanisterRejectedMessage, "{e}");
    assert!(
        e.message.contains("upload is not complete")
            && e.message.contains("1 bytes of the stable memory")
            && e.message.contains(&format!("offset {hole}")),
        "{e}"
    );
    assert_eq!(env.replica.canister(&b).unwrap().version, before);
    assert_eq!(env.replica.canister(&b).unwrap().module_hash, None);

    upload_data(
        &mut env,
        user(),
        b,
        &id,
        SnapshotDataOffset::StableMemory { offset: hole },
        &d.stable[hole as usize..hole as usize + 1],
    )
    .unwrap();
    load(&mut env, b, &id).unwrap();
    assert_eq!(get(&mut env, b, "greeting").as_deref(), Some("hello"));
}

fn assert_refused(e: UserError, code: ErrorCode, words: &[&str]) {
    assert_eq!(e.code, code, "{e}");
    for w in words {
        assert!(e.message.contains(w), "{w:?} not in: {e}");
    }
}

#[test]
fn bad_reads_and_uploads_are_refused_with_their_cause_and_change_nothing() {
    let mut env = Env::new();
    let (a, snap) = kv_with_snapshot(&mut env);
    let meta = read_meta(&mut env, user(), a, &snap).unwrap();
    let stable = meta.stable_memory_size;
    let kind = |offset, size| SnapshotDataKind::StableMemory { offset, size };

    // Reads: oversized slice, past the end, overflowing, unknown snapshot, someone else's
    // snapshot, a stranger.
    let e = read_data(&mut env, user(), a, &snap, kind(0, MAX_SLICE_BYTES + 1)).unwrap_err();
    assert_refused(
        e,
        ErrorCode::InvalidManagementPayload,
        &["2000001", "maximum"],
    );
    let e = read_data(&mut env, user(), a, &snap, kind(stable - 10, 11)).unwrap_err();
    assert_refused(
        e,
        ErrorCode::InvalidManagementPayload,
        &["exceeds the stable memory size", &stable.to_string()],
    );
    let e = read_data(&mut env, user(), a, &snap, kind(u64::MAX, 2)).unwrap_err();
    assert_refused(e, ErrorCode::InvalidManagementPayload, &["exceeds"]);
    assert!(read_data(&mut env, user(), a, &snap, kind(stable - 10, 10)).is_ok());
    let e = read_data(
        &mut env,
        user(),
        a,
        &snap,
        SnapshotDataKind::WasmChunk { hash: vec![7; 32] },
    )
    .unwrap_err();
    assert_refused(e, ErrorCode::InvalidManagementPayload, &["no chunk"]);
    let mut unknown = snap.clone();
    unknown[7] ^= 0x40;
    let e = read_meta(&mut env, user(), a, &unknown).unwrap_err();
    assert_refused(e, ErrorCode::CanisterSnapshotNotFound, &["Could not find"]);
    let other = env.installed(wasm("kv"));
    let e = read_meta(&mut env, user(), other, &snap).unwrap_err();
    assert_refused(e, ErrorCode::CanisterRejectedMessage, &["does not belong"]);
    let e = read_meta(&mut env, eve(), a, &snap).unwrap_err();
    assert_refused(e, ErrorCode::CanisterInvalidController, &["controllers"]);

    // Uploads: a stranger, data into a taken snapshot, oversized and out-of-range chunks.
    let e = upload_meta(&mut env, eve(), other, &meta, None).unwrap_err();
    assert_refused(e, ErrorCode::CanisterInvalidController, &["controllers"]);
    let e = upload_data(
        &mut env,
        user(),
        a,
        &snap,
        SnapshotDataOffset::WasmModule { offset: 0 },
        b"x",
    )
    .unwrap_err();
    // Interface spec, "IC method upload_canister_snapshot_data": IC0409 for a taken snapshot.
    assert_refused(
        e,
        ErrorCode::CanisterSnapshotImmutable,
        &["taken from canister"],
    );
    let id = upload_meta(&mut env, user(), other, &meta, None).unwrap();
    let before = read_data(&mut env, user(), other, &id, kind(0, 4096)).unwrap();
    let e = upload_data(
        &mut env,
        user(),
        other,
        &id,
        SnapshotDataOffset::StableMemory { offset: 0 },
        &vec![1u8; MAX_SLICE_BYTES as usize + 1],
    )
    .unwrap_err();
    assert_refused(e, ErrorCode::InvalidManagementPayload, &["2000001 bytes"]);
    let e = upload_data(
        &mut env,
        user(),
        other,
        &id,
        SnapshotDataOffset::StableMemory { offset: stable - 1 },
        &[1, 2],
    )
    .unwrap_err();
    assert_refused(e, ErrorCode::InvalidManagementPayload, &["exceeds"]);
    let e = upload_data(
        &mut env,
        eve(),
        other,
        &id,
        SnapshotDataOffset::StableMemory { offset: 0 },
        &[1],
    )
    .unwrap_err();
    assert_refused(e, ErrorCode::CanisterInvalidController, &["controllers"]);
    let e = upload_data(
        &mut env,
        user(),
        other,
        &id,
        SnapshotDataOffset::WasmChunk,
        &vec![0u8; (1 << 20) + 1],
    )
    .unwrap_err();
    assert_refused(e, ErrorCode::InvalidManagementPayload, &["chunk store"]);
    assert_eq!(
        read_data(&mut env, user(), other, &id, kind(0, 4096)).unwrap(),
        before
    );
    // Metadata that cannot be a canister's.
    let mut bad = meta.clone();
    bad.wasm_memory_size = 1000;
    let e = upload_meta(&mut env, user(), other, &bad, None).unwrap_err();
    assert_refused(
        e,
        ErrorCode::InvalidManagementPayload,
        &["wasm_memory_size 1000"],
    );
    // Loading the empty upload is refused; the canister stays as it was.
    let e = load(&mut env, other, &id).unwrap_err();
    assert_refused(
        e,
        ErrorCode::CanisterRejectedMessage,
        &["not complete", "Wasm module"],
    );
    put(&mut env, other, "still", "works");
    assert_eq!(get(&mut env, other, "still").as_deref(), Some("works"));
}

#[test]
fn uploads_count_toward_the_snapshot_limit_and_replace_swaps_one() {
    let mut env = Env::new();
    let (a, snap) = kv_with_snapshot(&mut env);
    let meta = read_meta(&mut env, user(), a, &snap).unwrap();
    let mut ids = vec![snap];
    while ids.len() < MAX_SNAPSHOTS_PER_CANISTER {
        ids.push(upload_meta(&mut env, user(), a, &meta, None).unwrap());
    }
    let e = upload_meta(&mut env, user(), a, &meta, None).unwrap_err();
    assert_refused(
        e,
        ErrorCode::CanisterRejectedMessage,
        &["maximum number of snapshots"],
    );
    let e = take_as(&mut env, user(), a, None, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::CanisterRejectedMessage);
    let replaced = ids[3].clone();
    let new = upload_meta(&mut env, user(), a, &meta, Some(replaced.clone())).unwrap();
    let e = read_meta(&mut env, user(), a, &replaced).unwrap_err();
    assert_eq!(e.code, ErrorCode::CanisterSnapshotNotFound);
    assert!(read_meta(&mut env, user(), a, &new).is_ok());
}

#[test]
fn anyone_may_read_a_snapshot_whose_visibility_is_public_but_only_controllers_upload() {
    let mut env = Env::new();
    let (a, snap) = kv_with_snapshot(&mut env);
    assert!(read_meta(&mut env, eve(), a, &snap).is_err());
    env.mgmt::<_, ()>(
        user(),
        "update_settings",
        &UpdateSettingsArgs {
            canister_id: a,
            settings: CanisterSettings {
                snapshot_visibility: Some(SnapshotVisibility::Public),
                ..Default::default()
            },
            sender_canister_version: None,
        },
    )
    .unwrap();
    let meta = read_meta(&mut env, eve(), a, &snap).unwrap();
    let module = read_data(
        &mut env,
        eve(),
        a,
        &snap,
        SnapshotDataKind::WasmModule { offset: 0, size: 8 },
    )
    .unwrap();
    assert_eq!(&module[..4], b"\0asm");
    let e = upload_meta(&mut env, eve(), a, &meta, None).unwrap_err();
    assert_eq!(e.code, ErrorCode::CanisterInvalidController);
    // Loading needs control of both canisters, uploaded snapshot or not.
    let b = env.create();
    let d = download(&mut env, a, &snap);
    let id = upload(&mut env, b, &d);
    let e = load_as(&mut env, eve(), b, &id).unwrap_err();
    assert_eq!(e.code, ErrorCode::CanisterInvalidController);
}
