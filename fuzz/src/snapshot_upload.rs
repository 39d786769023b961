//! Snapshot uploads as the management canister receives them:
//! `upload_canister_snapshot_metadata` and `upload_canister_snapshot_data` arguments, decoded
//! into `ic-management-canister-types` records within drydock's Candid quotas, as
//! `drydock_replica::management` does, and the facts the replica then reads from them (sizes,
//! offsets, globals) taken apart without overflow.
//!
//! The replica's own handling of a decoded upload (writing the pages, the completeness check,
//! the load) needs the execution engine, which this build leaves out; it is covered by the
//! replica's tests (`crates/replica/tests/all/snapshot_transfer.rs`).

use ic_management_canister_types as mgmt;

/// Decodes `arg` as both upload arguments. Panics only if decoding does.
pub fn decode_bytes(arg: &[u8]) {
    if let Ok(m) = crate::decode_arg::<mgmt::UploadCanisterSnapshotMetadataArgs>(arg) {
        // What the replica computes from the metadata before it allocates anything.
        let _total = m
            .wasm_module_size
            .checked_add(m.wasm_memory_size)
            .and_then(|s| s.checked_add(m.stable_memory_size));
        let _ = m.globals.len();
        let _ = m.certified_data.len();
    }
    if let Ok(d) = crate::decode_arg::<mgmt::UploadCanisterSnapshotDataArgs>(arg) {
        let _ = d.chunk.len();
        match d.kind {
            mgmt::SnapshotDataOffset::WasmModule { offset }
            | mgmt::SnapshotDataOffset::WasmMemory { offset }
            | mgmt::SnapshotDataOffset::StableMemory { offset } => {
                let _end = offset.checked_add(d.chunk.len() as u64);
            }
            mgmt::SnapshotDataOffset::WasmChunk => {}
        }
    }
}

/// The seeds: a metadata upload and a data upload of each kind.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let id = candid::Principal::from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0, 1, 1]);
    let snap = vec![0, 0, 0, 0, 0, 0x10, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    let metadata = mgmt::UploadCanisterSnapshotMetadataArgs {
        canister_id: id,
        replace_snapshot: None,
        wasm_module_size: 100,
        globals: vec![
            mgmt::SnapshotMetadataGlobal::I32(7),
            mgmt::SnapshotMetadataGlobal::I64(-1),
        ],
        wasm_memory_size: 65536,
        stable_memory_size: 0,
        certified_data: vec![1; 32],
        global_timer: Some(mgmt::CanisterTimer::Inactive),
        on_low_wasm_memory_hook_status: None,
    };
    let mut out = vec![(
        "metadata.bin".to_string(),
        candid::encode_one(&metadata).expect("encodes"),
    )];
    for (name, kind) in [
        ("module", mgmt::SnapshotDataOffset::WasmModule { offset: 0 }),
        (
            "heap",
            mgmt::SnapshotDataOffset::WasmMemory { offset: 4096 },
        ),
        (
            "stable",
            mgmt::SnapshotDataOffset::StableMemory { offset: 0 },
        ),
        ("chunk", mgmt::SnapshotDataOffset::WasmChunk),
    ] {
        let data = mgmt::UploadCanisterSnapshotDataArgs {
            canister_id: id,
            snapshot_id: snap.clone(),
            kind,
            chunk: vec![0xab; 64],
        };
        out.push((
            format!("data-{name}.bin"),
            candid::encode_one(&data).expect("encodes"),
        ));
    }
    out
}
