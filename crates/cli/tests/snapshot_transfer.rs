//! `drydock canister snapshot download|upload` as a user runs them: a real canister's
//! snapshot downloaded into a directory, uploaded into another canister and restored there;
//! every corruption of the directory refused before anything is uploaded; interrupted
//! downloads and uploads resumed.

mod common;

use std::fs;
use std::path::Path;

use common::{test_canister, Drydock};
use drydock_replica::{Principal, Replica, ReplicaConfig, MANAGEMENT_CANISTER};
use ic_management_canister_types::{
    ReadCanisterSnapshotMetadataResult, SnapshotDataOffset, UploadCanisterSnapshotDataArgs,
    UploadCanisterSnapshotMetadataArgs, UploadCanisterSnapshotMetadataResult,
};

/// kv's raw stable region starts at 64 MiB.
const RAW_BASE: u64 = 64 << 20;
/// Past this offset kv's stable memory reaches about 85 MiB: 43 slices of 2,000,000 bytes.
const FAR: u64 = RAW_BASE + (20 << 20) + 12_345;

impl Drydock {
    fn kv(&self) -> String {
        let id = self.create_canister();
        let kv = test_canister("kv.wasm");
        self.run(&["canister", "install", &id, kv.to_str().expect("utf-8 path")])
            .ok();
        id
    }

    fn put(&self, id: &str, key: &str, value: &str) {
        let arg = format!("({key:?}, {value:?})");
        assert_eq!(self.run(&["canister", "call", id, "put", &arg]).ok(), "()");
    }

    fn get(&self, id: &str, key: &str) -> String {
        self.run(&["canister", "call", id, "get", &format!("({key:?})")])
            .ok()
    }

    fn far_write(&self, id: &str, text: &str) {
        let arg = format!("({FAR} : nat64, blob {text:?})");
        self.run(&["canister", "call", id, "stable_write", &arg])
            .ok();
    }

    fn far_read(&self, id: &str, len: usize) -> String {
        let arg = format!("({FAR} : nat64, {len} : nat64)");
        self.run(&["canister", "call", id, "stable_read", &arg])
            .ok()
    }

    fn snapshot(&self, id: &str) -> String {
        self.run(&["canister", "snapshot", "create", id, "-q"]).ok()
    }

    fn download(&self, id: &str, snap: &str, dir: &Path) {
        self.run(&[
            "canister",
            "snapshot",
            "download",
            id,
            snap,
            "-o",
            dir.to_str().expect("utf-8"),
        ])
        .ok();
    }

    fn upload(&self, id: &str, dir: &Path) -> common::Run {
        self.run(&[
            "canister",
            "snapshot",
            "upload",
            id,
            "-i",
            dir.to_str().expect("utf-8"),
            "-q",
        ])
    }

    fn snapshots(&self, id: &str) -> String {
        self.run(&["canister", "snapshot", "list", id, "-q"]).ok()
    }

    fn restore(&self, id: &str, snap: &str) {
        self.run(&["canister", "snapshot", "restore", id, snap])
            .ok();
    }

    /// A kv canister with a key and a write at [`FAR`], and a snapshot of it.
    fn kv_with_snapshot(&self) -> (String, String) {
        let a = self.kv();
        self.put(&a, "greeting", "hello");
        self.far_write(&a, "far away");
        let snap = self.snapshot(&a);
        (a, snap)
    }
}

fn flip_bit(path: &Path, offset: usize) {
    let mut bytes = fs::read(path).expect("read");
    bytes[offset] ^= 0x10;
    fs::write(path, bytes).expect("write");
}

#[test]
fn a_downloaded_snapshot_uploaded_into_another_canister_and_restored_gives_the_same_answers() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    d.put(&a, "greeting", "changed after the snapshot");
    let dir = d.state().with_file_name("snap");
    d.download(&a, &snap, &dir);
    let stable = fs::metadata(dir.join("stable_memory.bin"))
        .expect("file")
        .len();
    assert!(
        stable > FAR,
        "{stable} bytes: more than 40 slices of 2,000,000"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["version"], 2);
    assert_eq!(manifest["complete"], true);
    let files = manifest["files"].as_array().expect("files");
    assert_eq!(files[2]["file"], "stable_memory.bin");
    assert!(files[2]["chunks"].as_array().expect("chunks").len() > 40);
    // metadata.json is what icp-cli reads.
    let meta: ReadCanisterSnapshotMetadataResult =
        serde_json::from_slice(&fs::read(dir.join("metadata.json")).expect("metadata"))
            .expect("icp-cli's metadata format");
    assert_eq!(meta.stable_memory_size, stable);

    let b = d.kv();
    d.put(&b, "greeting", "b's own");
    let run = d.upload(&b, &dir);
    let uploaded = run.ok();
    assert_eq!(d.snapshots(&b), uploaded);
    assert!(!dir.join(".upload_progress.json").exists());
    d.restore(&b, &uploaded);
    assert_eq!(d.get(&b, "greeting"), "(opt \"hello\")");
    assert_eq!(d.far_read(&b, 8), d.far_read(&a, 8));
    assert!(
        d.far_read(&b, 8).contains("far away"),
        "{}",
        d.far_read(&b, 8)
    );
}

#[test]
fn a_directory_without_a_manifest_uploads_with_a_warning() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    let dir = d.state().with_file_name("snap");
    d.download(&a, &snap, &dir);
    fs::remove_file(dir.join("manifest.json")).expect("remove");
    let b = d.create_canister();
    let run = d.upload(&b, &dir);
    assert!(
        run.stderr.contains("Warning") && run.stderr.contains("no manifest.json"),
        "{}",
        run.stderr
    );
    let uploaded = run.ok();
    d.restore(&b, &uploaded);
    assert_eq!(d.get(&b, "greeting"), "(opt \"hello\")");
}

/// Asserts that uploading `dir` into a fresh canister fails naming `words`, and that the
/// canister is left without snapshots.
fn assert_refused(d: &Drydock, dir: &Path, words: &[&str]) {
    let b = d.create_canister();
    let err = d.upload(&b, dir).fails(2);
    for w in words {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
    assert!(err.contains("nothing was uploaded"), "{err}");
    assert_eq!(d.snapshots(&b), "");
}

#[test]
fn a_flipped_bit_is_refused_naming_the_file_and_the_slice_and_nothing_is_uploaded() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    let dir = d.state().with_file_name("snap");
    d.download(&a, &snap, &dir);
    flip_bit(&dir.join("stable_memory.bin"), 5_000_000);
    assert_refused(
        &d,
        &dir,
        &["stable_memory.bin", "offset 4000000", "does not match"],
    );
    flip_bit(&dir.join("stable_memory.bin"), 5_000_000);
    // A changed number in metadata.json (still valid JSON).
    let meta_path = dir.join("metadata.json");
    let text = fs::read_to_string(&meta_path).expect("read");
    let at = text.find("\"canister_version\": ").expect("field") + 20;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'9' {
        b'8'
    } else {
        bytes[at] + 1
    };
    fs::write(&meta_path, bytes).expect("write");
    assert_refused(&d, &dir, &["metadata.json does not match manifest.json"]);
    // And metadata.json that is not JSON any more.
    flip_bit(&meta_path, 30);
    assert_refused(&d, &dir, &["metadata.json is not snapshot metadata"]);
}

#[test]
fn a_truncated_file_is_refused_and_nothing_is_uploaded() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    let dir = d.state().with_file_name("snap");
    d.download(&a, &snap, &dir);
    let path = dir.join("wasm_memory.bin");
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    let len = f.metadata().expect("len").len();
    f.set_len(len - 100).expect("truncate");
    assert_refused(&d, &dir, &["wasm_memory.bin", "truncated"]);
    // Without a manifest the sizes are still checked against metadata.json.
    fs::remove_file(dir.join("manifest.json")).expect("remove");
    assert_refused(&d, &dir, &["wasm_memory.bin", "truncated"]);
}

#[test]
fn slices_and_files_mixed_from_two_snapshots_are_refused_and_nothing_is_uploaded() {
    let d = Drydock::new();
    let (a, first) = d.kv_with_snapshot();
    d.put(&a, "greeting", "second");
    d.far_write(&a, "elsewhere");
    let second = d.snapshot(&a);
    let (d1, d2) = (
        d.state().with_file_name("first"),
        d.state().with_file_name("second"),
    );
    d.download(&a, &first, &d1);
    d.download(&a, &second, &d2);

    // The second snapshot's first slice of stable memory spliced into the first's file.
    let mut bytes = fs::read(d1.join("stable_memory.bin")).expect("read");
    let other = fs::read(d2.join("stable_memory.bin")).expect("read");
    let saved = bytes.clone();
    bytes[..2_000_000].copy_from_slice(&other[..2_000_000]);
    fs::write(d1.join("stable_memory.bin"), &bytes).expect("write");
    assert_refused(&d, &d1, &["stable_memory.bin", "offset 0"]);
    // Its last slice, where the two differ at FAR.
    let last = (FAR / 2_000_000 * 2_000_000) as usize;
    bytes = saved.clone();
    bytes[last..].copy_from_slice(&other[last..]);
    fs::write(d1.join("stable_memory.bin"), &bytes).expect("write");
    assert_refused(&d, &d1, &["stable_memory.bin", &format!("offset {last}")]);
    fs::write(d1.join("stable_memory.bin"), &saved).expect("write");

    // The second snapshot's metadata and manifest with the first one's files.
    for f in ["metadata.json", "manifest.json"] {
        fs::copy(d2.join(f), d1.join(f)).expect("copy");
    }
    assert_refused(&d, &d1, &["does not match manifest.json"]);
}

#[test]
fn an_interrupted_download_resumes_from_what_is_on_disk() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    let dir = d.state().with_file_name("snap");
    d.download(&a, &snap, &dir);
    let original = fs::read(dir.join("stable_memory.bin")).expect("read");
    let manifest_path = dir.join("manifest.json");
    let complete = fs::read(&manifest_path).expect("manifest");

    // As if the download had stopped in the stable memory: the file cut short, the manifest
    // not complete and without its last slice.
    let mut m: serde_json::Value = serde_json::from_slice(&complete).expect("json");
    m["complete"] = false.into();
    m["root_sha256"] = serde_json::Value::Null;
    m["files"][2]["chunks"]
        .as_array_mut()
        .expect("chunks")
        .pop();
    fs::write(&manifest_path, serde_json::to_vec_pretty(&m).expect("json")).expect("write");
    let f = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("stable_memory.bin"))
        .expect("open");
    f.set_len(7_000_000).expect("truncate");
    drop(f);

    // The half-done directory cannot be uploaded, nor downloaded into afresh.
    assert_refused(&d, &dir, &["not complete", "--resume"]);
    let path = dir.to_str().expect("utf-8");
    let err = d
        .run(&["canister", "snapshot", "download", &a, &snap, "-o", path])
        .fails(2);
    assert!(err.contains("--resume"), "{err}");

    let run = d.run(&[
        "canister", "snapshot", "download", &a, &snap, "-o", path, "--resume",
    ]);
    assert!(run.stderr.contains("downloaded again"), "{}", run.stderr);
    run.ok();
    assert!(fs::read(dir.join("stable_memory.bin")).expect("read") == original);
    assert_eq!(fs::read(&manifest_path).expect("manifest"), complete);
    let b = d.create_canister();
    let uploaded = d.upload(&b, &dir).ok();
    d.restore(&b, &uploaded);
    assert_eq!(d.get(&b, "greeting"), "(opt \"hello\")");
}

#[test]
fn an_interrupted_upload_resumes_into_the_same_snapshot() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    let dir = d.state().with_file_name("snap");
    d.download(&a, &snap, &dir);
    let b = d.create_canister();
    let me = d.run(&["identity", "principal"]).ok();
    let sender = Principal::from_text(&me).expect("principal");
    let canister = Principal::from_text(&b).expect("principal");

    // As if an upload (icp-cli's or drydock's) had stopped after the metadata and the module:
    // the snapshot exists with its module, and the progress file says so.
    let meta: ReadCanisterSnapshotMetadataResult =
        serde_json::from_slice(&fs::read(dir.join("metadata.json")).expect("read"))
            .expect("metadata");
    let module = fs::read(dir.join("wasm_module.bin")).expect("module");
    let snapshot_id = {
        let mut replica = Replica::open(&d.state(), ReplicaConfig::default()).expect("open");
        let mut call = |method: &str, arg: Vec<u8>| {
            replica
                .update(sender, MANAGEMENT_CANISTER, method, &arg)
                .expect(method)
        };
        let args = UploadCanisterSnapshotMetadataArgs {
            canister_id: canister,
            replace_snapshot: None,
            wasm_module_size: meta.wasm_module_size,
            globals: meta
                .globals
                .iter()
                .map(|g| g.clone().expect("global"))
                .collect(),
            wasm_memory_size: meta.wasm_memory_size,
            stable_memory_size: meta.stable_memory_size,
            certified_data: meta.certified_data.clone(),
            global_timer: meta.global_timer.clone(),
            on_low_wasm_memory_hook_status: meta.on_low_wasm_memory_hook_status.clone(),
        };
        let reply = call(
            "upload_canister_snapshot_metadata",
            candid::encode_one(args).expect("encode"),
        );
        let r: UploadCanisterSnapshotMetadataResult = candid::decode_one(&reply).expect("decode");
        let data = UploadCanisterSnapshotDataArgs {
            canister_id: canister,
            snapshot_id: r.snapshot_id.clone(),
            kind: SnapshotDataOffset::WasmModule { offset: 0 },
            chunk: module.clone(),
        };
        call(
            "upload_canister_snapshot_data",
            candid::encode_one(data).expect("encode"),
        );
        r.snapshot_id
    };
    let progress = serde_json::json!({
        "snapshot_id": hex::encode(&snapshot_id),
        "metadata_uploaded": true,
        "wasm_module_offset": module.len(),
        "wasm_memory_offset": 0,
        "stable_memory_offset": 0,
        "wasm_chunks_uploaded": [],
    });
    fs::write(dir.join(".upload_progress.json"), progress.to_string()).expect("write");
    // Not complete yet: the load is refused.
    let err = d
        .run(&[
            "canister",
            "snapshot",
            "restore",
            &b,
            &hex::encode(&snapshot_id),
        ])
        .fails(1);
    assert!(err.contains("upload is not complete"), "{err}");

    let path = dir.to_str().expect("utf-8");
    let resumed = d
        .run(&[
            "canister", "snapshot", "upload", &b, "-i", path, "--resume", "-q",
        ])
        .ok();
    assert_eq!(resumed, hex::encode(&snapshot_id));
    assert_eq!(d.snapshots(&b), resumed, "no second snapshot");
    d.restore(&b, &resumed);
    assert_eq!(d.get(&b, "greeting"), "(opt \"hello\")");
    // Nothing left to resume.
    let err = d
        .run(&["canister", "snapshot", "upload", &b, "-i", path, "--resume"])
        .fails(2);
    assert!(err.contains("nothing to resume"), "{err}");
}
