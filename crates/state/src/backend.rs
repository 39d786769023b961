//! All file-system I/O of the store goes through [`Backend`], so tests can swap
//! in [`FaultBackend`](crate::FaultBackend) and crash the store at any write.
//!
//! Handles are plain [`std::fs::File`]s: the execution crate `mmap`s memory
//! files, so they must be real file descriptors whatever the backend.
//! A backend only decides how operations on them are carried out.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// How [`Backend::open`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; created empty if absent, content kept if present.
    Create,
    /// Read and write; created if absent, truncated to length 0 if present.
    CreateTruncate,
}

/// The room in a file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Space {
    /// Bytes free for writing.
    pub available: u64,
    /// Whether [`Backend::reserve`] allocates there (tmpfs), so that a file's whole length
    /// costs space, not only the pages written.
    pub reserves: bool,
}

/// The file-system operations the store uses.
///
/// "Write-type" operations (those that change the disk) are `create_dir`,
/// `open` with a creating mode, `write_at`, `set_len`, `punch_hole`, `sync`, `sync_dir`,
/// `rename` and `remove`. Only `sync` and `sync_dir` make anything durable:
/// the store assumes that, after a power loss, any write not followed by a
/// `sync` of its file (and any directory change not followed by `sync_dir` of
/// its directory) may be lost, partly or wholly.
pub trait Backend: Send + Sync {
    /// Create one directory (its parent must exist). Fails if it exists.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Names of the entries of a directory, in no particular order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    fn len(&self, file: &File) -> io::Result<u64>;
    /// Fill `buf` from `offset`; fails with `UnexpectedEof` past the end.
    fn read_at(&self, file: &File, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Write all of `data` at `offset`, extending the file if needed.
    fn write_at(&self, file: &File, data: &[u8], offset: u64) -> io::Result<()>;
    fn set_len(&self, file: &File, len: u64) -> io::Result<()>;
    /// Deallocate `len` bytes at `offset`: they read as zero afterwards and
    /// free their disk blocks; the file length does not change.
    fn punch_hole(&self, file: &File, offset: u64, len: u64) -> io::Result<()>;
    /// Allocate space for `len` bytes at `offset` (the length does not change) where the file
    /// system would otherwise need space when a page of a memory mapping of the file faults in.
    /// On tmpfs a fault on a hole allocates a page and, with the file system full, kills the
    /// process with SIGBUS; reserving (`fallocate`) turns that into this call's `ENOSPC`. On
    /// disk file systems (ext4, xfs, btrfs) holes read as zero without space and a write's
    /// `ENOSPC` comes back from `write_at`, so this does nothing there and sparse memories stay
    /// sparse.
    fn reserve(&self, file: &File, offset: u64, len: u64) -> io::Result<()>;
    /// The room in the file system holding `file`, if known. (The store asks on every
    /// commit, with a file it keeps open: no path lookup.)
    fn space(&self, file: &File) -> io::Result<Option<Space>>;
    /// Make the file's content and length durable (`fdatasync`).
    fn sync(&self, file: &File) -> io::Result<()>;
    /// Make the entries of a directory (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Atomically replace `to` by `from` (same directory).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Take an exclusive, non-blocking advisory lock on `path` (created if
    /// absent); the lock lasts as long as the returned file is open. Fails
    /// with [`io::ErrorKind::WouldBlock`] when someone else holds it.
    fn lock(&self, path: &Path) -> io::Result<File>;
    /// Release a lock taken by [`Backend::lock`]. Dropping the file releases
    /// it too, but only once every duplicate of the descriptor is closed (a
    /// child process between `fork` and `exec` holds one), so the store
    /// unlocks explicitly. Must work even after a simulated crash.
    fn unlock(&self, lock: &File) -> io::Result<()>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsBackend;

impl Backend for FsBackend {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        let mut options = OpenOptions::new();
        match mode {
            OpenMode::Read => options.read(true),
            OpenMode::ReadWrite => options.read(true).write(true),
            OpenMode::Create => options.read(true).write(true).create(true),
            OpenMode::CreateTruncate => options.read(true).write(true).create(true).truncate(true),
        };
        options.open(path)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        std::fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect()
    }

    fn len(&self, file: &File) -> io::Result<u64> {
        Ok(file.metadata()?.len())
    }

    fn read_at(&self, file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
        file.read_exact_at(buf, offset)
    }

    fn write_at(&self, file: &File, data: &[u8], offset: u64) -> io::Result<()> {
        file.write_all_at(data, offset)
    }

    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        file.set_len(len)
    }

    fn punch_hole(&self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        if len == 0 {
            return Ok(());
        }
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len))
        else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        // SAFETY: `fallocate` only reads the descriptor number, valid while
        // `file` is borrowed.
        let rc = unsafe {
            libc::fallocate(
                file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset,
                len,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn reserve(&self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        if len == 0 || !faults_need_space(file)? {
            return Ok(());
        }
        let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len))
        else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        // SAFETY: `fallocate` only reads the descriptor number, valid while `file` is
        // borrowed.
        let rc =
            unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn space(&self, file: &File) -> io::Result<Option<Space>> {
        // One `fstatfs` answers both (glibc's `fstatvfs` is an `fstatfs` too): free blocks of
        // the fragment size (the block size where the file system gives none), and the type.
        let st = statfs(file)?;
        let block = if st.f_frsize > 0 {
            st.f_frsize
        } else {
            st.f_bsize
        };
        Ok(Some(Space {
            available: (st.f_bavail as u64).saturating_mul(block as u64),
            reserves: st.f_type == libc::TMPFS_MAGIC,
        }))
    }

    fn sync(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn lock(&self, path: &Path) -> io::Result<File> {
        use std::os::fd::AsRawFd;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // SAFETY: `flock` only reads the descriptor number, which stays valid
        // while `file` is alive (for the whole call).
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            Ok(file)
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn unlock(&self, lock: &File) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: as in `lock`; the descriptor is valid while `lock` is borrowed.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_UN) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Whether a page fault on a hole of `file` allocates space in its file system: true for
/// tmpfs (shared memory), whose pages are the file's storage.
fn faults_need_space(file: &File) -> io::Result<bool> {
    Ok(statfs(file)?.f_type == libc::TMPFS_MAGIC)
}

/// `fstatfs` of the file system holding `file`.
fn statfs(file: &File) -> io::Result<libc::statfs> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero `statfs` is a valid value of this plain C struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fstatfs` reads the descriptor number (valid while `file` is borrowed) and
    // writes one struct through a valid, exclusive pointer.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}
