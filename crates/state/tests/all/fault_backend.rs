//! The crash simulation itself: what each mode keeps and loses. The crash
//! tests are only as good as this.

use std::sync::Arc;

use drydock_state::{Backend, CrashMode, FaultBackend, OpenMode};

use crate::support::fast_tempdir;

#[test]
fn power_loss_undoes_unsynced_writes_and_directory_changes() {
    let dir = fast_tempdir();
    let d = dir.path();
    let fb = FaultBackend::new(CrashMode::PowerLoss);

    // Durable: a synced file whose directory entry is synced.
    let durable = fb.open(&d.join("durable"), OpenMode::Create).unwrap();
    fb.write_at(&durable, b"old", 0).unwrap();
    fb.sync(&durable).unwrap();
    fb.sync_dir(d).unwrap();
    // Not durable: later writes, a new file, a rename over it, a removal.
    fb.write_at(&durable, b"NEW and longer", 0).unwrap();
    let fresh = fb.open(&d.join("fresh"), OpenMode::Create).unwrap();
    fb.write_at(&fresh, b"x", 0).unwrap();
    fb.sync(&fresh).unwrap(); // content synced, directory entry not
    let tmp = fb
        .open(&d.join("replacement.tmp"), OpenMode::Create)
        .unwrap();
    fb.write_at(&tmp, b"replacement", 0).unwrap();
    fb.sync(&tmp).unwrap();
    fb.rename(&d.join("replacement.tmp"), &d.join("durable"))
        .unwrap();

    fb.crash_now();
    assert!(fb.has_crashed());
    assert_eq!(std::fs::read(d.join("durable")).unwrap(), b"old");
    assert!(!d.join("fresh").exists());
    assert!(!d.join("replacement.tmp").exists());
    assert!(
        fb.write_at(&durable, b"after", 0).is_err(),
        "every operation fails after the crash"
    );
    assert!(fb.exists(d).is_err());
}

#[test]
fn process_kill_keeps_everything_written() {
    let dir = fast_tempdir();
    let fb = FaultBackend::new(CrashMode::ProcessKill);
    let file = fb.open(&dir.path().join("f"), OpenMode::Create).unwrap();
    fb.write_at(&file, b"unsynced", 0).unwrap();
    fb.crash_now();
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"unsynced");
}

#[test]
fn crash_point_counts_write_operations_and_fails_that_one() {
    let dir = fast_tempdir();
    let fb = Arc::new(FaultBackend::crashing_at(2, CrashMode::PowerLoss));
    let file = fb.open(&dir.path().join("f"), OpenMode::Create).unwrap(); // op 0
    fb.write_at(&file, b"a", 0).unwrap(); // op 1
    assert!(fb.len(&file).is_ok(), "reads are not counted");
    assert!(fb.sync(&file).is_err(), "op 2 crashes");
    assert_eq!(fb.write_ops(), 3);
    assert!(fb.has_crashed());
    assert!(
        !dir.path().join("f").exists(),
        "the file's creation was never made durable"
    );
}

#[test]
fn torn_mode_produces_every_kind_of_partial_write_across_seeds() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let dir = fast_tempdir();
        let path = dir.path().join("log");
        std::fs::write(&path, b"").unwrap();
        let fb = FaultBackend::new(CrashMode::Torn { seed });
        let file = fb.open(&path, OpenMode::ReadWrite).unwrap();
        fb.write_at(&file, &[0xAB; 64], 0).unwrap();
        fb.crash_now();
        let after = std::fs::read(&path).unwrap();
        let kind = match after.as_slice() {
            [] => "lost",
            a if a.len() == 64 && a.iter().all(|&b| b == 0xAB) => "kept",
            a if a.len() == 64 && a.iter().all(|&b| b == 0) => "zeroed",
            a if a.iter().all(|&b| b == 0xAB) => "prefix",
            other => panic!("unexpected torn content {other:?}"),
        };
        seen.insert(kind);
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
}
