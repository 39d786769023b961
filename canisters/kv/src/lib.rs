//! `kv`: a key-value store on `ic-stable-structures`, plus a grab bag of
//! methods the replica's own tests need (traps, infinite loops, heap growth,
//! raw stable memory, timers, caller, certified data).
//!
//! Stable memory layout (absolute byte offsets):
//! - `[0, RAW_BASE)` (64 MiB = 1024 pages): the `StableBTreeMap<String, String>`,
//!   confined there with a `RestrictedMemory`. A `put` that would need more traps.
//! - `[RAW_BASE, ...)`: raw bytes for `stable_write` / `stable_read`, which take
//!   ABSOLUTE offsets and trap below `RAW_BASE`. Stable memory only grows to
//!   `RAW_BASE` when the raw region is first written.
//!
//! Built twice: default = v1, `--features v2` = v2 (`version()` says "v2"
//! and there is an extra `delete` method). The Candid interface is embedded
//! as the custom section `icp:public candid:service` by a `#[link_section]`
//! static (see `CANDID_SERVICE` below), from `kv.did` / `kv_v2.did`.

use std::cell::{Cell, RefCell};

use candid::Principal;
use ic_stable_structures::{DefaultMemoryImpl, RestrictedMemory, StableBTreeMap};
use serde_bytes::ByteBuf;

type Mem = RestrictedMemory<DefaultMemoryImpl>;

/// Stable pages (64 KiB each) reserved for the BTreeMap.
const MAP_PAGES: u64 = 1024;
/// First byte of the raw stable region used by `stable_write` / `stable_read`.
pub const RAW_BASE: u64 = MAP_PAGES * 65536;
const WASM_PAGE: u64 = 65536;
const MIB: u64 = 1 << 20;

#[cfg(not(feature = "v2"))]
const VERSION: &str = "v1";
#[cfg(feature = "v2")]
const VERSION: &str = "v2";

#[cfg(not(feature = "v2"))]
const CANDID_LEN: usize = include_bytes!("../kv.did").len();
#[cfg(not(feature = "v2"))]
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../kv.did");

#[cfg(feature = "v2")]
const CANDID_LEN: usize = include_bytes!("../kv_v2.did").len();
#[cfg(feature = "v2")]
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../kv_v2.did");

thread_local! {
    static MAP: RefCell<StableBTreeMap<String, String, Mem>> = RefCell::new(
        StableBTreeMap::init(RestrictedMemory::new(DefaultMemoryImpl::default(), 0..MAP_PAGES)),
    );
    /// Heap-only counter bumped by `query_writes_heap` (never persisted, since
    /// queries' changes are discarded).
    static HEAP_COUNTER: Cell<u64> = const { Cell::new(0) };
    /// Heap-only counter bumped by `canister_global_timer`.
    static TIMER_FIRED: Cell<u64> = const { Cell::new(0) };
    /// Memory held by `grow_heap`.
    static HEAP_BLOBS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

fn wasm_heap_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) as u64 * WASM_PAGE
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

// ---------------------------------------------------------------- key-value

#[ic_cdk::update]
fn put(key: String, value: String) {
    MAP.with_borrow_mut(|m| m.insert(key, value));
}

#[ic_cdk::query]
fn get(key: String) -> Option<String> {
    MAP.with_borrow(|m| m.get(&key))
}

#[ic_cdk::query]
fn len() -> u64 {
    MAP.with_borrow(|m| m.len())
}

#[ic_cdk::query]
fn version() -> String {
    VERSION.to_string()
}

#[cfg(feature = "v2")]
#[ic_cdk::update]
fn delete(key: String) -> Option<String> {
    MAP.with_borrow_mut(|m| m.remove(&key))
}

// ---------------------------------------------------------------- traps & limits

/// Writes `key` -> "written-before-trap", then traps with "boom".
/// A test checks that the write was rolled back.
#[ic_cdk::update]
fn trap_after_write(key: String) {
    MAP.with_borrow_mut(|m| m.insert(key, "written-before-trap".to_string()));
    HEAP_COUNTER.set(HEAP_COUNTER.get() + 1);
    ic_cdk::trap("boom");
}

/// Never returns; must be stopped by the instruction limit.
#[ic_cdk::update]
fn loop_forever() {
    let mut x = 0u64;
    loop {
        x = x.wrapping_add(ic_cdk::api::performance_counter(0));
        std::hint::black_box(x);
    }
}

/// Query flavour of `loop_forever` (query instruction limit).
#[ic_cdk::query]
fn loop_forever_query() {
    let mut x = 0u64;
    loop {
        x = x.wrapping_add(ic_cdk::api::performance_counter(0));
        std::hint::black_box(x);
    }
}

/// Bumps the heap counter and tries to write the stable map entry
/// "__query_write" (both must be discarded after a query), then returns the
/// counter as seen inside this query.
#[ic_cdk::query]
fn query_writes_heap() -> u64 {
    let c = HEAP_COUNTER.get() + 1;
    HEAP_COUNTER.set(c);
    MAP.with_borrow_mut(|m| m.insert("__query_write".to_string(), c.to_string()));
    c
}

#[ic_cdk::query]
fn heap_counter() -> u64 {
    HEAP_COUNTER.get()
}

fn grow_heap_impl(mib: u64) -> u64 {
    let n = (mib * MIB) as usize;
    let mut v: Vec<u8> = Vec::new();
    if v.try_reserve_exact(n).is_err() {
        ic_cdk::trap(format!("grow_heap: cannot allocate {mib} MiB (wasm heap is {} bytes)", wasm_heap_bytes()));
    }
    // Touch every byte (non-zero, so no calloc shortcut).
    v.resize(n, 0xAB);
    HEAP_BLOBS.with_borrow_mut(|b| b.push(v));
    wasm_heap_bytes()
}

/// Allocates and touches `mib` MiB of heap, keeps it, returns the Wasm
/// memory size in bytes.
#[ic_cdk::update]
fn grow_heap(mib: u64) -> u64 {
    grow_heap_impl(mib)
}

/// Same as `grow_heap`, as a query (growth discarded afterwards).
#[ic_cdk::query]
fn grow_heap_query(mib: u64) -> u64 {
    grow_heap_impl(mib)
}

/// Wasm memory size in bytes.
#[ic_cdk::query]
fn heap_size() -> u64 {
    wasm_heap_bytes()
}

// ---------------------------------------------------------------- raw stable memory

/// Writes `data` at ABSOLUTE stable offset `offset` (must be >= RAW_BASE =
/// 67108864), growing stable memory as needed.
#[ic_cdk::update]
fn stable_write(offset: u64, data: ByteBuf) {
    if offset < RAW_BASE {
        ic_cdk::trap(format!(
            "stable_write: offset {offset} is below {RAW_BASE}, reserved for the key-value map"
        ));
    }
    let end = offset
        .checked_add(data.len() as u64)
        .unwrap_or_else(|| ic_cdk::trap("stable_write: offset overflow"));
    let need_pages = end.div_ceil(WASM_PAGE);
    let have = ic_cdk::stable::stable_size();
    if need_pages > have {
        if let Err(e) = ic_cdk::stable::stable_grow(need_pages - have) {
            ic_cdk::trap(format!("stable_write: cannot grow stable memory to {need_pages} pages: {e}"));
        }
    }
    ic_cdk::stable::stable_write(offset, &data);
}

/// Reads `len` bytes at ABSOLUTE stable offset `offset` (any offset; reading
/// past the end of stable memory traps, as ic0.stable64_read does).
#[ic_cdk::query]
fn stable_read(offset: u64, len: u64) -> ByteBuf {
    let mut buf = vec![0u8; len as usize];
    ic_cdk::stable::stable_read(offset, &mut buf);
    ByteBuf::from(buf)
}

/// Stable memory size in 64 KiB pages.
#[ic_cdk::query]
fn stable_size() -> u64 {
    ic_cdk::stable::stable_size()
}

// ---------------------------------------------------------------- benchmarks

/// `n` rounds of a 64-bit mixing loop (a few Wasm instructions per round).
#[ic_cdk::update]
fn compute(n: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for i in 0..n {
        h ^= std::hint::black_box(i as u64);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        h = h.rotate_left(17) ^ (h >> 7);
    }
    h
}

#[ic_cdk::update]
fn noop() {}

// ---------------------------------------------------------------- timer

/// Sets the global timer to now + `delay_secs` (0 = deactivate, as ic0
/// does). Returns the previous timer value (ns since epoch, 0 = none).
#[ic_cdk::update]
fn set_timer(delay_secs: u64) -> u64 {
    let ts = if delay_secs == 0 {
        0
    } else {
        ic_cdk::api::time().saturating_add(delay_secs.saturating_mul(1_000_000_000))
    };
    ic_cdk::api::global_timer_set(ts)
}

#[ic_cdk::query]
fn timer_fired() -> u64 {
    TIMER_FIRED.get()
}

/// The raw system-API export: no ic-cdk macro exists for it in 0.20 (only
/// ic-cdk-timers, which we do not use).
#[cfg_attr(target_family = "wasm", unsafe(export_name = "canister_global_timer"))]
#[cfg_attr(not(target_family = "wasm"), allow(dead_code))]
fn canister_global_timer() {
    TIMER_FIRED.set(TIMER_FIRED.get() + 1);
}

// ---------------------------------------------------------------- identity & certification

#[ic_cdk::query]
fn whoami() -> Principal {
    ic_cdk::api::msg_caller()
}

/// The canister's environment variables (`ic0.env_var_*`), in the order the System API gives
/// them.
#[ic_cdk::query]
fn env_vars() -> Vec<(String, String)> {
    (0..ic_cdk::api::env_var_count())
        .map(|i| {
            let name = ic_cdk::api::env_var_name(i);
            let value = ic_cdk::api::env_var_value(&name);
            (name, value)
        })
        .collect()
}

/// One environment variable, if it is set.
#[ic_cdk::query]
fn env_var(name: String) -> Option<String> {
    ic_cdk::api::env_var_name_exists(&name).then(|| ic_cdk::api::env_var_value(&name))
}

#[ic_cdk::update]
fn certify(data: ByteBuf) {
    ic_cdk::api::certified_data_set(&data);
}

/// `ic0.data_certificate_copy` as seen by a (non-replicated) query; null in
/// updates / replicated queries.
#[ic_cdk::query]
fn get_certificate() -> Option<ByteBuf> {
    ic_cdk::api::data_certificate().map(ByteBuf::from)
}
