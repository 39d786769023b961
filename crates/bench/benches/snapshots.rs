//! `snapshots`: canister snapshots of a large state, against copying the state's files.
//!
//! For each size S (`DRYDOCK_BENCH_SIZES`, default `64M,1G,8G`; suffixes K, M, G, T are
//! binary), a replica in a fresh state directory gets one `bigmem` canister
//! (`canisters/bigmem`) with S bytes of stable memory, written by `stable_fill` messages of at
//! most 512 MiB, and a 16 MiB heap buffer. Then, `DRYDOCK_BENCH_REPS` times (default 5),
//! with a `sync` before each timed operation:
//! - a few stable pages and one heap page are changed (4 + 1 update messages), the canister is
//!   stopped, and `take_canister_snapshot` is timed;
//! - the canister is started, a few pages are changed again, it is stopped again and
//!   `load_canister_snapshot` is timed; it is started and the snapshot deleted (untimed);
//! - the baseline: `cp -r --sparse=always` of the state directory's `memories/` (every memory
//!   file: what a snapshot by copying would copy) to a scratch directory next to it, timed
//!   (the copy's page cache is not flushed: the baseline is the cheapest copy), then removed.
//!
//! Each timed operation is a whole `Replica::update` call to the management canister (Candid
//! decoding, the durable commit). The report gives medians and the ratios take / cp and
//! load / cp.
//!
//! The same state then takes a rolled-back message (one stable page written, then a trap; one
//! heap page, then a trap) and an upgrade to the same module, each timed once, and the
//! process's anonymous and peak resident memory are read (`/proc/self/status`). The heap
//! buffer is 16 MiB, or `DRYDOCK_BENCH_HEAP` (e.g. `4G` for a full wasm32 heap).
//!
//! Disk use: for each size, after the runs above, 10 snapshots that differ in a few pages each
//! (the pages change between takes); the state directory's allocated bytes (`st_blocks`·512
//! summed over every file) after a reopen of the replica (which checkpoints) with no snapshot
//! and with the 10 snapshots.
//!
//! Rollback: a second replica holds two `bigmem` canisters with a 64 MiB and a 4 GiB
//! (`wasm_memory_limit` lifted) heap buffer; each runs `heap_touch_and_trap` (one dirty heap
//! page, then a trap: the message is rolled back) 21 times; the median of the 4 GiB heap
//! against the 64 MiB one is the figure. `heap_touch` (the same page committed) is shown too.
//!
//! Run: `cargo bench -p drydock-bench --bench snapshots` (after
//! `scripts/build-test-canisters.sh`). The state directories are made in `DRYDOCK_BENCH_DIR`
//! (default: the workspace's `target/`) and removed at the end; they need about 2·S + 1 GiB of
//! free disk for the largest S (the state and its copy), plus 4 GiB for the big heap, and the
//! machine about 2 GiB of free memory (a 512 MiB message's dirty pages are held a few times
//! over while they are committed). `-- --test` runs once with S = 64M and a 256 MiB "big"
//! heap, as a smoke test. Snapshot operations that fail are reported as failed, not timed.

#![allow(clippy::print_stdout, reason = "a bench binary's report is its output")]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use candid::{CandidType, Nat, Principal};
use drydock_bench::report::human;
use drydock_bench::{machine_summary, test_canister, user, workspace_target};
use drydock_replica::{CallError, Replica, ReplicaConfig, MANAGEMENT_CANISTER};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, CanisterSettings, DeleteCanisterSnapshotArgs,
    InstallCodeArgs, LoadCanisterSnapshotArgs, ProvisionalCreateCanisterWithCyclesArgs, Snapshot,
    TakeCanisterSnapshotArgs, UpdateSettingsArgs,
};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// The most stable memory one `stable_fill` message writes.
const FILL_STEP: u64 = 512 * MIB;
/// The small heap buffer of the snapshot canisters.
const SMALL_HEAP: u64 = 16 * MIB;
/// Snapshots kept at once for the disk-use figure.
const SNAPSHOTS_KEPT: u32 = 10;
/// Rollbacks timed per heap.
const ROLLBACK_REPS: usize = 21;

struct Config {
    sizes: Vec<u64>,
    reps: usize,
    big_heap: u64,
    /// The heap buffer of the snapshot canisters (`DRYDOCK_BENCH_HEAP`, default 16M).
    heap: u64,
    dir: PathBuf,
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_uppercase()),
        _ => (s, 'B'),
    };
    let n: u64 = digits.trim().parse().ok()?;
    let mul = match unit {
        'B' => 1,
        'K' => KIB,
        'M' => MIB,
        'G' => GIB,
        'T' => GIB * KIB,
        _ => return None,
    };
    n.checked_mul(mul).filter(|b| *b > 0)
}

fn config() -> Config {
    let smoke = std::env::args().any(|a| a == "--test");
    let sizes = std::env::var("DRYDOCK_BENCH_SIZES")
        .unwrap_or_else(|_| if smoke { "64M" } else { "64M,1G,8G" }.into());
    let sizes = sizes
        .split(',')
        .map(|s| {
            parse_size(s).unwrap_or_else(|| {
                panic!("DRYDOCK_BENCH_SIZES: {s:?} is not a size like 64M, 1G or 50G")
            })
        })
        .collect();
    let reps = match std::env::var("DRYDOCK_BENCH_REPS") {
        Ok(r) => r
            .parse()
            .ok()
            .filter(|r| *r > 0)
            .unwrap_or_else(|| panic!("DRYDOCK_BENCH_REPS: {r:?} is not a positive count")),
        Err(_) if smoke => 1,
        Err(_) => 5,
    };
    let dir = std::env::var_os("DRYDOCK_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(workspace_target);
    let heap = std::env::var("DRYDOCK_BENCH_HEAP").map_or(SMALL_HEAP, |h| {
        parse_size(&h)
            .unwrap_or_else(|| panic!("DRYDOCK_BENCH_HEAP: {h:?} is not a size like 16M or 4G"))
    });
    Config {
        sizes,
        reps,
        heap,
        big_heap: if smoke { 256 * MIB } else { 4 * GIB },
        dir,
    }
}

fn gib(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.2} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}

fn size_label(bytes: u64) -> String {
    if bytes & (GIB - 1) == 0 {
        format!("{} GiB", bytes / GIB)
    } else if bytes & (MIB - 1) == 0 {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} B")
    }
}

fn ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort();
    v.get(v.len() / 2).copied()
}

fn sync() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Bytes allocated on disk under `path` (`st_blocks`·512 of every file and directory).
fn disk_use(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                total += disk_use(&e.path());
            }
        }
    }
    total
}

/// A replica over a fresh state directory under the bench directory.
struct Node {
    replica: Option<Replica>,
    // Removed after the replica is dropped (the directory is locked while open).
    dir: tempfile::TempDir,
}

impl Node {
    fn new(parent: &Path) -> Node {
        std::fs::create_dir_all(parent).expect("creating the bench directory");
        let dir = tempfile::Builder::new()
            .prefix("drydock-bench-snapshots-")
            .tempdir_in(parent)
            .expect("state directory");
        let replica = Replica::open(dir.path(), ReplicaConfig::default()).expect("opening");
        Node {
            replica: Some(replica),
            dir,
        }
    }

    fn replica(&mut self) -> &mut Replica {
        self.replica.as_mut().expect("the replica is open")
    }

    /// Closes and opens the state directory again (opening checkpoints the WAL).
    fn reopen(&mut self) {
        self.replica = None;
        self.replica =
            Some(Replica::open(self.dir.path(), ReplicaConfig::default()).expect("reopening"));
    }

    fn call(&mut self, canister: Principal, method: &str, arg: Vec<u8>) -> Result<Vec<u8>, String> {
        self.replica()
            .update(user(), canister, method, &arg)
            .map_err(|e| match e {
                CallError::User(u) => format!("{:?}: {}", u.code, u.message),
                CallError::Replica(r) => format!("replica failure: {r}"),
            })
    }

    fn mgmt<A: CandidType>(&mut self, method: &str, arg: &A) -> Result<Vec<u8>, String> {
        let arg = candid::encode_one(arg).expect("encoding");
        self.call(MANAGEMENT_CANISTER, method, arg)
    }

    /// Panics on failure: for the set-up steps, without which there is nothing to measure.
    fn must(&mut self, canister: Principal, method: &str, arg: Vec<u8>) -> Vec<u8> {
        self.call(canister, method, arg)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn create_bigmem(&mut self, wasm: &[u8]) -> Principal {
        let reply = self
            .mgmt(
                "provisional_create_canister_with_cycles",
                &ProvisionalCreateCanisterWithCyclesArgs::default(),
            )
            .expect("creating a canister");
        let id = candid::decode_one::<CanisterIdRecord>(&reply)
            .expect("decoding")
            .canister_id;
        let install = InstallCodeArgs {
            mode: CanisterInstallMode::Install,
            canister_id: id,
            wasm_module: wasm.to_vec(),
            arg: candid::encode_args(()).expect("encoding"),
            sender_canister_version: None,
        };
        self.mgmt("install_code", &install)
            .expect("installing bigmem");
        id
    }

    fn stable_fill(&mut self, id: Principal, offset: u64, len: u64, seed: u64) {
        let arg = candid::encode_args((offset, len, seed)).expect("encoding");
        self.must(id, "stable_fill", arg);
    }

    fn heap_fill(&mut self, id: Principal, bytes: u64, seed: u64) {
        let arg = candid::encode_args((bytes, seed)).expect("encoding");
        self.must(id, "heap_fill", arg);
    }

    /// Lifts `wasm_memory_limit` and fills a heap buffer of `heap` bytes (at most what fits
    /// below 4 GiB beside the canister's own memory) in 512 MiB messages. Returns its size.
    fn fill_heap(&mut self, id: Principal, heap: u64, seed: u64) -> u64 {
        let settings = UpdateSettingsArgs {
            canister_id: id,
            settings: CanisterSettings {
                wasm_memory_limit: Some(Nat::from(0u64)),
                ..Default::default()
            },
            sender_canister_version: None,
        };
        self.mgmt("update_settings", &settings)
            .expect("lifting wasm_memory_limit");
        // Leave room below 4 GiB for the code, data, stack and allocator of the canister.
        let target = heap.min(4 * GIB - self.query_u64(id, "heap_size") - 32 * MIB);
        let mut filled = 0;
        while filled < target {
            filled = (filled + FILL_STEP).min(target);
            self.heap_fill(id, filled, seed);
        }
        filled
    }

    /// Times an upgrade to the same module (the canister running).
    fn upgrade(&mut self, id: Principal, wasm: &[u8]) -> Result<Duration, String> {
        let install = InstallCodeArgs {
            mode: CanisterInstallMode::Upgrade(None),
            canister_id: id,
            wasm_module: wasm.to_vec(),
            arg: candid::encode_args(()).expect("encoding"),
            sender_canister_version: None,
        };
        let t = Instant::now();
        self.mgmt("install_code", &install).map(|_| t.elapsed())
    }

    fn query_u64(&mut self, id: Principal, method: &str) -> u64 {
        let reply = self
            .replica()
            .query(
                user(),
                id,
                method,
                &candid::encode_args(()).expect("encoding"),
            )
            .unwrap_or_else(|e| panic!("{method}: {e:?}"));
        candid::decode_one(&reply).expect("decoding")
    }

    fn set_running(&mut self, id: Principal, running: bool) {
        let method = if running {
            "start_canister"
        } else {
            "stop_canister"
        };
        self.mgmt(method, &CanisterIdRecord { canister_id: id })
            .unwrap_or_else(|e| panic!("{method}: {e}"));
    }

    /// Changes 4 stable pages spread over `[0, size)` and one heap page.
    fn mutate(&mut self, id: Principal, size: u64, seed: u64) {
        for k in 1..=4u64 {
            let offset = (size / 5 * k + seed * 4096) % size / 4096 * 4096;
            self.stable_fill(id, offset, 4096, seed);
        }
        let page = candid::encode_args((seed % (SMALL_HEAP / 4096),)).expect("encoding");
        self.must(id, "heap_touch", page);
    }

    /// Times `take_canister_snapshot` on the stopped canister.
    fn take(&mut self, id: Principal) -> Result<(Duration, Snapshot), String> {
        let args = TakeCanisterSnapshotArgs {
            canister_id: id,
            replace_snapshot: None,
            uninstall_code: None,
            sender_canister_version: None,
        };
        self.set_running(id, false);
        sync();
        let t = Instant::now();
        let reply = self.mgmt("take_canister_snapshot", &args);
        let elapsed = t.elapsed();
        self.set_running(id, true);
        let snapshot = candid::decode_one(&reply?).map_err(|e| format!("decoding: {e}"))?;
        Ok((elapsed, snapshot))
    }

    /// Times `load_canister_snapshot` on the stopped canister.
    fn load(&mut self, id: Principal, snapshot: &Snapshot) -> Result<Duration, String> {
        let args = LoadCanisterSnapshotArgs {
            canister_id: id,
            snapshot_id: snapshot.id.clone(),
            sender_canister_version: None,
        };
        self.set_running(id, false);
        sync();
        let t = Instant::now();
        let reply = self.mgmt("load_canister_snapshot", &args);
        let elapsed = t.elapsed();
        self.set_running(id, true);
        reply.map(|_| elapsed)
    }

    fn delete(&mut self, id: Principal, snapshot: &Snapshot) -> Result<(), String> {
        let args = DeleteCanisterSnapshotArgs {
            canister_id: id,
            snapshot_id: snapshot.id.clone(),
        };
        self.mgmt("delete_canister_snapshot", &args).map(|_| ())
    }

    /// Times `cp -r --sparse=always memories/` to a scratch directory, then removes the copy.
    /// When the disk has no room for a second copy, times `cp --sparse=always FILE /dev/null`
    /// for every memory file instead (all the reading of a copy and none of its writing: a
    /// lower bound on its time) and says so (`true`).
    fn copy_memories(&mut self) -> (Duration, bool) {
        let src = self.dir.path().join("memories");
        let parent = self.dir.path().parent().unwrap_or(self.dir.path());
        if free_disk(parent) < disk_use(&src) + 2 * GIB {
            let files: Vec<PathBuf> = std::fs::read_dir(&src)
                .expect("list memories/")
                .map(|e| e.expect("entry").path())
                .collect();
            sync();
            let t = Instant::now();
            for file in &files {
                let status = Command::new("cp")
                    .arg("--sparse=always")
                    .arg(file)
                    .arg("/dev/null")
                    .status()
                    .expect("running cp");
                assert!(status.success(), "cp to /dev/null failed: {status}");
            }
            return (t.elapsed(), true);
        }
        let scratch = tempfile::Builder::new()
            .prefix("drydock-bench-cp-")
            .tempdir_in(parent)
            .expect("scratch directory");
        let dst = scratch.path().join("memories");
        sync();
        let t = Instant::now();
        let status = Command::new("cp")
            .arg("-r")
            .arg("--sparse=always")
            .arg(&src)
            .arg(&dst)
            .status()
            .expect("running cp");
        let elapsed = t.elapsed();
        assert!(status.success(), "cp -r --sparse=always failed: {status}");
        drop(scratch);
        (elapsed, false)
    }
}

/// This process's anonymous resident memory and peak resident memory (`RssAnon`, `VmHWM`
/// of `/proc/self/status`), in bytes.
fn resident() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * KIB)
    };
    (field("RssAnon:"), field("VmHWM:"))
}

/// Free bytes on the file system holding `path` (0 if unknown).
fn free_disk(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: `statvfs` writes into the zeroed struct we own; `c` is a valid C string.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return 0;
        }
        st.f_bavail.saturating_mul(st.f_frsize)
    }
}

/// The medians of one state size.
struct SizeResult {
    size: u64,
    wasm_heap: u64,
    rollback_stable: Duration,
    rollback_heap: Duration,
    upgrade: Result<Duration, String>,
    rss_anon: u64,
    hwm: u64,
    memories_disk: u64,
    take: Result<Duration, String>,
    load: Result<Duration, String>,
    cp: Duration,
    /// The baseline copied to /dev/null (no room for a second copy).
    cp_to_null: bool,
    disk_before: u64,
    disk_after: Result<u64, String>,
}

fn bench_size(cfg: &Config, wasm: &[u8], size: u64) -> SizeResult {
    let label = size_label(size);
    let mut node = Node::new(&cfg.dir);
    let id = node.create_bigmem(wasm);
    let t = Instant::now();
    let mut at = 0;
    while at < size {
        let n = (size - at).min(FILL_STEP);
        node.stable_fill(id, at, n, 1);
        at += n;
    }
    let heap = node.fill_heap(id, cfg.heap, 1);
    assert_eq!(
        node.query_u64(id, "stable_size"),
        size.div_ceil(65536) * 65536
    );
    node.reopen();
    let memories_disk = disk_use(&node.dir.path().join("memories"));
    println!(
        "[{label}] state written in {:.1} s: memories/ holds {} on disk",
        t.elapsed().as_secs_f64(),
        gib(memories_disk)
    );

    let (mut takes, mut loads, mut cps) = (Vec::new(), Vec::new(), Vec::new());
    let mut cp_to_null = false;
    let (mut take_err, mut load_err) = (None, None);
    for rep in 0..cfg.reps as u64 {
        node.mutate(id, size, 10 + rep);
        match node.take(id) {
            Ok((d, snapshot)) => {
                takes.push(d);
                node.mutate(id, size, 100 + rep);
                match node.load(id, &snapshot) {
                    Ok(d) => loads.push(d),
                    Err(e) => load_err = Some(e),
                }
                if let Err(e) = node.delete(id, &snapshot) {
                    load_err.get_or_insert(format!("delete_canister_snapshot: {e}"));
                }
            }
            Err(e) => take_err = Some(e),
        }
        let (cp, to_null) = node.copy_memories();
        cps.push(cp);
        cp_to_null |= to_null;
        println!(
            "[{label}] run {}: take {}, load {}, cp {}",
            rep + 1,
            takes.last().map_or("failed".into(), |d| human(ns(*d))),
            loads.last().map_or("failed".into(), |d| human(ns(*d))),
            cps.last().map_or("-".into(), |d| human(ns(*d))),
        );
    }
    let take = median(takes).ok_or_else(|| take_err.unwrap_or_default());
    let load = median(loads).ok_or_else(|| load_err.unwrap_or_else(|| "not run".into()));
    let cp = median(cps).unwrap_or_default();

    // Disk use of 10 snapshots differing in a few pages each.
    node.reopen();
    let disk_before = disk_use(node.dir.path());
    let mut disk_after = Ok(0);
    for k in 0..SNAPSHOTS_KEPT {
        node.mutate(id, size, 1000 + u64::from(k));
        if let Err(e) = node.take(id) {
            disk_after = Err(format!("snapshot {}: {e}", k + 1));
            break;
        }
    }
    if disk_after.is_ok() {
        node.reopen();
        disk_after = Ok(disk_use(node.dir.path()));
    }
    // The same state (last: an upgrade resets the heap): a rolled-back message (stable
    // memory, then heap), an upgrade.
    let page = candid::encode_args(((size / 2) / 4096 * 4096, 4096u64, 7u64)).expect("encoding");
    let t = Instant::now();
    let trapped = node.call(id, "stable_fill_and_trap", page);
    let rollback_stable = t.elapsed();
    assert!(trapped.is_err(), "stable_fill_and_trap must trap");
    let arg = candid::encode_args((heap / 2 / 4096,)).expect("encoding");
    let t = Instant::now();
    let trapped = node.call(id, "heap_touch_and_trap", arg);
    let rollback_heap = t.elapsed();
    assert!(trapped.is_err(), "heap_touch_and_trap must trap");
    let wasm_heap = node.query_u64(id, "heap_size");
    let upgrade = node.upgrade(id, wasm);
    assert_eq!(
        node.query_u64(id, "stable_size"),
        size.div_ceil(65536) * 65536,
        "stable memory survives the upgrade"
    );
    let (rss_anon, hwm) = resident();
    println!(
        "[{label}] Wasm memory {}: rollback (stable page) {}, rollback (heap page) {}, upgrade {}; \
         anonymous resident memory {}, peak resident {}",
        gib(wasm_heap),
        human(ns(rollback_stable)),
        human(ns(rollback_heap)),
        timed(&upgrade),
        gib(rss_anon),
        gib(hwm),
    );

    if let Some(e) = take.as_ref().err().or(load.as_ref().err()) {
        println!("[{label}] snapshot failure: {e}");
    }
    SizeResult {
        size,
        wasm_heap,
        rollback_stable,
        rollback_heap,
        upgrade,
        rss_anon,
        hwm,
        memories_disk,
        take,
        load,
        cp,
        cp_to_null,
        disk_before,
        disk_after,
    }
}

struct RollbackResult {
    heap: u64,
    rollback: Duration,
    commit: Duration,
}

/// Times a rolled-back and a committed one-page heap message in canisters with a 64 MiB and
/// a `big_heap` heap buffer.
fn bench_rollback(cfg: &Config, wasm: &[u8]) -> Vec<RollbackResult> {
    let mut node = Node::new(&cfg.dir);
    let mut out = Vec::new();
    for heap in [64 * MIB, cfg.big_heap] {
        let id = node.create_bigmem(wasm);
        let filled = node.fill_heap(id, heap, 2);
        let wasm_heap = node.query_u64(id, "heap_size");
        let page = (filled / 2 / 4096,);
        let arg = candid::encode_args(page).expect("encoding");
        let (mut rollbacks, mut commits) = (Vec::new(), Vec::new());
        for i in 0..ROLLBACK_REPS + 2 {
            let t = Instant::now();
            let r = node.call(id, "heap_touch_and_trap", arg.clone());
            let d = t.elapsed();
            assert!(r.is_err(), "heap_touch_and_trap must trap");
            let t = Instant::now();
            node.must(id, "heap_touch", arg.clone());
            let c = t.elapsed();
            // The first two are the warm-up.
            if i >= 2 {
                rollbacks.push(d);
                commits.push(c);
            }
        }
        let r = RollbackResult {
            heap: wasm_heap,
            rollback: median(rollbacks).unwrap_or_default(),
            commit: median(commits).unwrap_or_default(),
        };
        println!(
            "[rollback] heap buffer {} (Wasm memory {}): rollback {}, commit {}",
            gib(filled),
            gib(wasm_heap),
            human(ns(r.rollback)),
            human(ns(r.commit))
        );
        out.push(r);
    }
    out
}

fn timed(r: &Result<Duration, String>) -> String {
    match r {
        Ok(d) => human(ns(*d)),
        Err(_) => "failed".into(),
    }
}

/// `x` as a ratio: `2.95x`, or `1/2,345` when below 0.1.
fn show_ratio(x: f64) -> String {
    if x >= 0.1 || x <= 0.0 || !x.is_finite() {
        return format!("{x:.2}x");
    }
    let inverse = (1.0 / x).round() as u64;
    let digits = inverse.to_string();
    let first = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        n => n,
    };
    let mut grouped = digits[..first].to_string();
    for group in digits.as_bytes()[first..].chunks(3) {
        grouped.push(',');
        grouped.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    format!("1/{grouped}")
}

fn ratio(r: &Result<Duration, String>, base: Duration) -> String {
    match r {
        Ok(d) if !base.is_zero() => show_ratio(ns(*d) / ns(base)),
        _ => "-".into(),
    }
}

fn main() {
    let cfg = config();
    let wasm = test_canister("bigmem");
    println!("machine: {}", machine_summary());
    println!(
        "sizes: {}; {} runs each; state directories in {}",
        cfg.sizes
            .iter()
            .map(|s| size_label(*s))
            .collect::<Vec<_>>()
            .join(", "),
        cfg.reps,
        cfg.dir
            .canonicalize()
            .unwrap_or_else(|_| cfg.dir.clone())
            .display()
    );

    let rollback = bench_rollback(&cfg, &wasm);
    let results: Vec<SizeResult> = cfg
        .sizes
        .iter()
        .map(|s| bench_size(&cfg, &wasm, *s))
        .collect();

    println!(
        "\n== snapshots: take and load vs cp -r --sparse=always of memories/ (medians of {} runs)",
        cfg.reps
    );
    println!("| stable memory | memories/ on disk | take | load | cp | take / cp | load / cp |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &results {
        println!(
            "| {} | {} | {} | {} | {}{} | {} | {} |",
            size_label(r.size),
            gib(r.memories_disk),
            timed(&r.take),
            timed(&r.load),
            human(ns(r.cp)),
            if r.cp_to_null { " †" } else { "" },
            ratio(&r.take, r.cp),
            ratio(&r.load, r.cp),
        );
    }
    println!("\n== the same states: a rolled-back message, an upgrade, resident memory");
    println!(
        "| stable memory | Wasm memory | rollback (1 stable page) | rollback (1 heap page) | upgrade | anon. resident | peak resident |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &results {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            size_label(r.size),
            gib(r.wasm_heap),
            human(ns(r.rollback_stable)),
            human(ns(r.rollback_heap)),
            timed(&r.upgrade),
            gib(r.rss_anon),
            gib(r.hwm),
        );
    }
    if results.iter().any(|r| r.cp_to_null) {
        println!(
            "† no room on the disk for a second copy: `cp --sparse=always FILE /dev/null` per \
             memory file (reads all, writes nothing: a lower bound on a copy)"
        );
    }
    for r in &results {
        for e in [&r.take, &r.load]
            .into_iter()
            .filter_map(|x| x.as_ref().err())
        {
            println!("{}: {e}", size_label(r.size));
        }
    }

    println!(
        "\n== disk use: the state directory with no snapshot and with {SNAPSHOTS_KEPT} snapshots"
    );
    println!(
        "| stable memory | no snapshot | {SNAPSHOTS_KEPT} snapshots | growth | growth / state |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in &results {
        match &r.disk_after {
            Ok(after) => {
                let growth = after.saturating_sub(r.disk_before);
                println!(
                    "| {} | {} | {} | {} | {} |",
                    size_label(r.size),
                    gib(r.disk_before),
                    gib(*after),
                    gib(growth),
                    show_ratio(growth as f64 / r.disk_before.max(1) as f64),
                );
            }
            Err(e) => println!(
                "| {} | {} | failed | - | - |   ({e})",
                size_label(r.size),
                gib(r.disk_before)
            ),
        }
    }

    println!(
        "\n== rollback of a message that dirtied one heap page (heap_touch_and_trap), medians of {ROLLBACK_REPS}"
    );
    println!("| Wasm memory | rollback | commit of the same page (heap_touch) |");
    println!("| --- | ---: | ---: |");
    for r in &rollback {
        println!(
            "| {} | {} | {} |",
            gib(r.heap),
            human(ns(r.rollback)),
            human(ns(r.commit))
        );
    }
    if let [small, big] = &rollback[..] {
        println!(
            "rollback {} / {}: {:.2}x",
            gib(big.heap),
            gib(small.heap),
            ns(big.rollback) / ns(small.rollback).max(1.0)
        );
    }
}
