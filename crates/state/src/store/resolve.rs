//! Resolving a [`Batch`] before it is written: validated against the current state, and for
//! each memory update what it does — which generation a write goes to, which pages it must
//! preserve for snapshots (their before-images), how a restore proceeds.

use super::*;

impl Store {
    /// Validate `batch` against the current state and decide, for each
    /// memory update, what it does: which generation a write goes to, which
    /// pages it must preserve for snapshots, how a restore proceeds.
    pub(super) fn resolve(&self, batch: &Batch) -> Result<Vec<Pending>, StateError> {
        for (key, value) in &batch.blobs {
            if key.len() > u32::MAX as usize {
                return Err(StateError::invalid("a blob key is 4 GiB or longer"));
            }
            if value.as_ref().is_some_and(|v| v.len() > u32::MAX as usize) {
                return Err(StateError::invalid(format!(
                    "blob {key:?}: the value is 4 GiB or longer"
                )));
            }
        }
        // Memories as earlier updates of this batch leave them: name → (generation, size).
        let mut view: HashMap<&str, Option<(u64, u64)>> = HashMap::new();
        let mut next_gen = self.next_gen;
        let mut next_layer = self.next_layer;
        // Names written, deleted or restored earlier in the batch.
        let mut modified: HashSet<&str> = HashSet::new();
        // Names created as snapshots or restored: nothing may touch them later.
        let mut sealed: HashSet<&str> = HashSet::new();
        // Memory → size of a snapshot of it taken earlier in this batch.
        // Memory → (largest size, newest layer) of snapshots of it taken earlier in this batch.
        let mut pending_snapshot: HashMap<&str, (u64, u64)> = HashMap::new();
        let mut snapshots_changed = false;
        let mut preserved: HashSet<(u64, u64)> = HashSet::new();
        let mut out = Vec::with_capacity(batch.memories.len());
        for update in &batch.memories {
            let name = update.name.as_str();
            if name.len() > u32::MAX as usize {
                return Err(StateError::invalid("a memory name is 4 GiB or longer"));
            }
            if sealed.contains(name) {
                return Err(StateError::invalid(format!(
                    "memory {name:?} is touched after it was snapshotted into or restored \
                     in the same batch; use two commits"
                )));
            }
            let current = match view.get(name) {
                Some(state) => *state,
                None => self.memories.get(name).map(|m| (m.generation, m.size)),
            };
            let is_snapshot = self.snaps.contains_key(name);
            match &update.op {
                MemoryOp::Delete => {
                    if is_snapshot {
                        snapshots_changed = true;
                    }
                    modified.insert(name);
                    view.insert(name, None);
                    out.push(Pending::Ready(Resolution::Delete));
                }
                MemoryOp::Snapshot { from } => {
                    let from = from.as_str();
                    let source = match view.get(from) {
                        Some(state) => *state,
                        None => self.memories.get(from).map(|m| (m.generation, m.size)),
                    };
                    let Some((_, size)) = source else {
                        return Err(StateError::invalid(format!(
                            "snapshot {name:?}: there is no memory {from:?}"
                        )));
                    };
                    if modified.contains(from) || sealed.contains(from) {
                        return Err(StateError::invalid(format!(
                            "snapshot {name:?}: memory {from:?} is changed earlier in the same \
                             batch; snapshot it in a commit of its own first"
                        )));
                    }
                    if current.is_some() || is_snapshot || modified.contains(name) {
                        return Err(StateError::invalid(format!(
                            "snapshot {name:?}: the name is already in use"
                        )));
                    }
                    next_layer += 1;
                    let entry = pending_snapshot.entry(from).or_insert((0, 0));
                    *entry = (entry.0.max(size), next_layer - 1);
                    sealed.insert(name);
                    snapshots_changed = true;
                    out.push(Pending::Ready(Resolution::Snapshot {
                        layer: next_layer - 1,
                    }));
                }
                MemoryOp::Restore { from } => {
                    let from = from.as_str();
                    if snapshots_changed
                        || !modified.is_empty()
                            && (modified.contains(name) || modified.contains(from))
                    {
                        return Err(StateError::invalid(format!(
                            "restore of {name:?}: snapshots or the memories involved change \
                             earlier in the same batch; restore in a commit of its own"
                        )));
                    }
                    if is_snapshot {
                        return Err(StateError::invalid(format!(
                            "restore of {name:?}: it is a snapshot, and snapshots are read-only"
                        )));
                    }
                    if name == from || pending_snapshot.contains_key(name) || sealed.contains(from)
                    {
                        return Err(StateError::invalid(format!(
                            "restore of {name:?} from {from:?}: not allowed in this batch"
                        )));
                    }
                    let in_place = self.restores_in_place(name, current.map(|(g, _)| g), from);
                    let size = match (self.snaps.get(from), self.memories.get(from)) {
                        (Some(s), _) => s.size,
                        (None, Some(m)) => m.size,
                        (None, None) => {
                            return Err(StateError::invalid(format!(
                                "restore of {name:?}: there is no snapshot or memory {from:?}"
                            )))
                        }
                    };
                    let plan = if in_place {
                        let generation = self.snaps.get(from).map_or(0, |s| s.base_gen);
                        view.insert(name, Some((generation, size)));
                        RestorePlan::InPlace
                    } else {
                        next_gen += 1;
                        view.insert(name, Some((next_gen - 1, size)));
                        RestorePlan::Copy {
                            generation: next_gen - 1,
                        }
                    };
                    modified.insert(name);
                    sealed.insert(name);
                    out.push(Pending::Restore(plan));
                }
                MemoryOp::Write { reset, size, pages } => {
                    if is_snapshot {
                        return Err(StateError::invalid(format!(
                            "memory {name:?} is a snapshot, and snapshots are read-only"
                        )));
                    }
                    let size = *size;
                    if size > MAX_MEMORY_BYTES {
                        return Err(StateError::invalid(format!(
                            "memory {name:?}: size {size} exceeds the maximum {MAX_MEMORY_BYTES}"
                        )));
                    }
                    for (index, data) in pages {
                        if data.len() as u64 != PAGE_SIZE {
                            return Err(StateError::invalid(format!(
                                "memory {name:?}: page {index} is {} bytes, pages are exactly {PAGE_SIZE}",
                                data.len()
                            )));
                        }
                        if index
                            .checked_mul(PAGE_SIZE)
                            .is_none_or(|start| start >= size)
                        {
                            return Err(StateError::invalid(format!(
                                "memory {name:?}: page {index} starts at or past the size {size}"
                            )));
                        }
                    }
                    let (generation, fresh) = match current {
                        Some((generation, old_size)) if !reset => {
                            if size < old_size {
                                return Err(StateError::invalid(format!(
                                    "memory {name:?}: size would shrink from {old_size} to {size}; \
                                     only a reset may shrink a memory"
                                )));
                            }
                            (generation, false)
                        }
                        _ => {
                            next_gen += 1;
                            (next_gen - 1, true)
                        }
                    };
                    let pending = pending_snapshot.get(name).copied();
                    let images = if fresh {
                        Vec::new()
                    } else {
                        self.before_images(
                            name,
                            generation,
                            pages,
                            pending.map(|(size, _)| size),
                            &mut preserved,
                        )?
                    };
                    let layer = match pending {
                        Some((_, layer)) => layer,
                        None => self.newest(generation).map_or(0, |n| self.snaps[n].layer),
                    };
                    modified.insert(name);
                    view.insert(name, Some((generation, size)));
                    out.push(Pending::Write {
                        generation,
                        fresh,
                        layer,
                        images,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The before-images a write to file `generation` of memory `name` must
    /// preserve for its newest snapshot: pages below the largest snapshot
    /// size that the newest snapshot has no entry for. `pending` is the size
    /// of a snapshot of it taken earlier in the batch (whose layer is empty).
    fn before_images(
        &self,
        name: &str,
        generation: u64,
        pages: &[(u64, Vec<u8>)],
        pending: Option<u64>,
        preserved: &mut HashSet<(u64, u64)>,
    ) -> Result<wal::PageImages, StateError> {
        let newest = self.newest(generation);
        if newest.is_none() && pending.is_none() {
            return Ok(Vec::new());
        }
        let max_size = self.chain_max_size(generation).max(pending.unwrap_or(0));
        let empty = BTreeMap::new();
        let own: &BTreeMap<u64, Loc> = match (pending, newest) {
            (Some(_), _) | (None, None) => &empty,
            (None, Some(n)) => &self.snaps[n].pages,
        };
        let mut out = Vec::new();
        let file = &self.memories[name].file;
        let path = self.memory_path(generation, name);
        for (index, _) in pages {
            if index * PAGE_SIZE >= max_size
                || own.contains_key(index)
                || !preserved.insert((generation, *index))
            {
                continue;
            }
            let mut image = vec![0; PAGE_SIZE as usize];
            let len = self.memories[name].len;
            if index * PAGE_SIZE < len {
                self.backend
                    .read_at(file, &mut image, index * PAGE_SIZE)
                    .map_err(|e| StateError::io("read", &path, e))?;
            }
            let zero = image.iter().all(|&b| b == 0);
            out.push((*index, (!zero).then_some(image)));
        }
        Ok(out)
    }
}
