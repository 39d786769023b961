//! [`Store`]: one open state directory. The layout, the commit protocol and
//! the invariants are described in the crate documentation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::{Backend, FsBackend, OpenMode};
use crate::manifest::Manifest;
use crate::wal::{self, Resolution};
use crate::wal_sync::WalSync;
use crate::{Batch, MemoryFile, MemoryOp, StateError, PAGE_SIZE};
use snapshots::{load_snapshots, snapshot_entry, Layer, Loc, RestorePlan, Snap};

mod content;
mod copy;
mod recovery;
mod resolve;
mod share;
mod snapshots;

/// The largest memory size a batch may set: 1 TiB. A larger size could not
/// be applied on common file systems, and a record that cannot be applied
/// would make every later recovery fail.
pub const MAX_MEMORY_BYTES: u64 = 1 << 40;

const LOCK_FILE: &str = "LOCK";
const MANIFEST_FILE: &str = "manifest";
const MANIFEST_TMP_FILE: &str = "manifest.tmp";
const WAL_FILE: &str = "wal";
const MEMORIES_DIR: &str = "memories";
const LAYERS_DIR: &str = "layers";
const CONTENT_DIR: &str = "content";
const TMP_SUFFIX: &str = ".tmp";

/// Tuning knobs of a [`Store`].
#[derive(Clone, Debug)]
pub struct Options {
    /// A commit first checkpoints when the WAL has grown to this many bytes, or to the size
    /// of the last manifest written if that is larger: a checkpoint rewrites the manifest
    /// whole (every blob in it), so its cost is paid for by as many bytes of WAL, and the
    /// writes stay linear in what was committed however large the blobs kept are.
    pub checkpoint_wal_bytes: u64,
    /// The WAL grows in chunks of this many bytes, zero-filled ahead of the records, so that
    /// the `fdatasync` of a record flushes its data only, not the file's size and blocks;
    /// 0 grows it record by record.
    pub wal_chunk: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            checkpoint_wal_bytes: 64 << 20,
            wal_chunk: WAL_CHUNK,
        }
    }
}

/// One paged memory as the store tracks it.
struct Memory {
    generation: u64,
    size: u64,
    file: Arc<File>,
    /// The file's current length (at least `size` rounded up to a page).
    len: u64,
}

/// One open, exclusively locked state directory.
pub struct Store {
    dir: PathBuf,
    backend: Arc<dyn Backend>,
    options: Options,
    /// Held while the store is open; its file also answers [`Backend::space`].
    lock: DirLock,
    blobs: BTreeMap<String, Vec<u8>>,
    memories: BTreeMap<String, Memory>,
    next_seq: u64,
    next_gen: u64,
    wal: File,
    wal_len: u64,
    /// The length of the manifest last written or read: the WAL grows to at least this
    /// before a commit checkpoints.
    manifest_len: u64,
    /// The WAL file's length: records end at `wal_len`, and zeros written ahead of them fill
    /// the rest (see [`WAL_CHUNK`]).
    wal_allocated: u64,
    /// Memory files written since the last checkpoint, by generation.
    dirty: BTreeMap<u64, (Arc<File>, PathBuf)>,
    /// A file was created in `memories/` since the last checkpoint.
    memories_dir_dirty: bool,
    /// Files no longer referenced; unlinked after the next checkpoint.
    garbage: Vec<PathBuf>,
    /// The manifest on disk is older than the state in RAM.
    manifest_stale: bool,
    /// Snapshots by name (see the `snapshots` module).
    snaps: BTreeMap<String, Snap>,
    /// Layer files by id.
    layers: BTreeMap<u64, Layer>,
    next_layer: u64,
    /// Freed layer slots, punched after the next checkpoint.
    pending_punch: Vec<(u64, u64)>,
    /// Set when a commit or checkpoint failed part-way.
    poisoned: Option<String>,
    /// Records were appended to the WAL without `fdatasync` ([`Store::commit_unsynced`]).
    unsynced: bool,
}

/// The default [`Options::wal_chunk`]: 1 MiB, some hundreds of small records.
pub const WAL_CHUNK: u64 = 1 << 20;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("blobs", &self.blobs.len())
            .field("memories", &self.memories.len())
            .field("next_seq", &self.next_seq)
            .field("wal_len", &self.wal_len)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// The flock on `<dir>/LOCK`, released explicitly on drop (see
/// [`Backend::unlock`]). Nothing else happens when a store is dropped:
/// recovery does not depend on a clean close.
struct DirLock {
    file: File,
    backend: Arc<dyn Backend>,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.backend.unlock(&self.file);
    }
}

fn round_up_to_page(size: u64) -> u64 {
    size.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// The file name of a memory generation: `<generation:016x>-<sanitized name>`.
fn memory_file_name(generation: u64, name: &str) -> String {
    let mut out = format!("{generation:016x}-");
    out.extend(name.bytes().take(64).map(|b| {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            b as char
        } else {
            '_'
        }
    }));
    out
}

impl Store {
    /// Open (creating if missing) the state directory `dir` on the real file
    /// system, with default [`Options`].
    ///
    /// # Errors
    /// [`StateError::Locked`] if another store has it open; `Corrupt`,
    /// `UnsupportedVersion` or `MemoryFile` if its files do not decode;
    /// `Io` for failing system calls.
    pub fn open(dir: &Path) -> Result<Store, StateError> {
        Store::open_with(dir, Arc::new(FsBackend), Options::default())
    }

    pub fn open_with_backend(dir: &Path, backend: Arc<dyn Backend>) -> Result<Store, StateError> {
        Store::open_with(dir, backend, Options::default())
    }

    /// Open with an explicit backend and options: lock, load the manifest,
    /// replay the WAL, checkpoint, and remove unreferenced files.
    pub fn open_with(
        dir: &Path,
        backend: Arc<dyn Backend>,
        options: Options,
    ) -> Result<Store, StateError> {
        let dir = dir.to_path_buf();
        let b = &*backend;
        create_dir_durably(b, &dir)?;

        let lock_path = dir.join(LOCK_FILE);
        let lock = DirLock {
            file: b.lock(&lock_path).map_err(|e| {
                if e.kind() == io::ErrorKind::WouldBlock {
                    StateError::Locked { dir: dir.clone() }
                } else {
                    StateError::io("lock", &lock_path, e)
                }
            })?,
            backend: Arc::clone(&backend),
        };

        let mut dir_changed = false;
        for sub in [MEMORIES_DIR, CONTENT_DIR, LAYERS_DIR] {
            let path = dir.join(sub);
            if !exists(b, &path)? {
                b.create_dir(&path)
                    .map_err(|e| StateError::io("create directory", &path, e))?;
                dir_changed = true;
            }
        }

        let manifest_path = dir.join(MANIFEST_FILE);
        let (manifest, manifest_stale, manifest_len) = if exists(b, &manifest_path)? {
            let bytes = read_whole(b, &manifest_path)?;
            let len = bytes.len() as u64;
            (Manifest::decode(&bytes, &manifest_path)?, false, len)
        } else {
            (Manifest::default(), true, 0)
        };
        let tmp_path = dir.join(MANIFEST_TMP_FILE);
        if exists(b, &tmp_path)? {
            b.remove(&tmp_path)
                .map_err(|e| StateError::io("remove", &tmp_path, e))?;
        }

        let wal_path = dir.join(WAL_FILE);
        if !exists(b, &wal_path)? {
            dir_changed = true;
        }
        let wal = b
            .open(&wal_path, OpenMode::Create)
            .map_err(|e| StateError::io("open", &wal_path, e))?;
        if dir_changed {
            b.sync_dir(&dir)
                .map_err(|e| StateError::io("fsync directory", &dir, e))?;
        }

        let mut memories = BTreeMap::new();
        for (name, &(generation, size)) in &manifest.memories {
            let path = dir
                .join(MEMORIES_DIR)
                .join(memory_file_name(generation, name));
            let file = match b.open(&path, OpenMode::ReadWrite) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(StateError::MemoryFile {
                        name: name.clone(),
                        path,
                        cause: "is missing (the manifest references it)".into(),
                    })
                }
                Err(e) => return Err(StateError::io("open", &path, e)),
            };
            let len = b.len(&file).map_err(|e| StateError::io("stat", &path, e))?;
            if len < round_up_to_page(size) {
                return Err(StateError::MemoryFile {
                    name: name.clone(),
                    path,
                    cause: format!(
                        "is {len} bytes, shorter than the memory's committed size {size}"
                    ),
                });
            }
            memories.insert(
                name.clone(),
                Memory {
                    generation,
                    size,
                    file: Arc::new(file),
                    len,
                },
            );
        }

        let (snaps, layers) = load_snapshots(b, &dir, &manifest, &memories)?;
        let mut store = Store {
            dir,
            backend,
            options,
            lock,
            blobs: manifest.blobs,
            memories,
            next_seq: manifest.next_seq,
            next_gen: manifest.next_gen,
            wal,
            wal_len: 0,
            manifest_len,
            wal_allocated: 0,
            dirty: BTreeMap::new(),
            memories_dir_dirty: false,
            garbage: Vec::new(),
            manifest_stale,
            snaps,
            layers,
            next_layer: manifest.next_layer.max(1),
            pending_punch: Vec::new(),
            poisoned: None,
            unsynced: false,
        };
        store.replay()?;
        store.checkpoint()?;
        store.remove_leftovers()?;
        store.trim_layers()?;
        Ok(store)
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The value of a blob.
    pub fn blob(&self, key: &str) -> Option<&[u8]> {
        self.blobs.get(key).map(Vec::as_slice)
    }

    /// The keys of all blobs starting with `prefix`, sorted.
    pub fn blob_keys(&self, prefix: &str) -> Vec<String> {
        keys_with_prefix(&self.blobs, prefix)
    }

    /// The current backing file of a paged memory, `None` if absent.
    pub fn memory(&self, name: &str) -> Option<MemoryFile> {
        self.memories.get(name).map(|m| MemoryFile {
            file: Arc::clone(&m.file),
            size: m.size,
        })
    }

    /// The names of all memories starting with `prefix`, sorted.
    pub fn memory_names(&self, prefix: &str) -> Vec<String> {
        keys_with_prefix(&self.memories, prefix)
    }

    /// The names of all snapshots (see [`MemoryOp::Snapshot`]) starting with
    /// `prefix`, sorted.
    pub fn snapshot_names(&self, prefix: &str) -> Vec<String> {
        keys_with_prefix(&self.snaps, prefix)
    }

    /// The size in bytes of a snapshot, `None` if there is no such snapshot.
    pub fn snapshot_size(&self, name: &str) -> Option<u64> {
        self.snaps.get(name).map(|s| s.size)
    }

    /// Read `buf.len()` bytes at `offset` from a memory or a snapshot, as
    /// committed. The range must lie within its size rounded up to a page.
    ///
    /// # Errors
    /// [`StateError::NotFound`] for an unknown name or a range past the size;
    /// `Io` if a file cannot be read.
    pub fn read_memory(&self, name: &str, offset: u64, buf: &mut [u8]) -> Result<(), StateError> {
        self.read_any(name, offset, buf)
    }

    /// Bytes in the WAL since the last checkpoint.
    pub fn wal_len(&self) -> u64 {
        self.wal_len
    }

    /// Apply `batch` atomically. When this returns `Ok`, the batch is durable
    /// and visible through [`Store::blob`] and [`Store::memory`].
    ///
    /// # Errors
    /// [`StateError::InvalidBatch`] (nothing written, the store stays usable)
    /// if a page is not [`PAGE_SIZE`] bytes or starts at or past `size`, if a
    /// size shrinks without reset or exceeds [`MAX_MEMORY_BYTES`], or if a
    /// key, value or the whole record is 4 GiB or more. Any I/O error
    /// poisons the store (see the crate documentation); the batch may or may
    /// not be durable then.
    pub fn commit(&mut self, batch: Batch) -> Result<(), StateError> {
        self.commit_inner(batch, true)
    }

    /// Like [`Store::commit`], but the WAL record is not `fdatasync`ed: the batch is visible
    /// at once and durable after the next [`Store::sync`] (or a [`WalSync`] taken after it).
    /// The write is in the kernel's page cache, so a crash of the process loses nothing; a
    /// crash of the machine may lose it. Callers acknowledge such batches only after a sync:
    /// many commits share one durable write (group commit).
    ///
    /// # Errors
    /// As [`Store::commit`].
    pub fn commit_unsynced(&mut self, batch: Batch) -> Result<(), StateError> {
        self.commit_inner(batch, false)
    }

    /// Makes every batch committed so far durable.
    ///
    /// # Errors
    /// `Io` (and the store is poisoned) when `fdatasync` fails.
    pub fn sync(&mut self) -> Result<(), StateError> {
        self.check_poisoned()?;
        if !self.unsynced {
            return Ok(());
        }
        let path = self.dir.join(WAL_FILE);
        let result = self
            .backend
            .sync(&self.wal)
            .map_err(|e| StateError::io("fsync", &path, e));
        let result = self.poison_on_error(result);
        if result.is_ok() {
            self.unsynced = false;
        }
        result
    }

    /// Whether batches committed with [`Store::commit_unsynced`] wait for a sync.
    pub fn needs_sync(&self) -> bool {
        self.unsynced
    }

    /// A handle that makes every batch committed so far durable without borrowing the store,
    /// so the `fdatasync` can run while other batches are committed (group commit).
    ///
    /// # Errors
    /// `Io` when the WAL's descriptor cannot be duplicated.
    pub fn wal_sync(&self) -> Result<WalSync, StateError> {
        self.check_poisoned()?;
        let path = self.dir.join(WAL_FILE);
        let file = self
            .wal
            .try_clone()
            .map_err(|e| StateError::io("duplicate the descriptor of", &path, e))?;
        Ok(WalSync {
            file,
            path,
            backend: self.backend.clone(),
            seq: self.next_seq,
        })
    }

    /// After `handle` synced: nothing waits for a sync any more unless batches were committed
    /// since it was taken.
    pub fn synced(&mut self, handle: &WalSync) {
        if handle.seq == self.next_seq {
            self.unsynced = false;
        }
    }

    fn commit_inner(&mut self, batch: Batch, sync: bool) -> Result<(), StateError> {
        self.check_poisoned()?;
        let pending = self.resolve(&batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        if self.wal_len >= self.options.checkpoint_wal_bytes.max(self.manifest_len) {
            self.checkpoint()?;
        }
        // Refusals for want of space come before anything is written: not poisoning.
        self.own_files_for(&batch, &pending)?;
        self.ensure_space(&batch, &pending)?;
        let result = self.prepare_and_append(&batch, pending, sync);
        self.poison_on_error(result)
    }

    /// Makes room for `batch` before anything of it is written, so that running out of space
    /// refuses this commit alone and leaves the store writable:
    /// - a memory that grows within its file gets the new range reserved
    ///   ([`Backend::reserve`]), so no page of its mapping can fault for want of space (on
    ///   tmpfs that fault is a SIGBUS);
    /// - the file system must have free room for the WAL record (each page and blob, with
    ///   some overhead) and, where files are reserved whole, for every fresh file's length.
    fn ensure_space(&self, batch: &Batch, pending: &[Pending]) -> Result<(), StateError> {
        let b = &*self.backend;
        let mut needed: u64 = 4096;
        let mut fresh_len: u64 = 0;
        for (key, value) in &batch.blobs {
            needed += 64 + key.len() as u64 + value.as_ref().map_or(0, |v| v.len() as u64);
        }
        for (update, p) in batch.memories.iter().zip(pending) {
            let MemoryOp::Write { size, pages, .. } = &update.op else {
                continue;
            };
            needed += pages.len() as u64 * (PAGE_SIZE + 16);
            let want = round_up_to_page(*size);
            match p {
                Pending::Write { fresh: true, .. } => fresh_len += want,
                Pending::Write { fresh: false, .. } => {
                    if let Some(m) = self.memories.get(&update.name) {
                        if m.len < want {
                            if let Err(e) = b.reserve(&m.file, m.len, want - m.len) {
                                // Any other failure is the commit's to meet (and poison on).
                                if e.raw_os_error() == Some(libc::ENOSPC) {
                                    let path = self.memory_path(m.generation, &update.name);
                                    return Err(self.no_space_or(
                                        e,
                                        want - m.len,
                                        "reserve space in",
                                        &path,
                                    ));
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        // A file system that cannot say how full it is gets no check: the commit meets any
        // real failure itself. (Asked through the lock file, which lives in the directory.)
        if let Ok(Some(space)) = b.space(&self.lock.file) {
            if space.reserves {
                needed += fresh_len;
            }
            if space.available < needed {
                return Err(StateError::NoSpace {
                    dir: self.dir.clone(),
                    needed,
                    available: space.available,
                });
            }
        }
        Ok(())
    }

    /// `NoSpace` for an out-of-space `e`, else an I/O error.
    fn no_space_or(
        &self,
        e: std::io::Error,
        needed: u64,
        op: &'static str,
        path: &Path,
    ) -> StateError {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            let available = self
                .backend
                .space(&self.lock.file)
                .ok()
                .flatten()
                .map_or(0, |s| s.available);
            StateError::NoSpace {
                dir: self.dir.clone(),
                needed,
                available,
            }
        } else {
            StateError::io(op, path, e)
        }
    }

    /// Do the writes that must be durable before the record (restores),
    /// then append the record and apply it.
    fn prepare_and_append(
        &mut self,
        batch: &Batch,
        pending: Vec<Pending>,
        sync: bool,
    ) -> Result<(), StateError> {
        let mut resolutions = Vec::with_capacity(pending.len());
        for (update, p) in batch.memories.iter().zip(pending) {
            resolutions.push(match (p, &update.op) {
                (Pending::Ready(r), _) => r,
                (
                    Pending::Write {
                        generation,
                        fresh,
                        layer,
                        images,
                    },
                    _,
                ) => {
                    let preserved = if images.is_empty() {
                        wal::Preserved::default()
                    } else {
                        self.write_preserved(layer, &images)?
                    };
                    Resolution::Write {
                        generation,
                        fresh,
                        preserved,
                    }
                }
                (Pending::Restore(plan), MemoryOp::Restore { from }) => {
                    self.prepare_restore(&update.name, from, &plan)?
                }
                (Pending::Restore(_), _) => {
                    return Err(StateError::invalid("a restore plan for another operation"))
                }
            });
        }
        let record = wal::encode(self.next_seq, batch, &resolutions)?;
        self.append_and_apply(&record, batch, &resolutions, sync)
    }

    fn append_and_apply(
        &mut self,
        record: &[u8],
        batch: &Batch,
        resolutions: &[Resolution],
        sync: bool,
    ) -> Result<(), StateError> {
        let wal_path = self.dir.join(WAL_FILE);
        let b = &*self.backend;
        let end = self.wal_len + record.len() as u64;
        let chunk = self.options.wal_chunk;
        if chunk > 0 && end > self.wal_allocated {
            // Preallocate: zeros up to the next chunk boundary, written with this record, so
            // the `fdatasync`s of the records that follow in the chunk flush data only (the
            // file's size and blocks are already durable). Recovery reads the zeros as a torn
            // tail (no intact record follows).
            let allocated = end.div_ceil(chunk) * chunk;
            let zeros = vec![0u8; (allocated - end) as usize];
            b.write_at(&self.wal, &zeros, end)
                .map_err(|e| StateError::io("preallocate", &wal_path, e))?;
            self.wal_allocated = allocated;
        }
        b.write_at(&self.wal, record, self.wal_len)
            .map_err(|e| StateError::io("append to", &wal_path, e))?;
        if sync {
            b.sync(&self.wal)
                .map_err(|e| StateError::io("fsync", &wal_path, e))?;
            self.unsynced = false;
        } else {
            self.unsynced = true;
        }
        self.wal_len += record.len() as u64;
        self.next_seq += 1;
        self.manifest_stale = true;
        self.apply(batch, resolutions, None)
    }

    /// Fold the WAL into the memory files and the manifest, then truncate it.
    pub fn checkpoint(&mut self) -> Result<(), StateError> {
        self.check_poisoned()?;
        let result = self.checkpoint_inner();
        self.poison_on_error(result)
    }

    fn checkpoint_inner(&mut self) -> Result<(), StateError> {
        let b = &*self.backend;
        let nothing_to_do = self.wal_len == 0
            && !self.manifest_stale
            && self.dirty.is_empty()
            && self.garbage.is_empty()
            && self.pending_punch.is_empty()
            && !self.memories_dir_dirty;
        if nothing_to_do {
            return Ok(());
        }

        // 1. Memory files and their directory entries.
        for (file, path) in self.dirty.values() {
            b.sync(file).map_err(|e| StateError::io("fsync", path, e))?;
        }
        if self.memories_dir_dirty {
            let path = self.dir.join(MEMORIES_DIR);
            b.sync_dir(&path)
                .map_err(|e| StateError::io("fsync directory", &path, e))?;
        }
        let b = &*self.backend;

        // 2. The manifest, atomically.
        if self.manifest_stale || self.wal_len > 0 {
            // The blobs are lent to the manifest for its encoding, not copied: they can be
            // large (answers kept for replay protection).
            let manifest = Manifest {
                next_seq: self.next_seq,
                next_gen: self.next_gen,
                blobs: std::mem::take(&mut self.blobs),
                memories: self
                    .memories
                    .iter()
                    .map(|(n, m)| (n.clone(), (m.generation, m.size)))
                    .collect(),
                next_layer: self.next_layer,
                layers: self
                    .layers
                    .iter()
                    .map(|(id, l)| (*id, l.next_slot))
                    .collect(),
                snapshots: self
                    .snaps
                    .iter()
                    .map(|(n, s)| (n.clone(), snapshot_entry(s)))
                    .collect(),
            };
            let bytes = manifest.encode();
            self.blobs = manifest.blobs;
            self.manifest_len = bytes.len() as u64;
            let tmp = self.dir.join(MANIFEST_TMP_FILE);
            let path = self.dir.join(MANIFEST_FILE);
            write_file_durably(b, &tmp, &bytes)?;
            b.rename(&tmp, &path)
                .map_err(|e| StateError::io("rename", &tmp, e))?;
            b.sync_dir(&self.dir)
                .map_err(|e| StateError::io("fsync directory", &self.dir, e))?;
        }

        // 3. The WAL, now folded in.
        if self.wal_len > 0 || self.wal_allocated > 0 {
            let path = self.dir.join(WAL_FILE);
            b.set_len(&self.wal, 0)
                .map_err(|e| StateError::io("truncate", &path, e))?;
            b.sync(&self.wal)
                .map_err(|e| StateError::io("fsync", &path, e))?;
        }

        // 4. Pages and files the manifest no longer references.
        self.punch_freed()?;
        let b = &*self.backend;
        for path in &self.garbage {
            match b.remove(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StateError::io("remove", path, e)),
            }
        }

        self.wal_len = 0;
        self.wal_allocated = 0;
        self.unsynced = false;
        self.dirty.clear();
        self.memories_dir_dirty = false;
        self.garbage.clear();
        self.manifest_stale = false;
        Ok(())
    }

    fn memory_path(&self, generation: u64, name: &str) -> PathBuf {
        self.dir
            .join(MEMORIES_DIR)
            .join(memory_file_name(generation, name))
    }

    fn check_poisoned(&self) -> Result<(), StateError> {
        match &self.poisoned {
            None => Ok(()),
            Some(cause) => Err(StateError::Poisoned {
                dir: self.dir.clone(),
                cause: cause.clone(),
            }),
        }
    }

    fn poison_on_error<T>(&mut self, result: Result<T, StateError>) -> Result<T, StateError> {
        if let Err(e) = &result {
            self.poisoned = Some(e.to_string());
        }
        result
    }

    /// Apply a resolved batch to the files and to RAM. `record` is the WAL
    /// offset when replaying, for error messages.
    fn apply(
        &mut self,
        batch: &Batch,
        resolutions: &[Resolution],
        record: Option<u64>,
    ) -> Result<(), StateError> {
        for (key, value) in &batch.blobs {
            match value {
                Some(v) => self.blobs.insert(key.clone(), v.clone()),
                None => self.blobs.remove(key),
            };
        }
        for (update, resolution) in batch.memories.iter().zip(resolutions) {
            let name = &update.name;
            match (resolution, &update.op) {
                (Resolution::Delete, _) => {
                    if self.snaps.contains_key(name) {
                        self.delete_snapshot(name);
                    } else if let Some(old) = self.memories.remove(name) {
                        self.release_generation(old.generation, name);
                    }
                }
                (
                    Resolution::Write {
                        generation,
                        fresh,
                        preserved,
                    },
                    MemoryOp::Write { size, pages, .. },
                ) => {
                    if !fresh {
                        self.apply_preserved(*generation, preserved)?;
                    }
                    self.apply_write(name, *generation, *fresh, *size, pages, record)?;
                }
                (Resolution::Snapshot { layer }, MemoryOp::Snapshot { from }) => {
                    self.apply_snapshot(name, from, *layer)?;
                }
                (Resolution::RestoreInPlace { preserved }, MemoryOp::Restore { from }) => {
                    self.apply_restore_in_place(name, from, preserved)?;
                }
                (Resolution::RestoreCopy { generation }, MemoryOp::Restore { from }) => {
                    self.apply_restore_copy(name, from, *generation)?;
                }
                _ => {
                    // `wal::decode_payload` and `resolve` never pair these.
                    return Err(StateError::corrupt(
                        self.dir.join(WAL_FILE),
                        record.unwrap_or(0),
                        format!("memory {name:?}: the resolution does not fit the operation"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn apply_write(
        &mut self,
        name: &str,
        generation: u64,
        fresh: bool,
        size: u64,
        pages: &[(u64, Vec<u8>)],
        record: Option<u64>,
    ) -> Result<(), StateError> {
        if record.is_some() && !fresh {
            // A replayed record may write a file that a copy of the directory links.
            self.own_file(share::Owned::Memory(generation))?;
        }
        let path = self.memory_path(generation, name);
        let wal_corrupt = |cause: String| {
            StateError::corrupt(
                self.dir.join(WAL_FILE),
                record.unwrap_or(0),
                format!("write-ahead log record: memory {name:?}: {cause}"),
            )
        };
        if record.is_some() {
            // Replay: check what `resolve` guaranteed at commit time.
            if size > MAX_MEMORY_BYTES {
                return Err(wal_corrupt(format!("size {size} exceeds the maximum")));
            }
            if fresh && generation < self.next_gen {
                return Err(wal_corrupt(format!(
                    "new generation {generation} is not above the generations in use"
                )));
            }
            if let Some((index, _)) = pages
                .iter()
                .find(|(index, _)| index.checked_mul(PAGE_SIZE).is_none_or(|s| s >= size))
            {
                return Err(wal_corrupt(format!(
                    "page {index} starts at or past the size {size}"
                )));
            }
        }
        let (file, mut len) = if fresh {
            if let Some(old) = self.memories.remove(name) {
                self.release_generation(old.generation, name);
            }
            let b = &*self.backend;
            let file = b
                .open(&path, OpenMode::CreateTruncate)
                .map_err(|e| StateError::io("create", &path, e))?;
            self.memories_dir_dirty = true;
            (Arc::new(file), 0)
        } else {
            match self.memories.get(name) {
                Some(m) if m.generation == generation => {
                    if size < m.size {
                        return Err(wal_corrupt(format!(
                            "size shrinks from {} to {size}",
                            m.size
                        )));
                    }
                    (Arc::clone(&m.file), m.len)
                }
                other => {
                    return Err(wal_corrupt(format!(
                        "writes to generation {generation}, but the memory is at {}",
                        other.map_or("no generation (absent)".to_string(), |m| m
                            .generation
                            .to_string())
                    )))
                }
            }
        };
        len = self.extend_to(&file, &path, len, round_up_to_page(size))?;
        let b = &*self.backend;
        for (index, data) in pages {
            b.write_at(&file, data, index * PAGE_SIZE)
                .map_err(|e| StateError::io("write page to", &path, e))?;
        }
        self.dirty.insert(generation, (Arc::clone(&file), path));
        self.next_gen = self.next_gen.max(generation + 1);
        self.memories.insert(
            name.to_string(),
            Memory {
                generation,
                size,
                file,
                len,
            },
        );
        Ok(())
    }
}

impl Store {
    /// Grow a memory file of length `len` to `want` bytes if shorter; returns
    /// the new length.
    /// The new range is reserved first ([`Backend::reserve`]), so no page of a mapping of the
    /// file can fault for want of space.
    fn extend_to(&self, file: &File, path: &Path, len: u64, want: u64) -> Result<u64, StateError> {
        if len < want {
            self.backend
                .reserve(file, len, want - len)
                .map_err(|e| self.no_space_or(e, want - len, "reserve space in", path))?;
            self.backend
                .set_len(file, want)
                .map_err(|e| StateError::io("extend", path, e))?;
            return Ok(want);
        }
        Ok(len)
    }
}

fn exists(b: &dyn Backend, path: &Path) -> Result<bool, StateError> {
    b.exists(path).map_err(|e| StateError::io("stat", path, e))
}

/// Create `dir` and any missing parents, fsyncing each parent so the new
/// entries survive a power loss.
fn create_dir_durably(b: &dyn Backend, dir: &Path) -> Result<(), StateError> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(path) = cursor {
        if path.as_os_str().is_empty() || exists(b, path)? {
            break;
        }
        missing.push(path);
        cursor = path.parent();
    }
    for path in missing.into_iter().rev() {
        b.create_dir(path)
            .map_err(|e| StateError::io("create directory", path, e))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            b.sync_dir(parent)
                .map_err(|e| StateError::io("fsync directory", parent, e))?;
        }
    }
    Ok(())
}

fn read_whole(b: &dyn Backend, path: &Path) -> Result<Vec<u8>, StateError> {
    let file = b
        .open(path, OpenMode::Read)
        .map_err(|e| StateError::io("open", path, e))?;
    let len = b.len(&file).map_err(|e| StateError::io("stat", path, e))?;
    let len = usize::try_from(len).map_err(|_| {
        StateError::corrupt(
            path,
            0,
            format!("file of {len} bytes does not fit in memory"),
        )
    })?;
    let mut bytes = vec![0; len];
    b.read_at(&file, &mut bytes, 0)
        .map_err(|e| StateError::io("read", path, e))?;
    Ok(bytes)
}

/// Write a whole new file and fsync it (its directory entry is not synced).
fn write_file_durably(b: &dyn Backend, path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let file = b
        .open(path, OpenMode::CreateTruncate)
        .map_err(|e| StateError::io("create", path, e))?;
    b.write_at(&file, bytes, 0)
        .map_err(|e| StateError::io("write", path, e))?;
    b.sync(&file).map_err(|e| StateError::io("fsync", path, e))
}

/// What `resolve` decided for one memory update.
enum Pending {
    Ready(Resolution),
    /// A write; the before-images go to slots of `layer` at commit time.
    Write {
        generation: u64,
        fresh: bool,
        layer: u64,
        images: wal::PageImages,
    },
    /// Resolved at commit time by [`Store::prepare_restore`].
    Restore(RestorePlan),
}

impl Pending {
    /// Whether it restores a memory in place (writing its snapshot's own file).
    fn restores_in_place(&self) -> bool {
        matches!(self, Pending::Restore(RestorePlan::InPlace))
    }
}

/// The keys of `map` that start with `prefix`, sorted.
fn keys_with_prefix<V>(map: &BTreeMap<String, V>, prefix: &str) -> Vec<String> {
    map.range::<str, _>((
        std::ops::Bound::Included(prefix),
        std::ops::Bound::Unbounded,
    ))
    .take_while(|(k, _)| k.starts_with(prefix))
    .map(|(k, _)| k.clone())
    .collect()
}
