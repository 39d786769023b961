//! The durable state directory of drydock.
//!
//! `drydock-state` stores three kinds of things and knows nothing of Wasm or
//! canisters:
//!
//! * **blobs**: small metadata values by string key, all held in RAM;
//! * **content**: large immutable values (Wasm modules, 100 MiB and more),
//!   addressed by their sha256;
//! * **paged memories**: named sparse files, page `i` (4096 bytes) at byte
//!   offset `i * 4096`, which the execution crate maps with
//!   `mmap(MAP_PRIVATE)` from the very descriptor [`Store::memory`] returns.
//!
//! A memory can have read-only **snapshots** ([`MemoryOp::Snapshot`]) that
//! share its pages: taking one costs the same whatever the memory's size;
//! later writes preserve the pages they replace (copy-on-write), and
//! [`MemoryOp::Restore`] copies back only what changed. The `snapshots`
//! module of the store describes the page store. [`Store::copy_to`] copies
//! the whole directory to a new one (the store's `copy` module), sharing the
//! memory files with it until either side changes one (the `share` module).
//!
//! Blobs, memories and snapshots change only through [`Store::commit`],
//! which is atomic and durable when it returns `Ok`.
//!
//! # Directory layout
//!
//! ```text
//! <dir>/LOCK                        flock'd exclusively while a Store is open (empty)
//! <dir>/manifest                    state as of the last checkpoint        (see `manifest` module)
//! <dir>/manifest.tmp                only during a checkpoint; removed at open
//! <dir>/wal                         commits since the last checkpoint      (see `wal` module)
//! <dir>/memories/<gen:016x>-<name>  one flat page file per memory generation; <name> is the
//!                                   memory name with bytes outside [A-Za-z0-9._-] as '_',
//!                                   cut to 64 bytes (the generation alone makes it unique)
//! <dir>/layers/<id:016x>            one page file per snapshot layer: preserved page images,
//!                                   slot s at byte offset s*4096 (see `store/snapshots.rs`)
//! <dir>/content/<hex sha256>        one file per content value, exactly its bytes
//! <dir>/content/<hex sha256>.tmp    only while a value is being stored; removed at open
//! ```
//!
//! # Commit, checkpoint, recovery
//!
//! * `commit` validates the batch, encodes it as **one** WAL record, appends
//!   it and fsyncs the WAL (the durability point), then applies it: pages are
//!   `pwrite`n into the memory files (not fsync'd), blobs change in RAM.
//!   A reset switches the memory to a new file generation, so an old file
//!   still mapped by a live instance keeps its content.
//! * Before-images for snapshots (a write's or a restore's) and a restore's
//!   new memory file are written and fsync'd *before* the record that names
//!   them: a crash before the record leaves only unreferenced data.
//! * `checkpoint` fsyncs every memory file written since the last
//!   checkpoint, fsyncs `memories/`, atomically replaces the
//!   manifest, then truncates the WAL to 0 and fsyncs it, then punches out
//!   the freed layer slots and unlinks the files the new manifest no longer
//!   references. It runs automatically before a commit
//!   once the WAL holds [`Options::checkpoint_wal_bytes`], or as many bytes as
//!   the last manifest if that is more (the manifest holds every blob).
//! * `open` locks, loads the manifest, replays the WAL records whose sequence
//!   number the manifest has not folded in, checkpoints, and removes files no
//!   longer referenced (leftovers of a crash); it also frees the layer slots
//!   no snapshot references (a punch cut short, or images written for a
//!   record that never reached the log).
//!
//! # Invariants
//!
//! 1. After `commit` returns `Ok`, its record is durable in the WAL, and the
//!    memory file returned by [`Store::memory`] holds the committed content.
//! 2. A memory file is never shrunk below the memory's size while the store
//!    is open (resets use a new file); it is at least `size` rounded up to a
//!    page, and pages never written read as zero.
//! 3. Every file the manifest names was fsync'd (content and directory entry)
//!    before the manifest was renamed into place.
//! 4. The WAL is truncated only after the manifest that folds it in is
//!    durable; records below the manifest's `next_seq` are skipped at replay.
//! 5. Generations are never reused, so a file name always means one content.
//! 6. No input (a batch, a corrupt file) makes the library panic: bad batches
//!    give [`StateError::InvalidBatch`], bad files [`StateError::Corrupt`].
//!
//! # Assumptions about the storage
//!
//! `fdatasync` on a file makes its content and length durable; `fsync` on a
//! directory makes its entries durable; `rename` within a directory is
//! atomic. Writes not followed by a sync may be lost, torn or reordered.
//!
//! # Errors and failures
//!
//! If a write fails inside `commit` or `checkpoint`, the store does not know
//! what reached the disk: it returns the error and refuses all later writes
//! with [`StateError::Poisoned`]. A failed `commit` may or may not be
//! durable; reopening the directory tells which.

mod backend;
mod codec;
mod error;
mod fault;
mod manifest;
mod store;
mod wal;
mod wal_sync;

use std::fs::File;
use std::sync::Arc;

pub use backend::{Backend, FsBackend, OpenMode, Space};
pub use error::StateError;
pub use fault::{CrashMode, FaultBackend};
pub use store::{Options, Store, MAX_MEMORY_BYTES, WAL_CHUNK};
pub use wal_sync::WalSync;

/// Size of a memory page in bytes.
pub const PAGE_SIZE: u64 = 4096;

/// The current backing file of a paged memory: page `i` at byte offset
/// `i * PAGE_SIZE`; the file is at least `size` bytes (rounded up to a page).
#[derive(Clone, Debug)]
pub struct MemoryFile {
    pub file: Arc<File>,
    /// The memory's size in bytes, as last committed.
    pub size: u64,
}

/// What [`Store::copy_to`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    /// Files cloned by the file system (copy-on-write) rather than copied.
    pub cloned: u64,
    /// Files hard-linked (memories, layers and content, where the file system cannot clone):
    /// shared until either directory changes them.
    pub linked: u64,
    /// Bytes copied (holes and cloned files are not counted).
    pub bytes_copied: u64,
}

/// A set of changes applied atomically by [`Store::commit`], in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// `(key, Some(value))` sets a blob, `(key, None)` deletes it.
    pub blobs: Vec<(String, Option<Vec<u8>>)>,
    pub memories: Vec<MemoryUpdate>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty() && self.memories.is_empty()
    }

    pub fn put_blob(&mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.blobs.push((key.into(), Some(value.into())));
        self
    }

    pub fn delete_blob(&mut self, key: impl Into<String>) -> &mut Self {
        self.blobs.push((key.into(), None));
        self
    }

    /// Add a [`MemoryOp::Write`].
    pub fn write_memory(
        &mut self,
        name: impl Into<String>,
        reset: bool,
        size: u64,
        pages: Vec<(u64, Vec<u8>)>,
    ) -> &mut Self {
        self.memories.push(MemoryUpdate {
            name: name.into(),
            op: MemoryOp::Write { reset, size, pages },
        });
        self
    }

    /// Add a [`MemoryOp::Delete`] (of a memory or a snapshot).
    pub fn delete_memory(&mut self, name: impl Into<String>) -> &mut Self {
        self.memories.push(MemoryUpdate {
            name: name.into(),
            op: MemoryOp::Delete,
        });
        self
    }

    /// Add a [`MemoryOp::Snapshot`]: `name` becomes a read-only snapshot of
    /// the memory `from`.
    pub fn snapshot_memory(
        &mut self,
        name: impl Into<String>,
        from: impl Into<String>,
    ) -> &mut Self {
        self.memories.push(MemoryUpdate {
            name: name.into(),
            op: MemoryOp::Snapshot { from: from.into() },
        });
        self
    }

    /// Add a [`MemoryOp::Restore`]: the memory `name` takes the content and
    /// size of `from` (a snapshot or another memory).
    pub fn restore_memory(
        &mut self,
        name: impl Into<String>,
        from: impl Into<String>,
    ) -> &mut Self {
        self.memories.push(MemoryUpdate {
            name: name.into(),
            op: MemoryOp::Restore { from: from.into() },
        });
        self
    }
}

/// A change to one paged memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryUpdate {
    pub name: String,
    pub op: MemoryOp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryOp {
    /// `reset = true`: the previous content is discarded (all pages read as
    /// zero) before the pages apply. The memory switches to a new file; a
    /// [`MemoryFile`] obtained before keeps reading the old content.
    /// `reset = false`: the pages are written into the current file (created
    /// if the memory is absent).
    ///
    /// `size` is the memory's new size in bytes: at most
    /// [`MAX_MEMORY_BYTES`], and not below the current size unless `reset`.
    /// Every page is exactly [`PAGE_SIZE`] bytes and starts below `size`.
    Write {
        reset: bool,
        size: u64,
        pages: Vec<(u64, Vec<u8>)>,
    },
    /// Remove the memory or snapshot (a no-op if absent). Files and pages
    /// nothing references any more are freed after the next checkpoint;
    /// mappings of a memory file stay valid.
    Delete,
    /// Create the read-only snapshot `name` of the memory `from` as it is
    /// committed. Takes constant time: the snapshot shares every page with
    /// `from` and later writes to `from` preserve the pages they replace.
    /// `name` must not exist; `from` must be a memory, not a snapshot.
    Snapshot { from: String },
    /// Give the memory `name` (created if absent) the content and size of
    /// `from`, a snapshot or another memory. When `from` is a snapshot of
    /// `name`'s current file, only the pages changed since are copied back;
    /// otherwise `name` moves to a new file holding a copy.
    Restore { from: String },
}
