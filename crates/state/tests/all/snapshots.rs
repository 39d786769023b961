//! Snapshots of paged memories: sharing, freeing, and the rules of a batch.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use drydock_state::{Batch, StateError, Store, PAGE_SIZE};

use crate::support::{observe, page};

/// Bytes of disk the files under `dir` occupy.
fn disk_use(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            total += disk_use(&entry.path());
        } else {
            total += meta.blocks() * 512;
        }
    }
    total
}

/// Write pages `0..total` of memory `name` in commits of 256 pages.
fn fill(store: &mut Store, name: &str, total: u64, seed: u64) {
    for chunk in (0..total).collect::<Vec<_>>().chunks(256) {
        let mut batch = Batch::new();
        let pages = chunk.iter().map(|&i| (i, page(seed + i))).collect();
        batch.write_memory(name, false, total * PAGE_SIZE, pages);
        store.commit(batch).unwrap();
    }
}

#[test]
fn ten_snapshots_that_differ_in_a_few_pages_cost_about_one_state() {
    // Not on tmpfs: the figure is about blocks on a real file system.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let pages = 2048; // 8 MiB
    fill(&mut store, "heap", pages, 0);
    store.checkpoint().unwrap();
    let one_state = disk_use(&dir.path().join("memories"));
    assert!(one_state >= pages * PAGE_SIZE, "{one_state}");
    for i in 0..10u64 {
        let mut batch = Batch::new();
        batch.snapshot_memory(format!("snap/{i}"), "heap");
        store.commit(batch).unwrap();
        let mut batch = Batch::new();
        batch.write_memory(
            "heap",
            false,
            pages * PAGE_SIZE,
            (0..4)
                .map(|k| (i * 7 + k, page(1000 + i * 10 + k)))
                .collect(),
        );
        store.commit(batch).unwrap();
    }
    store.checkpoint().unwrap();
    let total = disk_use(&dir.path().join("memories")) + disk_use(&dir.path().join("layers"));
    // 10 snapshots × 4 preserved pages on top of one state.
    assert!(
        total <= one_state + 64 * PAGE_SIZE,
        "10 snapshots use {total} bytes, one state {one_state}"
    );
    // And each reads as it was.
    let model_before = observe(&store);
    assert_eq!(model_before.snapshots.len(), 10);
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    store
        .read_memory("snap/3", 21 * PAGE_SIZE, &mut buf)
        .unwrap();
    assert_eq!(buf, page(21), "page 21 as of snapshot 3 (changed after it)");
    store
        .read_memory("snap/4", 21 * PAGE_SIZE, &mut buf)
        .unwrap();
    assert_eq!(buf, page(1000 + 30), "page 21 as of snapshot 4");
}

#[test]
fn deleting_snapshots_frees_the_pages_nothing_else_references() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, "heap", 512, 0);
    let mut batch = Batch::new();
    batch.snapshot_memory("snap/a", "heap");
    store.commit(batch).unwrap();
    fill(&mut store, "heap", 512, 5000); // every page preserved for snap/a
    store.checkpoint().unwrap();
    let layers = dir.path().join("layers");
    assert!(disk_use(&layers) >= 512 * PAGE_SIZE);
    let mut batch = Batch::new();
    batch.delete_memory("snap/a");
    store.commit(batch).unwrap();
    store.checkpoint().unwrap();
    assert_eq!(disk_use(&layers), 0, "the layer file is gone");

    // With an older snapshot, the deleted one's pages move to it: nothing
    // is lost, and only the pages both had are freed.
    let mut batch = Batch::new();
    batch.snapshot_memory("snap/old", "heap");
    store.commit(batch).unwrap();
    let mut batch = Batch::new();
    batch.write_memory("heap", false, 512 * PAGE_SIZE, vec![(1, page(1))]);
    store.commit(batch).unwrap();
    let mut batch = Batch::new();
    batch.snapshot_memory("snap/new", "heap");
    store.commit(batch).unwrap();
    let mut batch = Batch::new();
    batch.write_memory(
        "heap",
        false,
        512 * PAGE_SIZE,
        vec![(1, page(2)), (2, page(3))],
    );
    store.commit(batch).unwrap();
    let before = observe(&store).snapshots["snap/old"].clone();
    let mut batch = Batch::new();
    batch.delete_memory("snap/new");
    store.commit(batch).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(observe(&store).snapshots["snap/old"], before);
    assert_eq!(store.snapshot_names(""), ["snap/old"]);
}

#[test]
fn invalid_snapshot_batches_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, "heap", 4, 0);
    let mut batch = Batch::new();
    batch.snapshot_memory("snap", "heap");
    store.commit(batch).unwrap();
    let before = observe(&store);
    let cases: Vec<(Batch, &str)> = vec![
        (
            {
                let mut b = Batch::new();
                b.snapshot_memory("s2", "missing");
                b
            },
            "there is no memory",
        ),
        (
            {
                let mut b = Batch::new();
                b.snapshot_memory("snap", "heap");
                b
            },
            "already in use",
        ),
        (
            {
                let mut b = Batch::new();
                b.write_memory("snap", false, PAGE_SIZE, vec![]);
                b
            },
            "read-only",
        ),
        (
            {
                let mut b = Batch::new();
                b.restore_memory("snap", "heap");
                b
            },
            "read-only",
        ),
        (
            {
                let mut b = Batch::new();
                b.restore_memory("heap", "nothing");
                b
            },
            "no snapshot or memory",
        ),
        (
            {
                let mut b = Batch::new();
                b.write_memory("heap", false, 4 * PAGE_SIZE, vec![])
                    .snapshot_memory("s3", "heap");
                b
            },
            "changed earlier in the same batch",
        ),
        (
            {
                let mut b = Batch::new();
                b.restore_memory("heap", "snap")
                    .write_memory("heap", false, 4 * PAGE_SIZE, vec![]);
                b
            },
            "use two commits",
        ),
    ];
    for (batch, expected) in cases {
        let err = store.commit(batch).unwrap_err();
        assert!(matches!(err, StateError::InvalidBatch { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
        assert_eq!(observe(&store), before);
    }
    let mut buf = [0u8; 8];
    let err = store
        .read_memory("snap", 4 * PAGE_SIZE, &mut buf)
        .unwrap_err();
    assert!(err.to_string().contains("past its size"), "{err}");
    let err = store.read_memory("none", 0, &mut buf).unwrap_err();
    assert!(matches!(err, StateError::NotFound { .. }), "{err}");
}

#[test]
fn restoring_a_snapshot_taken_before_a_reset_moves_back_onto_its_file_without_a_copy() {
    // The upgrade path: snapshot, the heap is reset (a new file), load the snapshot.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, "heap", 1024, 0);
    let mut batch = Batch::new();
    batch.snapshot_memory("snap", "heap");
    store.commit(batch).unwrap();
    let before = observe(&store).snapshots["snap"].clone();
    let mut batch = Batch::new();
    batch.write_memory("heap", true, 8 * PAGE_SIZE, vec![(0, page(77))]);
    store.commit(batch).unwrap();
    store.checkpoint().unwrap();
    let files = crate::support::list(dir.path(), "memories");
    assert_eq!(
        files.len(),
        2,
        "the old file stays for the snapshot: {files:?}"
    );

    let mut batch = Batch::new();
    batch.restore_memory("heap", "snap");
    store.commit(batch).unwrap();
    store.checkpoint().unwrap();
    let after = observe(&store);
    assert_eq!(after.memories["heap"], before);
    let files_after = crate::support::list(dir.path(), "memories");
    assert_eq!(
        files_after,
        files[..1],
        "the memory is back on its old file, and the reset file is gone"
    );
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(observe(&store).memories["heap"], before);
    assert_eq!(observe(&store).snapshots["snap"], before);
}

#[test]
fn opening_frees_layer_slots_that_nothing_references() {
    // Slots written for a commit whose record never reached the log (a crash
    // between the two) lie past the layer's next slot: opening cuts them off.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, "heap", 8, 0);
    let mut batch = Batch::new();
    batch.snapshot_memory("snap", "heap");
    store.commit(batch).unwrap();
    let mut batch = Batch::new();
    let pages = (0..4).map(|i| (i, page(100 + i))).collect();
    batch.write_memory("heap", false, 8 * PAGE_SIZE, pages); // 4 pages preserved
    store.commit(batch).unwrap();
    let before = observe(&store);
    drop(store);
    let layers = crate::support::list(dir.path(), "layers");
    assert_eq!(layers.len(), 1);
    let path = dir.path().join("layers").join(&layers[0]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 * PAGE_SIZE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(page(9).iter().chain(page(10).iter()));
    std::fs::write(&path, &bytes).unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 * PAGE_SIZE);
    assert_eq!(observe(&store), before);
}
