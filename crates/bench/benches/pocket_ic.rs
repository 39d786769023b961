//! `pocket_ic`: drydock as a PocketIC server (issue 15), driven by the unmodified `pocket-ic`
//! crate, each figure against a baseline measured in the same run:
//!
//! - `update_pocket_ic_crate` vs `update_in_process`: `PocketIc::update_call(kv, "noop")` (JSON over HTTP: submit, then await)
//!   vs the same update in process (`Replica::update`), both on the same filesystem. Goal ≤ 3x.
//! - `instance_create_delete` vs `get_time`: creating an instance (and deleting it) vs a
//!   trivial request.
//! - start-up: the server process started as the clients start it, until its first answer,
//!   vs `drydock --version` (a process start alone); in milliseconds, 10 runs each.
//! - resident memory per idle instance: the server's RSS grown by 20 instances, each with
//!   `kv` installed and called once, divided by 20; against the server's RSS with one.
//!
//! - instance clone (drydock's extension, `POST /drydock/instances/ID/clone`) of an instance
//!   holding `bigmem` with 1 GiB of stable memory written vs one with 1 MiB: median of 5
//!   clones each, in milliseconds. Goal: flat. With it, the clone's first update (4 KiB of
//!   stable memory written), which pays for copying the memory file the clone shared.
//!
//! Run: `cargo build --release -p drydock-cli && cargo bench -p drydock-bench --features
//! pocket-ic --bench pocket_ic` (needs the test canisters). POCKET_IC_BIN overrides the binary used.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use candid::Principal;
use criterion::Criterion;
use drydock_bench::report::Report;
use drydock_bench::{machine_summary, test_canister, workspace_target, KvReplica};
use pocket_ic::{PocketIc, PocketIcBuilder};

/// The drydock binary the clients start: POCKET_IC_BIN, else the release build.
fn drydock() -> PathBuf {
    let bin = std::env::var_os("POCKET_IC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_target().join("release/drydock"));
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --release -p drydock-cli` (or set POCKET_IC_BIN)",
        bin.display()
    );
    bin
}

fn median_ms(mut runs: Vec<Duration>) -> f64 {
    runs.sort();
    runs[runs.len() / 2].as_secs_f64() * 1e3
}

/// Server start to its first answer, and `drydock --version`, 10 runs each (ms, medians).
fn startup(bin: &PathBuf) -> (f64, f64) {
    let mut server = Vec::new();
    let mut version = Vec::new();
    for _ in 0..10 {
        let dir = tempfile::tempdir_in(workspace_target()).expect("temp dir");
        let port_file = dir.path().join("port");
        let start = Instant::now();
        let mut child = Command::new(bin)
            .arg("--port-file")
            .arg(&port_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let port: u16 = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.strip_suffix('\n').and_then(|p| p.parse().ok()))
            {
                break p;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        std::io::Write::write_all(
            &mut stream,
            b"GET /instances HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .expect("request");
        let mut response = Vec::new();
        std::io::Read::read_to_end(&mut stream, &mut response).expect("response");
        server.push(start.elapsed());
        assert!(response.starts_with(b"HTTP/1.1 200"));
        child.kill().expect("kill");
        child.wait().expect("wait");

        let start = Instant::now();
        let out = Command::new(bin)
            .arg("--version")
            .env_remove("POCKET_IC_BIN")
            .output()
            .expect("--version");
        version.push(start.elapsed());
        assert!(out.status.success());
    }
    (median_ms(server), median_ms(version))
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// The PocketIC server this process started (through the `pocket-ic` crate): a child of
/// ours with `--port-file` on its command line.
fn server_pid() -> u32 {
    let me = std::process::id();
    let mut found = None;
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the parenthesised name: the state, then the parent pid.
        let ppid: u32 = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == me && cmdline.windows(11).any(|w| w == b"--port-file") {
            found = Some(found.map_or(pid, |n: u32| n.max(pid)));
        }
    }
    found.expect("the PocketIC server started by this process")
}

/// One HTTP/1.1 request without a body to the server at `port`: the status and the body.
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response[9..12].parse().expect("a status");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// The most stable memory one `stable_fill` message writes.
const FILL_STEP: u64 = 512 << 20;

/// Milliseconds to clone an instance holding `bigmem` with `bytes` of stable memory written,
/// and to run the clone's first update (one page of stable memory written, which on a file
/// system without `FICLONE` first copies the shared memory file): medians of 5, each clone
/// deleted again. The instance is made on the server of `server`.
fn clone_ms(server: &PocketIc, bigmem: &[u8], bytes: u64) -> (f64, f64) {
    let url = server.get_server_url();
    let pic = PocketIcBuilder::new()
        .with_application_subnet()
        .with_server_url(url.clone())
        .build();
    let id = pic.create_canister();
    pic.add_cycles(id, 100_000_000_000_000);
    pic.install_canister(id, bigmem.to_vec(), candid::encode_args(()).unwrap(), None);
    let mut at = 0;
    while at < bytes {
        let n = (bytes - at).min(FILL_STEP);
        pic.update_call(
            id,
            Principal::anonymous(),
            "stable_fill",
            candid::encode_args((at, n, 1u64)).expect("encoding"),
        )
        .expect("stable_fill");
        at += n;
    }
    let port = url.port().expect("a port");
    let path = format!("/drydock/instances/{}/clone", pic.instance_id());
    let clone = || {
        let start = Instant::now();
        let (status, body) = http(port, "POST", &path);
        let took = start.elapsed();
        assert_eq!(status, 201, "{body}");
        let clone: usize = body
            .split_once("\"instance_id\":")
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .expect("an instance id");
        (clone, took)
    };
    let delete = |clone: usize| {
        assert_eq!(http(port, "DELETE", &format!("/instances/{clone}")).0, 200);
    };
    // The clones alone first (the first one checkpoints the instance: it is made durable
    // before it is copied), then clones each updated once.
    let (mut clones, mut updates) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let (id, took) = clone();
        clones.push(took);
        delete(id);
    }
    for _ in 0..5 {
        let (clone_id, _) = clone();
        let copy = PocketIc::new_from_existing_instance(url.clone(), clone_id, None);
        let start = Instant::now();
        copy.update_call(
            id,
            Principal::anonymous(),
            "stable_fill",
            candid::encode_args((0u64, 4096u64, 2u64)).expect("encoding"),
        )
        .expect("the clone's first update");
        updates.push(start.elapsed());
        drop(copy);
        delete(clone_id);
    }
    (median_ms(clones), median_ms(updates))
}

#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn main() {
    let bin = drydock();
    let kv = test_canister("kv");
    // Instances keep their state in the temporary directory: put it on the filesystem the
    // in-process baseline uses.
    std::env::set_var("TMPDIR", workspace_target());
    std::env::set_var("POCKET_IC_BIN", &bin);
    std::env::set_var("POCKET_IC_MUTE_SERVER", "1");
    println!("machine: {}", machine_summary());

    let (server_ms, version_ms) = startup(&bin);
    println!(
        "start-up to the first answer: {server_ms:.1} ms (median of 10) vs `drydock --version` {version_ms:.1} ms: {:.2}x",
        server_ms / version_ms
    );

    let report = Report::start();
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();

    let pic = PocketIc::new();
    let url = pic.get_server_url();
    let canister = pic.create_canister();
    pic.add_cycles(canister, 10_000_000_000_000);
    pic.install_canister(canister, kv.clone(), candid::encode_args(()).unwrap(), None);
    let noop = candid::encode_args(()).expect("encoding");
    let mut local = KvReplica::new(kv.clone());

    let mut g = c.benchmark_group("pocket_ic");
    g.bench_function("update_in_process", |b| {
        b.iter(|| local.update("noop", &noop))
    });
    g.bench_function("update_pocket_ic_crate", |b| {
        b.iter(|| {
            pic.update_call(canister, Principal::anonymous(), "noop", noop.clone())
                .expect("noop")
        })
    });
    g.bench_function("get_time", |b| b.iter(|| pic.get_time()));
    g.bench_function("instance_create_delete", |b| {
        b.iter(|| {
            let other = PocketIcBuilder::new()
                .with_application_subnet()
                .with_server_url(url.clone())
                .build();
            drop(other);
        })
    });
    g.finish();
    report.print_ratios(
        "pocket_ic",
        &[
            (
                "update call: pocket-ic crate vs in process",
                "pocket_ic/update_pocket_ic_crate",
                "pocket_ic/update_in_process",
            ),
            (
                "instance create+delete vs get_time",
                "pocket_ic/instance_create_delete",
                "pocket_ic/get_time",
            ),
        ],
    );

    // Resident memory: one instance (above) and then 20 more, each with kv called once.
    let pid = server_pid();
    let before = rss_kib(pid);
    let mut idle = Vec::new();
    for _ in 0..20 {
        let p = PocketIcBuilder::new()
            .with_application_subnet()
            .with_server_url(url.clone())
            .build();
        let id = p.create_canister();
        p.add_cycles(id, 1_000_000_000_000);
        p.install_canister(id, kv.clone(), candid::encode_args(()).unwrap(), None);
        p.update_call(id, Principal::anonymous(), "noop", noop.clone())
            .expect("noop");
        idle.push(p);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(pid);
    println!(
        "resident memory: {:.1} MiB with 1 instance, {:.1} MiB with 21: {:.2} MiB per idle instance with kv",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / 1024.0 / 20.0
    );
    drop(idle);

    // Instance clone (drydock's extension) at 1 GiB of state vs at 1 MiB.
    let bigmem = test_canister("bigmem");
    let (small, small_update) = clone_ms(&pic, &bigmem, 1 << 20);
    let (big, big_update) = clone_ms(&pic, &bigmem, 1 << 30);
    println!(
        "instance clone: {big:.1} ms at 1 GiB of stable memory vs {small:.1} ms at 1 MiB (median of 5 each): {:.1}x",
        big / small
    );
    println!(
        "the clone's first update (4 KiB of stable memory written): {big_update:.1} ms at 1 GiB vs {small_update:.1} ms at 1 MiB (median of 5 each): {:.1}x",
        big_update / small_update
    );
}
