//! Snapshots of paged memories: the copy-on-write page store.
//!
//! A memory is one flat file (page `i` at offset `i·4096`) that the execution
//! crate maps. A snapshot never copies it. Instead, the snapshots of one file
//! form a *chain*, oldest to newest, and each snapshot has its own *layer*:
//! the pages that changed in the file after the snapshot was taken and before
//! the next one was, as they were before the change (before-images).
//!
//! ```text
//!   file (live)       [ a' | b  | c' | d  ]      pages changed since: a (after S1), c (after S2)
//!   S2's layer        [          c         ]     c as it was when S2 was taken
//!   S1's layer        [ a                  ]     a as it was when S1 was taken
//!
//!   content(S, i) = the first of S's layer, the next newer snapshot's layer, …, the file
//! ```
//!
//! * **Take** adds an empty layer: constant time, whatever the size.
//! * **Commit** to a file with snapshots: before a page is first overwritten
//!   after the newest snapshot, its old content goes into that snapshot's
//!   layer: written to fresh slots and fsync'd before the WAL record, which
//!   names the slots (so replay never reads a page that may have changed,
//!   and a record never carries the images). A page that was zero costs an
//!   index entry, not a slot.
//! * **Delete** moves the snapshot's entries that its older neighbour lacks
//!   into that neighbour (by reference, no copy) and frees the rest. Freed
//!   slots are punched out of their layer files, and files nothing references
//!   are unlinked, only after the next checkpoint: until then a replayed
//!   record may still read them.
//! * **Restore in place** (a snapshot of the memory's own file, or of an
//!   older file of the same memory that a reset left to its snapshots, which
//!   the memory then moves back onto): only the pages changed since the
//!   snapshot are written back, i.e. the union of the
//!   layers from that snapshot to the newest. The pages this overwrites are
//!   preserved for the newer snapshots first, written straight to slots and
//!   fsync'd before the WAL record that names them.
//! * **Restore by copy** (another memory's snapshot, a snapshot of a file
//!   another memory uses, or another memory): a new file generation is written and fsync'd
//!   before the WAL record that switches to it; zero runs stay holes.
//! * A reset or deleted memory leaves its file to its snapshots, read-only.
//!
//! Layer files are `layers/<id:016x>`, slot `s` at offset `s·4096`. Slots are
//! never reused, so an index entry always means one image.
//!
//! Invariant: in a memory's file, every page at or past the memory's size is
//! zero (writes stay below the size; a shrinking restore zeroes the tail).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::share::{shared, Owned};
use super::{
    exists, memory_file_name, round_up_to_page, Memory, Store, LAYERS_DIR, MANIFEST_FILE,
    MEMORIES_DIR,
};
use crate::backend::{Backend, OpenMode};
use crate::manifest::{Manifest, SnapshotEntry};
use crate::wal::Preserved;
use crate::{StateError, PAGE_SIZE};

/// Pages per chunk when copying a memory.
const COPY_CHUNK_PAGES: u64 = 256;

/// Where a preserved page image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    Zero,
    At { layer: u64, slot: u64 },
}

/// One snapshot of a memory file.
pub(crate) struct Snap {
    pub base_gen: u64,
    /// The name of the memory whose file it is (the file's name uses it).
    pub base_name: String,
    pub base_file: Arc<File>,
    pub size: u64,
    /// Its own layer; layer ids grow, so this also orders the chain.
    pub layer: u64,
    pub pages: BTreeMap<u64, Loc>,
}

/// One layer file.
pub(crate) struct Layer {
    pub file: Option<Arc<File>>,
    pub next_slot: u64,
    /// Index entries (of any snapshot) that point into this file.
    pub refs: u64,
}

/// Snapshots by name and layer files by id, as loaded at open.
pub(super) type LoadedSnapshots = (BTreeMap<String, Snap>, BTreeMap<u64, Layer>);

/// How [`Store::prepare_restore`] will restore: decided by `resolve`.
pub(crate) enum RestorePlan {
    InPlace,
    Copy { generation: u64 },
}

impl Store {
    pub(super) fn layer_path(&self, id: u64) -> PathBuf {
        self.dir.join(LAYERS_DIR).join(format!("{id:016x}"))
    }

    /// The snapshots of file `generation`, oldest first.
    pub(super) fn chain(&self, generation: u64) -> Vec<&str> {
        let mut chain: Vec<(&str, u64)> = self
            .snaps
            .iter()
            .filter(|(_, s)| s.base_gen == generation)
            .map(|(n, s)| (n.as_str(), s.layer))
            .collect();
        chain.sort_by_key(|(_, layer)| *layer);
        chain.into_iter().map(|(n, _)| n).collect()
    }

    /// The newest snapshot of file `generation`.
    pub(super) fn newest(&self, generation: u64) -> Option<&str> {
        self.snaps
            .iter()
            .filter(|(_, s)| s.base_gen == generation)
            .max_by_key(|(_, s)| s.layer)
            .map(|(n, _)| n.as_str())
    }

    /// The largest size among the snapshots of file `generation` (0 if none).
    pub(super) fn chain_max_size(&self, generation: u64) -> u64 {
        self.snaps
            .values()
            .filter(|s| s.base_gen == generation)
            .map(|s| s.size)
            .max()
            .unwrap_or(0)
    }

    /// Whether a file generation is still needed (by a memory or a snapshot).
    fn generation_in_use(&self, generation: u64) -> bool {
        self.memories.values().any(|m| m.generation == generation)
            || self.snaps.values().any(|s| s.base_gen == generation)
    }

    /// The old file of a memory that was reset, deleted or replaced: unlinked
    /// after the next checkpoint unless a snapshot still reads it.
    pub(super) fn release_generation(&mut self, generation: u64, name: &str) {
        if !self.generation_in_use(generation) {
            self.dirty.remove(&generation);
            self.garbage.push(self.memory_path(generation, name));
        }
    }

    /// For snapshot `name`: every page changed in its file since it was
    /// taken, with where its content as of the snapshot is (its own entry
    /// first, then newer snapshots').
    pub(super) fn changed_since(&self, name: &str) -> BTreeMap<u64, Loc> {
        let mut merged = BTreeMap::new();
        let Some(snap) = self.snaps.get(name) else {
            return merged;
        };
        // Newest first, so that older (closer) entries overwrite.
        for other in self.chain(snap.base_gen).into_iter().rev() {
            let s = &self.snaps[other];
            if s.layer < snap.layer {
                continue;
            }
            for (&page, &loc) in &s.pages {
                merged.insert(page, loc);
            }
        }
        merged
    }

    /// Read one preserved image.
    fn read_loc(&self, loc: Loc, buf: &mut [u8]) -> Result<(), StateError> {
        match loc {
            Loc::Zero => {
                buf.fill(0);
                Ok(())
            }
            Loc::At { layer, slot } => {
                let path = self.layer_path(layer);
                let file = self
                    .layers
                    .get(&layer)
                    .and_then(|l| l.file.as_ref())
                    .ok_or_else(|| {
                        StateError::corrupt(
                            &path,
                            0,
                            "a page image is in a layer file that is missing",
                        )
                    })?;
                self.backend
                    .read_at(file, buf, slot * PAGE_SIZE)
                    .map_err(|e| StateError::io("read page from", &path, e))
            }
        }
    }

    /// Read `buf.len()` bytes at `offset` of a file, zeros past its end.
    fn read_file_zero_padded(
        &self,
        file: &File,
        path: &std::path::Path,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), StateError> {
        let len = self
            .backend
            .len(file)
            .map_err(|e| StateError::io("stat", path, e))?;
        let avail = len.saturating_sub(offset).min(buf.len() as u64) as usize;
        if avail > 0 {
            self.backend
                .read_at(file, &mut buf[..avail], offset)
                .map_err(|e| StateError::io("read", path, e))?;
        }
        buf[avail..].fill(0);
        Ok(())
    }

    /// Read a range of snapshot `name` (the caller checked the bounds).
    /// `changed` is `changed_since(name)`.
    fn read_snapshot_range(
        &self,
        name: &str,
        changed: &BTreeMap<u64, Loc>,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), StateError> {
        let snap = &self.snaps[name];
        let path = self.memory_path(snap.base_gen, &snap.base_name);
        self.read_file_zero_padded(&snap.base_file, &path, offset, buf)?;
        let end = offset + buf.len() as u64;
        let first = offset / PAGE_SIZE;
        let last = end.div_ceil(PAGE_SIZE);
        let mut page = vec![0; PAGE_SIZE as usize];
        for (&index, &loc) in changed.range(first..last) {
            self.read_loc(loc, &mut page)?;
            let page_start = index * PAGE_SIZE;
            let from = page_start.max(offset);
            let to = (page_start + PAGE_SIZE).min(end);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&page[(from - page_start) as usize..(to - page_start) as usize]);
        }
        Ok(())
    }

    /// The size of a memory or a snapshot.
    fn size_of(&self, name: &str) -> Option<u64> {
        self.memories
            .get(name)
            .map(|m| m.size)
            .or_else(|| self.snaps.get(name).map(|s| s.size))
    }

    /// Read from a memory or a snapshot; see [`Store::read_memory`].
    pub(super) fn read_any(
        &self,
        name: &str,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), StateError> {
        let size = self
            .size_of(name)
            .ok_or_else(|| StateError::not_found(name, "no memory or snapshot of this name"))?;
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > round_up_to_page(size))
        {
            return Err(StateError::not_found(
                name,
                format!(
                    "{} bytes at offset {offset} lie past its size {size}",
                    buf.len()
                ),
            ));
        }
        if let Some(m) = self.memories.get(name) {
            let path = self.memory_path(m.generation, name);
            return self.read_file_zero_padded(&m.file, &path, offset, buf);
        }
        let changed = self.changed_since(name);
        self.read_snapshot_range(name, &changed, offset, buf)
    }

    /// Whether restoring memory `name` from snapshot `from` happens in place:
    /// `from` is a snapshot of `name`'s current file, or of an older file of
    /// `name` that no memory uses any more (left by a reset, e.g. a reinstall
    /// or an upgrade): then `name` moves back onto that file.
    pub(super) fn restores_in_place(
        &self,
        name: &str,
        current_gen: Option<u64>,
        from: &str,
    ) -> bool {
        let Some(snap) = self.snaps.get(from) else {
            return false;
        };
        current_gen == Some(snap.base_gen)
            || (snap.base_name == name
                && !self
                    .memories
                    .values()
                    .any(|m| m.generation == snap.base_gen))
    }

    /// The file an in-place restore of `name` from `from` writes: its
    /// generation, the size its content has now, the file and its length.
    fn in_place_file(
        &self,
        name: &str,
        from: &str,
    ) -> Result<(u64, u64, Arc<File>, u64), StateError> {
        let current = self.memories.get(name).map(|m| m.generation);
        let snap = match self.snaps.get(from) {
            Some(s) if self.restores_in_place(name, current, from) => s,
            _ => {
                return Err(StateError::corrupt(
                    self.dir.join(super::WAL_FILE),
                    0,
                    format!(
                        "restore of {name:?} in place from {from:?}, which is not its snapshot"
                    ),
                ))
            }
        };
        match self.memories.get(name) {
            Some(m) if m.generation == snap.base_gen => {
                Ok((m.generation, m.size, Arc::clone(&m.file), m.len))
            }
            _ => {
                // A file no memory uses: its content past the memory's last size is zero,
                // so its length bounds that size.
                let path = self.memory_path(snap.base_gen, name);
                let len = self
                    .backend
                    .len(&snap.base_file)
                    .map_err(|e| StateError::io("stat", &path, e))?;
                Ok((snap.base_gen, len, Arc::clone(&snap.base_file), len))
            }
        }
    }

    /// Commit time, before the record that names them: write the non-zero
    /// `images` to the next slots of layer file `layer` (a layer of an
    /// existing snapshot, or of one the same batch creates) and fsync it.
    pub(super) fn write_preserved(
        &mut self,
        layer: u64,
        images: &[(u64, Option<Vec<u8>>)],
    ) -> Result<Preserved, StateError> {
        if images.iter().any(|(_, image)| image.is_some()) {
            self.own_file(Owned::Layer(layer))?;
        }
        let path = self.layer_path(layer);
        let b = &*self.backend;
        let (existing, mut slot) = match self.layers.get(&layer) {
            Some(l) => (l.file.clone(), l.next_slot),
            None => (None, 0),
        };
        let mut file = existing.clone();
        let mut pages = Vec::with_capacity(images.len());
        for (index, image) in images {
            let Some(data) = image else {
                pages.push((*index, None));
                continue;
            };
            let f = match &file {
                Some(f) => Arc::clone(f),
                None => {
                    let f = Arc::new(
                        b.open(&path, OpenMode::Create)
                            .map_err(|e| StateError::io("create", &path, e))?,
                    );
                    file = Some(Arc::clone(&f));
                    f
                }
            };
            b.write_at(&f, data, slot * PAGE_SIZE)
                .map_err(|e| StateError::io("write page to", &path, e))?;
            pages.push((*index, Some(slot)));
            slot += 1;
        }
        if let Some(f) = &file {
            b.sync(f).map_err(|e| StateError::io("fsync", &path, e))?;
            if existing.is_none() {
                let dir = self.dir.join(LAYERS_DIR);
                b.sync_dir(&dir)
                    .map_err(|e| StateError::io("fsync directory", &dir, e))?;
            }
        }
        if let Some(l) = self.layers.get_mut(&layer) {
            l.next_slot = slot;
            if l.file.is_none() {
                l.file = file;
            }
        }
        Ok(Preserved {
            pages,
            next_slot: slot,
        })
    }

    /// Apply: record pages preserved (by `write_preserved`) in the newest
    /// snapshot of file `generation`.
    pub(super) fn apply_preserved(
        &mut self,
        generation: u64,
        preserved: &Preserved,
    ) -> Result<(), StateError> {
        if preserved.pages.is_empty() {
            return Ok(());
        }
        let wal = self.dir.join(super::WAL_FILE);
        let Some(newest) = self.newest(generation).map(str::to_string) else {
            return Err(StateError::corrupt(
                wal,
                0,
                format!(
                    "a record preserves pages of generation {generation}, which has no snapshot"
                ),
            ));
        };
        let layer = self.snaps[&newest].layer;
        let path = self.layer_path(layer);
        let needs_file = preserved.pages.iter().any(|(_, s)| s.is_some());
        if let Some(l) = self.layers.get_mut(&layer) {
            l.next_slot = l.next_slot.max(preserved.next_slot);
            if l.file.is_none() && needs_file {
                let f = self
                    .backend
                    .open(&path, OpenMode::ReadWrite)
                    .map_err(|e| StateError::io("open", &path, e))?;
                l.file = Some(Arc::new(f));
            }
        }
        for &(index, slot) in &preserved.pages {
            let loc = slot.map_or(Loc::Zero, |slot| Loc::At { layer, slot });
            self.add_entry(&newest, index, loc);
        }
        Ok(())
    }

    /// Record `loc` as page `index` of snapshot `snap` (if it has none yet).
    fn add_entry(&mut self, snap: &str, index: u64, loc: Loc) {
        let Some(s) = self.snaps.get_mut(snap) else {
            return;
        };
        if s.pages.contains_key(&index) {
            return;
        }
        s.pages.insert(index, loc);
        if let Loc::At { layer, .. } = loc {
            if let Some(l) = self.layers.get_mut(&layer) {
                l.refs += 1;
            }
        }
    }

    /// Drop one reference to an image; its slot is punched after the next
    /// checkpoint.
    fn free_loc(&mut self, loc: Loc) {
        if let Loc::At { layer, slot } = loc {
            if let Some(l) = self.layers.get_mut(&layer) {
                l.refs = l.refs.saturating_sub(1);
            }
            self.pending_punch.push((layer, slot));
            self.collect_layer(layer);
        }
    }

    /// Forget a layer file that no snapshot owns and no entry references.
    fn collect_layer(&mut self, layer: u64) {
        let owned = self.snaps.values().any(|s| s.layer == layer);
        if !owned && self.layers.get(&layer).is_some_and(|l| l.refs == 0) {
            self.layers.remove(&layer);
            self.garbage.push(self.layer_path(layer));
        }
    }

    /// Apply: snapshot `name` of memory `from`.
    pub(super) fn apply_snapshot(
        &mut self,
        name: &str,
        from: &str,
        layer: u64,
    ) -> Result<(), StateError> {
        let m = self.memories.get(from).ok_or_else(|| {
            StateError::corrupt(
                self.dir.join(super::WAL_FILE),
                0,
                format!("snapshot {name:?} of memory {from:?}, which does not exist"),
            )
        })?;
        let snap = Snap {
            base_gen: m.generation,
            base_name: from.to_string(),
            base_file: Arc::clone(&m.file),
            size: m.size,
            layer,
            pages: BTreeMap::new(),
        };
        self.snaps.insert(name.to_string(), snap);
        self.layers.insert(
            layer,
            Layer {
                file: None,
                next_slot: 0,
                refs: 0,
            },
        );
        self.next_layer = self.next_layer.max(layer + 1);
        Ok(())
    }

    /// Apply: delete snapshot `name`.
    pub(super) fn delete_snapshot(&mut self, name: &str) {
        let Some(snap) = self.snaps.remove(name) else {
            return;
        };
        // The next older snapshot of the same file, which read through this one.
        let older = self
            .snaps
            .iter()
            .filter(|(_, s)| s.base_gen == snap.base_gen && s.layer < snap.layer)
            .max_by_key(|(_, s)| s.layer)
            .map(|(n, _)| n.clone());
        for (index, loc) in &snap.pages {
            let keep = older
                .as_ref()
                .is_some_and(|o| !self.snaps[o].pages.contains_key(index));
            match (keep, &older) {
                (true, Some(o)) => {
                    if let Some(s) = self.snaps.get_mut(o) {
                        s.pages.insert(*index, *loc); // the reference moves
                    }
                }
                _ => self.free_loc(*loc),
            }
        }
        self.collect_layer(snap.layer);
        self.release_generation(snap.base_gen, &snap.base_name);
    }

    /// Commit time, before the WAL record: do the writes a restore needs
    /// durable before its record, and return its resolution.
    pub(super) fn prepare_restore(
        &mut self,
        name: &str,
        from: &str,
        plan: &RestorePlan,
    ) -> Result<crate::wal::Resolution, StateError> {
        match *plan {
            RestorePlan::InPlace => self.prepare_in_place(name, from),
            RestorePlan::Copy { generation } => {
                self.prepare_copy(name, from, generation)?;
                Ok(crate::wal::Resolution::RestoreCopy { generation })
            }
        }
    }

    /// The pages an in-place restore of memory `name` from its snapshot
    /// `from` overwrites that the newest snapshot still needs: written to its
    /// layer and fsync'd now.
    fn prepare_in_place(
        &mut self,
        name: &str,
        from: &str,
    ) -> Result<crate::wal::Resolution, StateError> {
        let (generation, live_size, file, _) = self.in_place_file(name, from)?;
        let file_path = self.memory_path(generation, name);
        let target_size = self.snaps[from].size;
        let changed = self.changed_since(from);
        let newest = self
            .newest(generation)
            .map(str::to_string)
            .ok_or_else(|| StateError::invalid("restore in place without a snapshot"))?;
        let layer = self.snaps[&newest].layer;
        let max_size = self.chain_max_size(generation);
        let tail =
            round_up_to_page(target_size) / PAGE_SIZE..round_up_to_page(live_size) / PAGE_SIZE;
        let needed: Vec<u64> = {
            let own = &self.snaps[&newest].pages;
            let mut set: Vec<u64> = changed
                .keys()
                .copied()
                .chain(tail)
                .filter(|p| p * PAGE_SIZE < max_size && !own.contains_key(p))
                .collect::<HashSet<u64>>()
                .into_iter()
                .collect();
            set.sort_unstable();
            set
        };
        let mut images = Vec::with_capacity(needed.len());
        for index in needed {
            let mut page = vec![0; PAGE_SIZE as usize];
            self.read_file_zero_padded(&file, &file_path, index * PAGE_SIZE, &mut page)?;
            let zero = page.iter().all(|&b| b == 0);
            images.push((index, (!zero).then_some(page)));
        }
        let preserved = self.write_preserved(layer, &images)?;
        Ok(crate::wal::Resolution::RestoreInPlace { preserved })
    }

    /// Write a new file generation for memory `name` holding a copy of
    /// `from` (a memory or a snapshot), fsync'd with its directory entry.
    fn prepare_copy(&mut self, name: &str, from: &str, generation: u64) -> Result<(), StateError> {
        let size = self.size_of(from).ok_or_else(|| {
            StateError::invalid(format!("restore from {from:?}, which does not exist"))
        })?;
        let path = self.memory_path(generation, name);
        let b = &*self.backend;
        let file = b
            .open(&path, OpenMode::CreateTruncate)
            .map_err(|e| StateError::io("create", &path, e))?;
        b.reserve(&file, 0, round_up_to_page(size))
            .map_err(|e| self.no_space_or(e, round_up_to_page(size), "reserve space in", &path))?;
        b.set_len(&file, round_up_to_page(size))
            .map_err(|e| StateError::io("extend", &path, e))?;
        let changed = if self.snaps.contains_key(from) {
            Some(self.changed_since(from))
        } else {
            None
        };
        let chunk = COPY_CHUNK_PAGES * PAGE_SIZE;
        let mut buf = vec![0; chunk as usize];
        let mut offset = 0;
        let size = round_up_to_page(size);
        while offset < size {
            let n = (size - offset).min(chunk) as usize;
            match &changed {
                Some(changed) => self.read_snapshot_range(from, changed, offset, &mut buf[..n])?,
                None => self.read_any(from, offset, &mut buf[..n])?,
            }
            if buf[..n].iter().any(|&b| b != 0) {
                b.write_at(&file, &buf[..n], offset)
                    .map_err(|e| StateError::io("write", &path, e))?;
            }
            offset += n as u64;
        }
        b.sync(&file)
            .map_err(|e| StateError::io("fsync", &path, e))?;
        let dir = self.dir.join(MEMORIES_DIR);
        b.sync_dir(&dir)
            .map_err(|e| StateError::io("fsync directory", &dir, e))?;
        Ok(())
    }

    /// Apply: restore memory `name` in place from its snapshot `from`.
    pub(super) fn apply_restore_in_place(
        &mut self,
        name: &str,
        from: &str,
        preserved: &Preserved,
    ) -> Result<(), StateError> {
        if let Some(s) = self.snaps.get(from) {
            self.own_file(Owned::Memory(s.base_gen))?;
        }
        let (generation, live_size, file, mut len) = self.in_place_file(name, from)?;
        self.apply_preserved(generation, preserved)?;

        let target_size = self.snaps[from].size;
        let changed = self.changed_since(from);
        let path = self.memory_path(generation, name);
        let want = round_up_to_page(target_size);
        len = self.extend_to(&file, &path, len, want)?;
        let b = &*self.backend;
        let mut page = vec![0; PAGE_SIZE as usize];
        for (&index, &loc) in changed.range(..want / PAGE_SIZE) {
            self.read_loc(loc, &mut page)?;
            b.write_at(&file, &page, index * PAGE_SIZE)
                .map_err(|e| StateError::io("write page to", &path, e))?;
        }
        let old_end = round_up_to_page(live_size).min(len);
        if old_end > want {
            b.punch_hole(&file, want, old_end - want)
                .map_err(|e| StateError::io("zero the tail of", &path, e))?;
        }
        self.dirty.insert(generation, (Arc::clone(&file), path));
        let old = self.memories.insert(
            name.to_string(),
            Memory {
                generation,
                size: target_size,
                file,
                len,
            },
        );
        if let Some(old) = old.filter(|old| old.generation != generation) {
            self.release_generation(old.generation, name);
        }
        Ok(())
    }

    /// Apply: memory `name` switches to file `generation`, prepared by
    /// `prepare_copy`.
    pub(super) fn apply_restore_copy(
        &mut self,
        name: &str,
        from: &str,
        generation: u64,
    ) -> Result<(), StateError> {
        let size = self.size_of(from).ok_or_else(|| {
            StateError::corrupt(
                self.dir.join(super::WAL_FILE),
                0,
                format!("restore of {name:?} from {from:?}, which does not exist"),
            )
        })?;
        let path = self.memory_path(generation, name);
        let b = &*self.backend;
        let file = b
            .open(&path, OpenMode::ReadWrite)
            .map_err(|e| StateError::io("open", &path, e))?;
        let len = b.len(&file).map_err(|e| StateError::io("stat", &path, e))?;
        if let Some(old) = self.memories.remove(name) {
            self.release_generation(old.generation, name);
        }
        self.next_gen = self.next_gen.max(generation + 1);
        self.memories.insert(
            name.to_string(),
            Memory {
                generation,
                size,
                file: Arc::new(file),
                len,
            },
        );
        Ok(())
    }

    /// At open, once the WAL is folded in: free the slots of every layer file
    /// that no snapshot references — slots whose punching a crash cut short,
    /// and slots written for a record that never reached the log (past the
    /// layer's next slot, cut off). Nothing needs them: every needed slot is
    /// referenced by a snapshot's entry.
    pub(super) fn trim_layers(&mut self) -> Result<(), StateError> {
        let mut used: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for snap in self.snaps.values() {
            for loc in snap.pages.values() {
                if let Loc::At { layer, slot } = loc {
                    used.entry(*layer).or_default().push(*slot);
                }
            }
        }
        let b = &*self.backend;
        for (&id, layer) in &self.layers {
            let Some(file) = &layer.file else { continue };
            let path = self.layer_path(id);
            if shared(file, &path)? {
                // A copy of the directory links it too: leave it as it is (its free slots
                // are freed once one of the two directories owns it).
                continue;
            }
            let mut slots = used.remove(&id).unwrap_or_default();
            slots.sort_unstable();
            slots.dedup();
            let mut free_from = 0;
            for slot in slots.into_iter().chain([layer.next_slot]) {
                if slot > free_from {
                    b.punch_hole(file, free_from * PAGE_SIZE, (slot - free_from) * PAGE_SIZE)
                        .map_err(|e| StateError::io("free pages of", &path, e))?;
                }
                free_from = slot + 1;
            }
            let len = b.len(file).map_err(|e| StateError::io("stat", &path, e))?;
            if len > layer.next_slot * PAGE_SIZE {
                b.set_len(file, layer.next_slot * PAGE_SIZE)
                    .map_err(|e| StateError::io("truncate", &path, e))?;
            }
        }
        Ok(())
    }

    /// After a checkpoint made the frees durable: punch the freed slots.
    pub(super) fn punch_freed(&mut self) -> Result<(), StateError> {
        let punches = std::mem::take(&mut self.pending_punch);
        for (layer, slot) in punches {
            self.own_file(Owned::Layer(layer))?;
            let Some(file) = self.layers.get(&layer).and_then(|l| l.file.clone()) else {
                continue; // the whole file is garbage
            };
            let path = self.layer_path(layer);
            self.backend
                .punch_hole(&file, slot * PAGE_SIZE, PAGE_SIZE)
                .map_err(|e| StateError::io("free a page of", &path, e))?;
        }
        Ok(())
    }
}

pub(super) fn snapshot_entry(s: &Snap) -> SnapshotEntry {
    SnapshotEntry {
        base_gen: s.base_gen,
        base_name: s.base_name.clone(),
        size: s.size,
        layer: s.layer,
        pages: s
            .pages
            .iter()
            .map(|(index, loc)| match loc {
                Loc::Zero => (*index, 0, 0),
                Loc::At { layer, slot } => (*index, *layer, *slot),
            })
            .collect(),
    }
}

/// The snapshots and layer files of a manifest, with their files open.
pub(super) fn load_snapshots(
    b: &dyn Backend,
    dir: &Path,
    manifest: &Manifest,
    memories: &BTreeMap<String, Memory>,
) -> Result<LoadedSnapshots, StateError> {
    let mut layers = BTreeMap::new();
    for (&id, &next_slot) in &manifest.layers {
        let path = dir.join(LAYERS_DIR).join(format!("{id:016x}"));
        let file = if exists(b, &path)? {
            Some(Arc::new(
                b.open(&path, OpenMode::ReadWrite)
                    .map_err(|e| StateError::io("open", &path, e))?,
            ))
        } else {
            None
        };
        layers.insert(
            id,
            Layer {
                file,
                next_slot,
                refs: 0,
            },
        );
    }
    let mut bases: HashMap<u64, Arc<File>> = memories
        .values()
        .map(|m| (m.generation, Arc::clone(&m.file)))
        .collect();
    let mut snaps = BTreeMap::new();
    for (name, entry) in &manifest.snapshots {
        let base_file = match bases.get(&entry.base_gen) {
            Some(f) => Arc::clone(f),
            None => {
                let path = dir
                    .join(MEMORIES_DIR)
                    .join(memory_file_name(entry.base_gen, &entry.base_name));
                // Read-write: a restore may move its memory back onto it.
                let file = b.open(&path, OpenMode::ReadWrite).map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        StateError::MemoryFile {
                            name: name.clone(),
                            path: path.clone(),
                            cause: "is missing (a snapshot references it)".into(),
                        }
                    } else {
                        StateError::io("open", &path, e)
                    }
                })?;
                let file = Arc::new(file);
                bases.insert(entry.base_gen, Arc::clone(&file));
                file
            }
        };
        let mut pages = BTreeMap::new();
        for &(index, layer, slot) in &entry.pages {
            let loc = if layer == 0 {
                Loc::Zero
            } else {
                let l = layers.get_mut(&layer).ok_or_else(|| {
                    StateError::corrupt(
                        dir.join(MANIFEST_FILE),
                        0,
                        format!("snapshot {name:?}: unknown layer {layer}"),
                    )
                })?;
                if l.file.is_none() {
                    return Err(StateError::MemoryFile {
                        name: name.clone(),
                        path: dir.join(LAYERS_DIR).join(format!("{layer:016x}")),
                        cause: "is missing (a snapshot references it)".into(),
                    });
                }
                l.refs += 1;
                Loc::At { layer, slot }
            };
            pages.insert(index, loc);
        }
        snaps.insert(
            name.clone(),
            Snap {
                base_gen: entry.base_gen,
                base_name: entry.base_name.clone(),
                base_file,
                size: entry.size,
                layer: entry.layer,
                pages,
            },
        );
    }
    Ok((snaps, layers))
}
