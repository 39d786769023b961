//! `update_call`: what one update call to the `kv` test canister costs in-process through
//! [`drydock_replica::Replica::update`] — a full message: execution, then the durable commit
//! (WAL append + fdatasync) — against the same exported function of the same `kv.wasm` in
//! bare wasmtime (`drydock_bench::bare`), measured in the same process.
//!
//! Groups:
//! - `update_call`: `noop` (trivial) and `compute(COMPUTE_ROUNDS)` (a few ms of CPU) as
//!   drydock updates and in bare wasmtime; `len` as a drydock *query* (execution and rollback,
//!   no commit) and in bare wasmtime, which separates execution overhead from commit cost;
//!   and `compute` through drydock's engine alone (`drydock_exec::Instance`, rolled back):
//!   the metering's overhead without the replica's commit and fees.
//! - `update_call_parts`: what the commit's pieces cost on this machine without drydock: an
//!   append of one WAL record's worth of bytes plus `fdatasync` (as the WAL does), the same
//!   write over already-written bytes of a preallocated file plus `fdatasync` (what a
//!   preallocated WAL would cost), reading `kv.wasm` from disk and hashing it with SHA-256 (the
//!   replica does both on every message to find the compiled module, and hashes twice).
//!
//! - A *paired* run (plain timing, printed last): drydock `noop` updates interleaved with the
//!   same I/O done raw, round by round, so that the disk's state (other processes' writes share
//!   the filesystem journal that `fdatasync` commits) affects both alike. Medians.
//!
//! Run: `cargo bench -p drydock-bench --bench update_call`. Needs the test canisters
//! (`scripts/build-test-canisters.sh`); fails without them.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use drydock_bench::bare::BareCanister;
use drydock_bench::report::{human, Report};
use drydock_bench::{machine_summary, test_canister, user, workspace_target, KvReplica};
use drydock_exec::context::{EntryKind, ExecLimits, MessageEnv, Outcome};
use drydock_exec::{Engine, Instance, MemoryBacking, MemoryDelta, StableMemory, PAGE_SIZE};
use sha2::{Digest, Sha256};

/// Rounds of `compute`'s mixing loop: about 2.5 ms of CPU per call in bare wasmtime, 3.3 ms
/// under drydock's fuel metering, on the machine in BENCHMARKS.md (a CPU-heavy call of 1-10 ms).
const COMPUTE_ROUNDS: u32 = 1_000_000;

#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn main() {
    let wasm = test_canister("kv");
    let report = Report::start();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    println!("machine: {}", machine_summary());

    let mut kv = KvReplica::new(wasm.clone());
    let mut bare = BareCanister::new(&wasm, user().as_slice()).expect("kv.wasm in bare wasmtime");

    // The same state on both sides: one key in the map, so that the `StableBTreeMap` exists
    // (it is created on first use) and `len` reads it rather than creating it.
    let put = candid::encode_args(("key", "value")).expect("encoding");
    kv.update("put", &put);
    bare.call("canister_update put", &put).expect("bare put");

    let noop = candid::encode_args(()).expect("encoding");
    let compute = candid::encode_args((COMPUTE_ROUNDS,)).expect("encoding");
    let len = candid::encode_args(()).expect("encoding");
    // Both sides must do the same work: same replies.
    assert_eq!(
        kv.update("noop", &noop),
        bare.call("canister_update noop", &noop).expect("bare noop")
    );
    assert_eq!(
        kv.update("compute", &compute),
        bare.call("canister_update compute", &compute)
            .expect("bare compute")
    );
    assert_eq!(
        kv.query("len", &len),
        bare.call("canister_query len", &len).expect("bare len")
    );

    // What one commit of `noop` appends to the WAL (the checkpoint at 64 MiB never happens
    // within 10 calls of this size).
    let before = kv.wal_bytes();
    for _ in 0..10 {
        kv.update("noop", &noop);
    }
    let wal_record = ((kv.wal_bytes() - before) / 10) as usize;
    println!("WAL bytes appended per noop update: {wal_record}");

    let mut g = c.benchmark_group("update_call");
    for (method, arg) in [("noop", &noop), ("compute", &compute)] {
        let export = format!("canister_update {method}");
        g.bench_function(BenchmarkId::new("drydock_update", method), |b| {
            b.iter(|| kv.update(method, arg))
        });
        g.bench_function(BenchmarkId::new("bare_wasmtime", method), |b| {
            b.iter(|| bare.call(&export, arg).expect("bare call"))
        });
    }
    // The metering alone: the same `compute` export through drydock's engine (fuel at the
    // IC's costs, the System API, the dirty-page charge), rolled back as a discarded message
    // is, with no commit and no fees.
    let mut metered = MeteredCanister::new(&wasm);
    assert_eq!(
        metered.compute(&compute),
        bare.call("canister_update compute", &compute)
            .expect("bare compute")
    );
    g.bench_function(BenchmarkId::new("drydock_exec", "compute"), |b| {
        b.iter(|| metered.compute(&compute))
    });
    g.bench_function(BenchmarkId::new("drydock_query", "len"), |b| {
        b.iter(|| kv.query("len", &len))
    });
    g.bench_function(BenchmarkId::new("bare_wasmtime", "len"), |b| {
        b.iter(|| bare.call("canister_query len", &len).expect("bare call"))
    });
    g.finish();

    // The commit's pieces, without drydock, on the disk the state directory is on.
    let mut g = c.benchmark_group("update_call_parts");
    let scratch = tempfile::NamedTempFile::new_in(workspace_target()).expect("scratch file");
    let record = vec![0x5au8; wal_record.max(1)];
    let mut offset = 0u64;
    g.bench_function("wal_append_fdatasync", |b| {
        b.iter(|| {
            let file = scratch.as_file();
            file.write_all_at(&record, offset).expect("append");
            file.sync_data().expect("fdatasync");
            offset += record.len() as u64;
            if offset > 64 << 20 {
                file.set_len(0).expect("truncate");
                offset = 0;
            }
        })
    });
    // A preallocated "WAL": 16 MiB written and synced once, then overwritten record by record,
    // so that `fdatasync` has no file size or extent change to journal.
    let prealloc = tempfile::NamedTempFile::new_in(workspace_target()).expect("scratch file");
    const PREALLOC: u64 = 16 << 20;
    prealloc
        .as_file()
        .write_all_at(&vec![0u8; PREALLOC as usize], 0)
        .expect("preallocating");
    prealloc.as_file().sync_all().expect("fsync");
    let mut offset = 0u64;
    g.bench_function("preallocated_overwrite_fdatasync", |b| {
        b.iter(|| {
            let file = prealloc.as_file();
            if offset + record.len() as u64 > PREALLOC {
                offset = 0;
            }
            file.write_all_at(&record, offset).expect("overwrite");
            file.sync_data().expect("fdatasync");
            offset += record.len() as u64;
        })
    });
    let wasm_path = workspace_target().join("test-canisters/kv.wasm");
    g.bench_function("read_kv_wasm", |b| {
        b.iter(|| std::fs::read(&wasm_path).expect("read"))
    });
    g.bench_function("sha256_kv_wasm", |b| b.iter(|| Sha256::digest(&wasm)));
    g.finish();

    c.final_summary();
    paired_commit_io(&mut kv, &noop, wal_record);
    report.print_ratios(
        "update_call: drydock / bare wasmtime (same process)",
        &[
            (
                "noop update (execution + durable commit)",
                "update_call/drydock_update/noop",
                "update_call/bare_wasmtime/noop",
            ),
            (
                &format!("compute({COMPUTE_ROUNDS}) update (execution + durable commit)"),
                "update_call/drydock_update/compute",
                "update_call/bare_wasmtime/compute",
            ),
            (
                &format!("compute({COMPUTE_ROUNDS}), metered execution alone (no commit, no fees)"),
                "update_call/drydock_exec/compute",
                "update_call/bare_wasmtime/compute",
            ),
            (
                "len query (execution + rollback, no commit)",
                "update_call/drydock_query/len",
                "update_call/bare_wasmtime/len",
            ),
            (
                "noop update vs len query (what the commit adds)",
                "update_call/drydock_update/noop",
                "update_call/drydock_query/len",
            ),
            (
                "noop update vs WAL append + fdatasync alone",
                "update_call/drydock_update/noop",
                "update_call_parts/wal_append_fdatasync",
            ),
            (
                "WAL append + fdatasync vs overwrite + fdatasync (preallocated)",
                "update_call_parts/wal_append_fdatasync",
                "update_call_parts/preallocated_overwrite_fdatasync",
            ),
            (
                "len query vs one SHA-256 of kv.wasm",
                "update_call/drydock_query/len",
                "update_call_parts/sha256_kv_wasm",
            ),
        ],
    );
    let _ = std::io::stdout().flush();
}

/// kv in drydock's engine alone, as the replica runs an update's execution, without the
/// replica around it.
struct MeteredCanister {
    inst: Instance,
    limits: ExecLimits,
    /// Holds the memory files the instance's committed state lives in.
    _dir: tempfile::TempDir,
}

impl MeteredCanister {
    fn new(wasm: &[u8]) -> Self {
        let engine = Engine::new(None).expect("engine");
        let module = engine.load(wasm).expect("kv.wasm in drydock's engine");
        let limits = ExecLimits::ic(40_000_000_000);
        let stable = StableMemory::new(&MemoryBacking::default(), 1 << 30).expect("stable");
        let mut inst = Instance::new(
            &engine,
            module,
            MemoryBacking::default(),
            stable,
            None,
            limits,
        )
        .expect("kv instance");
        // Commit the instantiated state (the data segments) into memory files, as an install
        // does: a rollback then returns to it.
        let dir = tempfile::tempdir_in(workspace_target()).expect("scratch dir");
        let delta = inst.delta().expect("delta");
        let heap = memory_file(&dir.path().join("heap"), &delta.heap);
        let stable = memory_file(&dir.path().join("stable"), &delta.stable);
        inst.after_commit(&delta, &heap, &stable).expect("commit");
        Self {
            inst,
            limits,
            _dir: dir,
        }
    }

    /// `compute`'s reply, the execution rolled back.
    fn compute(&mut self, arg: &[u8]) -> Vec<u8> {
        let env = MessageEnv {
            arg: arg.to_vec(),
            ..MessageEnv::default()
        };
        let e = self.inst.run(
            "canister_update compute",
            EntryKind::Update,
            env,
            Vec::new(),
            0,
            self.limits,
        );
        self.inst.rollback().expect("rollback");
        match e.result {
            Ok(Outcome::Reply(bytes)) => bytes,
            other => panic!("compute in drydock's engine: {other:?}"),
        }
    }
}

/// A memory file holding `delta`'s pages, as the replica writes one at a commit.
fn memory_file(path: &std::path::Path, delta: &MemoryDelta) -> MemoryBacking {
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("memory file");
    file.set_len(delta.size).expect("memory file size");
    for (page, bytes) in &delta.pages {
        file.write_all_at(bytes, page * PAGE_SIZE as u64)
            .expect("memory file page");
    }
    MemoryBacking {
        file: Some(std::sync::Arc::new(file)),
        size: delta.size,
    }
}

/// Rounds of the paired run.
const PAIRED_ROUNDS: usize = 150;

/// Interleaves drydock `noop` updates with the raw I/O of a commit, and prints medians:
/// (a) the update; (b) appending one WAL record's bytes + `fdatasync`; (c) as (b) with that
/// many pages first written (unsynced) into a separate sparse memory file: the replica writes a
/// commit's pages into the memory file after the WAL's `fdatasync`, so they are pending when
/// the next commit syncs, and ext4's ordered mode may have to flush them in that journal commit.
#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn paired_commit_io(kv: &mut KvReplica, noop: &[u8], wal_record: usize) {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let wal = tempfile::NamedTempFile::new_in(workspace_target()).expect("scratch file");
    let memory = tempfile::NamedTempFile::new_in(workspace_target()).expect("scratch file");
    memory.as_file().set_len(64 << 20).expect("sizing");
    let record = vec![0x5au8; wal_record];
    let page = vec![0xa5u8; 4096];
    let pages = wal_record / 4096;
    let (mut offset, mut times) = (0u64, [Vec::new(), Vec::new(), Vec::new()]);
    let append = |offset: &mut u64| {
        wal.as_file()
            .write_all_at(&record, *offset)
            .expect("append");
        wal.as_file().sync_data().expect("fdatasync");
        *offset += record.len() as u64;
    };
    for _ in 0..PAIRED_ROUNDS {
        let start = Instant::now();
        kv.update("noop", noop);
        times[0].push(start.elapsed());
        let start = Instant::now();
        append(&mut offset);
        times[1].push(start.elapsed());
        let start = Instant::now();
        append(&mut offset);
        for i in 0..pages {
            memory
                .as_file()
                .write_all_at(&page, (i * 4096) as u64)
                .expect("page write");
        }
        times[2].push(start.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_nanos() as f64
    };
    let [a, b, c] = times.map(|mut v| median(&mut v));
    println!("\n== paired run: {PAIRED_ROUNDS} interleaved rounds, medians");
    println!(
        "drydock noop update:                              {}",
        human(a)
    );
    println!(
        "raw WAL append ({wal_record} B) + fdatasync:            {}",
        human(b)
    );
    println!(
        "raw WAL append + fdatasync + {pages} page writes:        {}",
        human(c)
    );
    println!(
        "noop update / raw append+fdatasync:               {:.1}x",
        a / b
    );
    println!(
        "noop update / raw append+fdatasync+page writes:   {:.1}x",
        a / c
    );
}
