//! icp-cli 1.5.0 (`clients/node_modules/@icp-sdk/icp-cli-linux-x64/bin/icp`) against drydock:
//! as a connected network (`drydock start`, `icp ... -n URL -k fetch`), as icp-cli's network
//! launcher (`ICP_CLI_NETWORK_LAUNCHER_PATH`, `icp network start`), and snapshots moved
//! between icp-cli and `drydock canister snapshot download|upload --network URL` (that test
//! needs drydock's `--network`, branch `net`, and fails with "unexpected argument
//! '--network'" until it is merged).
//!
//! Canisters are created the way icp-cli creates them: CMC `get_default_subnets`, then the
//! cycles ledger's `create_canister`, both served natively by drydock's replica. icp-cli runs
//! with `HOME` (and the XDG directories) in a temp dir, so its identities are its own: the
//! default identity is anonymous, which drydock's genesis funds with cycles.

mod common;
mod e2e;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::test_canister;
use e2e::{drydock_processes_with, icp_bin, run_with_timeout, Ran, Server};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// icp-cli with a home of its own, pointed at one network.
struct Icp {
    home: TempDir,
    /// The working directory (a project for the managed network).
    cwd: PathBuf,
    /// Appended to every command: `-n URL -k fetch` for a connected network.
    network: Vec<String>,
    /// `ICP_CLI_NETWORK_LAUNCHER_PATH`, for a project's managed network.
    launcher: Option<PathBuf>,
}

impl Icp {
    /// icp-cli talking to `url` (no project).
    fn connected(url: &str) -> Icp {
        let home = tempfile::tempdir().unwrap();
        Icp {
            cwd: home.path().to_path_buf(),
            home,
            network: vec!["-n".into(), url.into(), "-k".into(), "fetch".into()],
            launcher: None,
        }
    }

    /// icp-cli in the project `dir`, whose managed networks drydock launches.
    fn in_project(dir: &Path) -> Icp {
        Icp {
            home: tempfile::tempdir().unwrap(),
            cwd: dir.to_path_buf(),
            network: Vec::new(),
            launcher: Some(PathBuf::from(common::bin())),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(icp_bin());
        let home = self.home.path();
        cmd.current_dir(&self.cwd)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("DO_NOT_TRACK", "1")
            .env("RUST_BACKTRACE", "0")
            .env_remove("ICP_ENVIRONMENT")
            .env_remove("ICP_PROJECT_ROOT")
            .env_remove("ICP_CLI_NETWORK_LAUNCHER_PATH");
        if let Some(launcher) = &self.launcher {
            cmd.env("ICP_CLI_NETWORK_LAUNCHER_PATH", launcher);
        }
        cmd
    }

    /// Runs `icp ARGS [network flags]` (killed after 3 minutes).
    fn run(&self, args: &[&str]) -> Ran {
        let mut cmd = self.command();
        cmd.args(args).args(&self.network);
        run_with_timeout(
            format!("icp {}", args.join(" ")),
            &mut cmd,
            Duration::from_secs(180),
        )
    }

    /// Runs icp, asserts success, returns stdout and stderr together.
    fn ok(&self, args: &[&str]) -> String {
        self.run(args).ok()
    }

    /// `icp canister create` (with `--detached` when connected); returns the new id.
    fn create(&self, extra: &[&str]) -> String {
        let mut args = vec!["canister", "create"];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        word_after(&out, "with ID")
            .unwrap_or_else(|| panic!("no canister id in `icp {}`: {out}", args.join(" ")))
    }

    /// `icp canister snapshot create ID`; returns the snapshot id.
    fn snapshot(&self, id: &str) -> String {
        let out = self.ok(&["canister", "snapshot", "create", id]);
        snapshot_id(&out, "Created snapshot")
    }

    /// `icp canister snapshot upload ID -i DIR`; returns the new snapshot id.
    fn upload(&self, id: &str, dir: &Path) -> String {
        let out = self.ok(&[
            "canister",
            "snapshot",
            "upload",
            id,
            "-i",
            dir.to_str().unwrap(),
        ]);
        snapshot_id(&out, "Created snapshot")
    }

    /// A query through icp (`--query`: node-signed reply), its Candid text.
    fn query(&self, id: &str, method: &str, arg: &str) -> String {
        self.ok(&["canister", "call", id, method, arg, "--query"])
    }
}

/// The word that follows `marker` in `text`.
fn word_after(text: &str, marker: &str) -> Option<String> {
    let at = text.find(marker)? + marker.len();
    text[at..].split_whitespace().next().map(String::from)
}

/// The hex snapshot id after `marker`.
fn snapshot_id(out: &str, marker: &str) -> String {
    let id = word_after(out, marker).unwrap_or_else(|| panic!("no snapshot id in: {out}"));
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()),
        "snapshot id {id:?} in: {out}"
    );
    id
}

/// Asserts that `out` has `want` on a line of its own (ignoring icp's warnings).
fn assert_reply(out: &str, want: &str, what: &str) {
    assert!(
        out.lines().any(|l| l.trim() == want),
        "{what}: expected the reply {want}, got:\n{out}"
    );
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn icp_cli_drives_a_connected_drydock_network() {
    let icp_path = icp_bin();
    assert!(icp_path.is_file());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"));
    let icp = Icp::connected(&server.url());

    // Creation through the CMC and the cycles ledger, as on the IC.
    let kv = icp.create(&["--detached"]);
    let counter = icp.create(&["--detached"]);
    assert_ne!(kv, counter);

    // A Rust canister and a Motoko (EOP, memory64) one.
    let kv_wasm = test_canister("kv.wasm");
    let counter_wasm = test_canister("counter_eop.wasm");
    let out = icp.ok(&["canister", "install", &kv, "--wasm", path_str(&kv_wasm)]);
    assert!(out.contains("installed successfully"), "{out}");
    let out = icp.ok(&[
        "canister",
        "install",
        &counter,
        "--wasm",
        path_str(&counter_wasm),
    ]);
    assert!(out.contains("installed successfully"), "{out}");

    // Update calls (certified replies) and queries (node-signed replies).
    let out = icp.ok(&[
        "canister",
        "call",
        &kv,
        "put",
        r#"("greeting", "hello icp")"#,
    ]);
    assert_reply(&out, "()", "kv put");
    assert_reply(
        &icp.query(&kv, "get", r#"("greeting")"#),
        r#"(opt "hello icp")"#,
        "kv get --query",
    );
    // Without --query icp makes an update call, even to a query method.
    let out = icp.ok(&["canister", "call", &kv, "get", r#"("greeting")"#]);
    assert_reply(&out, r#"(opt "hello icp")"#, "kv get as an update");
    let out = icp.ok(&["canister", "call", &counter, "inc", "()"]);
    assert_reply(&out, "(1 : nat)", "counter inc");
    let out = icp.ok(&["canister", "call", &counter, "inc", "()"]);
    assert_reply(&out, "(2 : nat)", "counter inc");
    assert_reply(
        &icp.query(&counter, "get", "()"),
        "(2 : nat)",
        "counter get",
    );

    // Status: running, controlled by icp's (anonymous) identity, the module installed.
    let status = icp.ok(&["canister", "status", &counter]);
    assert!(status.contains("Status: Running"), "{status}");
    assert!(status.contains("controller: 2vxsx-fae"), "{status}");
    let hash = format!("Module hash: 0x{}", sha256_hex(&counter_wasm));
    assert!(status.contains(&hash), "expected {hash} in:\n{status}");
    // Created with icp-cli's 2 T; the install and the calls were paid from them.
    let cycles: u128 = status
        .lines()
        .find_map(|l| l.trim().strip_prefix("Cycles: "))
        .unwrap_or_else(|| panic!("no balance in:\n{status}"))
        .replace('_', "")
        .parse()
        .unwrap();
    assert!(
        cycles < 2_000_000_000_000 && cycles > 1_990_000_000_000,
        "{status}"
    );

    // The public candid:service section, read from the certified state tree.
    let meta = icp.ok(&["canister", "metadata", &counter, "candid:service"]);
    assert!(meta.contains("inc: () -> (nat);"), "{meta}");
    assert!(meta.contains("get: () -> (nat) query;"), "{meta}");

    // Stop: the status says so and calls are refused.
    icp.ok(&["canister", "stop", &counter]);
    let status = icp.ok(&["canister", "status", &counter]);
    assert!(status.contains("Status: Stopped"), "{status}");
    let refused = icp
        .run(&["canister", "call", &counter, "inc", "()"])
        .fails();
    assert!(refused.contains("IC0508"), "a stopped canister: {refused}");

    // Snapshot (icp refuses unless stopped), list, download.
    let snap = icp.snapshot(&counter);
    let list = icp.ok(&["canister", "snapshot", "list", &counter]);
    assert!(list.contains(&snap), "{snap} not in:\n{list}");
    let down = dir.path().join("download");
    let out = icp.ok(&[
        "canister",
        "snapshot",
        "download",
        &counter,
        &snap,
        "-o",
        path_str(&down),
    ]);
    assert!(out.contains("downloaded"), "{out}");
    assert_eq!(
        std::fs::read(down.join("wasm_module.bin")).unwrap(),
        std::fs::read(&counter_wasm).unwrap(),
        "the snapshot's module is the installed one"
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(down.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(
        meta["wasm_memory_size"].as_u64(),
        Some(
            std::fs::metadata(down.join("wasm_memory.bin"))
                .unwrap()
                .len()
        ),
        "metadata.json: {meta}"
    );

    // Move on, then upload the downloaded snapshot as a new one and restore it.
    icp.ok(&["canister", "start", &counter]);
    let out = icp.ok(&["canister", "call", &counter, "inc", "()"]);
    assert_reply(&out, "(3 : nat)", "counter inc after start");
    icp.ok(&["canister", "stop", &counter]);
    let uploaded = icp.upload(&counter, &down);
    assert_ne!(uploaded, snap);
    let list = icp.ok(&["canister", "snapshot", "list", &counter]);
    assert!(
        list.contains(&snap) && list.contains(&uploaded),
        "both snapshots should be listed:\n{list}"
    );
    let out = icp.ok(&["canister", "snapshot", "restore", &counter, &uploaded]);
    assert!(out.contains("Restored"), "{out}");
    icp.ok(&["canister", "start", &counter]);
    assert_reply(
        &icp.query(&counter, "get", "()"),
        "(2 : nat)",
        "counter restored from the uploaded snapshot",
    );

    // An upgrade: icp reads the EOP marker from the state tree and keeps the Wasm memory.
    let v2 = test_canister("counter_eop_v2.wasm");
    let out = icp.ok(&[
        "canister",
        "install",
        &counter,
        "--wasm",
        path_str(&v2),
        "-m",
        "upgrade",
        "-y",
    ]);
    assert!(out.contains("installed successfully"), "{out}");
    assert_reply(
        &icp.query(&counter, "version", "()"),
        r#"("v2")"#,
        "version after the upgrade",
    );
    assert_reply(
        &icp.query(&counter, "get", "()"),
        "(2 : nat)",
        "count kept by the upgrade",
    );
    // The Rust canister was never touched by any of this.
    assert_reply(
        &icp.query(&kv, "get", r#"("greeting")"#),
        r#"(opt "hello icp")"#,
        "kv get at the end",
    );
    assert!(
        !server.log().contains("panicked"),
        "server log: {}",
        server.log()
    );
}

/// A project whose managed network drydock launches; stops it when dropped (`icp network
/// stop`, then SIGKILL to any drydock left running in the project), so no server outlives a
/// failed test.
struct Project {
    dir: TempDir,
    icp: Icp,
}

impl Project {
    fn new(icp_yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("icp.yaml"), icp_yaml).unwrap();
        let icp = Icp::in_project(dir.path());
        Project { dir, icp }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The drydock processes serving this project's network.
    fn launchers(&self) -> Vec<i32> {
        drydock_processes_with(path_str(self.path()))
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if self.launchers().is_empty() {
            return;
        }
        let _ = self.icp.command().args(["network", "stop"]).output();
        let start = Instant::now();
        while !self.launchers().is_empty() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        for pid in self.launchers() {
            // SAFETY: kill(2) on a drydock process this test's icp started; no memory involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The example `icp.yaml` of README.md (the YAML block that starts with `# icp.yaml`).
fn readme_icp_yaml() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("```yaml\n# icp.yaml\n")
        .expect("README.md has a ```yaml block starting with `# icp.yaml`")
        + "```yaml\n".len();
    let len = readme[start..].find("```").expect("the block ends");
    readme[start..start + len].to_string()
}

#[test]
fn icp_network_start_uses_drydock_as_the_launcher() {
    // README.md's icp.yaml, on port 0: the launcher picks a free port (icp then omits
    // --gateway-port), so the test does not depend on 8000 being free.
    let yaml = readme_icp_yaml();
    assert!(yaml.contains("      port: 8000\n"), "{yaml}");
    let project = Project::new(&yaml.replace("      port: 8000\n", "      port: 0\n"));
    std::fs::copy(test_canister("kv.wasm"), project.path().join("kv.wasm")).unwrap();
    let icp = &project.icp;

    let out = icp.ok(&["network", "start", "-d"]);
    assert!(out.contains("Network started on port"), "{out}");
    let launchers = project.launchers();
    assert_eq!(
        launchers.len(),
        1,
        "one drydock should serve the project's network (pids {launchers:?})"
    );
    let state = project.path().join(".icp/cache/networks/local/state");
    assert!(
        state.join("manifest").exists() || state.join("wal").exists(),
        "drydock's state directory {} should be in use",
        state.display()
    );
    // icp-cli's own initialisation (seeding, Candid UI and proxy canisters) went through.
    let status = icp.ok(&["network", "status"]);
    assert!(status.contains("Root Key: 308182301d06"), "{status}");
    assert!(status.contains("Candid UI Principal:"), "{status}");

    // The flow through the implicit `local` environment, by canister name.
    let id = icp.create(&["kv"]);
    icp.ok(&["build", "kv"]);
    let out = icp.ok(&["canister", "install", "kv"]);
    assert!(out.contains("installed successfully"), "{out}");
    let list = icp.ok(&["canister", "list"]);
    assert!(list.lines().any(|l| l.trim() == "kv"), "{list}");
    let out = icp.ok(&["canister", "call", "kv", "put", r#"("k", "v")"#]);
    assert_reply(&out, "()", "kv put");
    assert_reply(
        &icp.query("kv", "get", r#"("k")"#),
        r#"(opt "v")"#,
        "kv get",
    );
    let status = icp.ok(&["canister", "status", "kv"]);
    assert!(status.contains(&id), "{status}");
    assert!(status.contains("Status: Running"), "{status}");
    icp.ok(&["canister", "stop", "kv"]);
    let snap = icp.snapshot("kv");
    icp.ok(&["canister", "start", "kv"]);
    icp.ok(&["canister", "call", "kv", "put", r#"("k", "changed")"#]);
    icp.ok(&["canister", "stop", "kv"]);
    icp.ok(&["canister", "snapshot", "restore", "kv", &snap]);
    icp.ok(&["canister", "start", "kv"]);
    assert_reply(
        &icp.query("kv", "get", r#"("k")"#),
        r#"(opt "v")"#,
        "kv get after the restore",
    );

    // `icp network stop` sends SIGINT; drydock exits within its 10 s wait.
    let out = icp.ok(&["network", "stop"]);
    assert!(out.contains("stopped successfully"), "{out}");
    let start = Instant::now();
    while !project.launchers().is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        project.launchers().is_empty(),
        "drydock still runs after `icp network stop`: {:?}",
        project.launchers()
    );
}

/// `drydock --network URL --identity anonymous canister snapshot ...` (the anonymous
/// identity controls what icp-cli created); asserts success.
fn drydock_net(state: &Path, url: &str, args: &[&str]) -> Ran {
    let mut cmd = common::command(state);
    cmd.args(["--network", url, "--identity", "anonymous"])
        .args(args);
    let ran = run_with_timeout(
        format!("drydock --network {url} {}", args.join(" ")),
        &mut cmd,
        Duration::from_secs(180),
    );
    ran.ok();
    ran
}

#[test]
fn snapshots_move_between_icp_cli_and_drydock_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("state"));
    let url = server.url();
    let icp = Icp::connected(&url);
    let cli_state = dir.path().join("cli-state");

    // A Motoko canister at count 3, stopped, snapshotted.
    let source = icp.create(&["--detached"]);
    let wasm = test_canister("counter_eop.wasm");
    icp.ok(&["canister", "install", &source, "--wasm", path_str(&wasm)]);
    for _ in 0..3 {
        icp.ok(&["canister", "call", &source, "inc", "()"]);
    }
    icp.ok(&["canister", "stop", &source]);
    let snap = icp.snapshot(&source);

    // Both tools download it, to the same files.
    let by_icp = dir.path().join("by-icp");
    let by_drydock = dir.path().join("by-drydock");
    icp.ok(&[
        "canister",
        "snapshot",
        "download",
        &source,
        &snap,
        "-o",
        path_str(&by_icp),
    ]);
    drydock_net(
        &cli_state,
        &url,
        &[
            "canister",
            "snapshot",
            "download",
            &source,
            &snap,
            "-o",
            path_str(&by_drydock),
        ],
    );
    for f in ["wasm_module.bin", "wasm_memory.bin", "stable_memory.bin"] {
        assert!(
            std::fs::read(by_icp.join(f)).unwrap() == std::fs::read(by_drydock.join(f)).unwrap(),
            "{f} differs between icp-cli's and drydock's download"
        );
    }
    let json = |d: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("metadata.json")).unwrap()).unwrap()
    };
    assert_eq!(
        json(&by_icp),
        json(&by_drydock),
        "metadata.json differs between icp-cli's and drydock's download"
    );

    // icp-cli's download, uploaded by drydock into another (empty) canister, restored by icp.
    let b = icp.create(&["--detached"]);
    icp.ok(&["canister", "stop", &b]);
    let out = drydock_net(
        &cli_state,
        &url,
        &[
            "canister",
            "snapshot",
            "upload",
            &b,
            "-i",
            path_str(&by_icp),
            "-q",
        ],
    );
    let on_b = out.stdout.trim().to_string();
    assert!(
        !on_b.is_empty() && on_b.chars().all(|c| c.is_ascii_hexdigit()),
        "drydock upload -q should print the snapshot id: {}",
        out.stdout
    );
    icp.ok(&["canister", "snapshot", "restore", &b, &on_b]);
    icp.ok(&["canister", "start", &b]);
    assert_reply(
        &icp.query(&b, "get", "()"),
        "(3 : nat)",
        "icp download -> drydock upload -> icp restore",
    );

    // drydock's download, uploaded by icp-cli into a third canister, restored by drydock.
    let c = icp.create(&["--detached"]);
    icp.ok(&["canister", "stop", &c]);
    let on_c = icp.upload(&c, &by_drydock);
    drydock_net(
        &cli_state,
        &url,
        &["canister", "snapshot", "restore", &c, &on_c],
    );
    icp.ok(&["canister", "start", &c]);
    assert_reply(
        &icp.query(&c, "get", "()"),
        "(3 : nat)",
        "drydock download -> icp upload -> drydock restore",
    );
    // The restored canisters are live: they go on counting on their own.
    let out = icp.ok(&["canister", "call", &c, "inc", "()"]);
    assert_reply(&out, "(4 : nat)", "inc on the restored canister");
    assert_reply(
        &icp.query(&b, "get", "()"),
        "(3 : nat)",
        "the other copy is unaffected",
    );
}
