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
//! Run: `cargo bench -p drydock-bench --bench http_call` (needs the test canisters).

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use candid::Principal;
use criterion::{BatchSize, Criterion};
use drydock_bench::report::Report;
use drydock_bench::{machine_summary, test_canister, KvReplica};
use ic_transport_types::{Envelope, EnvelopeContent};

/// A kept-alive HTTP/1.1 connection.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).expect("connecting to the server");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        }
    }

    /// POSTs `body` and returns the status and the response body.
    fn post(&mut self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        write!(
            self.writer,
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/cbor\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .and_then(|_| self.writer.write_all(body))
        .expect("sending");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
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
        (status, out)
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
