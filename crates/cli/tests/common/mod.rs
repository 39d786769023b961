//! Helpers shared by the CLI integration tests: the `drydock` binary run in a state directory
//! of its own, the test canisters, and, for the crash tests, loops of `drydock` commands killed
//! with SIGKILL and the state directories they leave.
//!
//! Each test file includes this with `mod common;` and uses only some of it.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use drydock_replica::{CallError, Principal, Replica, ReplicaConfig};
use tempfile::TempDir;

/// The `drydock` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_drydock")
}

/// A `drydock` command on the state directory `state`, free of the `DRYDOCK_*` settings of
/// the environment the tests run in.
pub fn command(state: &Path) -> Command {
    let mut cmd = Command::new(bin());
    for var in [
        "DRYDOCK_STATE_DIR",
        "DRYDOCK_IDENTITY",
        "DRYDOCK_PEM",
        "DRYDOCK_UPDATE_INSTRUCTION_LIMIT",
        "DRYDOCK_QUERY_INSTRUCTION_LIMIT",
        "DRYDOCK_INSTALL_INSTRUCTION_LIMIT",
        "DRYDOCK_INSPECT_INSTRUCTION_LIMIT",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("--state-dir").arg(state);
    cmd
}

/// Runs `drydock` on `state`, asserts success and returns stdout, trimmed.
pub fn drydock(state: &Path, args: &[&str]) -> String {
    let run = Run::from(command(state).args(args).output().expect("run drydock"));
    assert_eq!(run.code, 0, "drydock {args:?} failed: {}", run.stderr);
    run.stdout.trim().to_string()
}

/// A test canister built by `scripts/build-test-canisters.sh`; fails (never skips) when absent.
pub fn test_canister(name: &str) -> PathBuf {
    let dir = std::env::var_os("TEST_CANISTERS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-canisters")
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "test canister {} is missing — run scripts/build-test-canisters.sh first",
        path.display()
    );
    path
}

/// A drydock with its own state directory.
pub struct Drydock {
    dir: TempDir,
}

impl Drydock {
    pub fn new() -> Drydock {
        Drydock {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The state directory (created by the first command that needs it).
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(
            command(&self.state())
                .args(args)
                .output()
                .expect("run drydock"),
        )
    }

    pub fn create_canister(&self) -> String {
        self.run(&["canister", "create"]).ok()
    }

    /// A new canister with the test canister `wasm` (e.g. "pingpong.wasm") installed: its id
    /// as text and as a principal.
    pub fn with_test_canister(&self, wasm: &str) -> (String, Principal) {
        let id = self.create_canister();
        let path = test_canister(wasm);
        self.run(&["canister", "install", &id, path.to_str().expect("utf-8")])
            .ok();
        let principal = Principal::from_text(&id).expect("id");
        (id, principal)
    }
}

/// What a command printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts success and returns stdout without the trailing newline.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "expected success; stderr: {}", self.stderr);
        self.stdout.trim_end().to_string()
    }

    pub fn json(self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Asserts the exit code and returns stderr.
    pub fn fails(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        self.stderr
    }
}

/// A small deterministic generator, so a failing trial can be replayed.
pub fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

/// The kv canister's value at `key`, read by a query on an opened state directory.
pub fn get(replica: &mut Replica, id: Principal, key: &str) -> Option<String> {
    let arg = candid::encode_one(key).unwrap();
    match replica.query(Principal::anonymous(), id, "get", &arg) {
        Ok(bytes) => candid::decode_one(&bytes).unwrap(),
        Err(CallError::User(e)) => panic!("get {key}: {e}"),
        Err(CallError::Replica(e)) => panic!("get {key}: {e}"),
    }
}

/// Makes this process the reaper of its orphaned descendants, so that a killed loop's
/// drydock processes become this process's children and [`reap_group`] can wait for them
/// (else they linger as zombies until init reaps them, which can take seconds in a container).
pub fn become_subreaper() {
    // SAFETY: prctl(2) with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
}

/// Waits until every process of the killed group has exited and is reaped: none can touch
/// the state directory afterwards.
pub fn reap_group(pgid: i32) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) writes only to `status`, a live local.
        let rc = unsafe { libc::waitpid(-pgid, &mut status, 0) };
        if rc < 0 {
            // ECHILD: no process of the group is left (EINTR: try again).
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
    }
}

/// The start of a crash test: makes this process a subreaper ([`become_subreaper`]) and
/// installs the kv canister in a fresh state directory. Returns the temporary directory
/// (removed when dropped), the state directory in it and the canister id.
pub fn kv_crash_setup() -> (TempDir, PathBuf, String) {
    become_subreaper();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let id = drydock(&state, &["canister", "create"]);
    let kv = test_canister("kv.wasm");
    drydock(&state, &["canister", "install", &id, kv.to_str().unwrap()]);
    (dir, state, id)
}

/// Opens the directory, waiting (briefly) for a dying process to release its lock.
pub fn open_when_unlocked(state: &Path) -> Replica {
    let start = Instant::now();
    loop {
        match Replica::open(state, ReplicaConfig::default()) {
            Ok(r) => return r,
            Err(e)
                if start.elapsed() < Duration::from_secs(5) && e.to_string().contains("locked") =>
            {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("state directory does not open after SIGKILL: {e}"),
        }
    }
}

/// A bash script of `drydock` commands running in a process group of its own, to be killed
/// with SIGKILL. In the script `$0` is drydock, `$1` the state directory and `$2` the
/// canister; each line it prints is sent to [`CommandLoop::lines`].
pub struct CommandLoop {
    child: Child,
    reader: JoinHandle<()>,
    pub lines: mpsc::Receiver<String>,
}

impl CommandLoop {
    pub fn spawn(script: &str, state: &Path, canister: &str, stderr: Stdio) -> CommandLoop {
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg(bin())
            .arg(state)
            .arg(canister)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        CommandLoop {
            child,
            reader,
            lines,
        }
    }

    /// The next `n` lines the script prints, fewer if it stops or 60 s pass first.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        let start = Instant::now();
        while got.len() < n && start.elapsed() < Duration::from_secs(60) {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => got.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        got
    }

    /// Kills the whole process group with SIGKILL and waits until every process of it is
    /// gone (a killed drydock holds the directory lock until the kernel has torn it down);
    /// returns the lines printed before the kill that were not yet received.
    pub fn kill(mut self) -> Vec<String> {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) on the child's own process group; no memory is involved.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        reap_group(pgid);
        self.reader.join().unwrap();
        self.lines.try_iter().collect()
    }
}

impl Drydock {
    /// `drydock start` on this state directory, until the guard is dropped.
    pub fn serve(&self) -> Server {
        let status = self.state().with_file_name("status");
        // A status.json left by an earlier server names its port.
        let _ = fs::remove_file(status.join("status.json"));
        let child = command(&self.state())
            .args(["start", "--port", "0", "--status-dir"])
            .arg(&status)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn drydock start");
        let mut server = Server {
            child,
            url: String::new(),
            root_key: String::new(),
            state: self.state(),
        };
        let path = status.join("status.json");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = fs::read_to_string(&path) {
                let v: serde_json::Value = serde_json::from_str(&text).expect("status.json");
                let port = v["gateway_port"].as_u64().expect("gateway_port");
                server.url = format!("http://127.0.0.1:{port}");
                server.root_key = v["root_key"].as_str().expect("root_key").to_string();
                return server;
            }
            if let Some(status) = server.child.try_wait().expect("wait") {
                panic!("drydock start exited with {status}");
            }
            assert!(Instant::now() < deadline, "no status.json after 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A running `drydock start`; dropping it stops the server (SIGTERM, then SIGKILL).
pub struct Server {
    pub child: Child,
    pub url: String,
    /// The server's root key, DER in hex.
    pub root_key: String,
    pub state: PathBuf,
}

impl Server {
    /// `drydock --network URL ARGS` with the state directory's identities.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(&[], args)
    }

    /// [`Server::run`] with `flags` between `--network URL` and `args`.
    pub fn run_with(&self, flags: &[&str], args: &[&str]) -> Run {
        Run::from(
            command(&self.state)
                .arg("--network")
                .arg(&self.url)
                .args(flags)
                .args(args)
                .output()
                .expect("run drydock"),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child this guard owns and has not yet reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs a CBOR `body` to `path` of the server at `url` on a new connection (closed after the
/// answer) and returns the HTTP status; `None` when the server is not there or went away
/// before answering (killed, say).
pub fn post_cbor(url: &str, path: &str, body: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/cbor\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
}

/// An anonymous `call` envelope to `canister`'s `method` with no argument, told apart from
/// every other by `nonce`, expiring `ttl` from now.
pub fn call_envelope(canister: Principal, method: &str, nonce: &[u8], ttl: Duration) -> Vec<u8> {
    use ic_transport_types::{Envelope, EnvelopeContent};
    use std::borrow::Cow;
    let expiry = (std::time::SystemTime::now() + ttl)
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    Envelope {
        content: Cow::Owned(EnvelopeContent::Call {
            nonce: Some(nonce.to_vec()),
            ingress_expiry: expiry,
            sender: Principal::anonymous(),
            canister_id: canister,
            method_name: method.into(),
            arg: candid::encode_args(()).expect("encode"),
            sender_info: None,
        }),
        sender_pubkey: None,
        sender_sig: None,
        sender_delegation: None,
    }
    .encode_bytes()
}

/// The `pingpong` canister's version (`canister_versions`' second value: one more for every
/// update that ran), by a query through ic-agent.
pub fn pingpong_version(url: &str, id: Principal) -> u64 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let agent = ic_agent::Agent::builder()
            .with_url(url)
            .build()
            .expect("agent");
        agent.fetch_root_key().await.expect("root key");
        let reply = agent
            .query(&id, "canister_versions")
            .with_arg(candid::encode_args(()).expect("encode"))
            .call()
            .await
            .expect("query");
        candid::decode_args::<(u64, u64)>(&reply).expect("decode").1
    })
}
