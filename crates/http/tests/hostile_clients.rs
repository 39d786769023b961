//! Clients that dawdle, flood or mislabel: `drydock start` answers them within seconds, keeps
//! serving everyone else, and never executes what the IC would refuse.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use candid::{Decode, Encode, Principal};
use drydock_http::ServeConfig;
use ic_agent::identity::BasicIdentity;
use ic_agent::Agent;
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, InstallCodeArgs, ProvisionalCreateCanisterWithCyclesArgs,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(config: ServeConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let replica = drydock_replica::Replica::open(dir.path(), Default::default()).unwrap();
    let service = drydock_http::service(replica, dir.path()).unwrap();
    let listener = drydock_http::Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(listener.serve_with(service, config, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        _dir: dir,
        _stop: stop,
    }
}

async fn agent(server: &Server) -> Agent {
    let agent = Agent::builder()
        .with_url(format!("http://{}", server.addr))
        .with_identity(BasicIdentity::from_raw_key(&[7; 32]))
        .build()
        .unwrap();
    agent.fetch_root_key().await.unwrap();
    agent
}

fn wasm(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-canisters")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "test canister {} is missing ({e}): run scripts/build-test-canisters.sh first",
            path.display()
        )
    })
}

/// A canister with `kv` installed, controlled by the agent's identity.
async fn kv_canister(agent: &Agent) -> Principal {
    let arg = ProvisionalCreateCanisterWithCyclesArgs {
        amount: None,
        settings: None,
        specified_id: None,
        sender_canister_version: None,
    };
    let reply = agent
        .update(
            &Principal::management_canister(),
            "provisional_create_canister_with_cycles",
        )
        .with_effective_canister_id(drydock_replica::canister_id_from_index(0))
        .with_arg(Encode!(&arg).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    let id = Decode!(&reply, CanisterIdRecord).unwrap().canister_id;
    let install = InstallCodeArgs {
        mode: CanisterInstallMode::Install,
        canister_id: id,
        wasm_module: wasm("kv"),
        arg: Encode!().unwrap(),
        sender_canister_version: None,
    };
    agent
        .update(&Principal::management_canister(), "install_code")
        .with_effective_canister_id(id)
        .with_arg(Encode!(&install).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    id
}

async fn get(agent: &Agent, id: Principal, k: &str) -> Option<String> {
    let reply = agent
        .query(&id, "get")
        .with_arg(Encode!(&k.to_string()).unwrap())
        .call()
        .await
        .unwrap();
    Decode!(&reply, Option<String>).unwrap()
}

/// Sends `head` and `body` and reads the whole answer: (status code, text).
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn post_head(path: &str, content_type: Option<&str>, length: usize) -> String {
    let ct = content_type
        .map(|t| format!("Content-Type: {t}\r\n"))
        .unwrap_or_default();
    format!("POST {path} HTTP/1.1\r\nHost: localhost\r\n{ct}Content-Length: {length}\r\nConnection: close\r\n\r\n")
}

/// Whether the server has closed `s` (EOF or an error), without waiting.
fn closed_by_server(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.try_read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[allow(clippy::print_stderr)] // the measured figures, shown with --nocapture
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_clients_query_is_answered_within_a_second_while_2000_idle_and_2000_slow_header_connections_are_open(
) {
    const IDLE: usize = 2000;
    const SLOW: usize = 2000;
    // Both ends of every connection live in this process, plus the server's reserve.
    let need = (2 * (IDLE + SLOW) + 2 * 512) as u64;
    let soft = drydock_http::raise_fd_limit(need + 4096).expect("getrlimit");
    assert!(
        soft >= need,
        "this test needs {need} open files but the hard limit allows {soft}: raise it (`ulimit -Hn {need}`)"
    );
    let server = start(ServeConfig::default()).await;
    let agent = agent(&server).await;
    let id = kv_canister(&agent).await;
    agent
        .update(&id, "put")
        .with_arg(Encode!(&"k".to_string(), &"v".to_string()).unwrap())
        .call_and_wait()
        .await
        .unwrap();

    let flood_start = Instant::now();
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut slow = Vec::with_capacity(SLOW);
    for i in 0..SLOW {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        // A request head that never ends (slowloris).
        s.write_all(format!("GET /api/v2/status HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: ").as_bytes())
            .await
            .unwrap();
        slow.push(s);
    }
    let flood_took = flood_start.elapsed();

    // A new client (its own connection pool; the root key as it was fetched before): a query
    // with the agent's verification on, and a raw status request.
    let client = Agent::builder()
        .with_url(format!("http://{}", server.addr))
        .build()
        .unwrap();
    client.set_root_key(agent.read_root_key());
    let started = Instant::now();
    let value = get(&client, id, "k").await;
    let query_took = started.elapsed();
    assert_eq!(value.as_deref(), Some("v"));
    let started = Instant::now();
    let (code, text) = exchange(
        server.addr,
        "GET /api/v2/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    let status_took = started.elapsed();
    assert_eq!(code, 200, "{text}");
    eprintln!(
        "opened {IDLE} idle and {SLOW} slow-header connections in {flood_took:?}; then a query took {query_took:?} and /api/v2/status {status_took:?}"
    );
    assert!(
        query_took < Duration::from_secs(1),
        "the query took {query_took:?}"
    );
    assert!(
        status_took < Duration::from_secs(1),
        "the status took {status_took:?}"
    );
    // The flood was still there while the new client was served: the server keeps idle
    // connections for the header timeout (10 s), and the test took less than that.
    assert!(
        flood_start.elapsed() < ServeConfig::default().header_read_timeout,
        "the flood took too long to be measured under ({:?})",
        flood_start.elapsed()
    );
    let open = idle
        .iter()
        .chain(slow.iter())
        .filter(|s| !closed_by_server(s))
        .count();
    assert_eq!(open, IDLE + SLOW, "connections closed before their time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_header_connections_are_closed_after_the_header_timeout() {
    let timeout = Duration::from_secs(1);
    let server = start(ServeConfig {
        header_read_timeout: timeout,
        ..ServeConfig::default()
    })
    .await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /api/v2/status HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    for s in [&mut idle, &mut slow] {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the server kept the connection past 5 s");
    }
    let took = started.elapsed();
    assert!(
        took >= timeout.mul_f64(0.8) && took < timeout * 3,
        "closed after {took:?}, the timeout being {timeout:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_shorter_than_its_content_length_gets_408_within_seconds() {
    let config = ServeConfig::default();
    let server = start(config.clone()).await;
    let id = drydock_replica::canister_id_from_index(0);
    let started = Instant::now();
    let (code, text) = tokio::time::timeout(
        Duration::from_secs(30),
        exchange(
            server.addr,
            &post_head(
                &format!("/api/v2/canister/{id}/call"),
                Some("application/cbor"),
                1000,
            ),
            b"abc",
        ),
    )
    .await
    .expect("no answer within 30 s");
    let took = started.elapsed();
    assert_eq!(code, 408, "{text}");
    assert!(text.contains("not received within"), "{text}");
    assert!(
        took < config.body_read_timeout + Duration::from_secs(2),
        "answered after {took:?}"
    );
    // Still serving.
    let (code, _) = exchange(
        server.addr,
        "GET /api/v2/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_sent_as_text_plain_is_refused_with_400_naming_the_content_type_and_not_run() {
    let server = start(ServeConfig::default()).await;
    let agent = agent(&server).await;
    let id = kv_canister(&agent).await;
    let signed = agent
        .update(&id, "put")
        .with_arg(Encode!(&"k".to_string(), &"plain".to_string()).unwrap())
        .sign()
        .unwrap();
    let path = format!("/api/v2/canister/{id}/call");
    let body = &signed.signed_update;

    for (ct, shown) in [
        (Some("text/plain"), "Content-Type: text/plain"),
        (None, "no Content-Type"),
        (
            Some("application/cbor; charset=binary"),
            "application/cbor; charset=binary",
        ),
    ] {
        let (code, text) = exchange(server.addr, &post_head(&path, ct, body.len()), body).await;
        assert_eq!(code, 400, "{text}");
        assert!(
            text.contains("expected application/cbor") && text.contains(shown),
            "{text}"
        );
    }
    // The same for queries and read_state.
    for kind in ["query", "read_state"] {
        let path = format!("/api/v3/canister/{id}/{kind}");
        let (code, text) =
            exchange(server.addr, &post_head(&path, Some("text/plain"), 1), b"x").await;
        assert_eq!(code, 400, "{kind}: {text}");
        assert!(text.contains("expected application/cbor"), "{text}");
    }
    // Nothing ran; the same bytes labelled as CBOR do run.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(get(&agent, id, "k").await, None);
    let (code, text) = exchange(
        server.addr,
        &post_head(&path, Some("application/cbor"), body.len()),
        body,
    )
    .await;
    assert_eq!(code, 202, "{text}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&agent, id, "k").await.is_none() {
        assert!(Instant::now() < deadline, "the call never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&agent, id, "k").await.as_deref(), Some("plain"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_limit_a_client_gets_503_naming_the_limit_until_one_closes() {
    let server = start(ServeConfig {
        max_connections: 8,
        ..ServeConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = "GET /api/v2/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let (code, text) = exchange(server.addr, status, b"").await;
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("maximum of 8 connections"), "{text}");
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, text) = exchange(server.addr, status, b"").await;
    assert_eq!(code, 200, "{text}");
}
