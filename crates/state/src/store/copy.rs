//! Copying an open state directory to a new one ([`Store::copy_to`]): what an instant clone of
//! a whole replica (a PocketIC instance created from another) is made of.
//!
//! Each file is cloned with `FICLONE` where the file system shares extents (btrfs, XFS with
//! reflinks): copy-on-write, at a cost that does not grow with the file. Elsewhere (ext4,
//! tmpfs) the memory, layer and content files are hard-linked into the copy: a cost that does
//! not grow with them either. The two directories then share those files, and each store
//! takes its own copy of a shared file before it changes it (the `share` module), so the
//! copy's cost is paid file by file, at the first change. The other files (the manifest, the
//! WAL, the caller's own) are copied, by their data extents only (`SEEK_DATA`/`SEEK_HOLE`,
//! then `copy_file_range` in the kernel), so holes stay holes; so is a file that cannot be
//! linked (another file system, too many links).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::{Store, CONTENT_DIR, LAYERS_DIR, MEMORIES_DIR};
use crate::error::StateError;
use crate::CopyStats;

/// `FICLONE` from `<linux/fs.h>`: `_IOW(0x94, 9, int)`.
const FICLONE: libc::c_ulong = 0x4004_9409;

impl Store {
    /// Copies the directory, as of the last commit, to `dest` (created; it must not exist or
    /// be empty): every file but `LOCK` and leftovers of interrupted writes (`*.tmp`), so a
    /// [`Store::open`] of `dest` finds the same blobs, memories and snapshots. The store
    /// checkpoints first, so the copy has no log to replay. Nothing of the copy is synced: it
    /// is for a scratch replica, not a backup. The files of the directory that are not the
    /// store's (the caller's own) are copied too.
    ///
    /// # Errors
    /// [`StateError::Io`] naming the file that could not be read or written; `dest` may then
    /// hold part of the copy. A failed checkpoint poisons the store (see
    /// [`Store::checkpoint`]).
    pub fn copy_to(&mut self, dest: &Path) -> Result<CopyStats, StateError> {
        self.checkpoint()?;
        let mut stats = CopyStats::default();
        copy_tree(self.dir(), dest, Level::Top, &mut stats)?;
        Ok(stats)
    }
}

/// Where in the directory a file is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    /// `memories/`, `layers/`, `content/`: files the stores never change in place while
    /// another directory links them.
    Linkable,
    Other,
}

fn copy_tree(
    src: &Path,
    dest: &Path,
    level: Level,
    stats: &mut CopyStats,
) -> Result<(), StateError> {
    std::fs::create_dir_all(dest).map_err(|e| StateError::io("create directory", dest, e))?;
    let entries = std::fs::read_dir(src).map_err(|e| StateError::io("read directory", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StateError::io("read directory", src, e))?;
        let name = entry.file_name();
        if (level == Level::Top && name == "LOCK") || name.to_string_lossy().ends_with(".tmp") {
            continue;
        }
        let (from, to) = (entry.path(), dest.join(&name));
        let kind = entry
            .file_type()
            .map_err(|e| StateError::io("stat", &from, e))?;
        if kind.is_dir() {
            let sub = if level == Level::Top
                && [MEMORIES_DIR, LAYERS_DIR, CONTENT_DIR]
                    .iter()
                    .any(|d| name == *d)
            {
                Level::Linkable
            } else {
                Level::Other
            };
            copy_tree(&from, &to, sub, stats)?;
        } else if kind.is_file() {
            copy_file(&from, &to, level == Level::Linkable, stats)?;
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path, link: bool, stats: &mut CopyStats) -> Result<(), StateError> {
    let src = File::open(from).map_err(|e| StateError::io("open", from, e))?;
    let mut dst = File::create(to).map_err(|e| StateError::io("create", to, e))?;
    stats.files += 1;
    // SAFETY: both descriptors are open for the duration of the call.
    if unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE, src.as_raw_fd()) } == 0 {
        stats.cloned += 1;
        return Ok(());
    }
    if link {
        drop(dst);
        std::fs::remove_file(to).map_err(|e| StateError::io("remove", to, e))?;
        if std::fs::hard_link(from, to).is_ok() {
            stats.linked += 1;
            return Ok(());
        }
        dst = File::create(to).map_err(|e| StateError::io("create", to, e))?;
    }
    let len = src
        .metadata()
        .map_err(|e| StateError::io("stat", from, e))?
        .len();
    stats.bytes_copied += copy_data(&src, &dst, len, from, to)?;
    Ok(())
}

/// Copies the first `len` bytes of `src` (at `from`) to `dst` (at `to`, made `len` long) by
/// their data extents; returns the bytes copied.
pub(super) fn copy_data(
    src: &File,
    dst: &File,
    len: u64,
    from: &Path,
    to: &Path,
) -> Result<u64, StateError> {
    dst.set_len(len)
        .map_err(|e| StateError::io("truncate", to, e))?;
    let mut copied = 0;
    let mut at = 0u64;
    while at < len {
        let Some(data) =
            seek(src, at, libc::SEEK_DATA).map_err(|e| StateError::io("seek", from, e))?
        else {
            break; // only a hole is left
        };
        let end = seek(src, data, libc::SEEK_HOLE)
            .map_err(|e| StateError::io("seek", from, e))?
            .unwrap_or(len)
            .min(len);
        copy_range(src, dst, data, end).map_err(|e| StateError::io("copy to", to, e))?;
        copied += end - data;
        at = end;
    }
    Ok(copied)
}

/// `lseek(fd, at, whence)`; `None` when no data lies at or after `at` (ENXIO).
fn seek(f: &File, at: u64, whence: libc::c_int) -> std::io::Result<Option<u64>> {
    // SAFETY: a plain system call on an open descriptor.
    let r = unsafe { libc::lseek(f.as_raw_fd(), at as libc::off_t, whence) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENXIO) => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(r as u64))
}

/// Copies bytes `[from, to)` of `src` to the same offsets of `dst`, in the kernel.
fn copy_range(src: &File, dst: &File, from: u64, to: u64) -> std::io::Result<()> {
    let (mut off_in, mut off_out) = (from as libc::loff_t, from as libc::loff_t);
    while (off_in as u64) < to {
        let want = ((to - off_in as u64) as usize).min(1 << 30);
        // SAFETY: both descriptors are open; the offsets are ours.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off_in,
                dst.as_raw_fd(),
                &mut off_out,
                want,
                0,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file ended while it was being copied",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Batch, MemoryOp, MemoryUpdate, Store, PAGE_SIZE};

    #[test]
    fn a_copy_opens_with_the_same_blobs_and_memories_and_keeps_holes() {
        let src = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(src.path()).expect("open");
        let mut batch = Batch::new();
        batch.blobs.push(("k".into(), Some(b"v".to_vec())));
        batch.memories.push(MemoryUpdate {
            name: "heap".into(),
            op: MemoryOp::Write {
                reset: false,
                size: 1 << 30,
                pages: vec![
                    (3, vec![7u8; PAGE_SIZE as usize]),
                    ((1 << 18) - 1, vec![9u8; PAGE_SIZE as usize]),
                ],
            },
        });
        store.commit(batch).expect("commit");
        for round in 0..2 {
            let dest = tempfile::tempdir().expect("tempdir");
            let copy_dir = dest.path().join("copy");
            let stats = store.copy_to(&copy_dir).expect("copy");
            assert!(stats.files >= 2, "{stats:?}");
            // A 1 GiB memory with two pages written: far less than 1 GiB is copied.
            assert!(stats.bytes_copied < 64 << 20, "round {round}: {stats:?}");
            let copy = Store::open(&copy_dir).expect("the copy opens");
            assert_eq!(copy.blob("k"), Some(&b"v"[..]));
            let mut page = vec![0u8; PAGE_SIZE as usize];
            copy.read_memory("heap", 3 * PAGE_SIZE, &mut page)
                .expect("read");
            assert!(page.iter().all(|b| *b == 7));
            copy.read_memory("heap", ((1 << 18) - 1) * PAGE_SIZE, &mut page)
                .expect("read");
            assert!(page.iter().all(|b| *b == 9));
            copy.read_memory("heap", 5 * PAGE_SIZE, &mut page)
                .expect("read");
            assert!(page.iter().all(|b| *b == 0), "a hole reads as zeros");
        }
        // The source stays usable, and later commits do not reach the copy.
        let dest = tempfile::tempdir().expect("tempdir");
        store
            .copy_to(dest.path())
            .expect("copy into an empty directory");
        let mut batch = Batch::new();
        batch.blobs.push(("k".into(), Some(b"w".to_vec())));
        store.commit(batch).expect("commit");
        drop(store);
        assert_eq!(
            Store::open(dest.path()).expect("open").blob("k"),
            Some(&b"v"[..])
        );
        assert_eq!(
            Store::open(src.path()).expect("open").blob("k"),
            Some(&b"w"[..])
        );
    }
}
