//! `manifest.json`: drydock's record of a downloaded snapshot directory, so that an upload can
//! prove, before it sends a byte, that every file is the one downloaded.
//!
//! # Format (version 2)
//!
//! ```text
//! {
//!   "format": "drydock-snapshot-manifest",
//!   "version": 2,
//!   "canister_id": "<principal text>",
//!   "snapshot_id": "<hex>",
//!   "chunk_size": 2000000,                      // the slice size the download used
//!   "metadata_sha256": "<hex>",                 // of metadata.json's bytes as written
//!   "files": [                                  // wasm_module.bin, wasm_memory.bin,
//!     { "file": "wasm_memory.bin",              // stable_memory.bin, then
//!       "size": 1234,                           // wasm_chunk_store/<hex>.bin in metadata order
//!       "chunks": [ { "offset": 0, "length": 2000000, "sha256": "<hex>" }, ... ] },
//!     ...
//!   ],
//!   "complete": true,                           // false while a download is under way
//!   "root_sha256": "<hex>" | null               // set when complete
//! }
//! ```
//!
//! Chunks are recorded as they are read from the replica, in any order during a download;
//! a complete manifest has, for every file, chunks sorted by offset that tile `[0, size)`
//! exactly (a chunk-store file is one chunk). Each byte is hashed once, in its chunk: the
//! chunks that tile a file prove all of it, so a file has no hash of its own.
//!
//! The root hash is SHA-256 over these bytes (integers big-endian):
//!
//! ```text
//! "drydock-snapshot-manifest/2\n"
//! metadata_sha256                              32 bytes
//! for each file, in manifest order:
//!   u32 name length ‖ name (UTF-8) ‖ u64 size ‖ u32 chunk count
//!   for each chunk: u64 offset ‖ u64 length ‖ chunk sha256 (32 bytes)
//! ```
//!
//! Version 1 (drydock before 2026-12-07) also held each file's SHA-256 (`"sha256"`), hashed
//! into the root after its size under the prefix `"drydock-snapshot-manifest/1\n"`. It is still
//! read and verified by its chunks; a resumed download rewrites it as version 2.
//!
//! A bit flip changes one chunk's hash; a truncated file has the wrong size; a file or chunk
//! taken from another snapshot's directory matches neither its chunk hashes nor, with the
//! other snapshot's manifest, this `metadata.json`. Each is refused with the file and offset.
//! [`Manifest::verify`] returns each file's [`Stamp`] as it was when read: a file whose stamp
//! differs when it is sent was changed after it was verified.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::CliError;

pub const FORMAT: &str = "drydock-snapshot-manifest";
/// The version written.
pub const VERSION: u32 = 2;
/// The versions read.
const READS: [u32; 2] = [1, 2];
pub const FILE_NAME: &str = "manifest.json";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkEntry {
    pub offset: u64,
    pub length: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub file: String,
    pub size: u64,
    /// The whole file's SHA-256: version 1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub chunks: Vec<ChunkEntry>,
}

/// What a file's metadata says of its identity and last change: equal stamps taken before a
/// file was read and before it is sent mean it was not written in between (a write moves
/// `ctime`, which no user can set back).
///
/// The kernel's clock for file times moves in ticks (4 ms here), so a file changed within a
/// tick of its first stamp could keep it: a stamp is only trusted when the file's last change
/// is at least [`SETTLED`] older than the stamp (as git treats "racily clean" files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// How long before a stamp a file must have last changed for the stamp to be trusted.
pub const SETTLED: Duration = Duration::from_secs(1);

impl Stamp {
    pub fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// The stamp of a file whose metadata `m` was read at `now`, if it last changed at least
    /// [`SETTLED`] before; `None` if it changed since (or the clock is not to be trusted).
    pub fn settled(m: &Metadata, now: SystemTime) -> Option<Stamp> {
        let stamp = Stamp::of(m);
        let changed = UNIX_EPOCH.checked_add(Duration::new(
            u64::try_from(stamp.ctime.0).ok()?,
            u32::try_from(stamp.ctime.1).ok()?,
        ))?;
        (changed + SETTLED <= now).then_some(stamp)
    }
}

impl FileEntry {
    pub fn new(file: String, size: u64) -> FileEntry {
        FileEntry {
            file,
            size,
            sha256: None,
            chunks: Vec::new(),
        }
    }

    /// The recorded chunk at `offset`, if any.
    pub fn chunk_at(&self, offset: u64) -> Option<&ChunkEntry> {
        self.chunks.iter().find(|c| c.offset == offset)
    }

    /// Records a chunk of `length` bytes whose SHA-256 is `sha256` (hex), replacing one at the
    /// same offset.
    pub fn record(&mut self, offset: u64, length: u64, sha256: String) {
        self.chunks.retain(|c| c.offset != offset);
        self.chunks.push(ChunkEntry {
            offset,
            length,
            sha256,
        });
        self.chunks.sort_by_key(|c| c.offset);
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub canister_id: String,
    pub snapshot_id: String,
    pub chunk_size: u64,
    pub metadata_sha256: String,
    pub files: Vec<FileEntry>,
    pub complete: bool,
    pub root_sha256: Option<String>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hash_bytes(hex_hash: &str, what: &str) -> Result<[u8; 32], CliError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut out).map_err(|e| {
        CliError::usage(format!(
            "{FILE_NAME}: {what} has a malformed sha256 {hex_hash:?} ({e})"
        ))
    })?;
    Ok(out)
}

impl Manifest {
    /// The root hash over the metadata hash and every file and chunk entry (see the module
    /// documentation for the byte layout).
    pub fn root(&self) -> Result<String, CliError> {
        let mut h = Sha256::new();
        h.update(format!("{FORMAT}/{}\n", self.version).as_bytes());
        h.update(hash_bytes(&self.metadata_sha256, "metadata_sha256")?);
        for f in &self.files {
            h.update((f.file.len() as u32).to_be_bytes());
            h.update(f.file.as_bytes());
            h.update(f.size.to_be_bytes());
            if self.version == 1 {
                let file_hash = f.sha256.as_deref().ok_or_else(|| {
                    CliError::usage(format!("{FILE_NAME}: {} has no sha256", f.file))
                })?;
                h.update(hash_bytes(file_hash, &f.file)?);
            }
            h.update((f.chunks.len() as u32).to_be_bytes());
            for c in &f.chunks {
                h.update(c.offset.to_be_bytes());
                h.update(c.length.to_be_bytes());
                h.update(hash_bytes(&c.sha256, &f.file)?);
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    pub fn load(path: &Path) -> Result<Manifest, CliError> {
        let bytes = std::fs::read(path)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            CliError::usage(format!(
                "{} is not a drydock snapshot manifest: {e}",
                path.display()
            ))
        })?;
        if m.format != FORMAT || !READS.contains(&m.version) {
            return Err(CliError::usage(format!(
                "{} is format {:?} version {}; this drydock reads {FORMAT:?} versions {READS:?}",
                path.display(),
                m.format,
                m.version
            )));
        }
        Ok(m)
    }

    /// Writes the manifest atomically (a temporary file renamed over it).
    pub fn save(&self, dir: &Path) -> Result<(), CliError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| CliError::internal(format!("encoding {FILE_NAME}: {e}")))?;
        super::write_atomically(&dir.join(FILE_NAME), &bytes)
    }

    /// Checks a complete manifest against itself and `metadata.json`'s bytes, then every
    /// file in `dir` against it, chunk by chunk, and returns each file's [`Stamp`] taken before
    /// it was read, in manifest order (`None` for a file changed too recently to trust one).
    /// Nothing is written.
    ///
    /// `expected` lists the files the metadata names, with their sizes, in manifest order.
    /// `progress` is told the bytes read.
    pub fn verify(
        &self,
        dir: &Path,
        metadata_bytes: &[u8],
        expected: &[(String, u64)],
        progress: &dyn Fn(u64),
    ) -> Result<Vec<Option<Stamp>>, CliError> {
        let refuse = |msg: String| {
            CliError::usage(format!(
                "{msg} — the directory {} cannot be uploaded; nothing was uploaded",
                dir.display()
            ))
        };
        if !self.complete {
            return Err(refuse(format!(
                "{FILE_NAME} says the download of snapshot {} is not complete; finish it with \
                 `drydock canister snapshot download {} {} -o {} --resume`",
                self.snapshot_id,
                self.canister_id,
                self.snapshot_id,
                dir.display()
            )));
        }
        if sha256_hex(metadata_bytes) != self.metadata_sha256 {
            return Err(refuse(format!(
                "metadata.json does not match {FILE_NAME} (its sha256 differs: it was changed, \
                 or it belongs to another snapshot)"
            )));
        }
        if self.root_sha256.as_deref() != Some(self.root()?.as_str()) {
            return Err(refuse(format!(
                "{FILE_NAME} is inconsistent: its root hash does not match its entries (it \
                 was edited)"
            )));
        }
        let listed: Vec<(String, u64)> = self
            .files
            .iter()
            .map(|f| (f.file.clone(), f.size))
            .collect();
        if listed != expected {
            return Err(refuse(format!(
                "{FILE_NAME} lists the files {listed:?}, but metadata.json names {expected:?}"
            )));
        }
        let mut stamps = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let path = dir.join(&f.file);
            let mut file =
                File::open(&path).map_err(|e| refuse(format!("cannot open {}: {e}", f.file)))?;
            let meta = file
                .metadata()
                .map_err(|e| refuse(format!("cannot read {}: {e}", f.file)))?;
            let stamp = Stamp::settled(&meta, SystemTime::now());
            let actual = meta.len();
            if actual != f.size {
                return Err(refuse(format!(
                    "{} is {actual} bytes, but {FILE_NAME} says {} (truncated or extended)",
                    f.file, f.size
                )));
            }
            let mut at = 0u64;
            for c in &f.chunks {
                if c.offset != at {
                    return Err(refuse(format!(
                        "{FILE_NAME}: the chunks of {} do not tile the file (a chunk at offset \
                         {} where {at} was expected)",
                        f.file, c.offset
                    )));
                }
                let mut buf = vec![0u8; c.length as usize];
                file.read_exact(&mut buf).map_err(|e| {
                    refuse(format!("{}: cannot read offset {}: {e}", f.file, c.offset))
                })?;
                if sha256_hex(&buf) != c.sha256 {
                    return Err(refuse(format!(
                        "{}: the chunk at offset {} ({} bytes) does not match {FILE_NAME} \
                         (corrupted, or taken from another snapshot)",
                        f.file, c.offset, c.length
                    )));
                }
                at += c.length;
                progress(c.length);
            }
            if at != f.size {
                return Err(refuse(format!(
                    "{FILE_NAME}: the chunks of {} cover {at} of its {} bytes",
                    f.file, f.size
                )));
            }
            stamps.push(stamp);
        }
        Ok(stamps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest of one file holding `hello`, in `version`'s format.
    fn manifest(version: u32) -> Manifest {
        let mut f = FileEntry::new("wasm_memory.bin".into(), 5);
        f.record(0, 5, sha256_hex(b"hello"));
        if version == 1 {
            f.sha256 = Some(sha256_hex(b"hello"));
        }
        let mut m = Manifest {
            format: FORMAT.into(),
            version,
            canister_id: "aaaaa-aa".into(),
            snapshot_id: "00".into(),
            chunk_size: 2_000_000,
            metadata_sha256: sha256_hex(b"{}"),
            files: vec![f],
            complete: true,
            root_sha256: None,
        };
        m.root_sha256 = Some(m.root().expect("root"));
        m
    }

    #[test]
    fn the_root_hash_is_frozen_for_versions_1_and_2() {
        // Golden values: changing the byte layout of the root hash needs a new version.
        assert_eq!(
            manifest(1).root().expect("root"),
            "a6e2a4b1be102d0604d22774e941a2dbc8a5adeb89a21d7b7126a543460b0ec9"
        );
        assert_eq!(
            manifest(2).root().expect("root"),
            "19cc906ab1ab4e0f99d1969d16603ab37cc52b668d4bd5a9abd10b41a73bbcaf"
        );
    }

    #[test]
    fn the_root_hash_covers_every_entry() {
        for version in READS {
            let m = manifest(version);
            let root = m.root().expect("root");
            let mut changed = m.clone();
            changed.files[0].chunks[0].offset = 1;
            assert_ne!(changed.root().expect("root"), root);
            let mut changed = m.clone();
            changed.files[0].chunks[0].sha256 = sha256_hex(b"hellO");
            assert_ne!(changed.root().expect("root"), root);
            let mut changed = m.clone();
            changed.files[0].size = 6;
            assert_ne!(changed.root().expect("root"), root);
            let mut changed = m;
            changed.metadata_sha256 = sha256_hex(b"[]");
            assert_ne!(changed.root().expect("root"), root);
        }
    }

    #[test]
    fn both_versions_verify_by_their_chunks_and_a_changed_byte_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("wasm_memory.bin");
        let expected = [("wasm_memory.bin".to_string(), 5)];
        for version in READS {
            std::fs::write(&path, b"hello").expect("write");
            let m = manifest(version);
            let stamps = m
                .verify(dir.path(), b"{}", &expected, &|_| {})
                .expect("verifies");
            assert_eq!(stamps, [None], "just written: no stamp to trust");
            std::thread::sleep(SETTLED);
            let stamps = m
                .verify(dir.path(), b"{}", &expected, &|_| {})
                .expect("verifies");
            let now = Stamp::of(&std::fs::metadata(&path).expect("stat"));
            assert_eq!(stamps, [Some(now.clone())], "version {version}");
            std::fs::write(&path, b"hellO").expect("write");
            let err = m
                .verify(dir.path(), b"{}", &expected, &|_| {})
                .expect_err("a changed byte");
            assert!(
                err.to_string()
                    .contains("the chunk at offset 0 (5 bytes) does not match"),
                "version {version}: {err}"
            );
            assert_ne!(
                Stamp::of(&std::fs::metadata(&path).expect("stat")),
                now,
                "a write a second later moves the stamp"
            );
        }
    }
}
