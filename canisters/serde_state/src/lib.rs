//! `serde_state`: classic "heap state + serialise in pre_upgrade" canister.
//!
//! State is a `BTreeMap<String, Entry>` in a thread_local. `pre_upgrade`
//! Candid-encodes it into stable memory from offset 0
//! (`ic_cdk::storage::stable_save`, streamed through `StableWriter`), and
//! `post_upgrade` decodes it back (`stable_restore`). Stable memory holds
//! nothing else, and nothing between upgrades (it is stale after
//! `post_upgrade`).
//!
//! `fill(n, value_bytes)` bulk-inserts generated entries with a payload of
//! `value_bytes` bytes each, for large-state (~100 MB) upgrade tests.
//!
//! Built twice: default = v1, `--features v2` = v2 (`version()` says "v2",
//! extra `remove` method; same state format, so v1 -> v2 keeps the data).

use std::cell::RefCell;
use std::collections::BTreeMap;

use candid::CandidType;
use serde::Deserialize;
use serde_bytes::ByteBuf;

#[cfg(not(feature = "v2"))]
const VERSION: &str = "v1";
#[cfg(feature = "v2")]
const VERSION: &str = "v2";

#[cfg(not(feature = "v2"))]
const CANDID_LEN: usize = include_bytes!("../serde_state.did").len();
#[cfg(not(feature = "v2"))]
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../serde_state.did");

#[cfg(feature = "v2")]
const CANDID_LEN: usize = include_bytes!("../serde_state_v2.did").len();
#[cfg(feature = "v2")]
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../serde_state_v2.did");

#[derive(CandidType, Deserialize, Clone, Default)]
struct Entry {
    value: u64,
    payload: ByteBuf,
}

#[derive(CandidType, Deserialize, Default)]
struct State {
    entries: BTreeMap<String, Entry>,
    /// Next index used by `fill` for generated keys.
    next_fill: u64,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

#[ic_cdk::pre_upgrade]
fn pre_upgrade() {
    STATE.with_borrow(|s| {
        ic_cdk::storage::stable_save((s,))
            .unwrap_or_else(|e| ic_cdk::trap(format!("serde_state pre_upgrade: cannot save state: {e}")))
    });
}

#[ic_cdk::post_upgrade]
fn post_upgrade() {
    let (s,): (State,) = ic_cdk::storage::stable_restore()
        .unwrap_or_else(|e| ic_cdk::trap(format!("serde_state post_upgrade: cannot restore state: {e}")));
    STATE.set(s);
}

#[ic_cdk::update]
fn add(key: String, value: u64) {
    STATE.with_borrow_mut(|s| {
        s.entries.insert(key, Entry { value, payload: ByteBuf::new() });
    });
}

#[ic_cdk::query]
fn get(key: String) -> Option<u64> {
    STATE.with_borrow(|s| s.entries.get(&key).map(|e| e.value))
}

#[ic_cdk::query]
fn count() -> u64 {
    STATE.with_borrow(|s| s.entries.len() as u64)
}

#[ic_cdk::query]
fn version() -> String {
    VERSION.to_string()
}

/// Inserts `n` entries "fill-<i>" (value i, payload of `value_bytes`
/// pseudo-random bytes). Returns the new entry count.
#[ic_cdk::update]
fn fill(n: u64, value_bytes: u64) -> u64 {
    STATE.with_borrow_mut(|s| {
        for _ in 0..n {
            let i = s.next_fill;
            s.next_fill += 1;
            let mut payload = Vec::with_capacity(value_bytes as usize);
            let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            while (payload.len() as u64) < value_bytes {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let take = ((value_bytes - payload.len() as u64).min(8)) as usize;
                payload.extend_from_slice(&x.to_le_bytes()[..take]);
            }
            s.entries.insert(format!("fill-{i}"), Entry { value: i, payload: ByteBuf::from(payload) });
        }
        s.entries.len() as u64
    })
}

/// Total payload bytes held (to check that big state survived an upgrade).
#[ic_cdk::query]
fn payload_bytes() -> u64 {
    STATE.with_borrow(|s| s.entries.values().map(|e| e.payload.len() as u64).sum())
}

/// Order-sensitive checksum over all keys, values and payloads.
#[ic_cdk::query]
fn checksum() -> u64 {
    STATE.with_borrow(|s| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |b: &[u8]| {
            for &c in b {
                h ^= c as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for (k, e) in &s.entries {
            mix(k.as_bytes());
            mix(&e.value.to_le_bytes());
            mix(&e.payload);
        }
        h
    })
}

#[cfg(feature = "v2")]
#[ic_cdk::update]
fn remove(key: String) -> Option<u64> {
    STATE.with_borrow_mut(|s| s.entries.remove(&key).map(|e| e.value))
}
