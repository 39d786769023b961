//! A full file system refuses the commit that needs space, and only that one: nothing of it
//! is written, the store stays writable, and once space returns commits go through. Memory
//! files are reserved when they grow, so a mapping can never fault for want of space.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use drydock_state::{Backend, Batch, FsBackend, OpenMode, Space, StateError, Store, PAGE_SIZE};

/// The real file system, made to look like a tmpfs of `capacity` bytes: every reservation and
/// every byte written past a file's end counts against it.
struct SmallTmpfs {
    inner: FsBackend,
    state: Mutex<Usage>,
}

#[derive(Default)]
struct Usage {
    capacity: u64,
    used: u64,
    /// `(offset, len)` of every reservation asked for.
    reserved: Vec<(u64, u64)>,
}

impl SmallTmpfs {
    fn new(capacity: u64) -> Arc<Self> {
        Arc::new(SmallTmpfs {
            inner: FsBackend,
            state: Mutex::new(Usage {
                capacity,
                ..Usage::default()
            }),
        })
    }

    fn take(&self, bytes: u64) -> io::Result<()> {
        let mut u = self.state.lock().unwrap();
        if u.used + bytes > u.capacity {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        u.used += bytes;
        Ok(())
    }

    fn set_capacity(&self, capacity: u64) {
        self.state.lock().unwrap().capacity = capacity;
    }

    fn reserved(&self) -> Vec<(u64, u64)> {
        self.state.lock().unwrap().reserved.clone()
    }
}

impl Backend for SmallTmpfs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        self.inner.open(path, mode)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        self.inner.read_dir(path)
    }
    fn len(&self, file: &File) -> io::Result<u64> {
        self.inner.len(file)
    }
    fn read_at(&self, file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_at(file, buf, offset)
    }
    fn write_at(&self, file: &File, data: &[u8], offset: u64) -> io::Result<()> {
        let len = self.inner.len(file)?;
        let end = offset + data.len() as u64;
        if end > len {
            self.take(end - len.max(offset))?;
        }
        self.inner.write_at(file, data, offset)
    }
    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        self.inner.set_len(file, len)
    }
    fn punch_hole(&self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        self.inner.punch_hole(file, offset, len)
    }
    fn reserve(&self, _file: &File, offset: u64, len: u64) -> io::Result<()> {
        self.take(len)?;
        self.state.lock().unwrap().reserved.push((offset, len));
        Ok(())
    }
    fn space(&self, _file: &File) -> io::Result<Option<Space>> {
        let u = self.state.lock().unwrap();
        Ok(Some(Space {
            available: u.capacity.saturating_sub(u.used),
            reserves: true,
        }))
    }
    fn sync(&self, file: &File) -> io::Result<()> {
        self.inner.sync(file)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn lock(&self, path: &Path) -> io::Result<File> {
        self.inner.lock(path)
    }
    fn unlock(&self, lock: &File) -> io::Result<()> {
        self.inner.unlock(lock)
    }
}

const MIB: u64 = 1024 * 1024;

fn page(byte: u8) -> Vec<u8> {
    vec![byte; PAGE_SIZE as usize]
}

#[test]
fn a_memory_that_grows_is_reserved_before_the_commit_that_grows_it() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SmallTmpfs::new(64 * MIB);
    let mut store = Store::open_with_backend(dir.path(), fs.clone()).unwrap();
    let mut b = Batch::new();
    b.write_memory("heap", false, 4 * PAGE_SIZE, vec![(0, page(1))]);
    store.commit(b).unwrap();
    let mut b = Batch::new();
    b.write_memory("heap", false, 64 * PAGE_SIZE, vec![(1, page(2))]);
    store.commit(b).unwrap();
    let reserved = fs.reserved();
    // The first commit reserves the new file's 4 pages, the second pages 4..64.
    assert!(
        reserved.contains(&(0, 4 * PAGE_SIZE)),
        "reservations: {reserved:?}"
    );
    assert!(
        reserved.contains(&(4 * PAGE_SIZE, 60 * PAGE_SIZE)),
        "reservations: {reserved:?}"
    );
}

#[test]
fn a_growth_the_file_system_cannot_hold_is_refused_and_the_store_stays_writable() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SmallTmpfs::new(64 * MIB);
    let mut store = Store::open_with_backend(dir.path(), fs.clone()).unwrap();
    let mut b = Batch::new();
    b.put_blob("k", b"v1".to_vec());
    b.write_memory("heap", false, 16 * PAGE_SIZE, vec![(0, page(1))]);
    store.commit(b).unwrap();

    // 128 MiB on a 64 MiB file system.
    let mut b = Batch::new();
    b.put_blob("k", b"v2".to_vec());
    b.write_memory("heap", false, 128 * MIB, vec![(1, page(2))]);
    let err = store.commit(b).unwrap_err();
    assert!(matches!(err, StateError::NoSpace { .. }), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    // Nothing of it happened.
    assert_eq!(store.blob("k"), Some(&b"v1"[..]));
    assert_eq!(store.memory("heap").unwrap().size, 16 * PAGE_SIZE);

    // Still writable; and after space is freed the same change goes through.
    let mut b = Batch::new();
    b.put_blob("other", b"x".to_vec());
    store.commit(b).unwrap();
    fs.set_capacity(512 * MIB);
    let mut b = Batch::new();
    b.put_blob("k", b"v2".to_vec());
    b.write_memory("heap", false, 128 * MIB, vec![(1, page(2))]);
    store.commit(b).unwrap();
    drop(store);
    let store = Store::open_with_backend(dir.path(), fs.clone()).unwrap();
    assert_eq!(store.blob("k"), Some(&b"v2"[..]));
    assert_eq!(store.memory("heap").unwrap().size, 128 * MIB);
}

#[test]
fn a_fresh_memory_the_file_system_cannot_hold_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let fs = SmallTmpfs::new(8 * MIB);
    let mut store = Store::open_with_backend(dir.path(), fs.clone()).unwrap();
    let mut b = Batch::new();
    b.write_memory("stable", true, 64 * MIB, vec![(0, page(3))]);
    let err = store.commit(b).unwrap_err();
    assert!(matches!(err, StateError::NoSpace { .. }), "{err}");
    assert!(store.memory("stable").is_none());
    let mut b = Batch::new();
    b.write_memory("stable", true, 4 * MIB, vec![(0, page(3))]);
    store.commit(b).unwrap();
    assert_eq!(store.memory("stable").unwrap().size, 4 * MIB);
}
