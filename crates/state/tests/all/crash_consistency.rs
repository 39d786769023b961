//! Crash the store at every write it makes and check what reopening finds,
//! like redb's `crash_consistency`. See `drydock_state::FaultBackend` for
//! what each crash mode simulates.

use std::sync::Arc;

use drydock_state::{
    Batch, CrashMode, FaultBackend, FsBackend, Options, StateError, Store, PAGE_SIZE,
};

use crate::support::{fast_tempdir, observe, page, State};

enum Step {
    Commit(Batch),
    Checkpoint,
    Reopen,
    PutContent(Vec<u8>),
}

/// Small WAL threshold so that automatic checkpoints happen mid-workload.
fn options() -> Options {
    Options {
        checkpoint_wal_bytes: 3 * PAGE_SIZE,
        ..Options::default()
    }
}

fn workload() -> Vec<Step> {
    let p = PAGE_SIZE;
    let commit = |f: &dyn Fn(&mut Batch)| {
        let mut batch = Batch::new();
        f(&mut batch);
        Step::Commit(batch)
    };
    vec![
        commit(&|b| {
            b.put_blob("a", b"1".to_vec()).write_memory(
                "heap",
                false,
                4 * p,
                vec![(0, page(1)), (1, page(2))],
            );
        }),
        commit(&|b| {
            b.put_blob("b", vec![7; 300])
                .write_memory("stable", false, 2 * p, vec![(1, page(3))]);
        }),
        Step::PutContent(vec![0xC0; 10_000]),
        commit(&|b| {
            b.write_memory("heap", false, 4 * p, vec![(2, page(4))])
                .write_memory("heap", false, 6 * p + 10, vec![(6, page(5))]);
        }),
        Step::Checkpoint,
        commit(&|b| {
            b.delete_blob("a")
                .write_memory("heap", true, 2 * p, vec![(0, page(6))]);
        }),
        commit(&|b| {
            b.put_blob("c", b"3".to_vec())
                .delete_blob("b")
                .write_memory("stable", false, 2 * p, vec![(0, page(7))]);
        }),
        Step::Reopen,
        commit(&|b| {
            b.delete_memory("stable")
                .write_memory("heap", false, 2 * p, vec![(1, page(8))]);
        }),
        commit(&|b| {
            b.write_memory("stable", false, 4 * p, vec![(3, page(9))]);
        }),
        commit(&|b| {
            let pages = (0..5).map(|i| (i, page(10 + i))).collect();
            b.write_memory("heap", false, 5 * p, pages);
        }),
        Step::PutContent(b"(module)".to_vec()),
        commit(&|b| {
            b.write_memory("heap", true, p, vec![(0, page(20))])
                .write_memory("heap", true, 3 * p, vec![(2, page(21))])
                .put_blob("a", b"again".to_vec());
        }),
        Step::Checkpoint,
        commit(&|b| {
            b.put_blob("d", Vec::new());
        }),
        commit(&|b| {
            b.write_memory(
                "heap",
                false,
                3 * p,
                vec![(2, page(22)), (0, vec![0; p as usize])],
            )
            .delete_memory("stable");
        }),
        // Snapshots: take (and write in the same batch), write through two
        // snapshots, restore in place, restore by copy, delete (merging into
        // the older one), reset the memory under its snapshots.
        commit(&|b| {
            b.snapshot_memory("snap/1", "heap").write_memory(
                "heap",
                false,
                4 * p,
                vec![(0, page(30)), (3, page(31))],
            );
        }),
        commit(&|b| {
            b.write_memory("heap", false, 4 * p, vec![(2, page(32))]);
        }),
        commit(&|b| {
            b.snapshot_memory("snap/2", "heap");
        }),
        commit(&|b| {
            b.write_memory("heap", false, 4 * p, vec![(0, page(33)), (1, page(34))]);
        }),
        commit(&|b| {
            b.restore_memory("heap", "snap/1");
        }),
        Step::Checkpoint,
        commit(&|b| {
            b.restore_memory("copy", "snap/2");
        }),
        commit(&|b| {
            b.delete_memory("snap/2");
        }),
        Step::Reopen,
        commit(&|b| {
            b.write_memory("heap", true, p, vec![(0, page(35))]);
        }),
        commit(&|b| {
            b.restore_memory("heap", "snap/1")
                .put_blob("restored", b"1".to_vec());
        }),
        commit(&|b| {
            b.delete_memory("snap/1").delete_memory("copy");
        }),
    ]
}

/// How far a run got before its crash.
#[derive(Debug, Default)]
struct Outcome {
    acknowledged: usize,
    commit_in_flight: bool,
    contents: Vec<[u8; 32]>,
}

fn run(dir: &std::path::Path, backend: &Arc<FaultBackend>, steps: &[Step]) -> Outcome {
    let mut outcome = Outcome::default();
    let open = || Store::open_with(dir, Arc::clone(backend) as _, options());
    let Ok(mut store) = open() else {
        return outcome;
    };
    for step in steps {
        match step {
            Step::Commit(batch) => match store.commit(batch.clone()) {
                Ok(()) => outcome.acknowledged += 1,
                Err(e) => {
                    assert!(!matches!(e, StateError::InvalidBatch { .. }), "{e}");
                    outcome.commit_in_flight = true;
                    return outcome;
                }
            },
            Step::Checkpoint => {
                if store.checkpoint().is_err() {
                    return outcome;
                }
            }
            Step::Reopen => {
                drop(store);
                match open() {
                    Ok(s) => store = s,
                    Err(_) => return outcome,
                }
            }
            Step::PutContent(bytes) => match store.put_content(bytes) {
                Ok(hash) => outcome.contents.push(hash),
                Err(_) => return outcome,
            },
        }
    }
    outcome
}

/// Reopen with the real backend and check the state is the acknowledged
/// prefix (or that plus the commit in flight), then that the store works.
fn check_recovery(dir: &std::path::Path, states: &[State], outcome: &Outcome, context: &str) {
    let mut store = Store::open_with(dir, Arc::new(FsBackend), options())
        .unwrap_or_else(|e| panic!("{context}: reopening failed: {e}"));
    let found = observe(&store);
    let acked = &states[outcome.acknowledged];
    let matches_acked = found == *acked;
    let matches_in_flight = outcome.commit_in_flight && found == states[outcome.acknowledged + 1];
    assert!(
        matches_acked || matches_in_flight,
        "{context}: after {} acknowledged commits (in flight: {}) the store holds\n{found:#?}\nexpected\n{acked:#?}",
        outcome.acknowledged,
        outcome.commit_in_flight
    );
    for hash in &outcome.contents {
        store
            .content(hash)
            .unwrap_or_else(|e| panic!("{context}: acknowledged content lost: {e}"));
    }

    // The recovered store takes new commits, and recovers them in turn.
    let mut batch = Batch::new();
    batch.put_blob("after-crash", b"yes".to_vec()).write_memory(
        "heap",
        true,
        PAGE_SIZE,
        vec![(0, page(99))],
    );
    let mut expected = found.clone();
    expected.apply(&batch);
    store
        .commit(batch)
        .unwrap_or_else(|e| panic!("{context}: commit after recovery: {e}"));
    drop(store);
    let store = Store::open_with(dir, Arc::new(FsBackend), options()).unwrap();
    assert_eq!(observe(&store), expected, "{context}: second recovery");
}

#[test]
fn crash_at_every_write_point_leaves_a_store_that_opens_with_every_acknowledged_commit() {
    let steps = workload();
    let mut states = vec![State::default()];
    for step in &steps {
        if let Step::Commit(batch) = step {
            let mut next = states.last().unwrap().clone();
            next.apply(batch);
            states.push(next);
        }
    }

    let modes = [
        CrashMode::ProcessKill,
        CrashMode::PowerLoss,
        CrashMode::Torn { seed: 1 },
        CrashMode::Torn { seed: 2 },
        CrashMode::Torn { seed: 3 },
    ];
    for mode in modes {
        let mut crash_at = 0;
        loop {
            let dir = fast_tempdir();
            let backend = Arc::new(FaultBackend::crashing_at(crash_at, mode));
            let outcome = run(dir.path(), &backend, &steps);
            let context = format!("{mode:?}, crash at write {crash_at}");
            if !backend.has_crashed() {
                // The workload completed; lose power at the end anyway.
                assert_eq!(outcome.acknowledged, states.len() - 1, "{context}");
                backend.crash_now();
                check_recovery(
                    dir.path(),
                    &states,
                    &outcome,
                    &format!("{mode:?}, crash after the workload"),
                );
                break;
            }
            check_recovery(dir.path(), &states, &outcome, &context);
            crash_at += 1;
        }
        assert!(crash_at > 100, "{mode:?}: only {crash_at} write points");
    }
}

#[test]
fn failed_commit_poisons_the_store_until_it_is_reopened() {
    let dir = fast_tempdir();
    let backend = Arc::new(FaultBackend::new(CrashMode::PowerLoss));
    let mut store = Store::open_with_backend(dir.path(), Arc::clone(&backend) as _).unwrap();
    let mut batch = Batch::new();
    batch.put_blob("kept", b"1".to_vec());
    store.commit(batch).unwrap();

    backend.crash_now();
    let mut batch = Batch::new();
    batch.put_blob("lost", b"2".to_vec());
    let err = store.commit(batch.clone()).unwrap_err();
    assert!(matches!(err, StateError::Io { .. }), "{err}");
    let err = store.commit(batch).unwrap_err();
    assert!(matches!(err, StateError::Poisoned { .. }), "{err}");
    assert!(err.to_string().contains("open it again"), "{err}");
    assert!(matches!(
        store.checkpoint(),
        Err(StateError::Poisoned { .. })
    ));
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.blob("kept"), Some(&b"1"[..]));
    assert_eq!(store.blob("lost"), None);
}

#[test]
fn unsynced_commits_survive_a_process_kill_and_synced_ones_a_power_loss() {
    // Group commit: `commit_unsynced` is visible at once and safe from a killed process;
    // only a sync (on the store, or through a `WalSync` taken off it) makes it survive a
    // power loss.
    for (mode, via_handle) in [
        (CrashMode::ProcessKill, false),
        (CrashMode::PowerLoss, false),
        (CrashMode::PowerLoss, true),
    ] {
        let dir = fast_tempdir();
        let backend = Arc::new(FaultBackend::new(mode));
        let mut store = Store::open_with_backend(dir.path(), Arc::clone(&backend) as _).unwrap();
        let mut batch = Batch::new();
        batch.put_blob("synced", b"1".to_vec());
        store.commit_unsynced(batch).unwrap();
        assert!(store.needs_sync());
        if via_handle {
            let handle = store.wal_sync().unwrap();
            handle.sync().unwrap();
            store.synced(&handle);
        } else {
            store.sync().unwrap();
        }
        assert!(!store.needs_sync());
        let mut batch = Batch::new();
        batch.put_blob("unsynced", b"2".to_vec());
        store.commit_unsynced(batch).unwrap();
        assert_eq!(
            store.blob("unsynced"),
            Some(&b"2"[..]),
            "visible before the sync"
        );
        backend.crash_now();
        drop(store);

        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.blob("synced"), Some(&b"1"[..]), "{mode:?}");
        let kept = store.blob("unsynced").is_some();
        assert_eq!(kept, matches!(mode, CrashMode::ProcessKill), "{mode:?}");
    }
}
