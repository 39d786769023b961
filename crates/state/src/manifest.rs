//! The manifest `<dir>/manifest`: the state as of the last checkpoint.
//!
//! It is only ever replaced whole and atomically: written to
//! `manifest.tmp`, fsync'd, renamed over `manifest`, then the directory is
//! fsync'd. A missing manifest means an empty store.
//!
//! # Format (version 2)
//!
//! ```text
//! offset  size  field
//! 0       8     magic "DDSTATE\0"
//! 8       4     format version = 2 (u32 LE)
//! 12      4     crc32 (IEEE) of the body
//! 16      8     body length N (u64 LE)
//! 24      N     body
//! ```
//!
//! Body (integers little-endian; `str`/`bytes` are a u32 length then the bytes):
//!
//! ```text
//! u64   next_seq        sequence number of the next commit; log records below it are already folded in
//! u64   next_gen        next unused memory file generation (generations are never reused)
//! u64   next_layer      next unused layer id (from 1; ids are never reused)
//! u32   blob count
//!   per blob (sorted by key):    str key, bytes value
//! u32   memory count
//!   per memory (sorted by name): str name, u64 generation, u64 size in bytes,
//!                                u8 layout (1 = flat file: page i at byte offset i*4096)
//! u32   layer count
//!   per layer file (sorted by id): u64 id, u64 next slot (slots are never reused)
//! u32   snapshot count
//!   per snapshot (sorted by name):
//!     str name, u64 base generation, str base name (the memory whose file it is),
//!     u64 size in bytes, u64 layer id (its own layer; also its age: newer is larger),
//!     u64 page count, per page (sorted by index):
//!       u64 page index, u64 layer id holding the image (0 = a zero page), u64 slot
//! ```
//!
//! A snapshot's page `i` is, in order: its own entry for `i`; else the entry
//! of the next newer snapshot of the same base file, and so on; else page `i`
//! of the base file (see the `snapshots` module of the store).

use std::collections::BTreeMap;
use std::path::Path;

use crate::codec::{Reader, Writer};
use crate::StateError;

pub(crate) const MAGIC: [u8; 8] = *b"DDSTATE\0";
pub(crate) const VERSION: u32 = 2;
pub(crate) const HEADER_LEN: usize = 24;
/// The only memory file layout so far: a flat file, page i at offset i*4096.
pub(crate) const LAYOUT_FLAT: u8 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub next_seq: u64,
    pub next_gen: u64,
    pub blobs: BTreeMap<String, Vec<u8>>,
    /// name → (generation, size)
    pub memories: BTreeMap<String, (u64, u64)>,
    pub next_layer: u64,
    /// layer id → next slot
    pub layers: BTreeMap<u64, u64>,
    pub snapshots: BTreeMap<String, SnapshotEntry>,
}

/// One snapshot in the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SnapshotEntry {
    pub base_gen: u64,
    pub base_name: String,
    pub size: u64,
    pub layer: u64,
    /// (page index, layer id or 0 for a zero page, slot)
    pub pages: Vec<(u64, u64, u64)>,
}

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        let body_len: usize = 24
            + self
                .blobs
                .iter()
                .map(|(k, v)| 8 + k.len() + v.len())
                .sum::<usize>()
            + self.memories.keys().map(|k| 21 + k.len()).sum::<usize>()
            + 16
            + self.layers.len() * 16
            + self
                .snapshots
                .iter()
                .map(|(k, v)| 40 + k.len() + v.base_name.len() + v.pages.len() * 24)
                .sum::<usize>();
        let mut w = Writer::with_capacity(HEADER_LEN + body_len);
        w.raw(&[0; HEADER_LEN]);
        w.u64(self.next_seq);
        w.u64(self.next_gen);
        w.u64(self.next_layer);
        w.u32(self.blobs.len() as u32);
        for (key, value) in &self.blobs {
            w.bytes(key.as_bytes());
            w.bytes(value);
        }
        w.u32(self.memories.len() as u32);
        for (name, (generation, size)) in &self.memories {
            w.bytes(name.as_bytes());
            w.u64(*generation);
            w.u64(*size);
            w.u8(LAYOUT_FLAT);
        }
        w.u32(self.layers.len() as u32);
        for (id, next_slot) in &self.layers {
            w.u64(*id);
            w.u64(*next_slot);
        }
        w.u32(self.snapshots.len() as u32);
        for (name, snap) in &self.snapshots {
            w.bytes(name.as_bytes());
            w.u64(snap.base_gen);
            w.bytes(snap.base_name.as_bytes());
            w.u64(snap.size);
            w.u64(snap.layer);
            w.u64(snap.pages.len() as u64);
            for (index, layer, slot) in &snap.pages {
                w.u64(*index);
                w.u64(*layer);
                w.u64(*slot);
            }
        }
        let mut buf = w.buf;
        let crc = crc32fast::hash(&buf[HEADER_LEN..]);
        let len = (buf.len() - HEADER_LEN) as u64;
        buf[0..8].copy_from_slice(&MAGIC);
        buf[8..12].copy_from_slice(&VERSION.to_le_bytes());
        buf[12..16].copy_from_slice(&crc.to_le_bytes());
        buf[16..24].copy_from_slice(&len.to_le_bytes());
        buf
    }

    pub fn decode(bytes: &[u8], path: &Path) -> Result<Manifest, StateError> {
        let corrupt =
            |offset: usize, cause: String| StateError::corrupt(path, offset as u64, cause);
        if bytes.len() < HEADER_LEN {
            return Err(corrupt(
                0,
                format!(
                    "manifest is {} bytes, shorter than its {HEADER_LEN}-byte header",
                    bytes.len()
                ),
            ));
        }
        if bytes[0..8] != MAGIC {
            return Err(corrupt(0, "not a drydock manifest (bad magic)".into()));
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != VERSION {
            return Err(StateError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version,
                supported: VERSION,
            });
        }
        let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[16..24]);
        let len = u64::from_le_bytes(len);
        let body = &bytes[HEADER_LEN..];
        if len != body.len() as u64 {
            return Err(corrupt(
                16,
                format!(
                    "header says the body is {len} bytes, the file holds {}",
                    body.len()
                ),
            ));
        }
        if crc32fast::hash(body) != crc {
            return Err(corrupt(
                12,
                "crc mismatch: the manifest body is damaged".into(),
            ));
        }

        let at = |e: crate::codec::DecodeError| corrupt(HEADER_LEN + e.offset, e.cause);
        let mut r = Reader::new(body);
        let mut m = Manifest {
            next_seq: r.u64("next_seq").map_err(at)?,
            next_gen: r.u64("next_gen").map_err(at)?,
            next_layer: r.u64("next_layer").map_err(at)?,
            ..Manifest::default()
        };
        let blob_count = r.u32("blob count").map_err(at)?;
        for _ in 0..blob_count {
            let key = r.string("blob key").map_err(at)?;
            let value = r.bytes("blob value").map_err(at)?.to_vec();
            m.blobs.insert(key, value);
        }
        let memory_count = r.u32("memory count").map_err(at)?;
        for _ in 0..memory_count {
            let start = r.pos();
            let name = r.string("memory name").map_err(at)?;
            let generation = r.u64("generation").map_err(at)?;
            let size = r.u64("memory size").map_err(at)?;
            let layout = r.u8("memory layout").map_err(at)?;
            if layout != LAYOUT_FLAT {
                return Err(corrupt(
                    HEADER_LEN + r.pos() - 1,
                    format!("memory {name:?} has unknown layout {layout} (this build knows layout {LAYOUT_FLAT})"),
                ));
            }
            if generation >= m.next_gen {
                return Err(corrupt(
                    HEADER_LEN + start,
                    format!(
                        "memory {name:?} uses generation {generation}, not below next_gen {}",
                        m.next_gen
                    ),
                ));
            }
            m.memories.insert(name, (generation, size));
        }
        let layer_count = r.u32("layer count").map_err(at)?;
        for _ in 0..layer_count {
            let start = r.pos();
            let id = r.u64("layer id").map_err(at)?;
            let next_slot = r.u64("layer next slot").map_err(at)?;
            if id == 0 || id >= m.next_layer {
                return Err(corrupt(
                    HEADER_LEN + start,
                    format!(
                        "layer id {id} is 0 or not below next_layer {}",
                        m.next_layer
                    ),
                ));
            }
            m.layers.insert(id, next_slot);
        }
        let snapshot_count = r.u32("snapshot count").map_err(at)?;
        for _ in 0..snapshot_count {
            let start = r.pos();
            let name = r.string("snapshot name").map_err(at)?;
            let base_gen = r.u64("snapshot base generation").map_err(at)?;
            let base_name = r.string("snapshot base name").map_err(at)?;
            let size = r.u64("snapshot size").map_err(at)?;
            let layer = r.u64("snapshot layer").map_err(at)?;
            let count = r.u64("snapshot page count").map_err(at)?;
            if base_gen >= m.next_gen || !m.layers.contains_key(&layer) {
                return Err(corrupt(
                    HEADER_LEN + start,
                    format!(
                        "snapshot {name:?}: generation {base_gen} or layer {layer} is not in use"
                    ),
                ));
            }
            let mut pages = Vec::new();
            for _ in 0..count {
                let pos = r.pos();
                let index = r.u64("page index").map_err(at)?;
                let in_layer = r.u64("page layer").map_err(at)?;
                let slot = r.u64("page slot").map_err(at)?;
                if in_layer != 0 && m.layers.get(&in_layer).is_none_or(|next| slot >= *next) {
                    return Err(corrupt(
                        HEADER_LEN + pos,
                        format!(
                            "snapshot {name:?}: page {index} is in slot {slot} of layer \
                             {in_layer}, which is not in use"
                        ),
                    ));
                }
                pages.push((index, in_layer, slot));
            }
            m.snapshots.insert(
                name,
                SnapshotEntry {
                    base_gen,
                    base_name,
                    size,
                    layer,
                    pages,
                },
            );
        }
        if !r.is_empty() {
            return Err(corrupt(
                HEADER_LEN + r.pos(),
                "trailing bytes after the snapshot table".into(),
            ));
        }
        Ok(m)
    }
}
