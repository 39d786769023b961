//! `brickable`: a canister whose classic `pre_upgrade` traps once its state
//! passes a threshold, so it cannot be upgraded normally ("bricked") —
//! but every entry is ALSO kept in a `StableBTreeMap`, so an upgrade with
//! `skip_pre_upgrade = opt true` recovers it.
//!
//! State:
//! - heap: `Vec<String>` (the "classic" state; `count()` reports its length);
//! - stable, via a `MemoryManager`:
//!   - MemoryId 0: `StableBTreeMap<u64, String>` (index -> entry), always in sync;
//!   - MemoryId 1: `StableCell<u64>` threshold (init arg `opt nat64`, default 100);
//!   - MemoryId 2: the blob `pre_upgrade` writes: magic `BRKBLOB1`, u64 LE
//!     length, Candid-encoded `vec text`.
//!
//! `pre_upgrade` (v1, post_trap): traps with
//! "brickable pre_upgrade: state too large to serialise: N entries > threshold T"
//! when N > T; otherwise writes the blob.
//! `pre_upgrade` (hotfix): the same check and log, with the trap call removed:
//! it writes the blob anyway. The hotfix module differs from v1's
//! in the code section only (identical memories, tables, globals, data and
//! element segments): v1's message is still built, and `version()` picks
//! "v1" / "hotfix" from one array by an index the optimiser cannot see.
//! `pre_upgrade` (c2): always traps with "brickable c2 pre_upgrade: migrated_at
//! was never set ..." (a field nothing sets), so upgrading away from c2 fails.
//! `pre_upgrade` (v2, the fixed version): writes nothing.
//! `post_upgrade` (all): takes an optional new threshold; restores the heap from
//! the blob if one is present and agrees with the stable map (then erases its
//! magic), else rebuilds it from the stable map (the skip_pre_upgrade path).
//! It never traps, except in the `trap_post_upgrade` variant, where it always
//! traps with "brickable post_upgrade: trapping on purpose (brickable_post_trap)".
//!
//! Variants (cargo features): default = v1, `v2` = fixed version,
//! `trap_post_upgrade` = v1 whose post_upgrade traps, `c2` = next version
//! with a broken pre_upgrade, `blob_only` = v2 whose
//! post_upgrade only reads the blob: without one (after skip_pre_upgrade) the
//! heap state starts empty and `restored_from()` says "nothing" — a fix that
//! cannot read the state it was meant to rescue.
//! The hotfix is the default (v1) build with `BRICKABLE_HOTFIX=1` set (see `HOTFIX`).

use std::cell::RefCell;

use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::{DefaultMemoryImpl, Memory, StableBTreeMap, StableCell};

type Mem = VirtualMemory<DefaultMemoryImpl>;

const DEFAULT_THRESHOLD: u64 = 100;
const BLOB_MAGIC: &[u8; 8] = b"BRKBLOB1";

#[cfg(feature = "v2")]
fn version_str() -> &'static str {
    "v2"
}
#[cfg(all(not(feature = "v2"), feature = "trap_post_upgrade"))]
fn version_str() -> &'static str {
    "post_trap"
}
#[cfg(all(not(feature = "v2"), feature = "c2"))]
fn version_str() -> &'static str {
    "c2"
}
/// v1 and hotfix: both names are in both builds (the index is opaque to the
/// optimiser), so the two modules keep identical data segments.
#[cfg(not(any(feature = "v2", feature = "trap_post_upgrade", feature = "c2")))]
fn version_str() -> &'static str {
    const NAMES: [&str; 2] = ["v1", "hotfix"];
    NAMES[core::hint::black_box(HOTFIX as usize)]
}

/// The hotfix build (brickable_hotfix.wasm): `BRICKABLE_HOTFIX=1 cargo build -p brickable`.
/// An environment variable, not a cargo feature: cargo hashes the feature set into
/// `-C metadata`, which changes every symbol hash of this crate and with them rustc's
/// item order, and so the order of the merged constants in the data segment.
/// `option_env!` leaves the metadata alone (cargo still rebuilds when it changes).
#[cfg(not(any(feature = "v2", feature = "c2")))]
const HOTFIX: bool = option_env!("BRICKABLE_HOTFIX").is_some();

// All variants have the same interface.
const CANDID_LEN: usize = include_bytes!("../brickable.did").len();
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../brickable.did");

thread_local! {
    static MM: MemoryManager<DefaultMemoryImpl> = MemoryManager::init(DefaultMemoryImpl::default());
    static MAP: RefCell<StableBTreeMap<u64, String, Mem>> =
        RefCell::new(StableBTreeMap::init(MM.with(|m| m.get(MemoryId::new(0)))));
    static THRESHOLD: RefCell<StableCell<u64, Mem>> =
        RefCell::new(StableCell::init(MM.with(|m| m.get(MemoryId::new(1))), DEFAULT_THRESHOLD));
    static HEAP: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static RESTORED_FROM: RefCell<&'static str> = const { RefCell::new("init") };
}

#[cfg(feature = "c2")]
thread_local! {
    /// C2: set by nothing (see its pre_upgrade).
    static MIGRATED_AT: RefCell<Option<u64>> = const { RefCell::new(None) };
}

fn blob_mem() -> Mem {
    MM.with(|m| m.get(MemoryId::new(2)))
}

fn threshold() -> u64 {
    THRESHOLD.with_borrow(|c| *c.get())
}

fn set_threshold(t: u64) {
    THRESHOLD.with_borrow_mut(|c| c.set(t));
}

#[ic_cdk::init]
fn init(threshold: Option<u64>) {
    set_threshold(threshold.unwrap_or(DEFAULT_THRESHOLD));
}

/// v1's trap message. The hotfix builds it too (and logs it instead of
/// trapping), so the string stays in both modules' data segment.
#[cfg(not(any(feature = "v2", feature = "c2")))]
#[inline(never)]
fn too_large_message(n: u64, t: u64) -> String {
    format!("brickable pre_upgrade: state too large to serialise: {n} entries > threshold {t}")
}

/// Writes the heap state as the pre_upgrade blob (magic, length, Candid `vec text`).
#[cfg(not(feature = "v2"))]
#[inline(never)]
fn write_blob() {
    let bytes = HEAP.with_borrow(|h| candid::encode_one(h))
        .unwrap_or_else(|e| ic_cdk::trap(format!("brickable pre_upgrade: encode failed: {e}")));
    let mem = blob_mem();
    let total = 16 + bytes.len() as u64;
    let pages = total.div_ceil(65536);
    if mem.size() < pages && mem.grow(pages - mem.size()) < 0 {
        ic_cdk::trap("brickable pre_upgrade: cannot grow stable memory");
    }
    mem.write(16, &bytes);
    mem.write(8, &(bytes.len() as u64).to_le_bytes());
    mem.write(0, BLOB_MAGIC);
}

/// v1 (and post_trap): logs and traps above the threshold. The hotfix only logs
/// the same message with debug_print and writes the blob anyway.
#[cfg(not(any(feature = "v2", feature = "c2")))]
#[ic_cdk::pre_upgrade]
fn pre_upgrade() {
    let n = HEAP.with_borrow(|h| h.len() as u64);
    let t = threshold();
    if n > t {
        on_too_large(too_large_message(n, t));
    }
    write_blob();
}

/// v1: log, then the bug: trap. The hotfix skips the trap call. The flag goes
/// through `black_box`, so the optimiser keeps the same functions in both builds:
/// removing the call outright lets it drop a function, which shifts every function
/// index after it in the table (and the hotfix layout check refuses that, rightly).
/// The two modules differ in one constant of the code section.
#[cfg(not(any(feature = "v2", feature = "c2")))]
#[inline(never)]
fn on_too_large(message: String) {
    ic_cdk::api::debug_print(&message);
    if !core::hint::black_box(HOTFIX) {
        ic_cdk::trap(message);
    }
}

/// C2's bug: the blob format gained a `migrated_at` field, meant to be set by a
/// post_upgrade migration that was never written (init does not set it either),
/// so serialising it always fails.
#[cfg(all(not(feature = "v2"), feature = "c2"))]
#[ic_cdk::pre_upgrade]
fn pre_upgrade() {
    let migrated_at: u64 = MIGRATED_AT.with_borrow(|m| *m).unwrap_or_else(|| {
        ic_cdk::trap("brickable c2 pre_upgrade: migrated_at was never set (post_upgrade does not set it); cannot serialise state")
    });
    write_blob();
    blob_mem().write(16 + blob_len(), &migrated_at.to_le_bytes());
}

#[cfg(all(not(feature = "v2"), feature = "c2"))]
fn blob_len() -> u64 {
    let mut len = [0u8; 8];
    blob_mem().read(8, &mut len);
    u64::from_le_bytes(len)
}

/// The fixed version: everything already lives in the stable map.
#[cfg(feature = "v2")]
#[ic_cdk::pre_upgrade]
fn pre_upgrade() {}

/// Decodes the blob written by a (non-skipped) pre_upgrade, if any, and
/// erases its magic so a stale blob is never read again.
fn take_blob() -> Option<Vec<String>> {
    let mem = blob_mem();
    if mem.size() == 0 {
        return None;
    }
    let mut magic = [0u8; 8];
    mem.read(0, &mut magic);
    if &magic != BLOB_MAGIC {
        return None;
    }
    mem.write(0, &[0u8; 8]);
    let mut len = [0u8; 8];
    mem.read(8, &mut len);
    let len = u64::from_le_bytes(len);
    if 16 + len > mem.size() * 65536 {
        return None;
    }
    let mut bytes = vec![0u8; len as usize];
    mem.read(16, &mut bytes);
    candid::decode_one::<Vec<String>>(&bytes).ok()
}

#[ic_cdk::post_upgrade]
#[cfg_attr(feature = "trap_post_upgrade", allow(unused_variables))]
fn post_upgrade(new_threshold: Option<u64>) {
    #[cfg(feature = "trap_post_upgrade")]
    ic_cdk::trap("brickable post_upgrade: trapping on purpose (brickable_post_trap)");

    #[allow(unreachable_code)]
    {
        if let Some(t) = new_threshold {
            set_threshold(t);
        }
        let map_len = MAP.with_borrow(|m| m.len());
        match take_blob() {
            Some(v) if v.len() as u64 == map_len => {
                HEAP.set(v);
                RESTORED_FROM.set("serialized");
            }
            #[cfg(feature = "blob_only")]
            _ => {
                HEAP.set(Vec::new());
                RESTORED_FROM.set("nothing");
            }
            #[cfg(not(feature = "blob_only"))]
            _ => {
                let v: Vec<String> = MAP.with_borrow(|m| m.iter().map(|e| e.value()).collect());
                HEAP.set(v);
                RESTORED_FROM.set("stable_map");
            }
        }
    }
}

fn push(entry: String) {
    let i = HEAP.with_borrow(|h| h.len() as u64);
    MAP.with_borrow_mut(|m| m.insert(i, entry.clone()));
    HEAP.with_borrow_mut(|h| h.push(entry));
}

#[ic_cdk::update]
fn add(entry: String) {
    push(entry);
}

/// Adds `n` generated entries "entry-<i>"; returns the new count.
#[ic_cdk::update]
fn add_many(n: u64) -> u64 {
    for _ in 0..n {
        let i = HEAP.with_borrow(|h| h.len());
        push(format!("entry-{i}"));
    }
    count()
}

/// Entries in the heap state.
#[ic_cdk::query]
fn count() -> u64 {
    HEAP.with_borrow(|h| h.len() as u64)
}

/// Entries in the stable map (equal to `count()` unless something is wrong).
#[ic_cdk::query]
fn stable_count() -> u64 {
    MAP.with_borrow(|m| m.len())
}

/// Entry `i` of the heap state.
#[ic_cdk::query]
fn entry(i: u64) -> Option<String> {
    HEAP.with_borrow(|h| h.get(i as usize).cloned())
}

#[ic_cdk::query]
fn threshold_value() -> u64 {
    threshold()
}

/// How the heap state was obtained: "init" (fresh install / no upgrade yet),
/// "serialized" (from the pre_upgrade blob), "stable_map" (rebuilt from the
/// stable map, e.g. after skip_pre_upgrade or from v2's empty pre_upgrade),
/// "nothing" (blob_only after skip_pre_upgrade: the heap state starts empty).
#[ic_cdk::query]
fn restored_from() -> String {
    RESTORED_FROM.with_borrow(|s| s.to_string())
}

#[ic_cdk::query]
fn version() -> String {
    version_str().to_string()
}
