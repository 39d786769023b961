//! [`FaultBackend`]: a [`Backend`] that crashes on purpose, for tests.
//!
//! It performs every operation on the real file system (through
//! [`FsBackend`]), numbers the write-type operations from 0, and at the
//! chosen one "crashes": that operation fails without doing anything, and
//! every later operation, reads included, fails too. The store under test
//! then sees an I/O error, as it would if the machine went down mid-call, and
//! the test reopens the directory with [`FsBackend`] to check recovery.
//!
//! # What a crash simulates
//!
//! To know what a power loss may lose, the backend keeps, for every file
//! written since its last `sync`, the file's durable image (its content at
//! that sync) and the list of writes and `set_len`s since; and for every
//! directory, the creations, renames and removals since its last `sync_dir`.
//! At the crash it rewrites the disk according to the [`CrashMode`]:
//!
//! * [`CrashMode::ProcessKill`]: nothing is lost (the OS page cache survives a
//!   killed process). Checks ordering logic only.
//! * [`CrashMode::PowerLoss`]: every unsynced write and `set_len` is undone
//!   (the file goes back to its durable image) and every unsynced directory
//!   change is undone, newest first: created files and directories vanish,
//!   removed files come back with their durable content, renames are reversed
//!   and the replaced target comes back.
//! * [`CrashMode::Torn`]: a seeded random mix. Each unsynced write is
//!   independently kept, lost, cut to a random prefix, or replaced by zeros of
//!   the same length (the size reached the disk but the data did not); each
//!   `set_len` is kept or lost; the oldest `k` directory changes survive and
//!   the rest are undone (metadata is journaled in order), `k` random.
//!
//! # What it does not simulate
//!
//! * The crashing operation itself never takes effect, not even partly
//!   (a torn write is simulated only among the writes before it).
//! * Writes are whole-write or prefix granular, not per sector; it does not
//!   reorder data writes across an fsync, nor lose data that was synced.
//! * A file's directory entry is durable only after `sync_dir` of its parent,
//!   even if the file itself was synced (stricter than ext4 in practice).
//! * Directory changes are replayed on paths as given; operations on the same
//!   path through different spellings (`a/./b`) are not recognized as one.
//! * Whole-file images are held in RAM: use it on small files.
//! * Memory mappings of the files (`mmap`) see the rewritten files as any
//!   mapping would; page-cache effects on mappings are not modelled.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::backend::{Backend, FsBackend, OpenMode};

/// What a simulated crash loses; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    ProcessKill,
    PowerLoss,
    Torn { seed: u64 },
}

/// A [`Backend`] that crashes at a chosen write-type operation.
#[derive(Debug)]
pub struct FaultBackend {
    inner: FsBackend,
    crash_at: Option<u64>,
    mode: CrashMode,
    state: Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    write_ops: u64,
    crashed: bool,
    /// Files with writes since their last sync, by (device, inode).
    files: HashMap<(u64, u64), Tracked>,
    /// Directory changes not yet made durable by `sync_dir`, oldest first.
    dir_ops: Vec<DirOp>,
    rng: u64,
}

#[derive(Debug)]
struct Tracked {
    file: File,
    durable: Vec<u8>,
    pending: Vec<ContentOp>,
}

#[derive(Debug)]
enum ContentOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug)]
enum DirOp {
    CreatedFile(PathBuf),
    CreatedDir(PathBuf),
    Removed {
        path: PathBuf,
        content: Vec<u8>,
    },
    Renamed {
        from: PathBuf,
        to: PathBuf,
        replaced: Option<Vec<u8>>,
    },
}

impl DirOp {
    fn touches_dir(&self, dir: &Path) -> bool {
        let parent_is = |p: &Path| p.parent() == Some(dir);
        match self {
            DirOp::CreatedFile(p) | DirOp::CreatedDir(p) => parent_is(p),
            DirOp::Removed { path, .. } => parent_is(path),
            DirOp::Renamed { from, to, .. } => parent_is(from) || parent_is(to),
        }
    }
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash (FaultBackend)")
}

fn inode(file: &File) -> io::Result<(u64, u64)> {
    let meta = file.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

fn read_file(file: &File) -> io::Result<Vec<u8>> {
    let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

fn write_into(content: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let Ok(start) = usize::try_from(offset) else {
        return;
    };
    let end = start + data.len();
    if content.len() < end {
        content.resize(end, 0);
    }
    content[start..end].copy_from_slice(data);
}

impl FaultBackend {
    /// A backend that never crashes by itself (see [`FaultBackend::crash_now`]).
    pub fn new(mode: CrashMode) -> FaultBackend {
        FaultBackend::build(None, mode)
    }

    /// A backend whose write-type operation number `op` (from 0) crashes.
    pub fn crashing_at(op: u64, mode: CrashMode) -> FaultBackend {
        FaultBackend::build(Some(op), mode)
    }

    fn build(crash_at: Option<u64>, mode: CrashMode) -> FaultBackend {
        let seed = match mode {
            CrashMode::Torn { seed } => seed,
            _ => 0,
        };
        FaultBackend {
            inner: FsBackend,
            crash_at,
            mode,
            state: Mutex::new(FaultState {
                rng: seed ^ 0x9E37_79B9_7F4A_7C15,
                ..FaultState::default()
            }),
        }
    }

    /// How many write-type operations were attempted so far.
    pub fn write_ops(&self) -> u64 {
        self.lock_state().write_ops
    }

    pub fn has_crashed(&self) -> bool {
        self.lock_state().crashed
    }

    /// Crash now, between operations (does nothing if already crashed).
    pub fn crash_now(&self) {
        let mut st = self.lock_state();
        if !st.crashed {
            self.crash(&mut st);
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, FaultState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Count a write-type operation; crash if it is the chosen one.
    fn begin_write(&self) -> io::Result<MutexGuard<'_, FaultState>> {
        let mut st = self.lock_state();
        if st.crashed {
            return Err(crashed());
        }
        let n = st.write_ops;
        st.write_ops += 1;
        if self.crash_at == Some(n) {
            self.crash(&mut st);
            return Err(crashed());
        }
        Ok(st)
    }

    fn begin_read(&self) -> io::Result<MutexGuard<'_, FaultState>> {
        let st = self.lock_state();
        if st.crashed {
            return Err(crashed());
        }
        Ok(st)
    }

    /// Start tracking `file` if it has no unsynced writes yet.
    fn track<'a>(st: &'a mut FaultState, file: &File) -> io::Result<&'a mut Tracked> {
        let key = inode(file)?;
        if let std::collections::hash_map::Entry::Vacant(e) = st.files.entry(key) {
            e.insert(Tracked {
                file: file.try_clone()?,
                durable: read_file(file)?,
                pending: Vec::new(),
            });
        }
        st.files
            .get_mut(&key)
            .ok_or_else(|| io::Error::other("tracking lost"))
    }

    /// The content of `path` as a power loss now would leave it.
    fn durable_content(st: &FaultState, path: &Path) -> io::Result<Vec<u8>> {
        let file = File::open(path)?;
        match st.files.get(&inode(&file)?) {
            Some(tracked) => Ok(tracked.durable.clone()),
            None => read_file(&file),
        }
    }

    fn next_random(st: &mut FaultState) -> u64 {
        // splitmix64
        st.rng = st.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = st.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Rewrite the disk as the crash mode says; errors are ignored (best effort).
    fn crash(&self, st: &mut FaultState) {
        st.crashed = true;
        let torn = match self.mode {
            CrashMode::ProcessKill => return,
            CrashMode::PowerLoss => false,
            CrashMode::Torn { .. } => true,
        };

        // File contents: durable image plus the surviving unsynced operations.
        let mut files = std::mem::take(&mut st.files);
        for tracked in files.values_mut() {
            let mut content = tracked.durable.clone();
            for op in &tracked.pending {
                let fate = if torn { Self::next_random(st) % 4 } else { 1 };
                match (op, fate) {
                    (ContentOp::Write { offset, data }, 0) => {
                        write_into(&mut content, *offset, data)
                    }
                    (ContentOp::Write { offset, data }, 2) => {
                        let cut = (Self::next_random(st) % (data.len() as u64 + 1)) as usize;
                        write_into(&mut content, *offset, &data[..cut]);
                    }
                    (ContentOp::Write { offset, data }, 3) => {
                        write_into(&mut content, *offset, &vec![0; data.len()]);
                    }
                    (ContentOp::SetLen(len), 0 | 2) => {
                        if let Ok(len) = usize::try_from(*len) {
                            content.resize(len, 0);
                        }
                    }
                    _ => {}
                }
            }
            let _ = tracked.file.set_len(content.len() as u64);
            let _ = tracked.file.write_all_at(&content, 0);
        }

        // Directory changes: keep the oldest `keep`, undo the rest newest first.
        let ops = std::mem::take(&mut st.dir_ops);
        let keep = if torn {
            (Self::next_random(st) % (ops.len() as u64 + 1)) as usize
        } else {
            0
        };
        for op in ops.into_iter().skip(keep).rev() {
            match op {
                DirOp::CreatedFile(path) => {
                    let _ = std::fs::remove_file(path);
                }
                DirOp::CreatedDir(path) => {
                    let _ = std::fs::remove_dir_all(path);
                }
                DirOp::Removed { path, content } => {
                    let _ = std::fs::write(path, content);
                }
                DirOp::Renamed { from, to, replaced } => {
                    let _ = std::fs::rename(&to, &from);
                    if let Some(content) = replaced {
                        let _ = std::fs::write(&to, content);
                    }
                }
            }
        }
    }
}

impl Backend for FaultBackend {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.begin_write()?;
        self.inner.create_dir(path)?;
        st.dir_ops.push(DirOp::CreatedDir(path.to_path_buf()));
        Ok(())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        match mode {
            OpenMode::Read | OpenMode::ReadWrite => {
                let _st = self.begin_read()?;
                self.inner.open(path, mode)
            }
            OpenMode::Create | OpenMode::CreateTruncate => {
                let mut st = self.begin_write()?;
                let existed = path.try_exists()?;
                let file = self.inner.open(path, OpenMode::Create)?;
                if !existed {
                    st.dir_ops.push(DirOp::CreatedFile(path.to_path_buf()));
                } else if mode == OpenMode::CreateTruncate {
                    let tracked = Self::track(&mut st, &file)?;
                    file.set_len(0)?;
                    tracked.pending.push(ContentOp::SetLen(0));
                }
                Ok(file)
            }
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let _st = self.begin_read()?;
        self.inner.exists(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let _st = self.begin_read()?;
        self.inner.read_dir(path)
    }

    fn len(&self, file: &File) -> io::Result<u64> {
        let _st = self.begin_read()?;
        self.inner.len(file)
    }

    fn read_at(&self, file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let _st = self.begin_read()?;
        self.inner.read_at(file, buf, offset)
    }

    fn write_at(&self, file: &File, data: &[u8], offset: u64) -> io::Result<()> {
        let mut st = self.begin_write()?;
        let tracked = Self::track(&mut st, file)?;
        self.inner.write_at(file, data, offset)?;
        tracked.pending.push(ContentOp::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        let mut st = self.begin_write()?;
        let tracked = Self::track(&mut st, file)?;
        self.inner.set_len(file, len)?;
        tracked.pending.push(ContentOp::SetLen(len));
        Ok(())
    }

    fn punch_hole(&self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        let mut st = self.begin_write()?;
        let tracked = Self::track(&mut st, file)?;
        let file_len = self.inner.len(file)?;
        self.inner.punch_hole(file, offset, len)?;
        // Modelled as a write of zeros over the part inside the file.
        let end = offset.saturating_add(len).min(file_len);
        if end > offset {
            let zeros = usize::try_from(end - offset).map_err(io::Error::other)?;
            tracked.pending.push(ContentOp::Write {
                offset,
                data: vec![0; zeros],
            });
        }
        Ok(())
    }

    fn reserve(&self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        // Allocation changes no content: not a write point, nothing for a crash to undo.
        let _st = self.begin_read()?;
        self.inner.reserve(file, offset, len)
    }

    fn space(&self, file: &File) -> io::Result<Option<crate::backend::Space>> {
        let _st = self.begin_read()?;
        self.inner.space(file)
    }

    fn sync(&self, file: &File) -> io::Result<()> {
        let mut st = self.begin_write()?;
        self.inner.sync(file)?;
        st.files.remove(&inode(file)?);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.begin_write()?;
        self.inner.sync_dir(path)?;
        st.dir_ops.retain(|op| !op.touches_dir(path));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.begin_write()?;
        let replaced = if to.try_exists()? {
            Some(Self::durable_content(&st, to)?)
        } else {
            None
        };
        self.inner.rename(from, to)?;
        st.dir_ops.push(DirOp::Renamed {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            replaced,
        });
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.begin_write()?;
        let content = Self::durable_content(&st, path)?;
        self.inner.remove(path)?;
        st.dir_ops.push(DirOp::Removed {
            path: path.to_path_buf(),
            content,
        });
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<File> {
        let _st = self.begin_read()?;
        self.inner.lock(path)
    }

    fn unlock(&self, lock: &File) -> io::Result<()> {
        // Even after a crash: a dead process's locks are gone.
        self.inner.unlock(lock)
    }
}
