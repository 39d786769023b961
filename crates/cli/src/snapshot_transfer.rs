//! `canister snapshot download` and `canister snapshot upload`: a snapshot to and from a
//! directory, through the management canister's `read_canister_snapshot_*` and
//! `upload_canister_snapshot_*` methods, through any [`Transport`].
//!
//! # Directory
//! icp-cli's layout (icp-cli 1.5 reads what drydock writes and the other way round):
//! `metadata.json` (serde_json, pretty, of `ReadCanisterSnapshotMetadataResult`),
//! `wasm_module.bin`, `wasm_memory.bin`, `stable_memory.bin`, `wasm_chunk_store/<hex>.bin`;
//! an upload under way is recorded in icp-cli's `.upload_progress.json` (its fields, plus
//! drydock's `canister_id` and `root_sha256`, which icp-cli ignores), so either tool can
//! resume the other's upload. On top, drydock writes `manifest.json` (see `manifest`):
//! the SHA-256 of every slice as it was read, and a root hash.
//!
//! # Invariants
//! - A download writes each slice at its offset and records its hash in the manifest, which
//!   is saved every 64 slices and at the end of each file; `--resume` re-reads every recorded
//!   slice and fetches again any that does not match the file (truncated, changed) or is not
//!   recorded.
//! - Both keep [`SLICES_IN_FLIGHT`] calls in flight, the next sent as each answer is in
//!   ([`Transport::management_raw_stream`]); answers are written and recorded in order, and
//!   an upload's recorded offset moves past a slice only when it and every slice before it
//!   were written.
//! - drydock hashes each byte once per side. An upload verifies every file against the
//!   manifest before the first call; a directory without a manifest (icp-cli's) gets a
//!   warning and only the size and chunk-hash checks. As it is sent, each slice is checked
//!   again by its file's `Stamp` (unchanged since the verification read it), or, for a file
//!   changed within a second of that, by its hash. Nothing is read back from the replica.
//! - Slices are [`SLICE_BYTES`], the IC's maximum (and icp-cli's choice), so offsets in a
//!   progress file mean the same to both tools.

mod manifest;
#[cfg(test)]
mod tests;

use std::fs::{self, File, OpenOptions};
use std::io::IsTerminal;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use candid::Principal;
use ic_management_canister_types::{
    ReadCanisterSnapshotDataArgs, ReadCanisterSnapshotDataResult, ReadCanisterSnapshotMetadataArgs,
    ReadCanisterSnapshotMetadataResult, SnapshotDataKind, SnapshotDataOffset,
    UploadCanisterSnapshotDataArgs, UploadCanisterSnapshotMetadataArgs,
    UploadCanisterSnapshotMetadataResult,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::CliError;
use crate::output::{note, warn, Output};
use crate::transport::{management, management_stream, Transport};
use manifest::{sha256_hex, FileEntry, Manifest, Stamp};

/// Bytes per `read_canister_snapshot_data` / `upload_canister_snapshot_data` call.
pub const SLICE_BYTES: u64 = drydock_replica::MAX_SLICE_BYTES;
/// How many slices a download or an upload keeps in flight at once (over the agent: its
/// verification of one answer overlaps the replica's work on the next ones).
const SLICES_IN_FLIGHT: usize = 4;
/// How many downloaded slices go between two saves of `manifest.json` (128 MB).
const MANIFEST_SAVE_EVERY: u32 = 64;
const METADATA: &str = "metadata.json";
const CHUNK_DIR: &str = "wasm_chunk_store";
const UPLOAD_PROGRESS: &str = ".upload_progress.json";

/// The snapshot transfer's management calls, typed, on any [`Transport`].
pub trait SnapshotCalls: Transport {
    fn read_metadata(
        &mut self,
        canister: Principal,
        snapshot: &[u8],
    ) -> Result<ReadCanisterSnapshotMetadataResult, CliError> {
        let args = ReadCanisterSnapshotMetadataArgs {
            canister_id: canister,
            snapshot_id: snapshot.to_vec(),
        };
        management(self, "read_canister_snapshot_metadata", canister, (args,))
    }

    fn read_data(
        &mut self,
        canister: Principal,
        snapshot: &[u8],
        kind: SnapshotDataKind,
    ) -> Result<Vec<u8>, CliError> {
        let args = ReadCanisterSnapshotDataArgs {
            canister_id: canister,
            snapshot_id: snapshot.to_vec(),
            kind,
        };
        let r: ReadCanisterSnapshotDataResult =
            management(self, "read_canister_snapshot_data", canister, (args,))?;
        Ok(r.chunk)
    }

    /// [`SnapshotCalls::read_data`] of each of `kinds`, [`SLICES_IN_FLIGHT`] at a time, the
    /// slices handed to `answer` in order; stops at `answer`'s first error.
    fn read_data_stream(
        &mut self,
        canister: Principal,
        snapshot: &[u8],
        kinds: &mut dyn Iterator<Item = SnapshotDataKind>,
        answer: &mut dyn FnMut(Result<Vec<u8>, CliError>) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let mut args = kinds.map(|kind| ReadCanisterSnapshotDataArgs {
            canister_id: canister,
            snapshot_id: snapshot.to_vec(),
            kind,
        });
        management_stream(
            self,
            "read_canister_snapshot_data",
            canister,
            &mut args,
            SLICES_IN_FLIGHT,
            &mut |r: Result<ReadCanisterSnapshotDataResult, CliError>| answer(r.map(|r| r.chunk)),
        )
    }

    /// Returns the new snapshot's id.
    fn upload_metadata(
        &mut self,
        args: UploadCanisterSnapshotMetadataArgs,
    ) -> Result<Vec<u8>, CliError> {
        let canister = args.canister_id;
        let r: UploadCanisterSnapshotMetadataResult =
            management(self, "upload_canister_snapshot_metadata", canister, (args,))?;
        Ok(r.snapshot_id)
    }

    fn upload_data(
        &mut self,
        canister: Principal,
        snapshot: &[u8],
        kind: SnapshotDataOffset,
        chunk: Vec<u8>,
    ) -> Result<(), CliError> {
        let args = UploadCanisterSnapshotDataArgs {
            canister_id: canister,
            snapshot_id: snapshot.to_vec(),
            kind,
            chunk,
        };
        management(self, "upload_canister_snapshot_data", canister, (args,))
    }

    /// `upload_canister_snapshot_data` of each of `slices`, [`SLICES_IN_FLIGHT`] at a time,
    /// the outcomes handed to `answer` in order; stops at `answer`'s first error.
    fn upload_data_stream(
        &mut self,
        canister: Principal,
        snapshot: &[u8],
        slices: &mut dyn Iterator<Item = (SnapshotDataOffset, Vec<u8>)>,
        answer: &mut dyn FnMut(Result<(), CliError>) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let mut args = slices.map(|(kind, chunk)| UploadCanisterSnapshotDataArgs {
            canister_id: canister,
            snapshot_id: snapshot.to_vec(),
            kind,
            chunk,
        });
        management_stream(
            self,
            "upload_canister_snapshot_data",
            canister,
            &mut args,
            SLICES_IN_FLIGHT,
            answer,
        )
    }
}

impl<T: Transport + ?Sized> SnapshotCalls for T {}

/// The slices of a file of `size` bytes from `offset` on, as (offset, length).
fn slices(offset: u64, size: u64) -> impl Iterator<Item = (u64, u64)> {
    (offset..size)
        .step_by(SLICE_BYTES as usize)
        .map(move |at| (at, SLICE_BYTES.min(size - at)))
}

/// The three regions of a snapshot kept as files.
#[derive(Clone, Copy, Debug)]
enum Region {
    Module,
    Heap,
    Stable,
}

const REGIONS: [Region; 3] = [Region::Module, Region::Heap, Region::Stable];

impl Region {
    fn file(self) -> &'static str {
        match self {
            Region::Module => "wasm_module.bin",
            Region::Heap => "wasm_memory.bin",
            Region::Stable => "stable_memory.bin",
        }
    }

    fn size(self, m: &ReadCanisterSnapshotMetadataResult) -> u64 {
        match self {
            Region::Module => m.wasm_module_size,
            Region::Heap => m.wasm_memory_size,
            Region::Stable => m.stable_memory_size,
        }
    }

    fn read_kind(self, offset: u64, size: u64) -> SnapshotDataKind {
        match self {
            Region::Module => SnapshotDataKind::WasmModule { offset, size },
            Region::Heap => SnapshotDataKind::WasmMemory { offset, size },
            Region::Stable => SnapshotDataKind::StableMemory { offset, size },
        }
    }

    fn upload_kind(self, offset: u64) -> SnapshotDataOffset {
        match self {
            Region::Module => SnapshotDataOffset::WasmModule { offset },
            Region::Heap => SnapshotDataOffset::WasmMemory { offset },
            Region::Stable => SnapshotDataOffset::StableMemory { offset },
        }
    }
}

fn chunk_file(hash: &[u8]) -> String {
    format!("{CHUNK_DIR}/{}.bin", hex::encode(hash))
}

/// The files a snapshot directory holds for `m`, with their sizes (chunk-store files with
/// size `None`: known only from their content).
fn expected_files(m: &ReadCanisterSnapshotMetadataResult) -> Vec<(String, Option<u64>)> {
    let mut files: Vec<_> = REGIONS
        .iter()
        .map(|r| (r.file().to_string(), Some(r.size(m))))
        .collect();
    files.extend(
        m.wasm_chunk_store
            .iter()
            .map(|c| (chunk_file(&c.hash), None)),
    );
    files
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> CliError {
    CliError::internal(format!("{what} {}: {e}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file renamed over it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| io_error("cannot write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_error("cannot replace", path, e))
}

/// A byte progress bar on stderr (bytes, rate, ETA), hidden when stderr is not a terminal.
fn progress_bar(total: u64, label: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("#>-"));
    }
    bar.set_prefix(label.to_string());
    bar
}

fn metadata_json(m: &ReadCanisterSnapshotMetadataResult) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec_pretty(m)
        .map_err(|e| CliError::internal(format!("encoding {METADATA}: {e}")))
}

// ------------------------------------------------------------------------------ download

/// `canister snapshot download CANISTER SNAPSHOT -o DIR [--resume]`.
pub fn download(
    ctx: &mut dyn Transport,
    out: Output,
    canister: Principal,
    snapshot: &[u8],
    dir: &Path,
    resume: bool,
) -> Result<(), CliError> {
    let snapshot_hex = hex::encode(snapshot);
    let manifest_path = dir.join(manifest::FILE_NAME);
    if !resume {
        let used = [METADATA, manifest::FILE_NAME]
            .into_iter()
            .chain(REGIONS.iter().map(|r| r.file()))
            .find(|f| dir.join(f).exists());
        if let Some(f) = used {
            return Err(CliError::usage(format!(
                "{} already holds {f}: download into an empty directory, or pass --resume to \
                 continue a download there",
                dir.display()
            )));
        }
    }
    let meta = ctx.read_metadata(canister, snapshot)?;
    let meta_bytes = metadata_json(&meta)?;
    let mut m = if resume {
        if !manifest_path.exists() {
            return Err(CliError::usage(format!(
                "nothing to resume: {} has no {} (a download by drydock writes one first)",
                dir.display(),
                manifest::FILE_NAME
            )));
        }
        let m = Manifest::load(&manifest_path)?;
        if m.canister_id != canister.to_text() || m.snapshot_id != snapshot_hex {
            return Err(CliError::usage(format!(
                "{} holds snapshot {} of canister {}, not snapshot {snapshot_hex} of {canister}",
                dir.display(),
                m.snapshot_id,
                m.canister_id
            )));
        }
        if m.metadata_sha256 != sha256_hex(&meta_bytes) {
            return Err(CliError::usage(format!(
                "{} was downloaded from other metadata than snapshot {snapshot_hex} has now; \
                 download into an empty directory",
                dir.display()
            )));
        }
        note(format!("Resuming the download into {}", dir.display()));
        // Rewritten in the current format: its chunks stay valid, and no file has a hash.
        let mut m = m;
        m.version = manifest::VERSION;
        m.files.iter_mut().for_each(|f| f.sha256 = None);
        m
    } else {
        Manifest {
            format: manifest::FORMAT.into(),
            version: manifest::VERSION,
            canister_id: canister.to_text(),
            snapshot_id: snapshot_hex.clone(),
            chunk_size: SLICE_BYTES,
            metadata_sha256: sha256_hex(&meta_bytes),
            files: Vec::new(),
            complete: false,
            root_sha256: None,
        }
    };
    fs::create_dir_all(dir.join(CHUNK_DIR))
        .map_err(|e| io_error("cannot create", &dir.join(CHUNK_DIR), e))?;
    write_atomically(&dir.join(METADATA), &meta_bytes)?;
    // The manifest lists the files the metadata names, keeping what a resume found.
    let mut files = Vec::new();
    for (file, size) in expected_files(&meta) {
        let entry = m.files.iter().find(|f| f.file == file).cloned();
        files.push(entry.unwrap_or_else(|| FileEntry::new(file, size.unwrap_or(0))));
    }
    m.files = files;
    m.complete = false;
    m.root_sha256 = None;
    m.save(dir)?;

    let total: u64 = REGIONS.iter().map(|r| r.size(&meta)).sum();
    note(format!(
        "Downloading snapshot {snapshot_hex} of canister {canister} ({}) into {}",
        crate::units::size(total),
        dir.display()
    ));
    let bar = progress_bar(total, "Download");
    for (i, region) in REGIONS.iter().enumerate() {
        download_region(ctx, canister, snapshot, dir, *region, i, &mut m, &bar)?;
    }
    for (i, c) in meta.wasm_chunk_store.iter().enumerate() {
        let index = REGIONS.len() + i;
        let file = dir.join(&m.files[index].file);
        let have = fs::read(&file).ok();
        // A chunk's name is its SHA-256: the one hash of its bytes is the check.
        let size = match have.filter(|b| Sha256::digest(b).as_slice() == c.hash.as_slice()) {
            Some(b) => b.len(),
            None => {
                let kind = SnapshotDataKind::WasmChunk {
                    hash: c.hash.clone(),
                };
                let b = ctx.read_data(canister, snapshot, kind)?;
                if Sha256::digest(&b).as_slice() != c.hash.as_slice() {
                    return Err(CliError::internal(format!(
                        "the replica returned a Wasm chunk whose sha256 is not {}",
                        hex::encode(&c.hash)
                    )));
                }
                write_atomically(&file, &b)?;
                b.len()
            }
        };
        let entry = &mut m.files[index];
        entry.size = size as u64;
        entry.chunks.clear();
        entry.record(0, entry.size, hex::encode(&c.hash));
    }
    bar.finish_and_clear();
    m.complete = true;
    m.root_sha256 = Some(m.root()?);
    m.save(dir)?;
    note(format!(
        "Snapshot {snapshot_hex} downloaded to {} (manifest root {})",
        dir.display(),
        m.root_sha256.as_deref().unwrap_or_default()
    ));
    out.data(String::new, || {
        json!({
            "canister_id": canister.to_text(),
            "snapshot_id": snapshot_hex,
            "directory": dir.display().to_string(),
            "root_sha256": m.root_sha256,
        })
    });
    Ok(())
}

/// Downloads one region into its file, slice by slice, keeping the slices already there
/// that match the manifest.
#[allow(clippy::too_many_arguments)]
fn download_region(
    ctx: &mut dyn Transport,
    canister: Principal,
    snapshot: &[u8],
    dir: &Path,
    region: Region,
    index: usize,
    m: &mut Manifest,
    bar: &ProgressBar,
) -> Result<(), CliError> {
    let path = dir.join(region.file());
    let size = m.files[index].size;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error("cannot open", &path, e))?;
    let on_disk = file
        .metadata()
        .map_err(|e| io_error("cannot read", &path, e))?
        .len();
    if on_disk != size {
        file.set_len(size)
            .map_err(|e| io_error("cannot size", &path, e))?;
    }
    // The slices on disk as the manifest records them are kept; the others are fetched,
    // SLICES_IN_FLIGHT at a time, and each, in order, written and hashed (once) into the
    // manifest.
    let mut refetched = 0u64;
    let mut wanted = Vec::new();
    for (at, len) in slices(0, size) {
        let kept = match m.files[index].chunk_at(at) {
            Some(c) if c.length == len && at + len <= on_disk => {
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, at)
                    .map_err(|e| io_error("cannot read", &path, e))?;
                let ok = sha256_hex(&buf) == c.sha256;
                refetched += u64::from(!ok);
                ok
            }
            Some(_) => {
                refetched += 1;
                false
            }
            None => false,
        };
        if kept {
            bar.inc(len);
        } else {
            wanted.push((at, len));
        }
    }
    let mut kinds = wanted.iter().map(|&(at, len)| region.read_kind(at, len));
    let mut answered = wanted.iter();
    let mut fetched_since_save = 0u32;
    ctx.read_data_stream(canister, snapshot, &mut kinds, &mut |reply| {
        let buf = reply?;
        let &(at, len) = answered
            .next()
            .ok_or_else(|| CliError::internal("an answer for a slice that was not asked for"))?;
        if buf.len() as u64 != len {
            return Err(CliError::internal(format!(
                "the replica returned {} bytes of the {} at offset {at}, not {len}",
                buf.len(),
                region.file()
            )));
        }
        file.write_all_at(&buf, at)
            .map_err(|e| io_error("cannot write", &path, e))?;
        m.files[index].record(at, len, sha256_hex(&buf));
        // The manifest is rewritten every MANIFEST_SAVE_EVERY slices, not after each: it grows
        // with the download, so saving it per slice costs quadratic time. A slice on disk that
        // the saved manifest does not list is fetched again on resume.
        fetched_since_save += 1;
        if fetched_since_save >= MANIFEST_SAVE_EVERY {
            m.save(dir)?;
            fetched_since_save = 0;
        }
        bar.inc(len);
        Ok(())
    })?;
    if answered.next().is_some() {
        return Err(CliError::internal(format!(
            "no answer for some slices of the {}",
            region.file()
        )));
    }
    file.sync_all()
        .map_err(|e| io_error("cannot sync", &path, e))?;
    if refetched > 0 {
        note(format!(
            "{}: {refetched} slice(s) on disk did not match the manifest and were downloaded again",
            region.file()
        ));
    }
    m.save(dir)
}

// -------------------------------------------------------------------------------- upload

/// icp-cli's upload progress record, plus drydock's own fields (icp-cli ignores them).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct UploadProgress {
    snapshot_id: String,
    metadata_uploaded: bool,
    wasm_module_offset: u64,
    wasm_memory_offset: u64,
    stable_memory_offset: u64,
    wasm_chunks_uploaded: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    canister_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    root_sha256: Option<String>,
}

impl UploadProgress {
    fn offset(&mut self, region: Region) -> &mut u64 {
        match region {
            Region::Module => &mut self.wasm_module_offset,
            Region::Heap => &mut self.wasm_memory_offset,
            Region::Stable => &mut self.stable_memory_offset,
        }
    }

    fn save(&self, dir: &Path) -> Result<(), CliError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| CliError::internal(format!("encoding {UPLOAD_PROGRESS}: {e}")))?;
        write_atomically(&dir.join(UPLOAD_PROGRESS), &bytes)
    }
}

/// Checks a directory without a manifest as far as it can be: file sizes against the
/// metadata, chunk-store files against their names.
fn check_unverified(dir: &Path, meta: &ReadCanisterSnapshotMetadataResult) -> Result<(), CliError> {
    for (file, size) in expected_files(meta) {
        let path = dir.join(&file);
        let actual = fs::metadata(&path).map(|m| m.len());
        match (size, actual) {
            (Some(0), Err(_)) => {}
            (Some(size), Ok(actual)) if actual == size => {}
            (Some(size), Ok(actual)) => {
                return Err(CliError::usage(format!(
                    "{file} is {actual} bytes, but {METADATA} says {size} (truncated or \
                     extended) — nothing was uploaded"
                )))
            }
            (_, Err(e)) => {
                return Err(CliError::usage(format!(
                    "{} is missing or unreadable ({e}) — nothing was uploaded",
                    path.display()
                )))
            }
            (None, Ok(_)) => {
                let bytes = fs::read(&path).map_err(|e| io_error("cannot read", &path, e))?;
                let name = file.trim_start_matches(&format!("{CHUNK_DIR}/"));
                if format!("{}.bin", sha256_hex(&bytes)) != name {
                    return Err(CliError::usage(format!(
                        "{file}: its sha256 does not match its name — nothing was uploaded"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `canister snapshot upload CANISTER -i DIR [--resume] [--replace SNAPSHOT]`.
pub fn upload(
    ctx: &mut dyn Transport,
    out: Output,
    canister: Principal,
    dir: &Path,
    resume: bool,
    replace: Option<Vec<u8>>,
    quiet: bool,
) -> Result<(), CliError> {
    let id = upload_dir(ctx, canister, dir, resume, replace)?;
    if !quiet && !out.json {
        note(format!(
            "Use `drydock{} canister snapshot restore {canister} {id}` to restore from this \
             snapshot",
            ctx.cli_flags()
        ));
    }
    out.data(
        || {
            if quiet {
                id.clone()
            } else {
                format!("Snapshot {id} uploaded successfully")
            }
        },
        || json!({ "snapshot_id": id, "canister_id": canister.to_text() }),
    );
    Ok(())
}

/// The work of [`upload`]: verifies the directory, uploads it as a new snapshot of `canister`
/// (or into the one an interrupted upload started), and returns the snapshot's id in hex.
pub fn upload_dir(
    ctx: &mut dyn Transport,
    canister: Principal,
    dir: &Path,
    resume: bool,
    replace: Option<Vec<u8>>,
) -> Result<String, CliError> {
    let meta_path = dir.join(METADATA);
    let meta_bytes = fs::read(&meta_path).map_err(|e| {
        CliError::usage(format!(
            "cannot read {}: {e} (a snapshot directory comes from `drydock canister snapshot \
             download` or `icp canister snapshot download`)",
            meta_path.display()
        ))
    })?;
    let meta: ReadCanisterSnapshotMetadataResult =
        serde_json::from_slice(&meta_bytes).map_err(|e| {
            CliError::usage(format!(
                "{} is not snapshot metadata: {e} — nothing was uploaded",
                meta_path.display()
            ))
        })?;
    let globals = meta
        .globals
        .iter()
        .cloned()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            CliError::usage(format!(
                "{METADATA} has a global drydock cannot read (null)"
            ))
        })?;

    // Everything is checked before the first call.
    let manifest_path = dir.join(manifest::FILE_NAME);
    let total: u64 = REGIONS.iter().map(|r| r.size(&meta)).sum();
    let (manifest, stamps) = if manifest_path.exists() {
        let m = Manifest::load(&manifest_path)?;
        let mut expected = Vec::new();
        for (file, size) in expected_files(&meta) {
            let size = match size {
                Some(s) => s,
                None => fs::metadata(dir.join(&file)).map(|m| m.len()).unwrap_or(0),
            };
            expected.push((file, size));
        }
        let bar = progress_bar(total, "Verify");
        let stamps = m.verify(dir, &meta_bytes, &expected, &|n| bar.inc(n))?;
        bar.finish_and_clear();
        note(format!(
            "Verified {} against {} (root {})",
            dir.display(),
            manifest::FILE_NAME,
            m.root_sha256.as_deref().unwrap_or_default()
        ));
        (Some(m), stamps)
    } else {
        warn(format!(
            "{} has no {} (it was not downloaded by drydock, e.g. by icp-cli): its files cannot \
             be verified; uploading them as they are",
            dir.display(),
            manifest::FILE_NAME
        ));
        check_unverified(dir, &meta)?;
        (None, Vec::new())
    };
    let root = manifest.as_ref().and_then(|m| m.root_sha256.clone());

    let mut progress = if resume {
        let path = dir.join(UPLOAD_PROGRESS);
        let bytes = fs::read(&path).map_err(|e| {
            CliError::usage(format!(
                "nothing to resume: cannot read {} ({e}); run the upload without --resume",
                path.display()
            ))
        })?;
        let p: UploadProgress = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::usage(format!("{} is not readable: {e}", path.display())))?;
        if p.canister_id
            .as_ref()
            .is_some_and(|c| *c != canister.to_text())
        {
            return Err(CliError::usage(format!(
                "the upload under way in {} is into canister {}, not {canister}",
                dir.display(),
                p.canister_id.as_deref().unwrap_or_default()
            )));
        }
        if p.root_sha256.is_some() && p.root_sha256 != root {
            return Err(CliError::usage(format!(
                "the files in {} changed since the upload under way began (the manifest root \
                 differs); run the upload without --resume",
                dir.display()
            )));
        }
        note(format!(
            "Resuming the upload into snapshot {}",
            p.snapshot_id
        ));
        p
    } else {
        let args = UploadCanisterSnapshotMetadataArgs {
            canister_id: canister,
            replace_snapshot: replace,
            wasm_module_size: meta.wasm_module_size,
            globals,
            wasm_memory_size: meta.wasm_memory_size,
            stable_memory_size: meta.stable_memory_size,
            certified_data: meta.certified_data.clone(),
            global_timer: meta.global_timer.clone(),
            on_low_wasm_memory_hook_status: meta.on_low_wasm_memory_hook_status.clone(),
        };
        let id = ctx.upload_metadata(args)?;
        let p = UploadProgress {
            snapshot_id: hex::encode(&id),
            metadata_uploaded: true,
            canister_id: Some(canister.to_text()),
            root_sha256: root,
            ..UploadProgress::default()
        };
        p.save(dir)?;
        p
    };
    let snapshot = hex::decode(&progress.snapshot_id)
        .map_err(|e| CliError::usage(format!("{UPLOAD_PROGRESS}: bad snapshot id: {e}")))?;

    note(format!(
        "Uploading {} ({}) into snapshot {} of canister {canister}",
        dir.display(),
        crate::units::size(total),
        progress.snapshot_id
    ));
    let bar = progress_bar(total, "Upload");
    for (index, region) in REGIONS.iter().enumerate() {
        let verified = manifest
            .as_ref()
            .map(|m| (&m.files[index], stamps[index].as_ref()));
        upload_region(
            ctx,
            canister,
            &snapshot,
            dir,
            *region,
            &meta,
            verified,
            &mut progress,
            &bar,
        )?;
    }
    for c in &meta.wasm_chunk_store {
        let hex_hash = hex::encode(&c.hash);
        if progress.wasm_chunks_uploaded.contains(&hex_hash) {
            continue;
        }
        let path = dir.join(chunk_file(&c.hash));
        let bytes = fs::read(&path).map_err(|e| io_error("cannot read", &path, e))?;
        if Sha256::digest(&bytes).as_slice() != c.hash.as_slice() {
            return Err(CliError::usage(format!(
                "{}: its content changed since it was verified",
                path.display()
            )));
        }
        ctx.upload_data(canister, &snapshot, SnapshotDataOffset::WasmChunk, bytes)?;
        progress.wasm_chunks_uploaded.push(hex_hash);
        progress.save(dir)?;
    }
    bar.finish_and_clear();
    let progress_path = dir.join(UPLOAD_PROGRESS);
    fs::remove_file(&progress_path).map_err(|e| io_error("cannot remove", &progress_path, e))?;

    Ok(progress.snapshot_id)
}

/// Reads the slice of `len` bytes at `at` of `file` (at `path`), and says whether it is as
/// verified, if it was: by the file's stamp where there is one to trust, else by the slice's
/// hash.
fn read_slice(
    file: &File,
    path: &Path,
    at: u64,
    len: u64,
    verified: Option<(&FileEntry, Option<&Stamp>)>,
) -> Result<(Vec<u8>, bool), CliError> {
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, at)
        .map_err(|e| io_error("cannot read", path, e))?;
    let intact = match verified {
        None => true,
        Some((_, Some(stamp))) => {
            let now = file
                .metadata()
                .map_err(|e| io_error("cannot read", path, e))?;
            Stamp::of(&now) == *stamp
        }
        Some((entry, None)) => entry
            .chunk_at(at)
            .is_some_and(|c| c.length == len && c.sha256 == sha256_hex(&buf)),
    };
    Ok((buf, intact))
}

/// `progress` with `region`'s offset set to `offset`.
fn progress_at(progress: &mut UploadProgress, region: Region, offset: u64) -> &UploadProgress {
    *progress.offset(region) = offset;
    progress
}

/// Uploads one region from its file, from the progress file's offset on.
///
/// `verified` is the file's manifest entry and the stamp [`Manifest::verify`] took, if there is
/// a manifest. Each slice is hashed once: a file whose stamp is unchanged when its slices have
/// been read holds the bytes verified, so only a file without a stamp to trust is hashed
/// again, slice by slice, as it is sent.
#[allow(clippy::too_many_arguments)]
fn upload_region(
    ctx: &mut dyn Transport,
    canister: Principal,
    snapshot: &[u8],
    dir: &Path,
    region: Region,
    meta: &ReadCanisterSnapshotMetadataResult,
    verified: Option<(&FileEntry, Option<&Stamp>)>,
    progress: &mut UploadProgress,
    bar: &ProgressBar,
) -> Result<(), CliError> {
    let size = region.size(meta);
    let start = (*progress.offset(region)).min(size);
    bar.inc(start);
    if start == size {
        return Ok(());
    }
    let path: PathBuf = dir.join(region.file());
    let file = File::open(&path).map_err(|e| io_error("cannot open", &path, e))?;
    let changed = |at: u64| {
        CliError::usage(format!(
            "{}: the slice at offset {at} changed since it was verified; the snapshot {} is \
             incomplete and cannot be loaded — fix the directory and run the upload again",
            region.file(),
            hex::encode(snapshot)
        ))
    };
    // Each slice is read (and checked) as the previous answers make room for it; the
    // recorded offset moves past a slice only when it and every slice before it were written,
    // so a resumed upload sends again all that follows a failure.
    let mut unreadable = None;
    let mut read = slices(start, size).map_while(|(at, len)| {
        match read_slice(&file, &path, at, len, verified) {
            Ok((buf, true)) => Some((region.upload_kind(at), buf)),
            Ok((_, false)) => {
                unreadable = Some(changed(at));
                None
            }
            Err(e) => {
                unreadable = Some(e);
                None
            }
        }
    });
    let mut answered = slices(start, size);
    let mut offset = start;
    let mut since_save = 0;
    let sent = ctx.upload_data_stream(canister, snapshot, &mut read, &mut |outcome| {
        outcome?;
        let (at, len) = answered
            .next()
            .ok_or_else(|| CliError::internal("an answer for a slice that was not sent"))?;
        offset = at + len;
        bar.inc(len);
        since_save += 1;
        if since_save == SLICES_IN_FLIGHT {
            progress_at(progress, region, offset).save(dir)?;
            since_save = 0;
        }
        Ok(())
    });
    drop(read);
    progress_at(progress, region, offset).save(dir)?;
    sent?;
    if let Some(e) = unreadable {
        return Err(e);
    }
    if offset != size {
        return Err(CliError::internal(format!(
            "{}: no answer for the slices from offset {offset}",
            region.file()
        )));
    }
    Ok(())
}
