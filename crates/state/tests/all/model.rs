//! The store compared with a plain in-memory model over random sequences of
//! commits, checkpoints and reopens, with and without a crash.

use std::sync::Arc;

use drydock_state::{Batch, CrashMode, FaultBackend, FsBackend, Options, Store, PAGE_SIZE};
use proptest::prelude::*;

use crate::support::{fast_tempdir, observe, State};

#[derive(Clone, Debug)]
enum MemChange {
    Delete,
    Write {
        reset: bool,
        grow_pages: u64,
        extra_bytes: u64,
        /// (page index, fill byte; 0 writes a zero page)
        pages: Vec<(u64, u8)>,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Commit {
        blobs: Vec<(u8, Option<Vec<u8>>)>,
        memories: Vec<(u8, MemChange)>,
    },
    /// Snapshot memory `mem` into snapshot slot `slot` (replacing it, in a
    /// commit before, if taken), then apply `then` to `mem` in the same batch.
    Snapshot {
        mem: u8,
        slot: u8,
        then: Option<MemChange>,
    },
    /// Restore memory `mem` from snapshot slot `slot` (or, if empty, from
    /// memory `slot`).
    Restore {
        mem: u8,
        slot: u8,
    },
    DeleteSnapshot {
        slot: u8,
    },
    Checkpoint,
    Reopen,
}

fn mem_change() -> impl Strategy<Value = MemChange> {
    prop_oneof![
        1 => Just(MemChange::Delete),
        6 => (any::<bool>(), 0..3u64, 0..PAGE_SIZE, prop::collection::vec((0..8u64, any::<u8>()), 0..4))
            .prop_map(|(reset, grow_pages, extra_bytes, pages)| MemChange::Write {
                reset: reset && extra_bytes % 3 == 0, // resets are rarer than writes
                grow_pages,
                extra_bytes,
                pages,
            }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (
            prop::collection::vec((0..6u8, prop::option::of(prop::collection::vec(any::<u8>(), 0..40))), 0..4),
            prop::collection::vec((0..3u8, mem_change()), 0..3),
        )
            .prop_map(|(blobs, memories)| Op::Commit { blobs, memories }),
        2 => (0..3u8, 0..4u8, prop::option::of(mem_change()))
            .prop_map(|(mem, slot, then)| Op::Snapshot { mem, slot, then }),
        2 => (0..3u8, 0..4u8).prop_map(|(mem, slot)| Op::Restore { mem, slot }),
        1 => (0..4u8).prop_map(|slot| Op::DeleteSnapshot { slot }),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ]
}

/// The batches (in order) that carry out a snapshot operation against the
/// model's state; empty when it does not apply (no such memory).
fn snapshot_batches(model: &State, op: &Op, counter: &mut u8) -> Vec<Batch> {
    match op {
        Op::Snapshot { mem, slot, then } => {
            let mem_name = format!("mem/{mem}");
            let snap = format!("snap/{slot}");
            if !model.memories.contains_key(&mem_name) {
                return Vec::new();
            }
            let mut out = Vec::new();
            let mut model = model.clone();
            if model.snapshots.contains_key(&snap) {
                let mut b = Batch::new();
                b.delete_memory(snap.clone());
                model.apply(&b);
                out.push(b);
            }
            let mut b = Batch::new();
            b.snapshot_memory(snap, mem_name);
            if let Some(change) = then {
                let rest = to_batch(&model, &[], &[(*mem, change.clone())], counter);
                b.memories.extend(rest.memories);
            }
            out.push(b);
            out
        }
        Op::Restore { mem, slot } => {
            let snap = format!("snap/{slot}");
            let other = format!("mem/{slot}");
            let mem_name = format!("mem/{mem}");
            let from = if model.snapshots.contains_key(&snap) {
                snap
            } else if model.memories.contains_key(&other) && other != mem_name {
                other
            } else {
                return Vec::new();
            };
            let mut b = Batch::new();
            b.restore_memory(mem_name, from);
            vec![b]
        }
        Op::DeleteSnapshot { slot } => {
            let mut b = Batch::new();
            b.delete_memory(format!("snap/{slot}"));
            vec![b]
        }
        _ => Vec::new(),
    }
}

/// Turn a generated change into a valid batch against the model's state.
fn to_batch(
    model: &State,
    blobs: &[(u8, Option<Vec<u8>>)],
    memories: &[(u8, MemChange)],
    counter: &mut u8,
) -> Batch {
    let mut batch = Batch::new();
    for (key, value) in blobs {
        batch.blobs.push((format!("blob/{key}"), value.clone()));
    }
    // Sizes as earlier changes of this batch leave them.
    let mut sizes: std::collections::HashMap<String, Option<u64>> = Default::default();
    for (name, change) in memories {
        let name = format!("mem/{name}");
        let current = sizes
            .get(&name)
            .copied()
            .unwrap_or_else(|| model.memories.get(&name).map(|m| m.size));
        match change {
            MemChange::Delete => {
                batch.delete_memory(name.clone());
                sizes.insert(name, None);
            }
            MemChange::Write {
                reset,
                grow_pages,
                extra_bytes,
                pages,
            } => {
                let base = if *reset { 0 } else { current.unwrap_or(0) };
                let needed = pages
                    .iter()
                    .map(|(i, _)| i * PAGE_SIZE + 1)
                    .max()
                    .unwrap_or(0);
                let size = (base + grow_pages * PAGE_SIZE + extra_bytes).max(needed);
                let pages = pages
                    .iter()
                    .map(|&(index, fill)| {
                        let mut data = vec![fill; PAGE_SIZE as usize];
                        if fill != 0 {
                            *counter = counter.wrapping_add(1);
                            data[0] = *counter;
                        }
                        (index, data)
                    })
                    .collect();
                batch.write_memory(name.clone(), *reset, size, pages);
                sizes.insert(name, Some(size));
            }
        }
    }
    batch
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn store_behaves_like_an_in_memory_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = fast_tempdir();
        let options = Options { checkpoint_wal_bytes: 4 * PAGE_SIZE, ..Options::default() };
        let open = || Store::open_with(dir.path(), Arc::new(FsBackend), options.clone()).unwrap();
        let mut store = open();
        let mut model = State::default();
        let mut counter = 0u8;
        for op in &ops {
            match op {
                Op::Commit { blobs, memories } => {
                    let batch = to_batch(&model, blobs, memories, &mut counter);
                    model.apply(&batch);
                    store.commit(batch).unwrap();
                }
                Op::Checkpoint => store.checkpoint().unwrap(),
                Op::Reopen => {
                    drop(store);
                    store = open();
                }
                _ => {
                    for batch in snapshot_batches(&model, op, &mut counter) {
                        model.apply(&batch);
                        store.commit(batch).unwrap();
                    }
                }
            }
            prop_assert_eq!(observe(&store), model.clone());
        }
        drop(store);
        prop_assert_eq!(observe(&open()), model);
    }
}

fn crash_mode() -> impl Strategy<Value = CrashMode> {
    prop_oneof![
        Just(CrashMode::ProcessKill),
        Just(CrashMode::PowerLoss),
        any::<u64>().prop_map(|seed| CrashMode::Torn { seed }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_workloads_keep_every_acknowledged_commit_through_a_crash_at_a_random_write(
        ops in prop::collection::vec(op(), 1..30),
        crash_at in 0..400u64,
        mode in crash_mode(),
    ) {
        let dir = fast_tempdir();
        let options = Options { checkpoint_wal_bytes: 4 * PAGE_SIZE, ..Options::default() };
        let backend = Arc::new(FaultBackend::crashing_at(crash_at, mode));
        let open = || Store::open_with(dir.path(), Arc::clone(&backend) as _, options.clone());
        let mut acknowledged = State::default();
        let mut in_flight = None;
        let mut counter = 0u8;
        'run: {
            let Ok(mut store) = open() else { break 'run };
            for op in &ops {
                match op {
                    Op::Commit { blobs, memories } => {
                        let batch = to_batch(&acknowledged, blobs, memories, &mut counter);
                        let mut next = acknowledged.clone();
                        next.apply(&batch);
                        if store.commit(batch).is_err() {
                            in_flight = Some(next);
                            break 'run;
                        }
                        acknowledged = next;
                    }
                    Op::Checkpoint => {
                        if store.checkpoint().is_err() {
                            break 'run;
                        }
                    }
                    Op::Reopen => {
                        drop(store);
                        match open() {
                            Ok(s) => store = s,
                            Err(_) => break 'run,
                        }
                    }
                    _ => {
                        for batch in snapshot_batches(&acknowledged, op, &mut counter) {
                            let mut next = acknowledged.clone();
                            next.apply(&batch);
                            if store.commit(batch).is_err() {
                                in_flight = Some(next);
                                break 'run;
                            }
                            acknowledged = next;
                        }
                    }
                }
            }
        }
        backend.crash_now();
        let store = Store::open_with(dir.path(), Arc::new(FsBackend), options.clone()).unwrap();
        let found = observe(&store);
        prop_assert!(
            found == acknowledged || in_flight.as_ref() == Some(&found),
            "found {}\nacknowledged {}\nin flight {}",
            summary(&found),
            summary(&acknowledged),
            in_flight.as_ref().map_or("none".to_string(), summary)
        );
    }
}

/// A short description of a state: sizes and a checksum per page.
fn summary(state: &State) -> String {
    let mem = |m: &crate::support::Mem| {
        let pages: Vec<String> = m
            .pages
            .iter()
            .map(|(i, p)| format!("{i}:{:02x}{:02x}", p[0], p[1]))
            .collect();
        format!("size {} [{}]", m.size, pages.join(" "))
    };
    let mut out = format!("blobs {:?}; ", state.blobs.keys().collect::<Vec<_>>());
    for (n, m) in &state.memories {
        out += &format!("{n}: {}; ", mem(m));
    }
    for (n, m) in &state.snapshots {
        out += &format!("snapshot {n}: {}; ", mem(m));
    }
    out
}
