//! Golden files freeze the on-disk formats byte for byte. If one of these
//! fails, a format changed: bump its version and add a migration, or restore
//! the old encoding. To regenerate after a deliberate change, run the tests
//! with `DRYDOCK_BLESS=1`.

use std::path::{Path, PathBuf};

use drydock_state::{Batch, Store, PAGE_SIZE};

use crate::support::fast_tempdir;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/all/golden")
        .join(name)
}

fn check_golden(name: &str, actual: &[u8]) {
    let path = golden(name);
    if std::env::var_os("DRYDOCK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with DRYDOCK_BLESS=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} changed: the on-disk format is frozen (see this module's docs)",
        path.display()
    );
}

fn golden_batch() -> Batch {
    let mut page = vec![0u8; PAGE_SIZE as usize];
    page[0] = 0xAA;
    page[4095] = 0x55;
    let mut batch = Batch::new();
    batch
        .put_blob("canister/aaaaa-aa/meta", b"{\"v\":1}".to_vec())
        .delete_blob("gone")
        .write_memory("aaaaa-aa/heap", false, PAGE_SIZE + 1, vec![(1, page)])
        .write_memory("aaaaa-aa/stable", true, 0, vec![])
        .delete_memory("old");
    batch
}

/// Commits using every record kind: writes, deletes, a snapshot, a write
/// that preserves pages for it, an in-place restore and a restore by copy.
fn commit_golden_batches(store: &mut Store) {
    store.commit(golden_batch()).unwrap();
    let mut page = vec![0u8; PAGE_SIZE as usize];
    page[7] = 0x77;
    let mut batch = Batch::new();
    batch
        .snapshot_memory("snap/heap", "aaaaa-aa/heap")
        .write_memory(
            "aaaaa-aa/heap",
            false,
            2 * PAGE_SIZE,
            vec![(0, page.clone()), (1, page)],
        );
    store.commit(batch).unwrap();
    let mut batch = Batch::new();
    batch.restore_memory("aaaaa-aa/heap", "snap/heap");
    store.commit(batch).unwrap();
    let mut batch = Batch::new();
    batch.restore_memory("copy/heap", "snap/heap");
    store.commit(batch).unwrap();
}

#[test]
fn wal_record_format_version_2_is_frozen() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    commit_golden_batches(&mut store);
    drop(store);
    let mut wal = std::fs::read(dir.path().join("wal")).unwrap();
    // The records, without the zeros preallocated after them.
    let end = crate::support::records_end(&wal);
    assert!(wal[end..].iter().all(|b| *b == 0));
    wal.truncate(end);
    check_golden("wal_v2.bin", &wal);
}

#[test]
fn manifest_format_version_2_is_frozen() {
    let dir = fast_tempdir();
    let mut store = Store::open(dir.path()).unwrap();
    commit_golden_batches(&mut store);
    store.checkpoint().unwrap();
    drop(store);
    let manifest = std::fs::read(dir.path().join("manifest")).unwrap();
    check_golden("manifest_v2.bin", &manifest);
}

#[test]
fn a_directory_written_by_format_version_2_still_opens() {
    // The golden WAL replayed on an empty directory (plus the files written
    // before their records: the layer file and the copied memory) gives the
    // golden state.
    let written = fast_tempdir();
    let mut store = Store::open(written.path()).unwrap();
    commit_golden_batches(&mut store);
    drop(store);
    let dir = fast_tempdir();
    std::fs::write(
        dir.path().join("wal"),
        std::fs::read(golden("wal_v2.bin")).unwrap(),
    )
    .unwrap();
    for sub in ["layers", "memories"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(written.path().join(sub)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if sub == "layers" || name.contains("copy_heap") {
                std::fs::copy(entry.path(), dir.path().join(sub).join(&name)).unwrap();
            }
        }
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.blob("canister/aaaaa-aa/meta"),
        Some(&b"{\"v\":1}"[..])
    );
    assert_eq!(
        store.memory_names(""),
        ["aaaaa-aa/heap", "aaaaa-aa/stable", "copy/heap"]
    );
    assert_eq!(store.snapshot_names(""), ["snap/heap"]);
    assert_eq!(store.memory("aaaaa-aa/heap").unwrap().size, PAGE_SIZE + 1);
    let mut byte = [0u8; 1];
    store
        .read_memory("copy/heap", PAGE_SIZE, &mut byte)
        .unwrap();
    assert_eq!(byte, [0xAA]);
    drop(store);
    let manifest = std::fs::read(dir.path().join("manifest")).unwrap();
    assert_eq!(manifest, std::fs::read(golden("manifest_v2.bin")).unwrap());
}
