//! `manifest.json`: drydock's record of a downloaded snapshot directory, so that an upload can
//! prove, before it sends a byte, that every file is the one downloaded.
//!
//! # Format (version 1)
//!
//! ```text
//! {
//!   "format": "drydock-snapshot-manifest",
//!   "version": 1,
//!   "canister_id": "<principal text>",
//!   "snapshot_id": "<hex>",
//!   "chunk_size": 2000000,                      // the slice size the download used
//!   "metadata_sha256": "<hex>",                 // of metadata.json's bytes as written
//!   "files": [                                  // wasm_module.bin, wasm_memory.bin,
//!     { "file": "wasm_memory.bin",              // stable_memory.bin, then
//!       "size": 1234,                           // wasm_chunk_store/<hex>.bin in metadata order
//!       "sha256": "<hex>" | null,               // null until the file is complete
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
//! exactly (a chunk-store file is one chunk).
//!
//! The root hash is SHA-256 over these bytes (integers big-endian):
//!
//! ```text
//! "drydock-snapshot-manifest/1\n"
//! metadata_sha256                              32 bytes
//! for each file, in manifest order:
//!   u32 name length ‖ name (UTF-8) ‖ u64 size ‖ file sha256 (32 bytes) ‖ u32 chunk count
//!   for each chunk: u64 offset ‖ u64 length ‖ chunk sha256 (32 bytes)
//! ```
//!
//! A bit flip changes one chunk's hash; a truncated file has the wrong size; a file or chunk
//! taken from another snapshot's directory matches neither its chunk hashes nor, with the
//! other snapshot's manifest, this `metadata.json`. Each is refused with the file and offset.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::CliError;

pub const FORMAT: &str = "drydock-snapshot-manifest";
pub const VERSION: u32 = 1;
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
    pub sha256: Option<String>,
    pub chunks: Vec<ChunkEntry>,
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

    /// Records a chunk, replacing one at the same offset.
    pub fn record(&mut self, offset: u64, bytes: &[u8]) {
        self.chunks.retain(|c| c.offset != offset);
        self.chunks.push(ChunkEntry {
            offset,
            length: bytes.len() as u64,
            sha256: sha256_hex(bytes),
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
        h.update(format!("{FORMAT}/{VERSION}\n").as_bytes());
        h.update(hash_bytes(&self.metadata_sha256, "metadata_sha256")?);
        for f in &self.files {
            h.update((f.file.len() as u32).to_be_bytes());
            h.update(f.file.as_bytes());
            h.update(f.size.to_be_bytes());
            let file_hash = f
                .sha256
                .as_deref()
                .ok_or_else(|| CliError::usage(format!("{FILE_NAME}: {} has no sha256", f.file)))?;
            h.update(hash_bytes(file_hash, &f.file)?);
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
        if m.format != FORMAT || m.version != VERSION {
            return Err(CliError::usage(format!(
                "{} is format {:?} version {}; this drydock reads {FORMAT:?} version {VERSION}",
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
    /// file in `dir` against it, chunk by chunk. Nothing is written.
    ///
    /// `expected` lists the files the metadata names, with their sizes, in manifest order.
    /// `progress` is told the bytes read.
    pub fn verify(
        &self,
        dir: &Path,
        metadata_bytes: &[u8],
        expected: &[(String, u64)],
        progress: &dyn Fn(u64),
    ) -> Result<(), CliError> {
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
        for f in &self.files {
            let path = dir.join(&f.file);
            let mut file =
                File::open(&path).map_err(|e| refuse(format!("cannot open {}: {e}", f.file)))?;
            let actual = file
                .metadata()
                .map_err(|e| refuse(format!("cannot read {}: {e}", f.file)))?
                .len();
            if actual != f.size {
                return Err(refuse(format!(
                    "{} is {actual} bytes, but {FILE_NAME} says {} (truncated or extended)",
                    f.file, f.size
                )));
            }
            let mut whole = Sha256::new();
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
                whole.update(&buf);
                at += c.length;
                progress(c.length);
            }
            if at != f.size {
                return Err(refuse(format!(
                    "{FILE_NAME}: the chunks of {} cover {at} of its {} bytes",
                    f.file, f.size
                )));
            }
            if f.sha256.as_deref() != Some(hex::encode(whole.finalize()).as_str()) {
                return Err(refuse(format!(
                    "{} does not match its sha256 in {FILE_NAME}",
                    f.file
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let mut f = FileEntry::new("wasm_memory.bin".into(), 5);
        f.record(0, b"hello");
        f.sha256 = Some(sha256_hex(b"hello"));
        let mut m = Manifest {
            format: FORMAT.into(),
            version: VERSION,
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
    fn the_root_hash_is_frozen_for_version_1() {
        // Golden value: changing the byte layout of the root hash needs a new version.
        assert_eq!(
            manifest().root().expect("root"),
            "a6e2a4b1be102d0604d22774e941a2dbc8a5adeb89a21d7b7126a543460b0ec9"
        );
    }

    #[test]
    fn the_root_hash_covers_every_entry() {
        let m = manifest();
        let root = m.root().expect("root");
        let mut changed = m.clone();
        changed.files[0].chunks[0].offset = 1;
        assert_ne!(changed.root().expect("root"), root);
        let mut changed = m.clone();
        changed.files[0].size = 6;
        assert_ne!(changed.root().expect("root"), root);
        let mut changed = m;
        changed.metadata_sha256 = sha256_hex(b"[]");
        assert_ne!(changed.root().expect("root"), root);
    }
}
