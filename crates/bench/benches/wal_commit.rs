//! `wal_commit`: one durable commit (`Store::commit`: a WAL record with one 4 KiB page image
//! and a blob, then `fdatasync`), with the WAL preallocated in 1 MiB chunks of zeros (the
//! default) vs grown record by record (`Options::wal_chunk = 0`, the baseline).
//!
//! Preallocation is meant to spare each `fdatasync` the file-size and block-allocation
//! metadata: only the first record of a chunk pays for it.
//!
//! Run: `cargo bench -p drydock-bench --bench wal_commit`. The directories are made under the
//! workspace's `target/` (a real disk, not a tmpfs).

use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use drydock_bench::report::Report;
use drydock_bench::{machine_summary, workspace_target};
use drydock_state::{Batch, FsBackend, Options, Store, PAGE_SIZE};

fn store(chunk: u64) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir_in(workspace_target()).expect("a bench directory");
    let options = Options {
        wal_chunk: chunk,
        ..Options::default()
    };
    let store = Store::open_with(dir.path(), Arc::new(FsBackend), options).expect("open");
    (dir, store)
}

fn commit(store: &mut Store, i: &mut u64) {
    *i += 1;
    let mut batch = Batch::new();
    batch.put_blob("counter", i.to_le_bytes().to_vec());
    let page = vec![(*i % 251) as u8; PAGE_SIZE as usize];
    batch.write_memory("heap", false, 16 * PAGE_SIZE, vec![(*i % 16, page)]);
    store.commit(batch).expect("commit");
}

#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn main() {
    let report = Report::start();
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    println!("machine: {}", machine_summary());
    let (_a, mut preallocated) = store(drydock_state::WAL_CHUNK);
    let (_b, mut growing) = store(0);
    let mut g = c.benchmark_group("wal_commit");
    let mut i = 0u64;
    g.bench_function("preallocated", |b| {
        b.iter(|| commit(&mut preallocated, &mut i))
    });
    let mut j = 0u64;
    g.bench_function("record_by_record", |b| {
        b.iter(|| commit(&mut growing, &mut j))
    });
    g.finish();
    report.print_ratios(
        "wal_commit",
        &[(
            "a durable commit, WAL preallocated vs grown record by record",
            "wal_commit/preallocated",
            "wal_commit/record_by_record",
        )],
    );
}
