//! Helpers for the end-to-end tests with real clients (agent-js, icp-cli): a `drydock start`
//! server on a state directory of its own, and the clients installed in `clients/node_modules`
//! by `scripts/clients.sh` (`npm ci --prefix clients`).
//!
//! Each test file includes this with `mod e2e;` next to `mod common;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common;

/// The repository's `clients/` directory.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients")
}

/// A file installed under `clients/node_modules`; fails (never skips) when it is missing.
pub fn client_file(rel: &str) -> PathBuf {
    let path = clients_dir().join("node_modules").join(rel);
    assert!(
        path.exists(),
        "{} is missing — run `npm ci --prefix clients` (or scripts/clients.sh) first",
        path.display()
    );
    path
}

/// The icp-cli 1.5.0 binary from `@icp-sdk/icp-cli-linux-x64`.
pub fn icp_bin() -> PathBuf {
    client_file("@icp-sdk/icp-cli-linux-x64/bin/icp")
}

/// What a client command printed and how it exited, with the command line for messages.
pub struct Ran {
    pub what: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn new(what: String, o: Output) -> Ran {
        Ran {
            what,
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success; returns stdout and stderr together (icp-cli prints some results on
    /// stderr), trimmed.
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code, 0,
            "`{}` failed (exit {}):\nstdout: {}\nstderr: {}",
            self.what, self.code, self.stdout, self.stderr
        );
        format!("{}\n{}", self.stdout.trim(), self.stderr.trim())
            .trim()
            .to_string()
    }

    /// Asserts failure; returns stdout and stderr together.
    pub fn fails(&self) -> String {
        assert_ne!(
            self.code, 0,
            "`{}` should have failed:\nstdout: {}\nstderr: {}",
            self.what, self.stdout, self.stderr
        );
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A running `drydock start` on its own state directory; stopped (SIGINT, then SIGKILL) when
/// dropped, so no server outlives a failed test.
pub struct Server {
    child: Child,
    pub port: u16,
    pub root_key: String,
    pub state: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Serves `state` (prepared beforehand with drydock commands: the directory is locked
    /// while the server runs) on a free port of 127.0.0.1, and waits for `status.json`.
    pub fn start(state: &Path) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let status_dir = dir.path().join("status");
        let log = dir.path().join("server.log");
        let child = common::command(state)
            .args(["start", "--port", "0", "--status-dir"])
            .arg(&status_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("server log"))
            .spawn()
            .expect("spawn drydock start");
        let mut server = Server {
            child,
            port: 0,
            root_key: String::new(),
            state: state.to_path_buf(),
            log,
            _dir: dir,
        };
        let (port, root_key) = server.wait_for_status(&status_dir.join("status.json"));
        server.port = port;
        server.root_key = root_key;
        server
    }

    fn wait_for_status(&mut self, path: &Path) -> (u16, String) {
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(path) {
                if text.ends_with('\n') {
                    let v: serde_json::Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("status.json is not JSON ({e}): {text}"));
                    assert_eq!(v["v"], "1", "status.json: {text}");
                    let port = v["gateway_port"]
                        .as_u64()
                        .unwrap_or_else(|| panic!("status.json has no gateway_port: {text}"));
                    let key = v["root_key"]
                        .as_str()
                        .unwrap_or_else(|| panic!("status.json has no root_key: {text}"));
                    return (port as u16, key.to_string());
                }
            }
            if let Some(status) = self.child.try_wait().expect("wait drydock start") {
                panic!(
                    "drydock start exited ({status}) before writing status.json: {}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "drydock start wrote no status.json in 60 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server with SIGINT (as icp-cli does) and waits for it; returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        signal_and_wait(&mut self.child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        signal_and_wait(&mut self.child);
    }
}

/// SIGINT, then SIGKILL after 10 s; returns the exit code (None when killed by a signal).
fn signal_and_wait(child: &mut Child) -> Option<i32> {
    if let Ok(Some(status)) = child.try_wait() {
        return status.code();
    }
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().ok().and_then(|s| s.code())
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// The `drydock` processes whose command line mentions `needle` (e.g. a temp dir the test
/// made), by pid.
pub fn drydock_processes_with(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_drydock = args
            .first()
            .map(|a| Path::new(a).file_name() == Path::new(common::bin()).file_name())
            .unwrap_or(false);
        if is_drydock && args.iter().any(|a| a.contains(needle)) && process_alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Runs `cmd` with a time limit (killing it past the limit, so a hung client fails the test
/// instead of hanging it).
pub fn run_with_timeout(what: String, cmd: &mut Command, limit: Duration) -> Ran {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Ran::new(what, out.expect("wait for client")),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let out = rx.recv().expect("killed client").expect("wait for client");
            let ran = Ran::new(what, out);
            panic!(
                "`{}` did not finish in {limit:?}:\nstdout: {}\nstderr: {}",
                ran.what, ran.stdout, ran.stderr
            );
        }
    }
}
