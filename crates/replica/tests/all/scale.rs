//! Scale: gigabytes of stable memory through snapshots, rollback, load and upgrade, with the
//! process's anonymous memory staying far below the state size.
//!
//! The test runs in a child process of the test binary (itself, filtered to this one test), so
//! that `/proc/self/status` counts this test alone and not the other tests of the binary that
//! run in parallel threads. Its progress lines (memory after each step) are printed.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the test reports its memory use and relays its child's output"
)]

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::*;
use candid::Principal;
use drydock_replica::{ErrorCode, StateHashes};
use ic_management_canister_types::{
    CanisterIdRecord, DeleteCanisterSnapshotArgs, LoadCanisterSnapshotArgs, Snapshot,
    TakeCanisterSnapshotArgs,
};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Stable memory written before the snapshot.
const STABLE_BYTES: u64 = 2 * GIB;
/// Bytes per `stable_fill` message: the commit holds a message's dirty pages in memory a few
/// times over, so this bounds the peak, not the steady state.
const FILL_STEP: u64 = 128 * MIB;
/// The anonymous memory the test process may gain over the whole test (measured after each
/// step): an eighth of the state, so a step that loaded the untouched pages would fail it.
const ANON_GROWTH_MAX: u64 = 512 * MIB;
/// The seed of the initial content (see the bigmem canister's pattern).
const BASE_SEED: u64 = 1;

const CHILD_ENV: &str = "DRYDOCK_SCALE_TEST_CHILD";

#[test]
fn huge_stable_memory_snapshot_load_rollback_and_upgrade() {
    in_own_process(
        "huge_stable_memory_snapshot_load_rollback_and_upgrade",
        huge_stable_memory,
    );
}

/// Runs `body` in a child process that runs only the test `name` of this module, and checks
/// that it passed; in the child, runs `body`.
fn in_own_process(name: &str, body: fn()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        body();
        return;
    }
    // `module_path!()` is `all::scale`; the harness names tests without the crate.
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, m)| m);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("{module}::{name}"),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(out.status.success(), "the test failed in its own process");
    assert!(
        stdout.contains("1 passed"),
        "the child process did not run the test"
    );
}

/// A line of `/proc/self/status` in bytes (the kernel gives kB).
fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
        * 1024
}

/// Samples the process's anonymous memory after each step and checks its growth.
struct Rss {
    anon0: u64,
    hwm0: u64,
    max_growth: u64,
}

impl Rss {
    fn start() -> Self {
        release_free_heap();
        Rss {
            anon0: proc_status("RssAnon"),
            hwm0: proc_status("VmHWM"),
            max_growth: 0,
        }
    }

    /// Checks the peak of an operation measured with [`peak_during`].
    fn check_peak(&mut self, step: &str, peak: Option<u64>) {
        match peak {
            Some(p) => {
                println!("scale: {step}: resident set peak +{} MiB", p / MIB);
                assert!(
                    p < ANON_GROWTH_MAX,
                    "{step}: the resident set rose by {} MiB during the operation, over {} MiB \
                     for a {} MiB state: it read pages it did not need",
                    p / MIB,
                    ANON_GROWTH_MAX / MIB,
                    STABLE_BYTES / MIB,
                );
            }
            None => println!("scale: {step}: no peak measured (/proc/self/clear_refs refused)"),
        }
    }

    fn check(&mut self, step: &str) {
        let retained = proc_status("RssAnon");
        release_free_heap();
        let anon = proc_status("RssAnon");
        let growth = anon.saturating_sub(self.anon0);
        self.max_growth = self.max_growth.max(growth);
        println!(
            "scale: after {step}: RssAnon {} MiB (+{} MiB; {} MiB before malloc_trim), VmRSS {} MiB, \
             VmHWM {} MiB",
            anon / MIB,
            growth / MIB,
            retained / MIB,
            proc_status("VmRSS") / MIB,
            proc_status("VmHWM") / MIB,
        );
        assert!(
            growth < ANON_GROWTH_MAX,
            "after {step}: anonymous memory grew by {} MiB, over {} MiB for a {} MiB state: \
             pages the step did not touch were loaded or kept",
            growth / MIB,
            ANON_GROWTH_MAX / MIB,
            STABLE_BYTES / MIB,
        );
    }
}

/// Returns the allocator's free memory to the kernel, so that `RssAnon` counts live memory:
/// glibc keeps freed blocks (a commit's page copies among them) for reuse.
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only releases free memory of glibc's allocator, which is the
        // global allocator of this process.
        unsafe { malloc_trim(0) };
    }
}

/// Runs `f` and returns its result and how far the resident set rose above its size at the
/// start during `f` (the peak, from `VmHWM` reset through `/proc/self/clear_refs`), or `None`
/// when the kernel refuses the reset.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, Option<u64>) {
    release_free_heap();
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss0 = proc_status("VmRSS");
    let r = f();
    let peak = reset.then(|| proc_status("VmHWM").saturating_sub(rss0));
    (r, peak)
}

// ---------------------------------------------------------------- bigmem's pattern and digest

/// bigmem's `pattern_word` (canisters/bigmem/src/lib.rs).
fn pattern_word(seed: u64, index: u64) -> u64 {
    let mut z = (index ^ seed.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 0x0101_0101_0101_0101
}

/// bigmem's `Digest` of the pattern of `seed` over `[offset, offset + len)`.
fn expected_digest(seed: u64, offset: u64, len: u64) -> Vec<u8> {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let byte = |o: u64| (pattern_word(seed, o / 8) >> (8 * (o % 8))) as u8;
    let mut h = 0xcbf2_9ce4_8422_2325 ^ len.wrapping_mul(K);
    let mut at = offset;
    while at < offset + len {
        let mut w = [0u8; 8];
        for (i, b) in w.iter_mut().enumerate() {
            let o = at + i as u64;
            if o < offset + len {
                *b = byte(o);
            }
        }
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
        at += 8;
    }
    let mut z = h;
    z = (z ^ (z >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    z = (z ^ (z >> 33)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    (z ^ (z >> 33)).to_le_bytes().to_vec()
}

// ---------------------------------------------------------------- helpers

fn fill(env: &mut Env, id: Principal, offset: u64, len: u64, seed: u64) {
    env.update::<_, ()>(id, "stable_fill", (offset, len, seed))
        .unwrap_or_else(|e| panic!("stable_fill({offset}, {len}, {seed}): {e}"));
}

fn digest(env: &mut Env, id: Principal, offset: u64, len: u64) -> Vec<u8> {
    let (d,): (Vec<u8>,) = env
        .query(id, "stable_digest", (offset, len))
        .unwrap_or_else(|e| panic!("stable_digest({offset}, {len}): {e}"));
    d
}

fn stable_size(env: &mut Env, id: Principal) -> u64 {
    let (s,): (u64,) = env.query(id, "stable_size", ()).unwrap();
    s
}

/// The ranges whose digests the test compares: the edges, a stretch crossing a fill step at
/// an odd offset, the regions the test mutates and a large middle range.
fn ranges() -> Vec<(u64, u64)> {
    vec![
        (0, 4 * MIB),
        (FILL_STEP - 3, 2 * MIB + 7),
        (GIB - 5 * MIB, 16 * MIB),
        (GIB + 64 * MIB, 512 * MIB),
        (STABLE_BYTES - 4 * MIB, 4 * MIB),
    ]
}

fn digests(env: &mut Env, id: Principal) -> BTreeMap<(u64, u64), Vec<u8>> {
    ranges()
        .into_iter()
        .map(|(o, l)| ((o, l), digest(env, id, o, l)))
        .collect()
}

/// The parts of the state hashes a snapshot restores (not the canister version, which a load
/// bumps).
fn memories(h: &StateHashes) -> (String, u64, String, u64, Option<String>) {
    (
        h.stable.clone(),
        h.stable_size,
        h.heap.clone(),
        h.heap_size,
        h.module_hash.clone(),
    )
}

/// Runs `f` with the canister stopped (as the IC asks for snapshot operations).
fn stopped<R>(env: &mut Env, id: Principal, f: impl FnOnce(&mut Env) -> R) -> R {
    let rec = CanisterIdRecord { canister_id: id };
    env.mgmt::<_, ()>(user(), "stop_canister", &rec).unwrap();
    let r = f(env);
    env.mgmt::<_, ()>(user(), "start_canister", &rec).unwrap();
    r
}

/// Takes a snapshot of the stopped canister; also returns the resident set's peak growth
/// during the call.
fn take(env: &mut Env, id: Principal) -> (Snapshot, Option<u64>) {
    let args = TakeCanisterSnapshotArgs {
        canister_id: id,
        replace_snapshot: None,
        uninstall_code: None,
        sender_canister_version: None,
    };
    let (snap, peak) = stopped(env, id, |env| {
        peak_during(|| env.mgmt::<_, Snapshot>(user(), "take_canister_snapshot", &args))
    });
    (
        snap.unwrap_or_else(|e| panic!("take_canister_snapshot: {e}")),
        peak,
    )
}

/// Loads `snap` into the stopped canister; returns the resident set's peak growth during the
/// call.
fn load(env: &mut Env, id: Principal, snap: &Snapshot) -> Option<u64> {
    let args = LoadCanisterSnapshotArgs {
        canister_id: id,
        snapshot_id: snap.id.clone(),
        sender_canister_version: None,
    };
    let (r, peak) = stopped(env, id, |env| {
        peak_during(|| env.mgmt::<_, ()>(user(), "load_canister_snapshot", &args))
    });
    r.unwrap_or_else(|e| panic!("load_canister_snapshot: {e}"));
    peak
}

fn huge_stable_memory() {
    let mut env = Env::new();
    let id = env.installed(wasm("bigmem"));
    assert_eq!(stable_size(&mut env, id), 0);
    let mut rss = Rss::start();

    // 1. 2 GiB of stable memory, over many messages.
    for i in 0..STABLE_BYTES / FILL_STEP {
        fill(&mut env, id, i * FILL_STEP, FILL_STEP, BASE_SEED);
    }
    assert_eq!(stable_size(&mut env, id), STABLE_BYTES);
    rss.check("writing 2 GiB of stable memory");

    let before = digests(&mut env, id);
    for ((o, l), d) in &before {
        if *l <= 16 * MIB {
            assert_eq!(
                d,
                &expected_digest(BASE_SEED, *o, *l),
                "stable bytes [{o}, +{l}) are not the pattern written"
            );
        }
    }
    let hashes_before = env.replica.state_hashes(&id).unwrap();
    assert_eq!(hashes_before.stable_size, STABLE_BYTES);
    rss.check("hashing the state");

    // 2. A snapshot.
    let (snap, peak) = take(&mut env, id);
    rss.check_peak("take_canister_snapshot", peak);
    assert!(
        snap.total_size >= STABLE_BYTES,
        "snapshot total_size {} is below the stable memory size",
        snap.total_size
    );
    rss.check("taking a snapshot");

    // 3. Mutations after the snapshot: overwrite two regions (one at an odd offset), grow.
    fill(&mut env, id, 0, MIB, 2);
    fill(&mut env, id, GIB + 64 * MIB + 12_345, 3 * MIB, 3);
    fill(&mut env, id, STABLE_BYTES, 64 * MIB, 4);
    assert_eq!(stable_size(&mut env, id), STABLE_BYTES + 64 * MIB);
    assert_eq!(digest(&mut env, id, 0, MIB), expected_digest(2, 0, MIB));
    let mutated = digests(&mut env, id);
    assert_ne!(mutated[&(0, 4 * MIB)], before[&(0, 4 * MIB)]);
    assert_ne!(
        mutated[&(GIB + 64 * MIB, 512 * MIB)],
        before[&(GIB + 64 * MIB, 512 * MIB)]
    );
    assert_eq!(
        mutated[&(STABLE_BYTES - 4 * MIB, 4 * MIB)],
        before[&(STABLE_BYTES - 4 * MIB, 4 * MIB)]
    );
    let hashes_mutated = env.replica.state_hashes(&id).unwrap();
    assert_ne!(hashes_mutated.stable, hashes_before.stable);
    rss.check("mutating after the snapshot");

    // 4. Rolled-back messages, both trapping: a 1 GiB overwrite across two compared ranges,
    //    and a growth.
    for (offset, len) in [(FILL_STEP - MIB, GIB), (STABLE_BYTES, 256 * MIB)] {
        let err = env
            .update::<_, ()>(id, "stable_fill_and_trap", (offset, len, 5u64))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::CanisterCalledTrap, "{err}");
    }
    assert_eq!(stable_size(&mut env, id), STABLE_BYTES + 64 * MIB);
    assert_eq!(
        digests(&mut env, id),
        mutated,
        "a trapped message left writes behind"
    );
    assert_eq!(env.replica.state_hashes(&id).unwrap(), hashes_mutated);
    rss.check("rolling back two trapped messages");

    // 5. Load the snapshot: everything as before the mutations.
    let peak = load(&mut env, id, &snap);
    rss.check_peak("load_canister_snapshot", peak);
    assert_eq!(stable_size(&mut env, id), STABLE_BYTES);
    assert_eq!(digests(&mut env, id), before, "the snapshot's content");
    let hashes_loaded = env.replica.state_hashes(&id).unwrap();
    assert_eq!(memories(&hashes_loaded), memories(&hashes_before));
    rss.check("loading the snapshot");

    // 6. Upgrade to the same module: stable memory survives untouched.
    env.upgrade(id, wasm("bigmem"), false, None).unwrap();
    assert_eq!(digests(&mut env, id), before, "after the upgrade");
    assert_eq!(
        env.replica.state_hashes(&id).unwrap().stable,
        hashes_before.stable
    );
    rss.check("upgrading");

    // 7. The snapshot is still there, and still loads after a reopen; then it is deleted.
    let list: Vec<Snapshot> = env
        .mgmt(
            user(),
            "list_canister_snapshots",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap();
    assert_eq!(
        list.iter().map(|s| &s.id).collect::<Vec<_>>(),
        vec![&snap.id]
    );
    fill(&mut env, id, 512 * MIB, MIB, 6);
    env.reopen();
    let peak = load(&mut env, id, &snap);
    rss.check_peak("load_canister_snapshot after a reopen", peak);
    env.mgmt::<_, ()>(
        user(),
        "delete_canister_snapshot",
        &DeleteCanisterSnapshotArgs {
            canister_id: id,
            snapshot_id: snap.id.clone(),
        },
    )
    .unwrap_or_else(|e| panic!("delete_canister_snapshot: {e}"));
    assert_eq!(
        env.replica.state_hashes(&id).unwrap().stable,
        hashes_before.stable
    );
    assert_eq!(digests(&mut env, id), before, "after a reopen");
    let list: Vec<Snapshot> = env
        .mgmt(
            user(),
            "list_canister_snapshots",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap();
    assert!(list.is_empty(), "{list:?}");
    rss.check("reopening, loading again and deleting the snapshot");
    println!(
        "scale: largest RssAnon growth {} MiB; VmHWM grew by {} MiB",
        rss.max_growth / MIB,
        proc_status("VmHWM").saturating_sub(rss.hwm0) / MIB
    );
}
