//! What goes in comes back out: blobs, content, memory pages.

use std::os::unix::fs::FileExt;

use drydock_state::{Batch, StateError, Store, PAGE_SIZE};

use crate::support::{fast_tempdir, list, observe, page, read_memory, State};

#[test]
fn blobs_round_trip_and_list_sorted_by_prefix() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let mut batch = Batch::new();
    batch
        .put_blob("canister/b/meta", b"bee".to_vec())
        .put_blob("canister/a/meta", b"ay".to_vec())
        .put_blob("canister/a/wasm", Vec::new())
        .put_blob("clock", 7u64.to_le_bytes().to_vec());
    store.commit(batch).unwrap();

    assert_eq!(store.blob("canister/b/meta"), Some(&b"bee"[..]));
    assert_eq!(store.blob("canister/a/wasm"), Some(&b""[..]));
    assert_eq!(store.blob("missing"), None);
    assert_eq!(
        store.blob_keys("canister/"),
        ["canister/a/meta", "canister/a/wasm", "canister/b/meta"]
    );
    assert_eq!(
        store.blob_keys("canister/a/"),
        ["canister/a/meta", "canister/a/wasm"]
    );
    assert_eq!(store.blob_keys("zzz"), Vec::<String>::new());

    let mut batch = Batch::new();
    batch
        .delete_blob("canister/a/meta")
        .put_blob("clock", b"8".to_vec());
    store.commit(batch).unwrap();
    assert_eq!(store.blob("canister/a/meta"), None);
    assert_eq!(store.blob("clock"), Some(&b"8"[..]));
}

#[test]
fn later_changes_in_one_batch_win_over_earlier_ones() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let mut batch = Batch::new();
    batch
        .put_blob("k", b"1".to_vec())
        .put_blob("k", b"2".to_vec())
        .write_memory("m", false, PAGE_SIZE, vec![(0, page(1))])
        .write_memory("m", true, 2 * PAGE_SIZE, vec![(1, page(2))]);
    store.commit(batch).unwrap();
    assert_eq!(store.blob("k"), Some(&b"2"[..]));
    let mem = read_memory(&store.memory("m").unwrap());
    assert_eq!(mem.size, 2 * PAGE_SIZE);
    assert_eq!(mem.pages.keys().copied().collect::<Vec<_>>(), [1]);
}

#[test]
fn content_round_trips_and_storing_it_again_is_idempotent() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let module: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let hash = store.put_content(&module).unwrap();
    assert_eq!(hex::encode(hash), sha256_hex(&module));
    assert_eq!(store.put_content(&module).unwrap(), hash);
    assert_eq!(store.content(&hash).unwrap(), module);
    assert!(store.has_content(&hash).unwrap());
    assert_eq!(list(dir.path(), "content"), [hex::encode(hash)]);

    let empty = store.put_content(b"").unwrap();
    assert_eq!(store.content(&empty).unwrap(), b"");
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.content(&hash).unwrap(), module);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn content_never_stored_is_not_found() {
    let dir = fast_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let err = store.content(&[7; 32]).unwrap_err();
    assert!(matches!(err, StateError::ContentNotFound { .. }), "{err}");
    assert!(err.to_string().contains(&hex::encode([7u8; 32])), "{err}");
}

#[test]
fn content_file_with_a_flipped_byte_is_reported_corrupt_with_its_path() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let hash = store.put_content(b"(module)").unwrap();
    let path = dir.path().join("content").join(hex::encode(hash));
    std::fs::write(&path, b"(modulE)").unwrap();
    let err = store.content(&hash).unwrap_err();
    assert!(matches!(err, StateError::ContentCorrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    // Storing it again repairs nothing as long as the length matches, but a
    // different length is rewritten.
    std::fs::write(&path, b"short").unwrap();
    store.put_content(b"(module)").unwrap();
    assert_eq!(store.content(&hash).unwrap(), b"(module)");
}

#[test]
fn memory_pages_round_trip_and_unwritten_pages_read_as_zero() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    assert!(store.memory("heap").is_none());

    let size = 10 * PAGE_SIZE + 100; // not a multiple of a page
    let mut batch = Batch::new();
    batch.write_memory(
        "heap",
        false,
        size,
        vec![(0, page(1)), (3, page(3)), (10, page(10))],
    );
    store.commit(batch).unwrap();

    let mem = store.memory("heap").unwrap();
    assert_eq!(mem.size, size);
    assert!(mem.file.metadata().unwrap().len() >= 11 * PAGE_SIZE);
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    mem.file.read_exact_at(&mut buf, 3 * PAGE_SIZE).unwrap();
    assert_eq!(buf, page(3));
    mem.file.read_exact_at(&mut buf, 5 * PAGE_SIZE).unwrap();
    assert!(buf.iter().all(|&b| b == 0), "unwritten page reads as zero");

    // The same file is updated in place by a commit without reset, so a
    // mapping of it sees committed pages.
    let mut batch = Batch::new();
    batch.write_memory("heap", false, size, vec![(5, page(55))]);
    store.commit(batch).unwrap();
    mem.file.read_exact_at(&mut buf, 5 * PAGE_SIZE).unwrap();
    assert_eq!(buf, page(55));
    assert!(std::sync::Arc::ptr_eq(
        &mem.file,
        &store.memory("heap").unwrap().file
    ));

    // Growing.
    let mut batch = Batch::new();
    batch.write_memory("heap", false, 20 * PAGE_SIZE, vec![(19, page(19))]);
    store.commit(batch).unwrap();
    let mem = read_memory(&store.memory("heap").unwrap());
    assert_eq!(mem.size, 20 * PAGE_SIZE);
    assert_eq!(
        mem.pages.keys().copied().collect::<Vec<_>>(),
        [0, 3, 5, 10, 19]
    );
}

#[test]
fn reset_switches_to_a_new_file_and_the_old_file_keeps_the_old_content() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let mut batch = Batch::new();
    batch.write_memory(
        "stable",
        false,
        4 * PAGE_SIZE,
        vec![(0, page(1)), (2, page(2))],
    );
    store.commit(batch).unwrap();
    let old = store.memory("stable").unwrap();

    let mut batch = Batch::new();
    batch.write_memory("stable", true, PAGE_SIZE, vec![(0, page(9))]);
    store.commit(batch).unwrap();
    let new = store.memory("stable").unwrap();
    assert!(!std::sync::Arc::ptr_eq(&old.file, &new.file));
    assert_eq!(new.size, PAGE_SIZE);
    assert_eq!(
        read_memory(&new).pages.into_iter().collect::<Vec<_>>(),
        [(0, page(9))]
    );

    // The old file is untouched, and stays readable after a checkpoint
    // unlinks it.
    let before = read_memory(&old);
    assert_eq!(before.pages.keys().copied().collect::<Vec<_>>(), [0, 2]);
    store.checkpoint().unwrap();
    assert_eq!(
        list(dir.path(), "memories").len(),
        1,
        "old generation unlinked"
    );
    assert_eq!(read_memory(&old), before);

    // A reset with no pages: everything reads as zero.
    let mut batch = Batch::new();
    batch.write_memory("stable", true, 3 * PAGE_SIZE, Vec::new());
    store.commit(batch).unwrap();
    assert!(read_memory(&store.memory("stable").unwrap())
        .pages
        .is_empty());
}

#[test]
fn deleted_memory_is_absent_and_its_file_is_removed_at_the_next_checkpoint() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let mut batch = Batch::new();
    batch
        .write_memory("a", false, PAGE_SIZE, vec![(0, page(1))])
        .write_memory("b", false, PAGE_SIZE, vec![(0, page(2))]);
    store.commit(batch).unwrap();
    let held = store.memory("a").unwrap();
    let mut batch = Batch::new();
    batch.delete_memory("a").delete_memory("never-existed");
    store.commit(batch).unwrap();
    assert!(store.memory("a").is_none());
    assert_eq!(store.memory_names(""), ["b"]);
    assert_eq!(
        list(dir.path(), "memories").len(),
        2,
        "unlinked only at checkpoint"
    );
    store.checkpoint().unwrap();
    assert_eq!(list(dir.path(), "memories").len(), 1);
    assert_eq!(read_memory(&held).pages[&0], page(1));

    // Writing it again without reset starts from zero.
    let mut batch = Batch::new();
    batch.write_memory("a", false, 2 * PAGE_SIZE, vec![(1, page(3))]);
    store.commit(batch).unwrap();
    assert_eq!(
        read_memory(&store.memory("a").unwrap())
            .pages
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [1]
    );
}

#[test]
fn invalid_batches_are_rejected_without_changing_anything() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    let mut batch = Batch::new();
    batch.write_memory("m", false, 2 * PAGE_SIZE, vec![(0, page(1))]);
    store.commit(batch).unwrap();
    let before = observe(&store);

    let cases: Vec<(Batch, &str)> = vec![
        (
            one_write("m", false, 2 * PAGE_SIZE, vec![(1, vec![1; 100])]),
            "100 bytes",
        ),
        (
            one_write("m", false, 2 * PAGE_SIZE, vec![(2, page(1))]),
            "page 2 starts at or past",
        ),
        (one_write("m", false, PAGE_SIZE, vec![]), "shrink"),
        (
            one_write("m", false, u64::MAX, vec![]),
            "exceeds the maximum",
        ),
        (
            one_write("m", false, 2 * PAGE_SIZE, vec![(u64::MAX, page(1))]),
            "starts at or past",
        ),
    ];
    for (mut batch, expected) in cases {
        // A valid blob change before the invalid part must not apply either.
        batch.put_blob("should-not-appear", b"x".to_vec());
        let err = store.commit(batch).unwrap_err();
        assert!(matches!(err, StateError::InvalidBatch { .. }), "{err}");
        assert!(
            err.to_string().contains(expected),
            "{err} should mention {expected:?}"
        );
        assert_eq!(observe(&store), before);
    }
    // Still usable.
    store
        .commit(one_write("m", true, PAGE_SIZE, vec![]))
        .unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.memory("m").unwrap().size, PAGE_SIZE);
}

#[test]
fn empty_batch_commits_without_writing_the_log() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    store.commit(Batch::new()).unwrap();
    assert_eq!(store.wal_len(), 0);
    assert_eq!(observe(&store), State::default());
}

fn one_write(name: &str, reset: bool, size: u64, pages: Vec<(u64, Vec<u8>)>) -> Batch {
    let mut batch = Batch::new();
    batch.write_memory(name, reset, size, pages);
    batch
}

/// A checkpoint rewrites the manifest with every blob in it, so a commit checkpoints only once
/// the WAL has grown as large as the last manifest: with large blobs kept, the bytes written
/// stay linear in the bytes committed. The blobs survive the checkpoints and a reopen.
#[test]
fn a_large_manifest_is_rewritten_only_after_as_many_bytes_of_wal() {
    let dir = fast_tempdir();
    let options = drydock_state::Options {
        checkpoint_wal_bytes: 16 * 1024,
        ..drydock_state::Options::default()
    };
    let backend = std::sync::Arc::new(drydock_state::FsBackend);
    let mut store = Store::open_with(dir.path(), backend.clone(), options.clone()).unwrap();
    let big = vec![7u8; 1 << 20];
    let mut batch = Batch::new();
    batch.put_blob("big", big.clone());
    store.commit(batch).unwrap();
    store.checkpoint().unwrap();
    assert_eq!(store.wal_len(), 0);
    // 64 KiB commits: past `checkpoint_wal_bytes` many times over, short of the manifest.
    let mut largest = 0;
    for i in 0..12u32 {
        let mut batch = Batch::new();
        batch.put_blob(format!("small/{i:02}"), vec![i as u8; 64 * 1024]);
        store.commit(batch).unwrap();
        largest = largest.max(store.wal_len());
    }
    assert!(
        largest > 10 * 64 * 1024,
        "no checkpoint while the WAL is smaller than the 1 MiB manifest (largest WAL {largest})"
    );
    // Past the manifest's size, the next commit checkpoints.
    for i in 12..20u32 {
        let mut batch = Batch::new();
        batch.put_blob(format!("small/{i:02}"), vec![i as u8; 64 * 1024]);
        store.commit(batch).unwrap();
    }
    assert!(
        store.wal_len() < largest,
        "a checkpoint came once the WAL outgrew the manifest"
    );
    drop(store);
    let store = Store::open_with(dir.path(), backend, options).unwrap();
    assert_eq!(store.blob("big"), Some(big.as_slice()));
    for i in 0..20u32 {
        assert_eq!(
            store.blob(&format!("small/{i:02}")),
            Some(vec![i as u8; 64 * 1024].as_slice())
        );
    }
}
