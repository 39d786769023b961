//! `drydock --network URL canister snapshot ...` against `drydock start`: the CLI as an
//! ic-agent client of the IC HTTP interface (verification on, root key fetched), while the
//! server holds the state directory. Canisters and snapshots are made with the embedded CLI
//! before the server starts, and the results checked with it after the server stops.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{test_canister, Drydock, Run, Server};
use drydock_replica::{Principal, Replica, ReplicaConfig, MANAGEMENT_CANISTER};
use ic_management_canister_types::{
    ReadCanisterSnapshotMetadataResult, SnapshotDataOffset, UploadCanisterSnapshotDataArgs,
    UploadCanisterSnapshotMetadataArgs, UploadCanisterSnapshotMetadataResult,
};

/// kv's raw stable region starts at 64 MiB; a write here makes stable memory about 85 MiB.
const FAR: u64 = (64 << 20) + (20 << 20) + 12_345;

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

    fn far_read(&self, id: &str, len: usize) -> String {
        let arg = format!("({FAR} : nat64, {len} : nat64)");
        self.run(&["canister", "call", id, "stable_read", &arg])
            .ok()
    }

    /// A kv canister with a key and a write at [`FAR`], and a snapshot of it.
    fn kv_with_snapshot(&self) -> (String, String) {
        let a = self.kv();
        self.put(&a, "greeting", "hello");
        let arg = format!("({FAR} : nat64, blob \"far away\")");
        self.run(&["canister", "call", &a, "stable_write", &arg])
            .ok();
        let snap = self.run(&["canister", "snapshot", "create", &a, "-q"]).ok();
        (a, snap)
    }

    fn snapshots(&self, id: &str) -> String {
        self.run(&["canister", "snapshot", "list", id, "-q"]).ok()
    }
}

impl Server {
    fn download(&self, id: &str, snap: &str, dir: &Path) -> Run {
        self.run(&[
            "canister",
            "snapshot",
            "download",
            id,
            snap,
            "-o",
            dir.to_str().expect("utf-8"),
        ])
    }

    fn upload(&self, id: &str, dir: &Path) -> Run {
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

    fn stop(self) {}
}

fn manifest_root(dir: &Path) -> String {
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    m["root_sha256"].as_str().expect("root").to_string()
}

fn local_download(d: &Drydock, id: &str, snap: &str, dir: &Path) {
    let path = dir.to_str().expect("utf-8");
    d.run(&["canister", "snapshot", "download", id, snap, "-o", path])
        .ok();
}

#[test]
fn a_snapshot_downloaded_and_uploaded_over_the_network_restores_to_the_same_answers() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    d.put(&a, "greeting", "changed after the snapshot");
    let b = d.create_canister();
    let local = d.state().with_file_name("local");
    local_download(&d, &a, &snap, &local);

    let server = d.serve();
    let dir = d.state().with_file_name("snap");
    server.download(&a, &snap, &dir).ok();
    // The same bytes as the embedded replica gives, slice for slice.
    assert_eq!(manifest_root(&dir), manifest_root(&local));
    for f in ["metadata.json", "wasm_module.bin", "wasm_memory.bin"] {
        assert!(
            fs::read(dir.join(f)).expect(f) == fs::read(local.join(f)).expect(f),
            "{f}"
        );
    }
    let path = dir.to_str().expect("utf-8");
    let run = server.run(&["canister", "snapshot", "upload", &b, "-i", path]);
    assert!(
        run.stderr.contains(&format!("--network {}", server.url)),
        "the restore hint names the network: {}",
        run.stderr
    );
    let out = run.ok();
    let uploaded = out
        .strip_prefix("Snapshot ")
        .and_then(|s| s.strip_suffix(" uploaded successfully"))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    assert_eq!(server.snapshots(&b), uploaded);
    assert!(!dir.join(".upload_progress.json").exists());
    server.stop();

    d.run(&["canister", "snapshot", "restore", &b, &uploaded])
        .ok();
    assert_eq!(d.get(&b, "greeting"), "(opt \"hello\")");
    assert!(
        d.far_read(&b, 8).contains("far away"),
        "{}",
        d.far_read(&b, 8)
    );
    assert_eq!(d.far_read(&b, 8), d.far_read(&a, 8));
}

#[test]
fn snapshots_are_created_listed_restored_and_deleted_over_the_network() {
    let d = Drydock::new();
    let a = d.kv();
    d.put(&a, "greeting", "first");
    let server = d.serve();
    let snap = server
        .run(&["canister", "snapshot", "create", &a, "-q"])
        .ok();
    assert_eq!(server.snapshots(&a), snap);
    let listed = server
        .run(&["--json", "canister", "snapshot", "list", &a])
        .json();
    assert_eq!(listed["snapshots"][0]["snapshot_id"], snap.as_str());
    server.stop();

    d.put(&a, "greeting", "second");
    let server = d.serve();
    server
        .run(&["canister", "snapshot", "restore", &a, &snap])
        .ok();
    server
        .run(&["canister", "snapshot", "delete", &a, &snap])
        .ok();
    assert_eq!(server.snapshots(&a), "");
    server.stop();
    assert_eq!(d.get(&a, "greeting"), "(opt \"first\")");
}

#[test]
fn a_flipped_bit_is_refused_before_anything_is_uploaded_over_the_network() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    let b = d.create_canister();
    let server = d.serve();
    let dir = d.state().with_file_name("snap");
    server.download(&a, &snap, &dir).ok();
    let path = dir.join("stable_memory.bin");
    let mut bytes = fs::read(&path).expect("read");
    bytes[5_000_000] ^= 0x10;
    fs::write(&path, bytes).expect("write");

    let err = server.upload(&b, &dir).fails(2);
    for w in [
        "stable_memory.bin",
        "offset 4000000",
        "does not match",
        "nothing was uploaded",
    ] {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
    assert_eq!(server.snapshots(&b), "");
    assert!(!dir.join(".upload_progress.json").exists());
    server.stop();
    assert_eq!(d.snapshots(&b), "");
}

#[test]
fn an_interrupted_download_over_the_network_resumes_from_what_is_on_disk() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    let b = d.create_canister();
    let server = d.serve();
    let dir = d.state().with_file_name("snap");
    server.download(&a, &snap, &dir).ok();
    let original = fs::read(dir.join("stable_memory.bin")).expect("read");
    let manifest_path = dir.join("manifest.json");
    let complete = fs::read(&manifest_path).expect("manifest");

    // As if the download had stopped in the stable memory.
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

    let path = dir.to_str().expect("utf-8");
    let err = server.download(&a, &snap, &dir).fails(2);
    assert!(err.contains("--resume"), "{err}");
    let run = server.run(&[
        "canister", "snapshot", "download", &a, &snap, "-o", path, "--resume",
    ]);
    assert!(run.stderr.contains("downloaded again"), "{}", run.stderr);
    run.ok();
    assert!(fs::read(dir.join("stable_memory.bin")).expect("read") == original);
    assert_eq!(fs::read(&manifest_path).expect("manifest"), complete);

    let uploaded = server.upload(&b, &dir).ok();
    server.stop();
    d.run(&["canister", "snapshot", "restore", &b, &uploaded])
        .ok();
    assert_eq!(d.get(&b, "greeting"), "(opt \"hello\")");
}

#[test]
fn an_interrupted_upload_resumes_over_the_network_into_the_same_snapshot() {
    let d = Drydock::new();
    let (a, snap) = d.kv_with_snapshot();
    let dir = d.state().with_file_name("snap");
    local_download(&d, &a, &snap, &dir);
    let b = d.create_canister();
    let me = d.run(&["identity", "principal"]).ok();
    let sender = Principal::from_text(&me).expect("principal");
    let canister = Principal::from_text(&b).expect("principal");

    // As if an upload had stopped after the metadata and the module.
    let meta: ReadCanisterSnapshotMetadataResult =
        serde_json::from_slice(&fs::read(dir.join("metadata.json")).expect("read"))
            .expect("metadata");
    let module = fs::read(dir.join("wasm_module.bin")).expect("module");
    let snapshot_id = {
        let mut replica = Replica::open(&d.state(), ReplicaConfig::default()).expect("open");
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
        let reply = replica
            .update(
                sender,
                MANAGEMENT_CANISTER,
                "upload_canister_snapshot_metadata",
                &candid::encode_one(args).expect("encode"),
            )
            .expect("metadata upload");
        let r: UploadCanisterSnapshotMetadataResult = candid::decode_one(&reply).expect("decode");
        let data = UploadCanisterSnapshotDataArgs {
            canister_id: canister,
            snapshot_id: r.snapshot_id.clone(),
            kind: SnapshotDataOffset::WasmModule { offset: 0 },
            chunk: module.clone(),
        };
        replica
            .update(
                sender,
                MANAGEMENT_CANISTER,
                "upload_canister_snapshot_data",
                &candid::encode_one(data).expect("encode"),
            )
            .expect("module upload");
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

    let server = d.serve();
    let path = dir.to_str().expect("utf-8");
    let resumed = server
        .run(&[
            "canister", "snapshot", "upload", &b, "-i", path, "--resume", "-q",
        ])
        .ok();
    assert_eq!(resumed, hex::encode(&snapshot_id));
    assert_eq!(server.snapshots(&b), resumed);
    server.stop();
    d.run(&["canister", "snapshot", "restore", &b, &resumed])
        .ok();
    assert_eq!(d.get(&b, "greeting"), "(opt \"hello\")");
}

#[test]
fn rejects_from_the_network_exit_with_1_and_name_the_ic_error_code() {
    let d = Drydock::new();
    let (a, _snap) = d.kv_with_snapshot();
    let server = d.serve();
    let dir = d.state().with_file_name("snap");
    let missing = "0000000000000000ffffff0101";
    let err = server.download(&a, missing, &dir).fails(1);
    assert!(err.contains("IC0"), "an IC error code: {err}");

    // Anonymous is not a controller of the canister.
    let err = server
        .run_with(
            &["--identity", "anonymous"],
            &["canister", "snapshot", "list", &a],
        )
        .fails(1);
    assert!(err.contains("IC0"), "{err}");
    // The server's own root key, pinned, works; another one fails verification.
    let listed = server
        .run_with(
            &["--root-key", &server.root_key],
            &["canister", "snapshot", "list", &a],
        )
        .ok();
    assert!(!listed.is_empty());
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let other = drydock_http::keys::Keys::load_or_create(elsewhere.path()).expect("keys");
    let wrong = hex::encode(other.root_key_der());
    let err = server
        .run_with(
            &["--root-key", &wrong],
            &["canister", "snapshot", "list", &a],
        )
        .fails(3);
    assert!(err.contains("root key"), "{err}");
}

#[test]
fn network_failures_and_unsupported_commands_are_reported_clearly() {
    let d = Drydock::new();
    let a = d.create_canister();
    // A port nothing listens on: refused connections, retried, then reported.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = Run::from(
        common::command(&d.state())
            .args(["--network", &url, "canister", "snapshot", "list", &a])
            .output()
            .expect("run"),
    );
    let err = run.fails(3);
    assert!(err.contains(&url) && err.contains("retrying"), "{err}");

    let run = Run::from(
        common::command(&d.state())
            .args(["--network", &url, "canister", "list"])
            .output()
            .expect("run"),
    );
    assert!(run.fails(2).contains("--network"));
    let run = Run::from(
        Command::new(common::bin())
            .args(["canister", "snapshot", "list", &a, "--root-key", "fetch"])
            .arg("--state-dir")
            .arg(d.state())
            .output()
            .expect("run"),
    );
    assert!(run.fails(2).contains("--network"));
}
