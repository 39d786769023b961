//! Helpers shared by the test modules: a plain model of the store's state,
//! and a way to observe a real store as that model.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

use drydock_state::{Batch, MemoryFile, MemoryOp, Store, PAGE_SIZE};

/// Everything a store holds, in a form that compares with `==`.
/// Pages that read as all zero are left out of `pages`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub memories: BTreeMap<String, Mem>,
    pub snapshots: BTreeMap<String, Mem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    pub size: u64,
    pub pages: BTreeMap<u64, Vec<u8>>,
}

impl State {
    /// What the store must hold after committing `batch` on `self`.
    pub fn apply(&mut self, batch: &Batch) {
        for (key, value) in &batch.blobs {
            match value {
                Some(v) => self.blobs.insert(key.clone(), v.clone()),
                None => self.blobs.remove(key),
            };
        }
        for update in &batch.memories {
            match &update.op {
                MemoryOp::Delete => {
                    self.memories.remove(&update.name);
                    self.snapshots.remove(&update.name);
                }
                MemoryOp::Snapshot { from } => {
                    let mem = self.memories[from].clone();
                    self.snapshots.insert(update.name.clone(), mem);
                }
                MemoryOp::Restore { from } => {
                    let mem = self
                        .snapshots
                        .get(from)
                        .or_else(|| self.memories.get(from))
                        .expect("restore from an existing snapshot or memory")
                        .clone();
                    self.memories.insert(update.name.clone(), mem);
                }
                MemoryOp::Write { reset, size, pages } => {
                    let mem = self.memories.entry(update.name.clone()).or_default();
                    if *reset {
                        mem.pages.clear();
                    }
                    mem.size = *size;
                    for (index, data) in pages {
                        if data.iter().all(|&b| b == 0) {
                            mem.pages.remove(index);
                        } else {
                            mem.pages.insert(*index, data.clone());
                        }
                    }
                }
            }
        }
    }
}

/// Read every page of a memory file below its size; check the file covers it.
pub fn read_memory(mem: &MemoryFile) -> Mem {
    let file_len = mem.file.metadata().expect("stat memory file").len();
    let page_count = mem.size.div_ceil(PAGE_SIZE);
    assert!(
        file_len >= page_count * PAGE_SIZE,
        "memory file is {file_len} bytes, shorter than {page_count} pages"
    );
    let mut pages = BTreeMap::new();
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    for index in 0..page_count {
        mem.file
            .read_exact_at(&mut buf, index * PAGE_SIZE)
            .expect("read page");
        if buf.iter().any(|&b| b != 0) {
            pages.insert(index, buf.clone());
        }
    }
    Mem {
        size: mem.size,
        pages,
    }
}

/// The state a real store shows through its public API.
pub fn observe(store: &Store) -> State {
    let mut state = State::default();
    for key in store.blob_keys("") {
        let value = store.blob(&key).expect("listed blob exists").to_vec();
        state.blobs.insert(key, value);
    }
    for name in store.memory_names("") {
        let mem = store.memory(&name).expect("listed memory exists");
        state.memories.insert(name.clone(), read_memory(&mem));
        // The same content through `read_memory`.
        let through_api = read_through_api(store, &name, mem.size);
        assert_eq!(
            through_api, state.memories[&name],
            "memory {name}: Store::read_memory disagrees with the file"
        );
    }
    for name in store.snapshot_names("") {
        let size = store.snapshot_size(&name).expect("listed snapshot exists");
        assert!(
            store.memory(&name).is_none(),
            "snapshot {name} is also a memory"
        );
        state
            .snapshots
            .insert(name.clone(), read_through_api(store, &name, size));
    }
    state
}

/// Every page of a memory or snapshot below `size`, through `Store::read_memory`.
pub fn read_through_api(store: &Store, name: &str, size: u64) -> Mem {
    let mut pages = BTreeMap::new();
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    for index in 0..size.div_ceil(PAGE_SIZE) {
        store
            .read_memory(name, index * PAGE_SIZE, &mut buf)
            .expect("read memory");
        if buf.iter().any(|&b| b != 0) {
            pages.insert(index, buf.clone());
        }
    }
    Mem { size, pages }
}

/// A page whose bytes depend on `seed` (never all zero).
pub fn page(seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; PAGE_SIZE as usize];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    data
}

/// A temporary directory on tmpfs when there is one (fsync is free there;
/// the crash simulation does not depend on the medium).
pub fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("drydock-state-")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::tempdir().expect("create temporary directory")
}

/// Names of the files in `<dir>/<sub>`, sorted.
pub fn list(dir: &Path, sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(sub))
        .expect("list directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Where the records of a WAL end (zeros preallocated ahead of them follow).
pub fn records_end(wal: &[u8]) -> usize {
    let mut pos = 0;
    while pos + 12 <= wal.len() && &wal[pos..pos + 3] == b"DDW" {
        let len = u32::from_le_bytes(wal[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += 12 + len;
    }
    pos
}
