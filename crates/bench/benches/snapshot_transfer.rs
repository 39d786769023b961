//! `snapshot_transfer`: `drydock canister snapshot download` and `upload` of a large
//! stable-memory snapshot over loopback (`--network` against `drydock start`), against
//! `openssl dgst -sha256` of the same downloaded bytes from disk, timed in the same run.
//!
//! Flow (plain timing, no criterion: setting up a 4 GiB state takes a minute):
//! 1. `drydock --state-dir CLI identity principal` creates the CLI's `default` identity in a
//!    directory of its own (only its `identities/` is used: the `--network` commands never open
//!    a state directory). An in-process [`Replica`] over a fresh state directory creates, as
//!    that principal (so it controls both), a `bigmem` canister A and a canister B (with
//!    `bigmem` installed too), writes S bytes (`DRYDOCK_BENCH_TRANSFER_SIZE`, default `4G`) of
//!    A's stable memory with `stable_fill` messages of 512 MiB, stops A and takes a snapshot.
//!    Untimed, except for a server-side reference: every 2,000,000-byte slice of the snapshot's
//!    stable memory read in-process with `read_canister_snapshot_data` (`Replica::update` to
//!    the management canister: no HTTP, no signature, no client). The replica is dropped.
//! 2. `target/release/drydock start --port 0` serves the state directory; the port and root
//!    key are read from `status.json`. The CLI is the same release binary.
//! 3. `DRYDOCK_BENCH_REPS` times (default 1): the download of A's snapshot into a fresh
//!    directory, timed as a child process (`--network http://127.0.0.1:PORT --root-key HEX`,
//!    the root key pinned); `openssl dgst -sha256` of `stable_memory.bin`, then `sha256sum` of
//!    it, each timed as a child process right after the download, with nothing dropped from
//!    the page cache (the file was just written: both read it from memory); the digests are
//!    checked against each other and against the manifest's; then the upload of the directory
//!    into B, timed. Between repetitions, the uploaded snapshot is deleted over the network
//!    (untimed); the last one is kept.
//! 4. The server is stopped (SIGTERM); in process, B is stopped, the uploaded snapshot loaded
//!    into it, and B's stable memory compared with A's over all S bytes (`stable_digest`
//!    queries of 256 MiB each): the bench fails if the transfer was not exact.
//!
//! Reported: bytes, seconds and MB/s (10^6 bytes per second) of the download, the upload,
//! openssl and sha256sum; the ratios download / openssl and upload / openssl of throughput
//! (bytes per second of the transfer — all files of the snapshot — over bytes per second of
//! openssl on `stable_memory.bin`); the time per 2,000,000-byte slice.
//!
//! Run: `cargo build --release -p drydock-cli` (the bench fails, saying so, if
//! `target/release/drydock` is missing), `scripts/build-test-canisters.sh`, then
//! `cargo bench -p drydock-bench --bench snapshot_transfer`. Everything is kept under
//! `target/bench-snapshot-transfer/` (or `DRYDOCK_BENCH_DIR`) and removed at the end, also
//! when the bench fails; it needs about 4·S + 2 GiB of free disk (A's memory, the download,
//! the uploaded snapshot, B's memory after the load). `-- --test` runs once with S = 64 MiB.

#![allow(clippy::print_stdout, reason = "a bench binary's report is its output")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use candid::{CandidType, Principal};
use drydock_bench::report::human;
use drydock_bench::{drydock, drydock_bin, machine_summary, test_canister, workspace_target};
use drydock_replica::{CallError, Replica, ReplicaConfig, MANAGEMENT_CANISTER, MAX_SLICE_BYTES};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, InstallCodeArgs, LoadCanisterSnapshotArgs,
    ProvisionalCreateCanisterWithCyclesArgs, ReadCanisterSnapshotDataArgs,
    ReadCanisterSnapshotDataResult, Snapshot, SnapshotDataKind, TakeCanisterSnapshotArgs,
};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// The most stable memory one `stable_fill` message writes.
const FILL_STEP: u64 = 512 * MIB;
/// The range of one `stable_digest` query in the final comparison.
const DIGEST_STEP: u64 = 256 * MIB;

struct Config {
    size: u64,
    reps: usize,
    dir: PathBuf,
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_uppercase()),
        _ => (s, 'B'),
    };
    let n: u64 = digits.trim().parse().ok()?;
    let mul = match unit {
        'B' => 1,
        'K' => 1 << 10,
        'M' => MIB,
        'G' => GIB,
        _ => return None,
    };
    n.checked_mul(mul).filter(|b| *b > 0)
}

fn config() -> Config {
    let smoke = std::env::args().any(|a| a == "--test");
    let size = std::env::var("DRYDOCK_BENCH_TRANSFER_SIZE")
        .unwrap_or_else(|_| if smoke { "64M" } else { "4G" }.into());
    let size = parse_size(&size).unwrap_or_else(|| {
        panic!("DRYDOCK_BENCH_TRANSFER_SIZE: {size:?} is not a size like 64M, 1G or 4G")
    });
    let reps = match std::env::var("DRYDOCK_BENCH_REPS") {
        Ok(r) => r
            .parse()
            .ok()
            .filter(|r| *r > 0)
            .unwrap_or_else(|| panic!("DRYDOCK_BENCH_REPS: {r:?} is not a positive count")),
        Err(_) => 1,
    };
    let dir = std::env::var_os("DRYDOCK_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(workspace_target)
        .join("bench-snapshot-transfer");
    Config { size, reps, dir }
}

fn size_label(bytes: u64) -> String {
    if bytes & (GIB - 1) == 0 {
        format!("{} GiB", bytes / GIB)
    } else if bytes & (MIB - 1) == 0 {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} B")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    assert!(text.len().is_multiple_of(2), "not hex: {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16).unwrap_or_else(|_| panic!("not hex: {text:?}"))
        })
        .collect()
}

/// Free bytes on the file system holding `path` (0 if unknown).
fn free_disk(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: `statvfs` writes into the zeroed struct we own; `c` is a valid C string.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return 0;
        }
        st.f_bavail.saturating_mul(st.f_frsize)
    }
}

/// The bench directory: removed when dropped, so a failing run leaves nothing behind.
struct BenchDir(PathBuf);

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// CPU time (user + system) of this process's waited-for children, from `getrusage`.
fn children_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time (user + system) of process `pid` so far, from `/proc/PID/stat`.
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / hz)
}

/// Runs `cmd`, timed; panics (with its stderr) unless it succeeds. Returns stdout, trimmed.
fn timed_run(what: &str, cmd: &mut Command) -> (Duration, String) {
    let t = Instant::now();
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (
        elapsed,
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// The in-process replica of steps 1 and 4.
struct Node {
    replica: Replica,
    sender: Principal,
}

impl Node {
    fn open(state: &Path, sender: Principal) -> Node {
        Node {
            replica: Replica::open(state, ReplicaConfig::default()).expect("opening the replica"),
            sender,
        }
    }

    fn call(&mut self, canister: Principal, method: &str, arg: Vec<u8>) -> Vec<u8> {
        self.replica
            .update(self.sender, canister, method, &arg)
            .unwrap_or_else(|e| match e {
                CallError::User(u) => panic!("{method}: {:?}: {}", u.code, u.message),
                CallError::Replica(r) => panic!("{method}: replica failure: {r}"),
            })
    }

    fn mgmt<A: CandidType>(&mut self, method: &str, arg: &A) -> Vec<u8> {
        let arg = candid::encode_one(arg).expect("encoding");
        self.call(MANAGEMENT_CANISTER, method, arg)
    }

    fn create_bigmem(&mut self, wasm: &[u8]) -> Principal {
        let reply = self.mgmt(
            "provisional_create_canister_with_cycles",
            &ProvisionalCreateCanisterWithCyclesArgs::default(),
        );
        let id = candid::decode_one::<CanisterIdRecord>(&reply)
            .expect("decoding")
            .canister_id;
        let install = InstallCodeArgs {
            mode: CanisterInstallMode::Install,
            canister_id: id,
            wasm_module: wasm.to_vec(),
            arg: candid::encode_args(()).expect("encoding"),
            sender_canister_version: None,
        };
        self.mgmt("install_code", &install);
        id
    }

    fn set_running(&mut self, id: Principal, running: bool) {
        let method = if running {
            "start_canister"
        } else {
            "stop_canister"
        };
        self.mgmt(method, &CanisterIdRecord { canister_id: id });
    }

    fn query<R: for<'de> candid::Deserialize<'de> + CandidType>(
        &mut self,
        id: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> R {
        let reply = self
            .replica
            .query(self.sender, id, method, &arg)
            .unwrap_or_else(|e| panic!("{method}: {e:?}"));
        candid::decode_one(&reply).expect("decoding")
    }

    fn stable_size(&mut self, id: Principal) -> u64 {
        self.query(
            id,
            "stable_size",
            candid::encode_args(()).expect("encoding"),
        )
    }

    /// `stable_digest` of `[0, size)` in [`DIGEST_STEP`] ranges.
    fn digests(&mut self, id: Principal, size: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < size {
            let n = (size - at).min(DIGEST_STEP);
            let arg = candid::encode_args((at, n)).expect("encoding");
            let d: Vec<u8> = self.query(id, "stable_digest", arg);
            out.push(d);
            at += n;
        }
        out
    }
}

/// A running `drydock start`; dropping it stops the server (SIGTERM, then SIGKILL).
struct Server {
    child: Child,
    url: String,
    root_key: String,
}

impl Server {
    fn start(state: &Path, status_dir: &Path, log: &Path) -> Server {
        let log = std::fs::File::create(log).expect("server log");
        let child = drydock(state)
            .args(["start", "--port", "0", "--status-dir"])
            .arg(status_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawning drydock start");
        let mut server = Server {
            child,
            url: String::new(),
            root_key: String::new(),
        };
        let path = status_dir.join("status.json");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                    let port = v["gateway_port"].as_u64().expect("gateway_port");
                    server.url = format!("http://127.0.0.1:{port}");
                    server.root_key = v["root_key"].as_str().expect("root_key").to_string();
                    return server;
                }
            }
            if let Some(status) = server.child.try_wait().expect("wait") {
                panic!("drydock start exited with {status}");
            }
            assert!(Instant::now() < deadline, "no status.json after 120 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `drydock --network URL --root-key KEY` with the CLI directory's `default` identity.
    fn cli(&self, cli_dir: &Path) -> Command {
        let mut cmd = drydock(cli_dir);
        cmd.args(["--identity", "default", "--network", &self.url])
            .args(["--root-key", &self.root_key]);
        cmd
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child this guard owns and has not yet reaped.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
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

/// The first word of `openssl dgst`'s or `sha256sum`'s output that is 64 hex digits.
fn digest_of(output: &str) -> String {
    output
        .split(|c: char| c.is_whitespace() || c == '=')
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no SHA-256 in {output:?}"))
        .to_ascii_lowercase()
}

/// Bytes of every regular file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).expect("list").flatten() {
        let meta = e.metadata().expect("metadata");
        if meta.is_dir() {
            total += dir_bytes(&e.path());
        } else {
            total += meta.len();
        }
    }
    total
}

struct Rep {
    download: Duration,
    upload: Duration,
    /// CPU time of the CLI (client) and of the server during the download and the upload.
    download_cpu: (Duration, Duration),
    upload_cpu: (Duration, Duration),
    openssl: Duration,
    sha256sum: Duration,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn main() {
    let cfg = config();
    let wasm = test_canister("bigmem");
    let bin = drydock_bin();
    let started = Instant::now();
    println!("machine: {}", machine_summary());
    println!(
        "stable memory {} ({} bytes); {} repetition(s); drydock binary {}; directory {}",
        size_label(cfg.size),
        cfg.size,
        cfg.reps,
        bin.display(),
        cfg.dir.display()
    );

    if cfg.dir.exists() {
        std::fs::remove_dir_all(&cfg.dir).expect("removing a previous run's directory");
    }
    std::fs::create_dir_all(&cfg.dir).expect("creating the bench directory");
    let bench_dir = BenchDir(cfg.dir.clone());
    let need = 4 * cfg.size + 2 * GIB;
    let free = free_disk(&cfg.dir);
    assert!(
        free >= need,
        "{} free on the disk of {}, the bench needs about {} (4·S + 2 GiB)",
        size_label(free / MIB * MIB),
        cfg.dir.display(),
        size_label(need / MIB * MIB)
    );
    let state = bench_dir.0.join("state");
    let cli_dir = bench_dir.0.join("cli");
    let status_dir = bench_dir.0.join("status");

    // 1. The CLI's identity, then the state in process.
    let (_, principal) = timed_run(
        "drydock identity principal",
        drydock(&cli_dir).args(["identity", "principal"]),
    );
    let sender = Principal::from_text(&principal).expect("a principal");
    let mut node = Node::open(&state, sender);
    let a = node.create_bigmem(&wasm);
    let b = node.create_bigmem(&wasm);
    let t = Instant::now();
    let mut at = 0;
    while at < cfg.size {
        let n = (cfg.size - at).min(FILL_STEP);
        node.call(
            a,
            "stable_fill",
            candid::encode_args((at, n, 1u64)).expect("encoding"),
        );
        at += n;
    }
    let stable = node.stable_size(a);
    assert_eq!(stable, cfg.size.div_ceil(65536) * 65536);
    node.set_running(a, false);
    let snapshot: Snapshot = candid::decode_one(&node.mgmt(
        "take_canister_snapshot",
        &TakeCanisterSnapshotArgs {
            canister_id: a,
            replace_snapshot: None,
            uninstall_code: None,
            sender_canister_version: None,
        },
    ))
    .expect("decoding the snapshot");
    println!(
        "state written and snapshot taken in {:.1} s (A = {a}, B = {b}, snapshot {})",
        t.elapsed().as_secs_f64(),
        hex(&snapshot.id)
    );
    // The server-side reference: the snapshot's stable memory read in process.
    let t = Instant::now();
    let mut at = 0;
    let mut slices = 0u64;
    while at < stable {
        let n = (stable - at).min(MAX_SLICE_BYTES);
        let reply = node.mgmt(
            "read_canister_snapshot_data",
            &ReadCanisterSnapshotDataArgs {
                canister_id: a,
                snapshot_id: snapshot.id.clone(),
                kind: SnapshotDataKind::StableMemory {
                    offset: at,
                    size: n,
                },
            },
        );
        let r: ReadCanisterSnapshotDataResult = candid::decode_one(&reply).expect("decoding");
        assert_eq!(r.chunk.len() as u64, n);
        at += n;
        slices += 1;
    }
    let in_process_read = t.elapsed();
    println!(
        "in process: {slices} read_canister_snapshot_data calls of the stable memory in {:.2} s \
         ({:.0} MB/s, {} per slice)",
        in_process_read.as_secs_f64(),
        mbps(stable, in_process_read),
        human(in_process_read.as_nanos() as f64 / slices as f64)
    );
    drop(node);

    // 2. The server.
    let server = Server::start(&state, &status_dir, &bench_dir.0.join("server.log"));
    println!("drydock start: {}", server.url);
    let snap_hex = hex(&snapshot.id);
    let download_dir = bench_dir.0.join("download");
    let stable_file = download_dir.join("stable_memory.bin");

    // 3. Download, hash, upload.
    let mut reps = Vec::new();
    let mut uploaded = String::new();
    let mut transfer_bytes = 0;
    for rep in 0..cfg.reps {
        if !uploaded.is_empty() {
            timed_run(
                "snapshot delete",
                server.cli(&cli_dir).args([
                    "canister",
                    "snapshot",
                    "delete",
                    &b.to_text(),
                    &uploaded,
                ]),
            );
        }
        if download_dir.exists() {
            std::fs::remove_dir_all(&download_dir).expect("removing the download");
        }
        let (client0, server0) = (children_cpu(), process_cpu(server.child.id()));
        let (download, _) = timed_run(
            "snapshot download",
            server
                .cli(&cli_dir)
                .args([
                    "canister",
                    "snapshot",
                    "download",
                    &a.to_text(),
                    &snap_hex,
                    "-o",
                ])
                .arg(&download_dir),
        );
        let download_cpu = (
            children_cpu() - client0,
            process_cpu(server.child.id()) - server0,
        );
        transfer_bytes = dir_bytes(&download_dir);
        assert_eq!(
            std::fs::metadata(&stable_file)
                .expect("stable_memory.bin")
                .len(),
            stable
        );
        let (openssl, out) = timed_run(
            "openssl dgst -sha256",
            Command::new("openssl")
                .args(["dgst", "-sha256"])
                .arg(&stable_file),
        );
        let by_openssl = digest_of(&out);
        let (sha256sum, out) = timed_run("sha256sum", Command::new("sha256sum").arg(&stable_file));
        let by_sha256sum = digest_of(&out);
        assert_eq!(by_openssl, by_sha256sum, "openssl and sha256sum disagree");
        let (client0, server0) = (children_cpu(), process_cpu(server.child.id()));
        let (upload, out) = timed_run(
            "snapshot upload",
            server
                .cli(&cli_dir)
                .args(["canister", "snapshot", "upload", &b.to_text(), "-i"])
                .arg(&download_dir)
                .arg("-q"),
        );
        let upload_cpu = (
            children_cpu() - client0,
            process_cpu(server.child.id()) - server0,
        );
        uploaded = out;
        println!(
            "run {}: download {:.2} s (CPU: client {:.2} s, server {:.2} s), openssl {:.2} s, \
             sha256sum {:.2} s, upload {:.2} s (CPU: client {:.2} s, server {:.2} s)",
            rep + 1,
            download.as_secs_f64(),
            download_cpu.0.as_secs_f64(),
            download_cpu.1.as_secs_f64(),
            openssl.as_secs_f64(),
            sha256sum.as_secs_f64(),
            upload.as_secs_f64(),
            upload_cpu.0.as_secs_f64(),
            upload_cpu.1.as_secs_f64(),
        );
        reps.push(Rep {
            download,
            upload,
            download_cpu,
            upload_cpu,
            openssl,
            sha256sum,
        });
    }
    drop(server);

    // 4. The uploaded snapshot, loaded into B, against A.
    let t = Instant::now();
    let mut node = Node::open(&state, sender);
    node.set_running(b, false);
    node.mgmt(
        "load_canister_snapshot",
        &LoadCanisterSnapshotArgs {
            canister_id: b,
            snapshot_id: unhex(&uploaded),
            sender_canister_version: None,
        },
    );
    node.set_running(b, true);
    node.set_running(a, true);
    assert_eq!(node.stable_size(b), stable, "B's stable memory size");
    let (da, db) = (node.digests(a, stable), node.digests(b, stable));
    assert!(
        da == db,
        "B's stable memory differs from A's after the upload and load"
    );
    println!(
        "verified: the uploaded snapshot loaded into B gives A's stable memory ({} stable_digest \
         ranges of {}) in {:.1} s",
        da.len(),
        size_label(DIGEST_STEP.min(stable)),
        t.elapsed().as_secs_f64()
    );
    drop(node);

    let download = median(reps.iter().map(|r| r.download).collect());
    let upload = median(reps.iter().map(|r| r.upload).collect());
    let openssl = median(reps.iter().map(|r| r.openssl).collect());
    let sha256sum = median(reps.iter().map(|r| r.sha256sum).collect());
    let slices = transfer_bytes.div_ceil(MAX_SLICE_BYTES);
    println!(
        "\n== snapshot_transfer: {} of stable memory over loopback vs openssl dgst -sha256 of the \
         downloaded stable_memory.bin (medians of {})",
        size_label(cfg.size),
        cfg.reps
    );
    println!(
        "| operation | bytes | time | MB/s | per 2,000,000-byte slice | throughput / openssl |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let openssl_rate = mbps(stable, openssl);
    for (name, bytes, d, per_slice) in [
        ("download (CLI over HTTP)", transfer_bytes, download, true),
        ("upload (CLI over HTTP)", transfer_bytes, upload, true),
        (
            "in-process read_canister_snapshot_data",
            stable,
            in_process_read,
            true,
        ),
        ("openssl dgst -sha256 (page cache)", stable, openssl, false),
        ("sha256sum (page cache)", stable, sha256sum, false),
    ] {
        let n = if name.starts_with("in-process") {
            stable.div_ceil(MAX_SLICE_BYTES)
        } else {
            slices
        };
        println!(
            "| {name} | {bytes} | {:.3} s | {:.1} | {} | {:.3} |",
            d.as_secs_f64(),
            mbps(bytes, d),
            if per_slice {
                human(d.as_nanos() as f64 / n as f64)
            } else {
                "-".into()
            },
            mbps(bytes, d) / openssl_rate
        );
    }
    println!(
        "ratio download / openssl: {:.3}; upload / openssl: {:.3} (goal >= 0.5)",
        mbps(transfer_bytes, download) / openssl_rate,
        mbps(transfer_bytes, upload) / openssl_rate
    );
    if let Some(last) = reps.last() {
        for (name, wall, (client, server)) in [
            ("download", last.download, last.download_cpu),
            ("upload", last.upload, last.upload_cpu),
        ] {
            println!(
                "{name} (last run): wall {:.2} s; CPU of the CLI {:.2} s ({} per slice), of the \
                 server {:.2} s ({} per slice); {:.2} cores busy on average",
                wall.as_secs_f64(),
                client.as_secs_f64(),
                human(client.as_nanos() as f64 / slices as f64),
                server.as_secs_f64(),
                human(server.as_nanos() as f64 / slices as f64),
                (client + server).as_secs_f64() / wall.as_secs_f64(),
            );
        }
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    drop(bench_dir);
}
