//! `http_call`: what the IC HTTP interface adds to an update call. The same `noop` update to
//! the `kv` test canister, on the same replica in the same process:
//!
//! - `in_process`: [`drydock_replica::Replica::update`] through the server's own service (the
//!   baseline: execution + durable commit).
//! - `http_raw`: a `POST /api/v4/canister/<id>/call` of an anonymous envelope over a kept-alive
//!   loopback TCP connection, until the whole response (the CBOR certificate) is read. The
//!   server decodes the envelope, computes the request id, runs the call, builds the state tree
//!   witness and signs it (BLS). The client does no verification.
//! - `ic_agent`: `Agent::update(..).call_and_wait()` with an Ed25519 identity and ic-agent's
//!   default verification: the client signs the envelope and verifies the BLS certificate.
//!
//! The same for a `len` query (`in_process_query`, `http_raw_query`: the server signs the
//! reply with the node key).
//!
//! Then two timed runs (not criterion: they need many clients at once):
//!
//! - `concurrency`: the throughput of 64 clients, each on its own kept-alive connection,
//!   doing `noop` updates at the same time, vs one client doing them one after the other.
//! - `long_execution`: the latency of a `len` query and a `noop` update to canister B while
//!   canister A runs a `compute` update of ≈ 20 B instructions, vs the same with A idle.
//!
//! Run: `cargo bench -p drydock-bench --bench http_call` (needs the test canisters).

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use candid::Principal;
use criterion::{BatchSize, Criterion};
use drydock_bench::report::Report;
use drydock_bench::{machine_summary, test_canister, KvReplica};
use ic_transport_types::{Envelope, EnvelopeContent};

/// A kept-alive HTTP/1.1 connection (opened again when the server has closed it: it closes
/// keep-alive connections idle for a while, as between two criterion groups).
struct Conn {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).expect("connecting to the server");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            addr,
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        }
    }

    /// POSTs `body` and returns the status and the response body.
    fn post(&mut self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        if let Some(answer) = self.try_post(path, body) {
            return answer;
        }
        *self = Conn::new(self.addr);
        self.try_post(path, body)
            .expect("the server closed a new connection")
    }

    /// [`Self::post`] on this connection; `None` when the server has closed it.
    fn try_post(&mut self, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        // One write, head and body, as hyper and reqwest send a small request: `write!` on the
        // socket made a write (a segment, with `TCP_NODELAY`) per piece of the format string,
        // each waking the server's reader.
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/cbor\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.writer.write_all(&request).ok()?;
        let mut line = String::new();
        if self.reader.read_line(&mut line).expect("status line") == 0 {
            return None;
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut out = vec![0; length];
        self.reader.read_exact(&mut out).expect("body");
        Some((status, out))
    }
}

fn envelope(kind: &str, canister: Principal, method: &str, arg: &[u8], nonce: u64) -> Vec<u8> {
    let expiry = (SystemTime::now() + Duration::from_secs(120))
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let content = if kind == "call" {
        EnvelopeContent::Call {
            nonce: Some(nonce.to_be_bytes().to_vec()),
            ingress_expiry: expiry,
            sender: Principal::anonymous(),
            canister_id: canister,
            method_name: method.into(),
            arg: arg.to_vec(),
            sender_info: None,
        }
    } else {
        EnvelopeContent::Query {
            nonce: Some(nonce.to_be_bytes().to_vec()),
            ingress_expiry: expiry,
            sender: Principal::anonymous(),
            canister_id: canister,
            method_name: method.into(),
            arg: arg.to_vec(),
            sender_info: None,
        }
    };
    Envelope {
        content: Cow::Owned(content),
        sender_pubkey: None,
        sender_sig: None,
        sender_delegation: None,
    }
    .encode_bytes()
}

#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn main() {
    let report = Report::start();
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    println!("machine: {}", machine_summary());

    let KvReplica {
        replica,
        canister,
        dir,
    } = KvReplica::new(test_canister("kv"));
    let service = drydock_http::service(replica, dir.path()).expect("the service");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (addr, _stop) = runtime.block_on(async {
        let listener = drydock_http::Listener::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("binding");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(listener.serve(service.clone(), async {
            let _ = stopped.await;
        }));
        (addr, stop)
    });
    let noop = candid::encode_args(()).expect("encoding");
    let put = candid::encode_args(("key", "value")).expect("encoding");
    service
        .with_replica(|r| r.update(Principal::anonymous(), canister, "put", &put))
        .expect("put");

    let mut conn = Conn::new(addr);
    let call_path = format!("/api/v4/canister/{canister}/call");
    let query_path = format!("/api/v3/canister/{canister}/query");
    // Both paths must work before they are timed.
    let (status, body) = conn.post(&call_path, &envelope("call", canister, "noop", &noop, 0));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _) = conn.post(&query_path, &envelope("query", canister, "len", &noop, 0));
    assert_eq!(status, 200);

    let agent = runtime.block_on(async {
        let agent = ic_agent::Agent::builder()
            .with_url(format!("http://{addr}"))
            .with_identity(ic_agent::identity::BasicIdentity::from_raw_key(&[3; 32]))
            .build()
            .expect("agent");
        agent.fetch_root_key().await.expect("root key");
        agent
    });

    let mut nonce = 1u64;
    let mut g = c.benchmark_group("http_call");
    g.bench_function("in_process", |b| {
        b.iter(|| {
            service
                .with_replica(|r| r.update(Principal::anonymous(), canister, "noop", &noop))
                .expect("noop")
        })
    });
    g.bench_function("http_raw", |b| {
        b.iter_batched(
            || {
                nonce += 1;
                envelope("call", canister, "noop", &noop, nonce)
            },
            |body| {
                let (status, reply) = conn.post(&call_path, &body);
                assert_eq!(status, 200);
                reply
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("ic_agent", |b| {
        b.iter(|| {
            runtime
                .block_on(
                    agent
                        .update(&canister, "noop")
                        .with_arg(noop.clone())
                        .call_and_wait(),
                )
                .expect("agent noop")
        })
    });
    g.bench_function("in_process_query", |b| {
        b.iter(|| {
            service
                .with_replica(|r| r.query(Principal::anonymous(), canister, "len", &noop))
                .expect("len")
        })
    });
    g.bench_function("http_raw_query", |b| {
        b.iter_batched(
            || {
                nonce += 1;
                envelope("query", canister, "len", &noop, nonce)
            },
            |body| {
                let (status, reply) = conn.post(&query_path, &body);
                assert_eq!(status, 200);
                reply
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    c.final_summary();

    concurrency(addr, canister);
    long_execution(&service, addr, canister);

    report.print_ratios(
        "http_call: over HTTP / in process (same replica, same process)",
        &[
            (
                "noop update, raw HTTP POST (server: decode, execute, commit, certify)",
                "http_call/http_raw",
                "http_call/in_process",
            ),
            (
                "noop update, ic-agent call_and_wait (client signs and verifies too)",
                "http_call/ic_agent",
                "http_call/in_process",
            ),
            (
                "len query, raw HTTP POST (server signs the reply)",
                "http_call/http_raw_query",
                "http_call/in_process_query",
            ),
        ],
    );
}

/// Calls per second of `clients` clients doing `per_client` `noop` updates each, at once.
fn throughput(addr: SocketAddr, canister: Principal, clients: usize, per_client: usize) -> f64 {
    static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 40);
    let noop = candid::encode_args(()).expect("encoding");
    let path = format!("/api/v4/canister/{canister}/call");
    let bodies: Vec<Vec<Vec<u8>>> = (0..clients)
        .map(|_| {
            (0..per_client)
                .map(|_| {
                    let n = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    envelope("call", canister, "noop", &noop, n)
                })
                .collect()
        })
        .collect();
    let mut conns: Vec<Conn> = (0..clients).map(|_| Conn::new(addr)).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (conn, bodies) in conns.iter_mut().zip(&bodies) {
            let path = &path;
            s.spawn(move || {
                for body in bodies {
                    let (status, reply) = conn.post(path, body);
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
                }
            });
        }
    });
    (clients * per_client) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// 64 concurrent clients vs one sequential client, alternating, 5 times each.
#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn concurrency(addr: SocketAddr, canister: Principal) {
    let (mut one, mut many) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        one.push(throughput(addr, canister, 1, 200));
        many.push(throughput(addr, canister, 64, 20));
    }
    let (one, many) = (median(one), median(many));
    println!(
        "\n== concurrency: noop updates over HTTP, 64 concurrent clients / 1 sequential client"
    );
    println!(
        "64 clients: {many:.0} calls/s; 1 client: {one:.0} calls/s; ratio {:.1}x (medians of 5 runs each)",
        many / one
    );
}

/// One raw HTTP round trip, timed.
fn timed(conn: &mut Conn, path: &str, body: &[u8]) -> Duration {
    let start = Instant::now();
    let (status, reply) = conn.post(path, body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    start.elapsed()
}

/// B's query and update latency, medians of 20 each.
fn latencies(addr: SocketAddr, b: Principal, nonce: &mut u64) -> (Duration, Duration) {
    let noop = candid::encode_args(()).expect("encoding");
    let mut conn = Conn::new(addr);
    let (mut q, mut u) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        *nonce += 1;
        let path = format!("/api/v3/canister/{b}/query");
        q.push(timed(
            &mut conn,
            &path,
            &envelope("query", b, "len", &noop, *nonce),
        ));
        *nonce += 1;
        let path = format!("/api/v4/canister/{b}/call");
        u.push(timed(
            &mut conn,
            &path,
            &envelope("call", b, "noop", &noop, *nonce),
        ));
    }
    q.sort();
    u.sort();
    (q[10], u[10])
}

/// B's latency while A runs a ≈ 20 B-instruction update, vs while A is idle.
#[allow(clippy::print_stdout, reason = "a bench binary's report is its output")]
fn long_execution(service: &drydock_http::Shared, addr: SocketAddr, a: Principal) {
    let b = service.with_replica(|r| drydock_bench::another_canister(r, test_canister("kv")));
    // Calibrate: instructions per iteration of `compute`.
    let probe = 10_000_000u32;
    service
        .with_replica(|r| {
            r.update(
                Principal::anonymous(),
                a,
                "compute",
                &candid::encode_one(probe).expect("encoding"),
            )
        })
        .expect("compute");
    let per_iter = service
        .with_replica(|r| r.last_instructions(&a))
        .expect("the compute call's instructions") as f64
        / f64::from(probe);
    let n = ((20e9 / per_iter) as u64).min(u64::from(u32::MAX)) as u32;
    let mut nonce = 1u64 << 50;
    let (idle_q, idle_u) = latencies(addr, b, &mut nonce);
    // Start A's long update without waiting for it (v2 call: 202 Accepted).
    let mut conn = Conn::new(addr);
    let body = envelope(
        "call",
        a,
        "compute",
        &candid::encode_one(n).expect("encoding"),
        7,
    );
    let started = Instant::now();
    let (status, _) = conn.post(&format!("/api/v2/canister/{a}/call"), &body);
    assert_eq!(status, 202);
    while !service.with_replica(|r| r.is_busy(&a)) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "A's long update did not start"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let (busy_q, busy_u) = latencies(addr, b, &mut nonce);
    let still_busy = service.with_replica(|r| r.is_busy(&a));
    while service.with_replica(|r| r.is_busy(&a)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    let used = service
        .with_replica(|r| r.last_instructions(&a))
        .unwrap_or(0);
    assert!(
        still_busy,
        "A finished before B's calls were measured: nothing was measured"
    );
    println!("\n== long_execution: canister B's latency while canister A runs a long update");
    println!(
        "A: compute({n}) used {:.1} B instructions in {:.1} s",
        used as f64 / 1e9,
        took.as_secs_f64()
    );
    println!(
        "B len query: {busy_q:?} while A runs / {idle_q:?} with A idle = {:.1}x",
        busy_q.as_secs_f64() / idle_q.as_secs_f64()
    );
    println!(
        "B noop update: {busy_u:?} while A runs / {idle_u:?} with A idle = {:.1}x",
        busy_u.as_secs_f64() / idle_u.as_secs_f64()
    );
}
