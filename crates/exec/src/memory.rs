//! Paged, file-backed memories with per-message dirty tracking: the one mechanism behind both
//! a canister's Wasm heap and its stable memory.
//!
//! # Layout of a mapping
//!
//! ```text
//!  base                     file_len              size                 max            reserved
//!   |  MAP_PRIVATE of the    |  anonymous, zero-    |  PROT_NONE (heap)   | PROT_NONE     |
//!   |  committed memory file |  filled until        |  or anonymous RW    | guard region  |
//!   |  (pages fault in       |  written             |  (stable memory:    | (heap only)   |
//!   |  lazily from the page  |                      |  bounds are checked |               |
//!   |  cache)                |                      |  in software)       |               |
//! ```
//!
//! # Invariants
//! - Between messages, `[0, file_len)` is a private view of the memory file, and the file holds
//!   exactly the committed content; `file_len` equals the committed size.
//! - A page is *dirty* (changed by the running message) iff it is present in the mapping and
//!   backed by an anonymous page that is not the shared zero page: a write to a private file
//!   mapping copies the page (copy-on-write), a write to anonymous memory allocates one, and a
//!   read maps the file's page-cache page or the zero page. The kernel's `PAGEMAP_SCAN` ioctl
//!   (Linux 6.7+) lists such pages without touching the others, so finding the dirty set costs
//!   time in proportion to the populated page tables, not to the memory size, and needs no
//!   signal handler, no write barrier in the Wasm code, and no copy of the memory.
//! - Rollback drops dirty pages (`MADV_DONTNEED`, one call for pages a short gap apart, the
//!   clean pages between included): they fault in again from the file, or as zeros past its
//!   end. Commit is done by the caller writing the dirty pages into the file;
//!   [`PageMemory::after_commit`] then drops the private copies in the same way.
//! - Host writes (the System API copying into the heap) are tracked like Wasm writes: the
//!   kernel sees them all.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::error::ExecError;

/// The unit of dirty tracking and persistence.
pub const PAGE_SIZE: usize = 4096;

/// What a memory starts from: the committed file (absent for a fresh memory) and its size.
#[derive(Clone, Debug, Default)]
pub struct MemoryBacking {
    /// The committed content; page `i` at offset `i * PAGE_SIZE`. `None`: all zero.
    pub file: Option<Arc<File>>,
    /// The committed size in bytes.
    pub size: u64,
}

/// A reserved address range holding one memory. See the module docs for the layout.
pub struct PageMemory {
    base: *mut u8,
    reserved: usize,
    /// The most bytes that may become accessible.
    max: usize,
    /// Currently accessible bytes.
    size: AtomicUsize,
    /// Bytes at the start that map the file.
    file_len: AtomicUsize,
    /// Whether bytes past `size` are PROT_NONE (the heap) or readable and writable (stable).
    guarded: bool,
    file: std::sync::Mutex<Option<Arc<File>>>,
}

// SAFETY: the raw pointer is to a private mapping owned by this value for its whole life; all
// mutation of the bookkeeping goes through atomics and a mutex, and the bytes are only accessed
// by the single thread executing the canister at a time (wasmtime's store discipline).
unsafe impl Send for PageMemory {}
// SAFETY: as above.
unsafe impl Sync for PageMemory {}

fn os_err(what: &str) -> ExecError {
    ExecError::Memory(format!("{what}: {}", io::Error::last_os_error()))
}

fn round_up(n: usize) -> usize {
    n.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

impl PageMemory {
    /// Reserves `reserved` bytes of address space (at least `max`), maps the backing file over
    /// its committed size and makes `backing.size` bytes accessible. `guarded` memories keep
    /// everything past the accessible size `PROT_NONE`, as wasmtime requires of a heap.
    pub fn new(
        backing: &MemoryBacking,
        max: usize,
        reserved: usize,
        guarded: bool,
    ) -> Result<Self, ExecError> {
        let reserved = round_up(reserved.max(max).max(PAGE_SIZE));
        let size = usize::try_from(backing.size)
            .map_err(|_| ExecError::Memory("memory size overflows usize".into()))?;
        if size > max {
            return Err(ExecError::Memory(format!(
                "memory of {size} bytes exceeds its maximum of {max} bytes"
            )));
        }
        // SAFETY: a fresh anonymous reservation at an address the kernel chooses; nothing else
        // refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserved,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(os_err("reserving address space"));
        }
        let mem = PageMemory {
            base: base.cast(),
            reserved,
            max,
            size: AtomicUsize::new(0),
            file_len: AtomicUsize::new(0),
            guarded,
            file: std::sync::Mutex::new(None),
        };
        // SAFETY: the range lies inside our reservation.
        unsafe { libc::madvise(base, reserved, libc::MADV_NOHUGEPAGE) };
        if !guarded {
            mem.protect(0, round_up(max), libc::PROT_READ | libc::PROT_WRITE)?;
        }
        mem.set_accessible(size)?;
        if let Some(file) = &backing.file {
            mem.map_file(file.clone(), 0, round_up(size))?;
        }
        Ok(mem)
    }

    fn protect(&self, from: usize, to: usize, prot: libc::c_int) -> Result<(), ExecError> {
        if to <= from {
            return Ok(());
        }
        // SAFETY: [from, to) lies within our reservation (callers clamp to `max`).
        let r = unsafe { libc::mprotect(self.base.add(from).cast(), to - from, prot) };
        if r != 0 {
            return Err(os_err("mprotect"));
        }
        Ok(())
    }

    /// Maps `file` privately over `[from, len)` (at the same file offsets), replacing whatever
    /// was there; afterwards `[0, len)` maps the file.
    fn map_file(&self, file: Arc<File>, from: usize, len: usize) -> Result<(), ExecError> {
        let len = len.min(round_up(self.max));
        if len > from {
            let file_size = file
                .metadata()
                .map_err(|e| ExecError::Memory(format!("memory file: {e}")))?
                .len();
            if file_size < len as u64 {
                return Err(ExecError::Memory(format!(
                    "memory file holds {file_size} bytes but {len} are committed"
                )));
            }
            // SAFETY: MAP_FIXED over a range inside our own reservation; the file stays open
            // (we keep the Arc) for as long as the mapping exists.
            let p = unsafe {
                libc::mmap(
                    self.base.add(from).cast(),
                    len - from,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_FIXED | libc::MAP_NORESERVE,
                    file.as_raw_fd(),
                    from as libc::off_t,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(os_err("mapping memory file"));
            }
            // SAFETY: inside our reservation.
            unsafe {
                libc::madvise(
                    self.base.add(from).cast(),
                    len - from,
                    libc::MADV_NOHUGEPAGE,
                )
            };
        }
        self.file_len.store(len, Ordering::Release);
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
        Ok(())
    }

    fn set_accessible(&self, new: usize) -> Result<(), ExecError> {
        let old = self.size.load(Ordering::Acquire);
        if self.guarded && new > old {
            self.protect(
                round_up(old),
                round_up(new),
                libc::PROT_READ | libc::PROT_WRITE,
            )?;
        }
        self.size.store(new, Ordering::Release);
        Ok(())
    }

    /// The start of the memory.
    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// Accessible bytes.
    pub fn size(&self) -> usize {
        self.size.load(Ordering::Acquire)
    }

    /// The most bytes this memory may grow to.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Makes `new_size` bytes accessible; fails past the maximum. Never moves the memory.
    pub fn grow_to(&self, new_size: usize) -> Result<(), ExecError> {
        if new_size > self.max {
            return Err(ExecError::Memory(format!(
                "cannot grow to {new_size} bytes: the maximum is {}",
                self.max
            )));
        }
        if new_size < self.size() {
            return Ok(());
        }
        self.set_accessible(new_size)
    }

    /// The accessible bytes as a slice.
    ///
    /// # Safety
    /// No other reference to the bytes (in particular, no running Wasm code) may write them
    /// while the slice lives.
    pub unsafe fn bytes(&self) -> &[u8] {
        // SAFETY: [base, base+size) is mapped readable; aliasing is the caller's promise.
        unsafe { std::slice::from_raw_parts(self.base, self.size()) }
    }

    /// The accessible bytes, mutably.
    ///
    /// # Safety
    /// As for [`Self::bytes`], and no other slice of the memory may be alive.
    #[allow(
        clippy::mut_from_ref,
        reason = "the memory is shared with wasmtime, which owns the aliasing discipline"
    )]
    pub unsafe fn bytes_mut(&self) -> &mut [u8] {
        // SAFETY: [base, base+size) is mapped read-write; aliasing is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.size()) }
    }

    /// The indices of the pages written since the last commit or rollback, ascending.
    pub fn dirty_pages(&self) -> Result<Vec<u64>, ExecError> {
        scan_written(
            self.base,
            round_up(self.size().max(self.file_len.load(Ordering::Acquire))),
        )
    }

    /// Copies page `index` out.
    pub fn page(&self, index: u64) -> Vec<u8> {
        let off = index as usize * PAGE_SIZE;
        let mut out = vec![0u8; PAGE_SIZE];
        let size = round_up(self.size()).max(self.file_len.load(Ordering::Acquire));
        if off + PAGE_SIZE <= size {
            // SAFETY: the page lies within the mapped, readable part.
            unsafe {
                std::ptr::copy_nonoverlapping(self.base.add(off), out.as_mut_ptr(), PAGE_SIZE)
            };
        }
        out
    }

    /// Drops the private copies of `pages` (and of any clean page in a short gap between
    /// them; see [`DROP_GAP`]).
    fn drop_pages(&self, pages: &[u64]) -> Result<(), ExecError> {
        for run in runs(pages, DROP_GAP) {
            let (start, len) = (
                run.0 as usize * PAGE_SIZE,
                (run.1 - run.0) as usize * PAGE_SIZE,
            );
            // SAFETY: the pages lie inside our reservation; MADV_DONTNEED on a private mapping
            // discards the private copies, which then read from the file again (or as zero).
            let r = unsafe { libc::madvise(self.base.add(start).cast(), len, libc::MADV_DONTNEED) };
            if r != 0 {
                return Err(os_err("madvise(DONTNEED)"));
            }
        }
        Ok(())
    }

    /// Discards every change since the last commit, and returns to `size` accessible bytes.
    /// (A heap whose size changed must also be re-instantiated: wasmtime keeps its own size.)
    pub fn rollback(&self, size: usize) -> Result<(), ExecError> {
        let dirty = self.dirty_pages()?;
        self.rollback_pages(&dirty, size)
    }

    /// [`Self::rollback`] when the dirty pages are known (from [`Self::dirty_pages`], with no
    /// write since).
    pub fn rollback_pages(&self, dirty: &[u64], size: usize) -> Result<(), ExecError> {
        self.drop_pages(dirty)?;
        if self.guarded && size < self.size() {
            self.protect(round_up(size), round_up(self.size()), libc::PROT_NONE)?;
        }
        self.size.store(size, Ordering::Release);
        Ok(())
    }

    /// Called once the caller has written `dirty` pages into the memory file (`backing.file`,
    /// now holding `backing.size` bytes). With a new file (a reset memory), the whole mapping
    /// moves onto it; otherwise only the private copies are dropped and the file's new tail
    /// mapped in.
    pub fn after_commit(&self, dirty: &[u64], backing: &MemoryBacking) -> Result<(), ExecError> {
        let Some(file) = &backing.file else {
            return Err(ExecError::Memory(
                "a committed memory needs a backing file".into(),
            ));
        };
        let len = round_up(usize::try_from(backing.size).unwrap_or(usize::MAX));
        let same = self
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|f| Arc::ptr_eq(f, file) || same_file(f, file))
            == Some(true);
        let file_len = self.file_len.load(Ordering::Acquire);
        if same && len <= file_len {
            self.drop_pages(dirty)?;
        } else if same {
            // Only the grown tail moves onto the file; pages already mapped keep their entries.
            let below: Vec<u64> = dirty
                .iter()
                .copied()
                .filter(|p| (*p as usize) < file_len / PAGE_SIZE)
                .collect();
            self.drop_pages(&below)?;
            self.map_file(file.clone(), file_len, len)?;
        } else {
            self.map_file(file.clone(), 0, len)?;
        }
        Ok(())
    }
}

fn same_file(a: &File, b: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (a.metadata(), b.metadata()) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

impl Drop for PageMemory {
    fn drop(&mut self) {
        // SAFETY: we own the reservation; nothing refers to it any more.
        unsafe { libc::munmap(self.base.cast(), self.reserved) };
    }
}

/// Dirty pages at most this many clean pages apart are dropped with one `madvise`. Each
/// `MADV_DONTNEED` ends in a TLB flush, an inter-processor interrupt to every other core
/// running one of the process's threads; a clean page dropped with its neighbours only
/// faults in again from the file (or as zeros) if it is read, without one. A `noop` update of
/// the `kv` test canister dirties heap pages 255, 265 and 272: one flush instead of three.
const DROP_GAP: u64 = 32;

/// Groups sorted page indices into half-open runs, bridging gaps of at most `gap` pages.
fn runs(pages: &[u64], gap: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &p in pages {
        match out.last_mut() {
            Some(last) if p >= last.1 && p - last.1 <= gap => last.1 = p + 1,
            _ => out.push((p, p + 1)),
        }
    }
    out
}

// PAGEMAP_SCAN (linux/fs.h, Linux 6.7+).
const PAGE_IS_FILE: u64 = 1 << 2;
const PAGE_IS_PRESENT: u64 = 1 << 3;
const PAGE_IS_PFNZERO: u64 = 1 << 5;
const PAGEMAP_SCAN: libc::c_ulong = 0xC060_6610;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct PageRegion {
    start: u64,
    end: u64,
    categories: u64,
}

#[repr(C)]
#[derive(Default)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

fn pagemap() -> Result<&'static File, ExecError> {
    static PAGEMAP: OnceLock<Result<File, String>> = OnceLock::new();
    PAGEMAP
        .get_or_init(|| File::open("/proc/self/pagemap").map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| ExecError::Memory(format!("opening /proc/self/pagemap: {e}")))
}

/// The pages in `[base, base+len)` that are present, anonymous and not the zero page.
fn scan_written(base: *mut u8, len: usize) -> Result<Vec<u64>, ExecError> {
    let mut out = Vec::new();
    if len == 0 {
        return Ok(out);
    }
    let fd = pagemap()?.as_raw_fd();
    let start = base as u64;
    let end = start + len as u64;
    let mut regions = vec![PageRegion::default(); 512];
    let mut cursor = start;
    while cursor < end {
        let mut arg = PmScanArg {
            size: std::mem::size_of::<PmScanArg>() as u64,
            start: cursor,
            end,
            vec: regions.as_mut_ptr() as u64,
            vec_len: regions.len() as u64,
            category_inverted: PAGE_IS_FILE | PAGE_IS_PFNZERO,
            category_mask: PAGE_IS_PRESENT | PAGE_IS_FILE | PAGE_IS_PFNZERO,
            return_mask: PAGE_IS_PRESENT,
            ..Default::default()
        };
        // SAFETY: `arg` and `regions` outlive the call; the kernel writes at most vec_len
        // regions and updates walk_end.
        let n = unsafe { libc::ioctl(fd, PAGEMAP_SCAN, &mut arg as *mut PmScanArg) };
        if n < 0 {
            return Err(os_err("PAGEMAP_SCAN (drydock needs Linux 6.7 or newer)"));
        }
        for r in &regions[..n as usize] {
            let first = (r.start - start) / PAGE_SIZE as u64;
            let last = (r.end - start) / PAGE_SIZE as u64;
            out.extend(first..last);
        }
        if arg.walk_end <= cursor {
            break;
        }
        cursor = arg.walk_end;
    }
    Ok(out)
}

/// Reads `len` bytes at `offset`; errors when out of bounds. Shared by the stable memory and
/// host access to the heap.
pub(crate) fn checked_range(offset: u64, len: u64, size: u64) -> Option<std::ops::Range<usize>> {
    let end = offset.checked_add(len)?;
    if end > size {
        return None;
    }
    Some(offset as usize..end as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(pages: &[(u64, u8)], len: u64) -> Arc<File> {
        let mut f = tempfile::tempfile().unwrap();
        f.set_len(len).unwrap();
        for (i, b) in pages {
            use std::os::unix::fs::FileExt;
            f.write_all_at(&[*b; PAGE_SIZE], i * PAGE_SIZE as u64)
                .unwrap();
        }
        f.flush().unwrap();
        Arc::new(f)
    }

    /// A heap over a committed file of 16 pages, `pages` filled with their byte.
    fn sixteen_pages(pages: &[(u64, u8)]) -> PageMemory {
        let file = file_with(pages, 16 * PAGE_SIZE as u64);
        let backing = MemoryBacking {
            file: Some(file),
            size: 16 * PAGE_SIZE as u64,
        };
        PageMemory::new(&backing, 1 << 20, 1 << 21, true).unwrap()
    }

    #[test]
    fn reads_are_clean_and_writes_are_dirty() {
        let m = sixteen_pages(&[(1, 7)]);
        let bytes = unsafe { m.bytes_mut() };
        assert_eq!(bytes[PAGE_SIZE], 7);
        assert_eq!(bytes[3 * PAGE_SIZE], 0);
        assert!(m.dirty_pages().unwrap().is_empty());
        bytes[5 * PAGE_SIZE + 3] = 1;
        bytes[6 * PAGE_SIZE] = 2;
        assert_eq!(m.dirty_pages().unwrap(), vec![5, 6]);
        m.rollback(16 * PAGE_SIZE).unwrap();
        let bytes = unsafe { m.bytes() };
        assert_eq!(bytes[5 * PAGE_SIZE + 3], 0);
        assert_eq!(bytes[PAGE_SIZE], 7);
        assert!(m.dirty_pages().unwrap().is_empty());
    }

    #[test]
    fn runs_bridge_short_gaps_only() {
        assert_eq!(runs(&[1, 2, 3, 7], 0), vec![(1, 4), (7, 8)]);
        assert_eq!(runs(&[1, 2, 3, 7], 3), vec![(1, 8)]);
        assert_eq!(
            runs(&[255, 265, 272, 400], 32),
            vec![(255, 273), (400, 401)]
        );
        assert!(runs(&[], 32).is_empty());
    }

    #[test]
    fn rollback_across_a_gap_keeps_the_clean_pages_between() {
        // Pages 2 and 9 dirty, the clean pages between them (committed content 5, and page
        // 6 read through the mapping) are dropped with them and read the file again.
        let m = sixteen_pages(&[(3, 5), (6, 6)]);
        let bytes = unsafe { m.bytes_mut() };
        assert_eq!(bytes[6 * PAGE_SIZE], 6);
        bytes[2 * PAGE_SIZE] = 1;
        bytes[9 * PAGE_SIZE] = 1;
        assert_eq!(m.dirty_pages().unwrap(), vec![2, 9]);
        m.rollback(16 * PAGE_SIZE).unwrap();
        let bytes = unsafe { m.bytes() };
        assert_eq!(
            (
                bytes[2 * PAGE_SIZE],
                bytes[3 * PAGE_SIZE],
                bytes[6 * PAGE_SIZE]
            ),
            (0, 5, 6)
        );
        assert_eq!(bytes[9 * PAGE_SIZE], 0);
        assert!(m.dirty_pages().unwrap().is_empty());
    }

    #[test]
    fn fresh_memory_tracks_writes_and_grows() {
        let m = PageMemory::new(&MemoryBacking::default(), 1 << 20, 1 << 21, true).unwrap();
        m.grow_to(4 * PAGE_SIZE).unwrap();
        let bytes = unsafe { m.bytes_mut() };
        assert_eq!(bytes[2 * PAGE_SIZE], 0);
        bytes[3 * PAGE_SIZE] = 9;
        assert_eq!(m.dirty_pages().unwrap(), vec![3]);
        // Commit into a file, then the page is clean and still reads 9.
        let file = file_with(&[(3, 9)], 4 * PAGE_SIZE as u64);
        m.after_commit(
            &[3],
            &MemoryBacking {
                file: Some(file),
                size: 4 * PAGE_SIZE as u64,
            },
        )
        .unwrap();
        assert!(m.dirty_pages().unwrap().is_empty());
        assert_eq!(unsafe { m.bytes() }[3 * PAGE_SIZE], 9);
    }

    #[test]
    fn growth_after_commit_maps_only_the_new_tail_and_keeps_content() {
        use std::os::unix::fs::FileExt;
        let file = file_with(&[(0, 1)], 2 * PAGE_SIZE as u64);
        let backing = MemoryBacking {
            file: Some(file.clone()),
            size: 2 * PAGE_SIZE as u64,
        };
        let m = PageMemory::new(&backing, 1 << 20, 1 << 21, true).unwrap();
        assert_eq!(unsafe { m.bytes() }[0], 1);
        m.grow_to(4 * PAGE_SIZE).unwrap();
        unsafe { m.bytes_mut()[3 * PAGE_SIZE] = 4 };
        unsafe { m.bytes_mut()[PAGE_SIZE] = 2 };
        assert_eq!(m.dirty_pages().unwrap(), vec![1, 3]);
        // The caller commits: writes the pages into the same, extended file.
        file.set_len(4 * PAGE_SIZE as u64).unwrap();
        file.write_all_at(&m.page(1), PAGE_SIZE as u64).unwrap();
        file.write_all_at(&m.page(3), 3 * PAGE_SIZE as u64).unwrap();
        m.after_commit(
            &[1, 3],
            &MemoryBacking {
                file: Some(file.clone()),
                size: 4 * PAGE_SIZE as u64,
            },
        )
        .unwrap();
        assert!(m.dirty_pages().unwrap().is_empty());
        let bytes = unsafe { m.bytes() };
        assert_eq!(
            (bytes[0], bytes[PAGE_SIZE], bytes[3 * PAGE_SIZE]),
            (1, 2, 4)
        );
        // A later rollback returns to exactly that.
        unsafe { m.bytes_mut()[3 * PAGE_SIZE] = 9 };
        m.rollback(4 * PAGE_SIZE).unwrap();
        assert_eq!(unsafe { m.bytes() }[3 * PAGE_SIZE], 4);
    }
}
