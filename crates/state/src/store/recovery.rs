//! Opening a directory: WAL replay and removal of crash leftovers.

use std::collections::HashSet;

use super::{memory_file_name, Store, CONTENT_DIR, LAYERS_DIR, MEMORIES_DIR, TMP_SUFFIX, WAL_FILE};
use crate::wal::LogReader;
use crate::StateError;

impl Store {
    /// Re-apply the WAL records the manifest has not folded in.
    pub(super) fn replay(&mut self) -> Result<(), StateError> {
        let path = self.dir.join(WAL_FILE);
        let len = self
            .backend
            .len(&self.wal)
            .map_err(|e| StateError::io("stat", &path, e))?;
        let Ok(len_usize) = usize::try_from(len) else {
            return Err(StateError::corrupt(
                &path,
                0,
                format!("log of {len} bytes does not fit in memory"),
            ));
        };
        let mut bytes = vec![0; len_usize];
        self.backend
            .read_at(&self.wal, &mut bytes, 0)
            .map_err(|e| StateError::io("read", &path, e))?;
        self.wal_len = len;
        self.wal_allocated = len;

        let mut reader = LogReader::new(&bytes, &path);
        let mut previous: Option<u64> = None;
        while let Some(record) = reader.next_record()? {
            if previous.is_some_and(|p| p.checked_add(1) != Some(record.seq)) {
                return Err(StateError::corrupt(
                    &path,
                    record.offset,
                    format!(
                        "record has sequence number {}, expected {} after the previous record",
                        record.seq,
                        previous.unwrap_or(0).wrapping_add(1)
                    ),
                ));
            }
            previous = Some(record.seq);
            if record.seq < self.next_seq {
                continue; // already folded into the manifest
            }
            if record.seq != self.next_seq {
                return Err(StateError::corrupt(
                    &path,
                    record.offset,
                    format!(
                        "record has sequence number {}, but the manifest continues at {}: records are missing",
                        record.seq, self.next_seq
                    ),
                ));
            }
            if record.batch.memories.len() != record.resolutions.len() {
                return Err(StateError::corrupt(
                    &path,
                    record.offset,
                    "memory updates and resolutions differ",
                ));
            }
            self.apply(&record.batch, &record.resolutions, Some(record.offset))?;
            self.next_seq += 1;
            self.manifest_stale = true;
        }
        Ok(())
    }

    /// Remove files nothing references: memory generations and layer files
    /// left by a crash, and temporary content files.
    pub(super) fn remove_leftovers(&mut self) -> Result<(), StateError> {
        let b = &*self.backend;
        let referenced: HashSet<String> = self
            .memories
            .iter()
            .map(|(name, m)| memory_file_name(m.generation, name))
            .chain(
                self.snaps
                    .values()
                    .map(|s| memory_file_name(s.base_gen, &s.base_name)),
            )
            .collect();
        let memories_dir = self.dir.join(MEMORIES_DIR);
        let entries = b
            .read_dir(&memories_dir)
            .map_err(|e| StateError::io("list", &memories_dir, e))?;
        for entry in entries {
            if !entry.to_str().is_some_and(|n| referenced.contains(n)) {
                let path = memories_dir.join(&entry);
                b.remove(&path)
                    .map_err(|e| StateError::io("remove", &path, e))?;
            }
        }
        let layers: HashSet<String> = self.layers.keys().map(|id| format!("{id:016x}")).collect();
        let layers_dir = self.dir.join(LAYERS_DIR);
        let entries = b
            .read_dir(&layers_dir)
            .map_err(|e| StateError::io("list", &layers_dir, e))?;
        for entry in entries {
            if !entry.to_str().is_some_and(|n| layers.contains(n)) {
                let path = layers_dir.join(&entry);
                b.remove(&path)
                    .map_err(|e| StateError::io("remove", &path, e))?;
            }
        }
        let content_dir = self.dir.join(CONTENT_DIR);
        let entries = b
            .read_dir(&content_dir)
            .map_err(|e| StateError::io("list", &content_dir, e))?;
        for entry in entries {
            if entry.to_str().is_some_and(|n| n.ends_with(TMP_SUFFIX)) {
                let path = content_dir.join(&entry);
                b.remove(&path)
                    .map_err(|e| StateError::io("remove", &path, e))?;
            }
        }
        Ok(())
    }
}
