//! The write-ahead log `<dir>/wal`: one record per committed [`Batch`].
//!
//! # Record framing (format version 2)
//!
//! ```text
//! offset  size  field
//! 0       3     magic "DDW"
//! 3       1     format version = 0x02
//! 4       4     payload length N (u32 LE)
//! 8       4     crc32 (IEEE) of bytes 4..12+N, i.e. of the length field and the payload
//! 12      N     payload
//! ```
//!
//! Records follow each other with no padding. After the last one the file
//! holds zeros, written ahead in chunks (`Options::wal_chunk`) so that appends
//! do not change the file's size; recovery reads them as a torn tail. The log
//! is truncated to length 0 by every checkpoint, so it only holds records
//! committed since then.
//!
//! # Payload
//!
//! All integers little-endian; `str`/`bytes` are a u32 length then the bytes.
//!
//! ```text
//! u64   seq              commit sequence number (consecutive within the log)
//! u32   blob count
//!   per blob:   str key, u8 tag (0 = delete, 1 = put), [bytes value]   (value only for put)
//! u32   memory count
//!   per memory update: str name, u8 tag, then by tag:
//!     0 delete           (a memory or a snapshot)
//!     1 write:
//!       u64 generation   the file generation the pages go to
//!       u8  fresh        1 = the generation file starts empty (reset, or a new memory)
//!       u64 size         the memory's size in bytes after this record
//!       u32 page count
//!       per page: u64 page index, 4096 bytes page image
//!       preserved pages        the before-images the newest snapshot of the file
//!                              keeps (see below)
//!     2 snapshot:        str from (the memory), u64 layer id of the new snapshot
//!     3 restore in place (from a snapshot of the memory's own file, or of its
//!       older file): str from, preserved pages
//!     4 restore by copy: str from, u64 generation of the new file (written and
//!       fsync'd, with its directory entry, before the record)
//!
//!   preserved pages (before-images, written to slots of the newest snapshot's
//!   layer file and fsync'd before the record; the record only names them):
//!       u64 next slot of that layer after the record
//!       u32 count, per page: u64 page index, u8 kind (0 = zero page, 1 = in a slot),
//!       [u64 slot]
//! ```
//!
//! Records carry *resolved* operations (explicit generation, explicit
//! freshness, full page images, full blob values), so replaying a record
//! never depends on anything but the record and the state it was written on.
//!
//! # Recovery rules
//!
//! * A record whose header or crc is damaged, and after which no intact record
//!   follows, is a torn tail: it was never acknowledged and is ignored.
//! * A damaged record followed by an intact one is corruption in the middle of
//!   the log: recovery fails with [`StateError::Corrupt`] naming its offset.
//! * An intact record whose payload does not decode is corruption as well.

use std::path::Path;

use crate::codec::{DecodeError, Reader, Writer};
use crate::{Batch, MemoryOp, MemoryUpdate, StateError, PAGE_SIZE};

pub(crate) const MAGIC: [u8; 3] = *b"DDW";
pub(crate) const VERSION: u8 = 2;
pub(crate) const HEADER_LEN: usize = 12;

/// Page images by index; `None` is a zero page.
pub(crate) type PageImages = Vec<(u64, Option<Vec<u8>>)>;

/// Pages preserved in a layer: by index, the slot (`None`: a zero page), and
/// the layer's next slot after them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Preserved {
    pub pages: Vec<(u64, Option<u64>)>,
    pub next_slot: u64,
}

impl Preserved {
    fn encoded_len(&self) -> usize {
        12 + self.pages.len() * 17
    }

    fn encode(&self, w: &mut Writer) {
        w.u64(self.next_slot);
        w.u32(self.pages.len() as u32);
        for (index, slot) in &self.pages {
            w.u64(*index);
            match slot {
                None => w.u8(0),
                Some(slot) => {
                    w.u8(1);
                    w.u64(*slot);
                }
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Preserved, DecodeError> {
        let next_slot = r.u64("next slot")?;
        let count = r.u32("preserved page count")?;
        let mut pages = Vec::new();
        for _ in 0..count {
            let index = r.u64("preserved page index")?;
            let slot = if r.bool("preserved page kind")? {
                Some(r.u64("preserved page slot")?)
            } else {
                None
            };
            pages.push((index, slot));
        }
        Ok(Preserved { pages, next_slot })
    }
}

/// How a [`MemoryUpdate`] was resolved against the state at commit time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    Write {
        generation: u64,
        fresh: bool,
        /// Before-images kept for the newest snapshot of the file.
        preserved: Preserved,
    },
    Delete,
    Snapshot {
        layer: u64,
    },
    RestoreInPlace {
        /// Pages preserved into the newest snapshot's layer.
        preserved: Preserved,
    },
    RestoreCopy {
        generation: u64,
    },
}

/// Encode one framed record.
pub(crate) fn encode(
    seq: u64,
    batch: &Batch,
    resolutions: &[Resolution],
) -> Result<Vec<u8>, StateError> {
    let mut capacity = HEADER_LEN + 16;
    for (key, value) in &batch.blobs {
        capacity += 9 + key.len() + value.as_ref().map_or(0, Vec::len);
    }
    for (update, resolution) in batch.memories.iter().zip(resolutions) {
        capacity += 34 + update.name.len();
        if let MemoryOp::Write { pages, .. } = &update.op {
            capacity += pages.len() * (8 + PAGE_SIZE as usize);
        }
        match resolution {
            Resolution::Write { preserved, .. } | Resolution::RestoreInPlace { preserved } => {
                capacity += preserved.encoded_len();
            }
            _ => {}
        }
        if let MemoryOp::Snapshot { from } | MemoryOp::Restore { from } = &update.op {
            capacity += 4 + from.len();
        }
    }
    if capacity - HEADER_LEN > u32::MAX as usize {
        return Err(StateError::invalid(format!(
            "the batch encodes to about {capacity} bytes, more than the 4 GiB a log record holds; \
             split it into several commits"
        )));
    }

    let mut w = Writer::with_capacity(capacity);
    w.raw(&[0; HEADER_LEN]);
    w.u64(seq);
    w.u32(batch.blobs.len() as u32);
    for (key, value) in &batch.blobs {
        w.bytes(key.as_bytes());
        match value {
            None => w.u8(0),
            Some(v) => {
                w.u8(1);
                w.bytes(v);
            }
        }
    }
    w.u32(batch.memories.len() as u32);
    for (update, resolution) in batch.memories.iter().zip(resolutions) {
        w.bytes(update.name.as_bytes());
        match (&update.op, resolution) {
            (
                MemoryOp::Write { size, pages, .. },
                Resolution::Write {
                    generation,
                    fresh,
                    preserved,
                },
            ) => {
                w.u8(1);
                w.u64(*generation);
                w.u8(u8::from(*fresh));
                w.u64(*size);
                w.u32(pages.len() as u32);
                for (index, data) in pages {
                    w.u64(*index);
                    w.raw(data);
                }
                preserved.encode(&mut w);
            }
            (MemoryOp::Snapshot { from }, Resolution::Snapshot { layer }) => {
                w.u8(2);
                w.bytes(from.as_bytes());
                w.u64(*layer);
            }
            (MemoryOp::Restore { from }, Resolution::RestoreInPlace { preserved }) => {
                w.u8(3);
                w.bytes(from.as_bytes());
                preserved.encode(&mut w);
            }
            (MemoryOp::Restore { from }, Resolution::RestoreCopy { generation }) => {
                w.u8(4);
                w.bytes(from.as_bytes());
                w.u64(*generation);
            }
            (MemoryOp::Delete, Resolution::Delete) => w.u8(0),
            _ => {
                return Err(StateError::invalid(format!(
                    "memory {:?}: operation and resolution differ",
                    update.name
                )))
            }
        }
    }

    let mut buf = w.buf;
    let len = (buf.len() - HEADER_LEN) as u32;
    buf[0..3].copy_from_slice(&MAGIC);
    buf[3] = VERSION;
    buf[4..8].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&buf[4..8]);
    let mut hasher = crc32fast::Hasher::new_with_initial(crc);
    hasher.update(&buf[HEADER_LEN..]);
    let crc = hasher.finalize();
    buf[8..12].copy_from_slice(&crc.to_le_bytes());
    Ok(buf)
}

/// One decoded record.
pub(crate) struct Record {
    /// Where the record starts in the log.
    pub offset: u64,
    pub seq: u64,
    pub batch: Batch,
    pub resolutions: Vec<Resolution>,
}

fn decode_payload(payload: &[u8]) -> Result<(u64, Batch, Vec<Resolution>), DecodeError> {
    let mut r = Reader::new(payload);
    let seq = r.u64("sequence number")?;
    let mut batch = Batch::default();
    let blob_count = r.u32("blob count")?;
    for _ in 0..blob_count {
        let key = r.string("blob key")?;
        let value = if r.bool("blob tag")? {
            Some(r.bytes("blob value")?.to_vec())
        } else {
            None
        };
        batch.blobs.push((key, value));
    }
    let memory_count = r.u32("memory count")?;
    let mut resolutions = Vec::new();
    for _ in 0..memory_count {
        let name = r.string("memory name")?;
        let (op, resolution) = match r.u8("memory tag")? {
            0 => (MemoryOp::Delete, Resolution::Delete),
            1 => {
                let generation = r.u64("generation")?;
                let fresh = r.bool("fresh flag")?;
                let size = r.u64("memory size")?;
                let page_count = r.u32("page count")?;
                let mut pages = Vec::new();
                for _ in 0..page_count {
                    let index = r.u64("page index")?;
                    let data = r.raw(PAGE_SIZE as usize, "page image")?;
                    pages.push((index, data.to_vec()));
                }
                let preserved = Preserved::decode(&mut r)?;
                (
                    MemoryOp::Write {
                        reset: fresh,
                        size,
                        pages,
                    },
                    Resolution::Write {
                        generation,
                        fresh,
                        preserved,
                    },
                )
            }
            2 => {
                let from = r.string("snapshot source")?;
                let layer = r.u64("snapshot layer")?;
                (MemoryOp::Snapshot { from }, Resolution::Snapshot { layer })
            }
            3 => {
                let from = r.string("restore source")?;
                let preserved = Preserved::decode(&mut r)?;
                (
                    MemoryOp::Restore { from },
                    Resolution::RestoreInPlace { preserved },
                )
            }
            4 => {
                let from = r.string("restore source")?;
                let generation = r.u64("generation")?;
                (
                    MemoryOp::Restore { from },
                    Resolution::RestoreCopy { generation },
                )
            }
            tag => return Err(r.error(format!("unknown memory update tag {tag}"))),
        };
        batch.memories.push(MemoryUpdate { name, op });
        resolutions.push(resolution);
    }
    if !r.is_empty() {
        return Err(r.error("trailing bytes after the last memory update"));
    }
    Ok((seq, batch, resolutions))
}

/// Whether an intact frame (magic, length within the log, crc) starts at `pos`.
/// Returns its payload length.
fn intact_frame_at(bytes: &[u8], pos: usize) -> Option<usize> {
    let header = bytes.get(pos..pos.checked_add(HEADER_LEN)?)?;
    if header[0..3] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let payload = bytes.get(pos + HEADER_LEN..(pos + HEADER_LEN).checked_add(len)?)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[4..8]);
    hasher.update(payload);
    (hasher.finalize() == crc).then_some(len)
}

/// Iterates over the records of a whole log held in memory.
pub(crate) struct LogReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> LogReader<'a> {
    pub fn new(bytes: &'a [u8], path: &'a Path) -> Self {
        LogReader {
            bytes,
            pos: 0,
            path,
        }
    }

    /// The next record; `None` at the end of the log or at a torn tail.
    pub fn next_record(&mut self) -> Result<Option<Record>, StateError> {
        let pos = self.pos;
        if pos == self.bytes.len() {
            return Ok(None);
        }
        let Some(len) = intact_frame_at(self.bytes, pos) else {
            // Damaged: a torn tail unless an intact record follows.
            let later = (pos + 1..self.bytes.len().saturating_sub(HEADER_LEN - 1)).find(|&p| {
                self.bytes[p..p + 3] == MAGIC && intact_frame_at(self.bytes, p).is_some()
            });
            return match later {
                None => {
                    self.pos = self.bytes.len();
                    Ok(None)
                }
                Some(next) => Err(StateError::corrupt(
                    self.path,
                    pos as u64,
                    format!(
                        "write-ahead log record is damaged (bad magic, length or crc) but an \
                         intact record follows at offset {next}"
                    ),
                )),
            };
        };
        let version = self.bytes[pos + 3];
        if version != VERSION {
            return Err(StateError::UnsupportedVersion {
                path: self.path.to_path_buf(),
                found: u32::from(version),
                supported: u32::from(VERSION),
            });
        }
        let payload = &self.bytes[pos + HEADER_LEN..pos + HEADER_LEN + len];
        let (seq, batch, resolutions) = decode_payload(payload).map_err(|e| {
            StateError::corrupt(
                self.path,
                (pos + HEADER_LEN + e.offset) as u64,
                format!("write-ahead log record at offset {pos}: {}", e.cause),
            )
        })?;
        self.pos = pos + HEADER_LEN + len;
        Ok(Some(Record {
            offset: pos as u64,
            seq,
            batch,
            resolutions,
        }))
    }
}
