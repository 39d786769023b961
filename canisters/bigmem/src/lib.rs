//! `bigmem`: fills gigabytes of stable memory and Wasm heap with a deterministic pattern, for
//! the snapshot scale test (`crates/replica/tests/all/scale.rs`) and the `snapshots`
//! benchmark (`crates/bench/benches/snapshots.rs`).
//!
//! **Pattern.** The byte at (absolute stable, or logical heap) offset `o` written with seed
//! `s` is byte `o % 8` (little-endian) of [`pattern_word`]`(s, o / 8)`. Every byte is odd, so
//! never zero: a filled page is never a hole of a sparse file.
//!
//! **Digest** (`stable_digest`): a fast non-cryptographic 64-bit hash of a range, returned as
//! 8 little-endian bytes; see [`Digest`]. The tests compute the same function on their side.
//!
//! **Heap buffer.** `heap_fill` grows the Wasm memory with raw `memory.grow` and writes the
//! pattern straight into the new pages (the allocator never sees them), so the heap can be
//! filled to nearly 4 GiB. The buffer is a list of segments of grown pages (the allocator may
//! grow memory in between); its logical offsets run over the segments in order. The buffer
//! lives only in the heap: an upgrade forgets it.
//!
//! **Limits.** `stable_fill` writes through a reused 1 MiB buffer. Measured under drydock's
//! metering: 1 GiB of `stable_fill` needs between 6 B and 8 B instructions, 1 GiB of `heap_fill`
//! between 4 B and 6 B, so 1 GiB per message stays well below the 40 B update limit; for
//! `stable_fill` the per-message stable access limit (2 GiB) is the real bound. Filling the heap
//! beyond the canister's `wasm_memory_limit` (3 GiB by default) needs that setting raised
//! (0 = none).

use std::cell::{Cell, RefCell};

use serde_bytes::ByteBuf;

const CANDID_LEN: usize = include_bytes!("../bigmem.did").len();
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../bigmem.did");

const WASM_PAGE: u64 = 65536;
/// Bytes written or read per stable memory call, and per pattern run into the heap.
const CHUNK: u64 = 1 << 20;

thread_local! {
    /// The reused buffer of `stable_fill` and `stable_digest` (`CHUNK` bytes once used).
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The heap buffer's segments: (address, length in bytes), in logical order.
    static SEGMENTS: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
    /// Bytes of the heap buffer holding the pattern (the rest of the segments is zero).
    static FILLED: Cell<u64> = const { Cell::new(0) };
}

/// The pattern's 8 bytes at word index `index` for `seed` (every byte odd).
pub fn pattern_word(seed: u64, index: u64) -> u64 {
    let mut z = (index ^ seed.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 0x0101_0101_0101_0101
}

/// Fills `buf` with the pattern of `seed` for the offsets `offset ..`.
pub fn fill_pattern(buf: &mut [u8], offset: u64, seed: u64) {
    let byte_at = |o: u64| (pattern_word(seed, o / 8) >> (8 * (o % 8))) as u8;
    let head = ((8 - offset % 8) % 8).min(buf.len() as u64) as usize;
    let (head_bytes, rest) = buf.split_at_mut(head);
    for (i, b) in head_bytes.iter_mut().enumerate() {
        *b = byte_at(offset + i as u64);
    }
    let start = offset + head as u64;
    let mut words = rest.chunks_exact_mut(8);
    let mut index = start / 8;
    for w in &mut words {
        w.copy_from_slice(&pattern_word(seed, index).to_le_bytes());
        index += 1;
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b = byte_at(index * 8 + i as u64);
    }
}

/// The digest of `stable_digest`: over the range's 8-byte little-endian words in order (the
/// last one padded with zeros), `h = rotl((h ^ w) * K, 29)`, starting from a value mixed with
/// the length, then a final avalanche.
pub struct Digest {
    h: u64,
}

impl Digest {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    pub fn new(len: u64) -> Self {
        Digest {
            h: 0xcbf2_9ce4_8422_2325 ^ len.wrapping_mul(Self::K),
        }
    }

    /// Adds bytes; every call but the last must pass a multiple of 8 bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            self.word(u64::from_le_bytes(a));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut a = [0u8; 8];
            a[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(a));
        }
    }

    fn word(&mut self, w: u64) {
        self.h = (self.h ^ w).wrapping_mul(Self::K).rotate_left(29);
    }

    pub fn finish(self) -> [u8; 8] {
        let mut z = self.h;
        z = (z ^ (z >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        z = (z ^ (z >> 33)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        (z ^ (z >> 33)).to_le_bytes()
    }
}

fn with_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    BUF.with_borrow_mut(|b| {
        if b.len() < CHUNK as usize {
            b.resize(CHUNK as usize, 0);
        }
        f(b)
    })
}

// ---------------------------------------------------------------- stable memory

fn stable_fill_impl(offset: u64, len: u64, seed: u64) {
    let end = offset
        .checked_add(len)
        .unwrap_or_else(|| ic_cdk::trap("stable_fill: offset + len overflows"));
    let need = end.div_ceil(WASM_PAGE);
    let have = ic_cdk::stable::stable_size();
    if need > have {
        if let Err(e) = ic_cdk::stable::stable_grow(need - have) {
            ic_cdk::trap(format!(
                "stable_fill: cannot grow stable memory from {have} to {need} pages: {e}"
            ));
        }
    }
    with_buf(|buf| {
        let mut at = offset;
        while at < end {
            let n = (end - at).min(CHUNK) as usize;
            fill_pattern(&mut buf[..n], at, seed);
            ic_cdk::stable::stable_write(at, &buf[..n]);
            at += n as u64;
        }
    });
}

/// Writes the pattern of `seed` into stable bytes `[offset, offset + len)`, growing stable
/// memory as needed.
#[ic_cdk::update]
fn stable_fill(offset: u64, len: u64, seed: u64) {
    stable_fill_impl(offset, len, seed);
}

/// `stable_fill`, then traps: none of it may persist.
#[ic_cdk::update]
fn stable_fill_and_trap(offset: u64, len: u64, seed: u64) {
    stable_fill_impl(offset, len, seed);
    ic_cdk::trap("bigmem: stable_fill_and_trap traps on purpose");
}

/// Stable memory size in bytes.
#[ic_cdk::query]
fn stable_size() -> u64 {
    ic_cdk::stable::stable_size() * WASM_PAGE
}

/// The [`Digest`] of stable bytes `[offset, offset + len)`; a range past the end traps.
#[ic_cdk::query]
fn stable_digest(offset: u64, len: u64) -> ByteBuf {
    let end = offset
        .checked_add(len)
        .unwrap_or_else(|| ic_cdk::trap("stable_digest: offset + len overflows"));
    let size = ic_cdk::stable::stable_size() * WASM_PAGE;
    if end > size {
        ic_cdk::trap(format!(
            "stable_digest: range [{offset}, {end}) is past the end of stable memory ({size} bytes)"
        ));
    }
    let mut d = Digest::new(len);
    with_buf(|buf| {
        let mut at = offset;
        while at < end {
            let n = (end - at).min(CHUNK) as usize;
            ic_cdk::stable::stable_read(at, &mut buf[..n]);
            d.update(&buf[..n]);
            at += n as u64;
        }
    });
    ByteBuf::from(d.finish().to_vec())
}

// ---------------------------------------------------------------- heap

#[cfg(target_arch = "wasm32")]
fn memory_pages() -> u64 {
    core::arch::wasm32::memory_size(0) as u64
}

#[cfg(not(target_arch = "wasm32"))]
fn memory_pages() -> u64 {
    0
}

/// Grows the Wasm memory by `pages`; returns the address of the first new byte.
#[cfg(target_arch = "wasm32")]
fn memory_grow(pages: u64) -> Option<u64> {
    let delta = usize::try_from(pages).ok()?;
    match core::arch::wasm32::memory_grow(0, delta) {
        usize::MAX => None,
        old => Some(old as u64 * WASM_PAGE),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn memory_grow(_pages: u64) -> Option<u64> {
    None
}

/// Calls `f(slice, logical_offset)` on pieces of at most `CHUNK` bytes covering the heap
/// buffer's logical bytes `[from, to)`, which must lie within the segments.
fn for_heap_range(from: u64, to: u64, mut f: impl FnMut(&mut [u8], u64)) {
    SEGMENTS.with_borrow(|segments| {
        let mut base = 0u64;
        for &(addr, len) in segments {
            let (lo, hi) = (from.max(base), to.min(base + len));
            let mut at = lo;
            while at < hi {
                let n = (hi - at).min(CHUNK);
                let ptr = (addr + (at - base)) as usize as *mut u8;
                // SAFETY: `[addr, addr + len)` was grown by `memory_grow` for this buffer
                // alone (the allocator never hands it out), is inside the Wasm memory, and
                // no other reference to it is alive; `n` is at most `CHUNK` bytes.
                let piece = unsafe { std::slice::from_raw_parts_mut(ptr, n as usize) };
                f(piece, at);
                at += n;
            }
            base += len;
        }
    });
}

/// Grows the heap buffer to `bytes` bytes (nothing if it holds that many already), writing
/// the pattern of `seed` into the new bytes.
#[ic_cdk::update]
fn heap_fill(bytes: u64, seed: u64) {
    let filled = FILLED.get();
    if bytes <= filled {
        return;
    }
    let capacity: u64 = SEGMENTS.with_borrow(|s| s.iter().map(|(_, l)| l).sum());
    if bytes > capacity {
        let pages = (bytes - capacity).div_ceil(WASM_PAGE);
        let Some(addr) = memory_grow(pages) else {
            ic_cdk::trap(format!(
                "heap_fill: memory.grow by {pages} pages failed (the memory has {} pages)",
                memory_pages()
            ));
        };
        let len = pages * WASM_PAGE;
        SEGMENTS.with_borrow_mut(|s| match s.last_mut() {
            Some((a, l)) if *a + *l == addr => *l += len,
            _ => s.push((addr, len)),
        });
    }
    for_heap_range(filled, bytes, |piece, at| fill_pattern(piece, at, seed));
    FILLED.set(bytes);
}

fn heap_touch_impl(page: u64) {
    let filled = FILLED.get();
    let at = page
        .checked_mul(4096)
        .filter(|at| *at < filled)
        .unwrap_or_else(|| {
            ic_cdk::trap(format!(
                "heap_touch: 4 KiB page {page} is beyond the heap buffer ({filled} bytes)"
            ))
        });
    for_heap_range(at, at + 1, |piece, _| piece[0] ^= 0x80);
}

/// Changes one byte in 4 KiB page `page` of the heap buffer (one dirty page).
#[ic_cdk::update]
fn heap_touch(page: u64) {
    heap_touch_impl(page);
}

/// `heap_touch`, then traps: the message is rolled back.
#[ic_cdk::update]
fn heap_touch_and_trap(page: u64) {
    heap_touch_impl(page);
    ic_cdk::trap("bigmem: heap_touch_and_trap traps on purpose");
}

/// Wasm memory size in bytes.
#[ic_cdk::query]
fn heap_size() -> u64 {
    memory_pages() * WASM_PAGE
}

/// Bytes of the heap buffer filled by `heap_fill`.
#[ic_cdk::query]
fn heap_filled() -> u64 {
    FILLED.get()
}

// ---------------------------------------------------------------- upgrades

/// Nothing to save: the stable data stays where it is, the heap buffer is dropped.
#[ic_cdk::pre_upgrade]
fn pre_upgrade() {}

#[ic_cdk::post_upgrade]
fn post_upgrade() {}
