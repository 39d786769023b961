//! A canister's stable memory: a [`PageMemory`] without guard pages, grown in 64 KiB Wasm
//! pages and accessed only through the System API, which checks every bound in software.

use crate::error::{ExecError, HostTrap};
use crate::memory::{checked_range, MemoryBacking, PageMemory};

/// The size of a Wasm (and stable memory) page.
pub const WASM_PAGE: u64 = 65536;

/// Stable memory of one canister instance.
pub struct StableMemory {
    mem: PageMemory,
}

impl StableMemory {
    /// Maps the committed stable memory; `max` is the most bytes it may grow to.
    pub fn new(backing: &MemoryBacking, max: u64) -> Result<Self, ExecError> {
        let max = usize::try_from(max)
            .map_err(|_| ExecError::Memory("stable memory maximum overflows usize".into()))?;
        Ok(StableMemory {
            mem: PageMemory::new(backing, max, max, false)?,
        })
    }

    /// The size in 64 KiB pages (`stable64_size`).
    pub fn size_pages(&self) -> u64 {
        self.mem.size() as u64 / WASM_PAGE
    }

    /// The size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.mem.size() as u64
    }

    /// Grows by `pages` 64 KiB pages, returning the old size in pages, or `None` when the
    /// result would pass `max_bytes` (`stable64_grow` then returns -1).
    pub fn grow(&mut self, pages: u64, max_bytes: u64) -> Option<u64> {
        let old = self.size_pages();
        let new_bytes = old.checked_add(pages)?.checked_mul(WASM_PAGE)?;
        if new_bytes > max_bytes.min(self.mem.max() as u64) {
            return None;
        }
        self.mem.grow_to(new_bytes as usize).ok()?;
        Some(old)
    }

    /// Copies `buf.len()` bytes from `offset`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), HostTrap> {
        let range = checked_range(offset, buf.len() as u64, self.size_bytes())
            .ok_or(HostTrap::StableOutOfBounds)?;
        // SAFETY: stable memory is only touched by the System API on the executing thread.
        buf.copy_from_slice(unsafe { &self.mem.bytes()[range] });
        Ok(())
    }

    /// Writes `data` at `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostTrap> {
        let range = checked_range(offset, data.len() as u64, self.size_bytes())
            .ok_or(HostTrap::StableOutOfBounds)?;
        // SAFETY: as in `read`, and `&mut self` excludes other access through this value.
        unsafe { self.mem.bytes_mut()[range].copy_from_slice(data) };
        Ok(())
    }

    /// The underlying paged memory, for dirty tracking, commit and rollback.
    pub fn pages(&self) -> &PageMemory {
        &self.mem
    }
}
