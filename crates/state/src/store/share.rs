//! Files this directory shares with a copy of it: what keeps the two apart.
//!
//! Where the file system cannot clone a file, [`Store::copy_to`] hard-links the memory, layer
//! and content files into the copy, so a copy costs the same whatever the memories hold.
//! Content files never change. A memory or layer file that both directories link is
//! copy-on-write at the level of the whole file: before either store changes it, that store
//! takes its own copy ([`Store::own_file`]): the file's data is copied to `<file>.tmp`,
//! fsync'd and renamed over the store's own link. The content is the same before and after
//! the rename, so a crash at any point leaves the directory as it was. From then on the other
//! directory is the only one linking the old file, and it may change it in place.
//!
//! A file is shared while its link count is above 1: the stores never link their files
//! otherwise. The first change after a copy pays for copying the file it changes (its data
//! extents; holes stay holes), in whichever directory changes it first.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{copy, round_up_to_page, Pending, Store, TMP_SUFFIX};
use crate::{Batch, MemoryOp, StateError};

/// A memory file generation or a layer file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owned {
    Memory(u64),
    Layer(u64),
}

impl Store {
    /// Takes its own copy of every file `batch` will change, before anything of the batch is
    /// written: out of space here refuses the batch alone (the store stays writable).
    pub(super) fn own_files_for(
        &mut self,
        batch: &Batch,
        pending: &[Pending],
    ) -> Result<(), StateError> {
        let mut files = Vec::new();
        for (update, p) in batch.memories.iter().zip(pending) {
            match (p, &update.op) {
                (
                    Pending::Write {
                        fresh,
                        layer,
                        images,
                        ..
                    },
                    MemoryOp::Write { size, pages, .. },
                ) => {
                    // A write of no page that does not grow the file leaves it as it is.
                    if let Some(m) = self.memories.get(&update.name).filter(|_| !fresh) {
                        if !pages.is_empty() || round_up_to_page(*size) > m.len {
                            files.push(Owned::Memory(m.generation));
                        }
                    }
                    if images.iter().any(|(_, image)| image.is_some()) {
                        files.push(Owned::Layer(*layer));
                    }
                }
                (p, MemoryOp::Restore { from }) if p.restores_in_place() => {
                    // It writes the snapshot's file and preserves pages in the newest layer
                    // of its chain. (A restore by copy writes a new file only.)
                    if let Some(s) = self.snaps.get(from) {
                        let generation = s.base_gen;
                        files.push(Owned::Memory(generation));
                        if let Some(newest) = self.newest(generation) {
                            files.push(Owned::Layer(self.snaps[newest].layer));
                        }
                    }
                }
                _ => {}
            }
        }
        for file in files {
            self.own_file(file)?;
        }
        Ok(())
    }

    /// Makes `file` this directory's own if a copy of the directory links it too (see the
    /// module documentation), and moves every handle of the store onto the new file.
    pub(super) fn own_file(&mut self, file: Owned) -> Result<(), StateError> {
        let Some((path, handle)) = self.handle(file) else {
            return Ok(()); // no such file (yet): nothing to share
        };
        if !shared(&handle, &path)? {
            return Ok(());
        }
        let own = Arc::new(self.private_copy(&handle, &path)?);
        match file {
            Owned::Memory(generation) => {
                for m in self.memories.values_mut() {
                    if m.generation == generation {
                        m.file = Arc::clone(&own);
                    }
                }
                for s in self.snaps.values_mut() {
                    if s.base_gen == generation {
                        s.base_file = Arc::clone(&own);
                    }
                }
                if let Some(dirty) = self.dirty.get_mut(&generation) {
                    dirty.0 = Arc::clone(&own);
                }
            }
            Owned::Layer(id) => {
                if let Some(layer) = self.layers.get_mut(&id) {
                    layer.file = Some(own);
                }
            }
        }
        Ok(())
    }

    /// The path and the store's handle of `file`, if it exists.
    fn handle(&self, file: Owned) -> Option<(PathBuf, Arc<File>)> {
        match file {
            Owned::Memory(generation) => {
                let (name, handle) = self
                    .memories
                    .iter()
                    .find(|(_, m)| m.generation == generation)
                    .map(|(n, m)| (n.as_str(), &m.file))
                    .or_else(|| {
                        self.snaps
                            .values()
                            .find(|s| s.base_gen == generation)
                            .map(|s| (s.base_name.as_str(), &s.base_file))
                    })?;
                Some((self.memory_path(generation, name), Arc::clone(handle)))
            }
            Owned::Layer(id) => {
                let handle = self.layers.get(&id)?.file.clone()?;
                Some((self.layer_path(id), handle))
            }
        }
    }

    /// Copies `file` (at `path`) to `<path>.tmp`, makes it durable and renames it over `path`;
    /// returns the new file, open for reading and writing.
    fn private_copy(&self, file: &File, path: &Path) -> Result<File, StateError> {
        let b = &*self.backend;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);
        let result = (|| {
            let own = b
                .open(&tmp, crate::OpenMode::CreateTruncate)
                .map_err(|e| StateError::io("create", &tmp, e))?;
            let len = b.len(file).map_err(|e| StateError::io("stat", path, e))?;
            copy::copy_data(file, &own, len, path, &tmp).map_err(|e| match e {
                StateError::Io { error, .. } if error.raw_os_error() == Some(libc::ENOSPC) => {
                    self.no_space_or(error, len, "copy", path)
                }
                other => other,
            })?;
            b.sync(&own).map_err(|e| StateError::io("fsync", &tmp, e))?;
            b.rename(&tmp, path)
                .map_err(|e| StateError::io("rename", &tmp, e))?;
            Ok(own)
        })();
        if result.is_err() {
            let _ = b.remove(&tmp);
        }
        let own = result?;
        if let Some(dir) = path.parent() {
            b.sync_dir(dir)
                .map_err(|e| StateError::io("fsync directory", dir, e))?;
        }
        Ok(own)
    }
}

/// Whether another directory links `file` (at `path`) too.
pub(super) fn shared(file: &File, path: &Path) -> Result<bool, StateError> {
    let links = file
        .metadata()
        .map_err(|e| StateError::io("stat", path, e))?
        .nlink();
    Ok(links > 1)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use crate::{Batch, Store, PAGE_SIZE};

    fn page(byte: u8) -> Vec<u8> {
        vec![byte; PAGE_SIZE as usize]
    }

    fn read(store: &Store, name: &str, index: u64) -> u8 {
        let mut buf = page(0);
        store
            .read_memory(name, index * PAGE_SIZE, &mut buf)
            .expect("read");
        assert!(
            buf.iter().all(|b| *b == buf[0]),
            "a page holds one byte value"
        );
        buf[0]
    }

    fn write(store: &mut Store, name: &str, index: u64, byte: u8) {
        let mut batch = Batch::new();
        batch.write_memory(name, false, 1 << 30, vec![(index, page(byte))]);
        store.commit(batch).expect("commit");
    }

    /// The link counts of the files under `dir/sub`.
    fn links(dir: &Path, sub: &str) -> Vec<u64> {
        let mut counts: Vec<u64> = std::fs::read_dir(dir.join(sub))
            .expect("read dir")
            .map(|e| e.expect("entry").metadata().expect("stat").nlink())
            .collect();
        counts.sort_unstable();
        counts
    }

    #[test]
    fn a_copy_shares_the_memory_files_until_either_side_writes_them() {
        let src = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(src.path()).expect("open");
        let mut batch = Batch::new();
        batch.write_memory("a", false, 1 << 30, vec![(0, page(1)), (9, page(2))]);
        batch.write_memory("b", false, 1 << 30, vec![(0, page(3))]);
        store.commit(batch).expect("commit");

        let dest = tempfile::tempdir().expect("tempdir");
        let first = dest.path().join("first");
        let stats = store.copy_to(&first).expect("copy");
        // On a file system that clones files nothing is linked; here (ext4, tmpfs) both
        // memories are.
        if stats.cloned == 0 {
            assert_eq!(stats.linked, 2, "{stats:?}");
            assert_eq!(links(src.path(), "memories"), vec![2, 2]);
        }
        let mut copy = Store::open(&first).expect("the copy opens");

        // Each side writes twice; the other never sees it.
        for round in 0..2u8 {
            write(&mut store, "a", 0, 10 + round);
            write(&mut copy, "a", 9, 20 + round);
            assert_eq!(
                (read(&store, "a", 0), read(&store, "a", 9)),
                (10 + round, 2)
            );
            assert_eq!((read(&copy, "a", 0), read(&copy, "a", 9)), (1, 20 + round));
        }
        // Memory b was never written: both still share it.
        assert_eq!(read(&copy, "b", 0), 3);
        if stats.cloned == 0 {
            assert_eq!(links(src.path(), "memories"), vec![1, 2]);
        }

        // A copy of the copy, written by all three: each keeps its own.
        let second = dest.path().join("second");
        copy.copy_to(&second).expect("copy of the copy");
        let mut copy2 = Store::open(&second).expect("opens");
        write(&mut copy2, "b", 0, 30);
        write(&mut copy, "b", 0, 40);
        write(&mut store, "b", 0, 50);
        assert_eq!(read(&copy2, "b", 0), 30);
        assert_eq!(read(&copy, "b", 0), 40);
        assert_eq!(read(&store, "b", 0), 50);
        assert_eq!(read(&copy2, "a", 9), 21);

        // And after reopening, each directory holds what it committed.
        drop((store, copy, copy2));
        let store = Store::open(src.path()).expect("reopen");
        let copy = Store::open(&first).expect("reopen");
        let copy2 = Store::open(&second).expect("reopen");
        assert_eq!(
            (
                read(&store, "a", 0),
                read(&store, "a", 9),
                read(&store, "b", 0)
            ),
            (11, 2, 50)
        );
        assert_eq!(
            (
                read(&copy, "a", 0),
                read(&copy, "a", 9),
                read(&copy, "b", 0)
            ),
            (1, 21, 40)
        );
        assert_eq!(
            (
                read(&copy2, "a", 0),
                read(&copy2, "a", 9),
                read(&copy2, "b", 0)
            ),
            (1, 21, 30)
        );
    }

    #[test]
    fn snapshots_stay_whole_on_both_sides_of_a_copy() {
        let src = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(src.path()).expect("open");
        let mut batch = Batch::new();
        batch.write_memory("m", false, 1 << 30, vec![(0, page(1)), (1, page(2))]);
        store.commit(batch).expect("commit");
        let mut batch = Batch::new();
        batch.snapshot_memory("s1", "m");
        store.commit(batch).expect("snapshot");
        // A before-image of page 0 goes to s1's layer.
        write(&mut store, "m", 0, 3);
        let mut batch = Batch::new();
        batch.snapshot_memory("s2", "m");
        store.commit(batch).expect("snapshot");
        write(&mut store, "m", 1, 4);

        let dest = tempfile::tempdir().expect("tempdir");
        store.copy_to(dest.path()).expect("copy");
        let mut copy = Store::open(dest.path()).expect("opens");

        for round in 0..2u8 {
            // Both write page 0 and 1 again (more before-images, into shared layers).
            write(&mut store, "m", 0, 10 + round);
            write(&mut copy, "m", 1, 20 + round);
            for s in [&store, &copy] {
                assert_eq!((read(s, "s1", 0), read(s, "s1", 1)), (1, 2));
                assert_eq!((read(s, "s2", 0), read(s, "s2", 1)), (3, 2));
            }
        }
        // The source deletes s1 (its slots are punched at the next checkpoint) and restores
        // s2 in place; the copy keeps both and restores s1.
        let mut batch = Batch::new();
        batch.delete_memory("s1");
        store.commit(batch).expect("delete");
        store.checkpoint().expect("checkpoint");
        let mut batch = Batch::new();
        batch.restore_memory("m", "s2");
        store.commit(batch).expect("restore");
        let mut batch = Batch::new();
        batch.restore_memory("m", "s1");
        copy.commit(batch).expect("restore");
        assert_eq!((read(&store, "m", 0), read(&store, "m", 1)), (3, 2));
        assert_eq!((read(&copy, "m", 0), read(&copy, "m", 1)), (1, 2));
        assert_eq!((read(&copy, "s1", 0), read(&copy, "s2", 0)), (1, 3));

        drop((store, copy));
        let store = Store::open(src.path()).expect("reopen");
        let copy = Store::open(dest.path()).expect("reopen");
        assert_eq!((read(&store, "m", 0), read(&store, "s2", 1)), (3, 2));
        assert!(
            store.read_memory("s1", 0, &mut page(0)).is_err(),
            "s1 is gone here"
        );
        assert_eq!(
            (
                read(&copy, "m", 1),
                read(&copy, "s1", 0),
                read(&copy, "s2", 1)
            ),
            (2, 1, 2)
        );
    }
}
