//! Reopening a directory: replay of the WAL, torn tails, corruption,
//! leftovers, automatic checkpoints.

use std::sync::Arc;

use drydock_state::{Batch, FsBackend, Options, StateError, Store, PAGE_SIZE};

use crate::support::{fast_tempdir, list, observe, page, records_end, State};

fn sample_batches() -> Vec<Batch> {
    let mut batches = Vec::new();
    for i in 0..6u64 {
        let mut batch = Batch::new();
        batch.put_blob(format!("key/{i}"), i.to_le_bytes().to_vec());
        batch.write_memory(
            "heap",
            i == 3,
            (i + 1) * PAGE_SIZE,
            vec![(i, page(i + 100))],
        );
        if i == 4 {
            batch.delete_blob("key/0");
        }
        batches.push(batch);
    }
    batches
}

/// Commit the sample batches without any checkpoint; returns the model.
fn commit_samples(store: &mut Store) -> Vec<State> {
    let mut states = vec![State::default()];
    for batch in sample_batches() {
        let mut next = states.last().unwrap().clone();
        next.apply(&batch);
        store.commit(batch).unwrap();
        states.push(next);
    }
    states
}

#[test]
fn acknowledged_commits_survive_reopen() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let states = commit_samples(&mut store);
    assert!(store.wal_len() > 0, "nothing checkpointed yet");
    assert_eq!(observe(&store), *states.last().unwrap());
    // The WAL is preallocated in 1 MiB chunks of zeros ahead of the records: recovery reads
    // them as a torn tail.
    let file_len = std::fs::metadata(dir.path().join("wal")).unwrap().len();
    assert!(
        file_len > store.wal_len(),
        "{file_len} vs {}",
        store.wal_len()
    );
    assert_eq!(file_len % (1 << 20), 0, "{file_len}");
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(observe(&store), *states.last().unwrap());
    assert_eq!(store.wal_len(), 0, "recovery checkpoints");
    assert_eq!(std::fs::metadata(dir.path().join("wal")).unwrap().len(), 0);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(observe(&store), *states.last().unwrap());
}

#[test]
fn checkpoint_folds_the_wal_into_the_manifest() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let states = commit_samples(&mut store);
    store.checkpoint().unwrap();
    assert_eq!(store.wal_len(), 0);
    assert_eq!(std::fs::metadata(dir.path().join("wal")).unwrap().len(), 0);
    // The reset at batch 3 left one generation unreferenced; it is gone.
    assert_eq!(list(dir.path(), "memories").len(), 1);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(observe(&store), *states.last().unwrap());
}

/// A way of damaging the bytes of a log.
type Damage = Box<dyn Fn(&mut Vec<u8>)>;

#[test]
fn torn_wal_tail_is_ignored_at_recovery() {
    // Every way of cutting or damaging the last record loses exactly that
    // record, which was never acknowledged.
    let reference = fast_tempdir();
    let mut store = Store::open(reference.path()).unwrap();
    let states = commit_samples(&mut store);
    drop(store);
    let mut wal = std::fs::read(reference.path().join("wal")).unwrap();
    // Without its preallocated tail of zeros, so that the damages below hit the last record.
    let end = records_end(&wal);
    assert!(
        wal[end..].iter().all(|b| *b == 0),
        "the tail past the records is zeros"
    );
    wal.truncate(end);
    let last_start = record_starts(&wal).pop().unwrap();

    let damages: Vec<(&str, Damage)> = vec![
        (
            "cut inside the header",
            Box::new(move |w: &mut Vec<u8>| w.truncate(last_start + 5)),
        ),
        (
            "cut inside the payload",
            Box::new(move |w: &mut Vec<u8>| w.truncate(last_start + 200)),
        ),
        (
            "cut one byte short",
            Box::new(|w: &mut Vec<u8>| {
                w.pop();
            }),
        ),
        (
            "payload zeroed",
            Box::new(move |w: &mut Vec<u8>| w[last_start + 12..].fill(0)),
        ),
        (
            "whole record zeroed",
            Box::new(move |w: &mut Vec<u8>| w[last_start..].fill(0)),
        ),
        (
            "a flipped payload bit",
            Box::new(|w: &mut Vec<u8>| {
                let i = w.len() - 10;
                w[i] ^= 1;
            }),
        ),
        (
            "garbage appended after it",
            Box::new(|w: &mut Vec<u8>| {
                // An intact last record plus a torn beginning of another.
                w.extend_from_slice(b"DDW\x01\xff\xff");
            }),
        ),
    ];
    for (what, damage) in damages {
        let dir = fast_tempdir();
        copy_dir(reference.path(), dir.path());
        let mut bytes = wal.clone();
        damage(&mut bytes);
        std::fs::write(dir.path().join("wal"), &bytes).unwrap();

        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let expected = if what.starts_with("garbage") {
            states.len() - 1
        } else {
            states.len() - 2
        };
        assert_eq!(observe(&store), states[expected], "{what}");
        // Later commits go after the recovered state, not after the garbage.
        let mut store = store;
        let mut batch = Batch::new();
        batch.put_blob("after", b"recovery".to_vec());
        store.commit(batch).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.blob("after"), Some(&b"recovery"[..]), "{what}");
    }
}

#[test]
fn corrupt_record_in_the_middle_of_the_wal_is_an_error_naming_its_offset() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    commit_samples(&mut store);
    drop(store);
    let wal_path = dir.path().join("wal");
    let mut wal = std::fs::read(&wal_path).unwrap();
    // Record 0 is small (one page); damage a byte in its payload.
    wal[100] ^= 0xff;
    std::fs::write(&wal_path, &wal).unwrap();

    let err = Store::open(dir.path()).unwrap_err();
    match &err {
        StateError::Corrupt { path, offset, .. } => {
            assert_eq!(path, &wal_path);
            assert_eq!(*offset, 0);
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("wal") && message.contains("offset 0"),
        "{message}"
    );
    // The directory was left as it was, so the damage can be inspected.
    assert_eq!(std::fs::read(&wal_path).unwrap(), wal);
}

#[test]
fn corrupt_manifest_is_an_error_naming_the_file() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    commit_samples(&mut store);
    store.checkpoint().unwrap();
    drop(store);
    let path = dir.path().join("manifest");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    std::fs::write(&path, b"not a manifest at all, definitely").unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");

    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..12].copy_from_slice(b"DDSTATE\0\x09\0\0\0");
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StateError::UnsupportedVersion {
                found: 9,
                supported: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn missing_memory_file_is_an_error_naming_the_memory_and_the_file() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let mut batch = Batch::new();
    batch.write_memory("canister-7/heap", false, PAGE_SIZE, vec![(0, page(1))]);
    store.commit(batch).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let file = list(dir.path(), "memories").pop().unwrap();
    assert!(file.ends_with("-canister-7_heap"), "{file}");
    std::fs::remove_file(dir.path().join("memories").join(&file)).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("canister-7/heap") && message.contains(&file),
        "{message}"
    );
}

#[test]
fn leftover_files_from_a_crash_are_removed_at_open() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let mut batch = Batch::new();
    batch.write_memory("m", false, PAGE_SIZE, vec![(0, page(1))]);
    store.commit(batch).unwrap();
    let hash = store.put_content(b"wasm").unwrap();
    drop(store);
    let kept_memories = list(dir.path(), "memories");
    std::fs::write(
        dir.path().join("memories").join("00000000000000ff-m"),
        b"stale",
    )
    .unwrap();
    std::fs::write(dir.path().join("content").join("abcd.tmp"), b"half").unwrap();
    std::fs::write(dir.path().join("manifest.tmp"), b"half").unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(list(dir.path(), "memories"), kept_memories);
    assert_eq!(list(dir.path(), "content"), [hex::encode(hash)]);
    assert!(!dir.path().join("manifest.tmp").exists());
    assert_eq!(store.content(&hash).unwrap(), b"wasm");
}

#[test]
fn wal_past_the_threshold_is_checkpointed_before_the_next_commit() {
    let dir = fast_tempdir();
    let options = Options {
        checkpoint_wal_bytes: 3 * PAGE_SIZE,
        ..Options::default()
    };
    let mut store = Store::open_with(dir.path(), Arc::new(FsBackend), options.clone()).unwrap();
    let mut model = State::default();
    let mut max_wal = 0;
    for i in 0..10u64 {
        let mut batch = Batch::new();
        batch.write_memory("m", false, 10 * PAGE_SIZE, vec![(i, page(i))]);
        model.apply(&batch);
        store.commit(batch).unwrap();
        max_wal = max_wal.max(store.wal_len());
    }
    assert!(
        max_wal < 4 * (PAGE_SIZE + 100),
        "WAL reached {max_wal} bytes"
    );
    drop(store);
    let store = Store::open_with(dir.path(), Arc::new(FsBackend), options).unwrap();
    assert_eq!(observe(&store), model);
}

#[test]
fn a_missing_state_directory_is_created_with_its_parents() {
    let root = fast_tempdir();
    let dir = root.path().join("a/b/state");
    let mut store = Store::open(&dir).unwrap();
    assert_eq!(store.dir(), dir);
    let mut batch = Batch::new();
    batch.put_blob("k", b"v".to_vec());
    store.commit(batch).unwrap();
    drop(store);
    assert_eq!(Store::open(&dir).unwrap().blob("k"), Some(&b"v"[..]));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Offsets of the records of an intact log (from their length fields).
fn record_starts(wal: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut pos = 0;
    while pos < wal.len() {
        starts.push(pos);
        let len = u32::from_le_bytes(wal[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += 12 + len;
    }
    assert_eq!(pos, wal.len());
    starts
}
