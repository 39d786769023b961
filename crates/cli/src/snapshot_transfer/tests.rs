//! The slices a transfer keeps in flight, through a transport that answers as told.

use std::time::SystemTime;

use super::*;

/// Answers `upload_canister_snapshot_data` calls as the agent does, `in_flight` sent at once
/// and the next sent as each answer is in, failing the one at `fail_at`; records the offsets
/// in the order they were sent. With `change`, the byte at that offset of that file is flipped
/// once the first ones are sent, as if someone wrote to the directory during the upload.
struct Uploads {
    fail_at: Option<u64>,
    sent: Vec<u64>,
    change: Option<(std::path::PathBuf, u64)>,
}

impl Transport for Uploads {
    fn management_raw(
        &mut self,
        method: &str,
        _canister: Principal,
        _arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        Err(CliError::internal(format!(
            "a single {method} was not expected"
        )))
    }

    fn management_raw_stream(
        &mut self,
        method: &str,
        _canister: Principal,
        args: &mut dyn Iterator<Item = Vec<u8>>,
        in_flight: usize,
        answer: &mut dyn FnMut(Result<Vec<u8>, CliError>) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        assert_eq!(method, "upload_canister_snapshot_data");
        let mut flying = std::collections::VecDeque::new();
        loop {
            while flying.len() < in_flight {
                let Some(arg) = args.next() else { break };
                let a: UploadCanisterSnapshotDataArgs = candid::decode_one(&arg).expect("args");
                let offset = match a.kind {
                    SnapshotDataOffset::StableMemory { offset } => offset,
                    other => panic!("not the stable memory: {other:?}"),
                };
                self.sent.push(offset);
                flying.push_back(offset);
            }
            if let Some((path, at)) = self.change.take() {
                let file = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .expect("open");
                let mut byte = [0u8];
                file.read_exact_at(&mut byte, at).expect("read");
                file.write_all_at(&[byte[0] ^ 1], at).expect("write");
            }
            let Some(offset) = flying.pop_front() else {
                return Ok(());
            };
            answer(match self.fail_at {
                Some(f) if f == offset => Err(CliError::internal(format!("slice {offset} failed"))),
                _ => Ok(candid::encode_args(()).expect("encode")),
            })?;
        }
    }

    fn management_query_raw(
        &mut self,
        method: &str,
        _canister: Principal,
        _arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        Err(CliError::internal(format!("{method} was not expected")))
    }

    fn metadata(&mut self, _: Principal, _: &str) -> Result<Option<Vec<u8>>, CliError> {
        Err(CliError::internal("metadata was not expected"))
    }

    fn query(&mut self, _: Principal, method: &str, _: Vec<u8>) -> Result<Vec<u8>, CliError> {
        Err(CliError::internal(format!(
            "query {method} was not expected"
        )))
    }

    fn update(&mut self, _: Principal, method: &str, _: Vec<u8>) -> Result<Vec<u8>, CliError> {
        Err(CliError::internal(format!(
            "update {method} was not expected"
        )))
    }

    fn take_labelled_snapshot(
        &mut self,
        _: ic_management_canister_types::TakeCanisterSnapshotArgs,
        _: String,
    ) -> Result<ic_management_canister_types::Snapshot, CliError> {
        Err(CliError::internal("a snapshot was not expected"))
    }

    fn info(&mut self, _: Principal) -> Result<crate::transport::CanisterInfo, CliError> {
        Err(CliError::internal("info was not expected"))
    }
}

fn metadata(stable_memory_size: u64) -> ReadCanisterSnapshotMetadataResult {
    ReadCanisterSnapshotMetadataResult {
        source: None,
        taken_at_timestamp: 0,
        wasm_module_size: 0,
        globals: Vec::new(),
        wasm_memory_size: 0,
        stable_memory_size,
        wasm_chunk_store: Vec::new(),
        canister_version: 0,
        certified_data: Vec::new(),
        global_timer: None,
        on_low_wasm_memory_hook_status: None,
    }
}

#[test]
fn an_upload_whose_slice_in_flight_fails_resumes_from_that_slice() {
    let dir = tempfile::tempdir().expect("dir");
    let size = 3 * SLICE_BYTES + 1_000;
    fs::write(
        dir.path().join("stable_memory.bin"),
        vec![7u8; size as usize],
    )
    .expect("write");
    let meta = metadata(size);
    let canister = Principal::management_canister();
    let mut progress = UploadProgress::default();

    // The second of the four slices in flight fails: the offset stops before it, though the
    // ones after it were written.
    let bar = ProgressBar::hidden();
    let upload = |net: &mut Uploads, progress: &mut UploadProgress| {
        upload_region(
            net,
            canister,
            b"s",
            dir.path(),
            Region::Stable,
            &meta,
            None,
            progress,
            &bar,
        )
    };
    let mut net = Uploads {
        fail_at: Some(SLICE_BYTES),
        sent: Vec::new(),
        change: None,
    };
    let err = upload(&mut net, &mut progress).expect_err("a slice failed");
    assert!(err.to_string().contains("failed"), "{err}");
    let all: Vec<u64> = (0..4).map(|i| i * SLICE_BYTES).collect();
    assert_eq!(net.sent, all);
    assert_eq!(progress.stable_memory_offset, SLICE_BYTES);
    let saved: UploadProgress =
        serde_json::from_slice(&fs::read(dir.path().join(UPLOAD_PROGRESS)).expect("progress file"))
            .expect("json");
    assert_eq!(saved.stable_memory_offset, SLICE_BYTES);

    // Run again: from the failed slice on, and all of it; a third run has nothing to send.
    for _ in 0..2 {
        let mut net = Uploads {
            fail_at: None,
            sent: Vec::new(),
            change: None,
        };
        let start = progress.stable_memory_offset;
        upload(&mut net, &mut progress).expect("upload");
        assert_eq!(progress.stable_memory_offset, size);
        let expected: Vec<u64> = if start == size {
            Vec::new()
        } else {
            (1..4).map(|i| i * SLICE_BYTES).collect()
        };
        assert_eq!(net.sent, expected);
    }
}

#[test]
fn a_slice_changed_after_verification_is_refused_before_it_is_sent_with_or_without_a_stamp() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("stable_memory.bin");
    let size = 5 * SLICE_BYTES;
    let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    fs::write(&path, &bytes).expect("write");
    let mut entry = FileEntry::new("stable_memory.bin".into(), size);
    for (i, slice) in bytes.chunks(SLICE_BYTES as usize).enumerate() {
        entry.record(i as u64 * SLICE_BYTES, SLICE_BYTES, sha256_hex(slice));
    }
    std::thread::sleep(manifest::SETTLED);
    let meta = metadata(size);
    let last = 4 * SLICE_BYTES;
    // Trusted stamp: the file's change is seen in its metadata; none: the slice is hashed.
    for trusted in [true, false] {
        let stamp = Stamp::settled(&fs::metadata(&path).expect("stat"), SystemTime::now());
        assert_eq!(
            stamp.is_some(),
            trusted,
            "the file changed a second ago at most"
        );
        let mut net = Uploads {
            fail_at: None,
            sent: Vec::new(),
            // A byte of its own each time: the first change stays in the file.
            change: Some((path.clone(), last + 10 + u64::from(!trusted))),
        };
        let mut progress = UploadProgress::default();
        let err = upload_region(
            &mut net,
            Principal::management_canister(),
            b"s",
            dir.path(),
            Region::Stable,
            &meta,
            Some((&entry, stamp.as_ref())),
            &mut progress,
            &ProgressBar::hidden(),
        )
        .expect_err("the last slice changed");
        assert!(
            err.to_string().contains(&format!(
                "slice at offset {last} changed since it was verified"
            )),
            "trusted stamp {trusted}: {err}"
        );
        // The four slices in flight were answered; the fifth, read when the first answer made
        // room for it, was never sent.
        assert_eq!(
            net.sent,
            (0..4).map(|i| i * SLICE_BYTES).collect::<Vec<_>>()
        );
        assert_eq!(progress.stable_memory_offset, last);
    }
}

#[test]
fn slices_tile_the_file_from_an_offset() {
    assert_eq!(slices(0, 0).count(), 0);
    assert_eq!(slices(0, 5).collect::<Vec<_>>(), vec![(0, 5)]);
    assert_eq!(slices(SLICE_BYTES, SLICE_BYTES).count(), 0);
    assert_eq!(
        slices(SLICE_BYTES, 3 * SLICE_BYTES + 3).collect::<Vec<_>>(),
        vec![
            (SLICE_BYTES, SLICE_BYTES),
            (2 * SLICE_BYTES, SLICE_BYTES),
            (3 * SLICE_BYTES, 3)
        ]
    );
}
