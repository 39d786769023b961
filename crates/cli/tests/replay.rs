//! Replay protection of `drydock start` (interface spec, "Request ids"): the same request —
//! the same bytes — runs at most once until its expiry, across a kill -9 and a clean restart
//! of the server. Pingpong's canister version moves by one for each update that runs.

mod common;

use std::borrow::Cow;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use candid::{Decode, Encode, Principal};
use common::{test_canister, Drydock, Server};
use ic_transport_types::{Envelope, EnvelopeContent};

/// POSTs `body` to `path` of the server; the HTTP status.
fn post(server: &Server, path: &str, body: &[u8]) -> u16 {
    let addr = server.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/cbor\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("write");
    s.write_all(body).expect("body");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Pingpong's canister version, by a query through ic-agent.
fn version(server: &Server, id: Principal) -> u64 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let agent = ic_agent::Agent::builder()
            .with_url(&server.url)
            .build()
            .expect("agent");
        agent.fetch_root_key().await.expect("root key");
        let reply = agent
            .query(&id, "canister_versions")
            .with_arg(Encode!().expect("encode"))
            .call()
            .await
            .expect("query");
        Decode!(&reply, u64, u64).expect("decode").1
    })
}

#[test]
fn the_same_request_runs_once_across_a_kill_and_a_restart_of_drydock_start() {
    let d = Drydock::new();
    let id = d.create_canister();
    let wasm = test_canister("pingpong.wasm");
    d.run(&["canister", "install", &id, wasm.to_str().expect("utf-8")])
        .ok();
    let canister = Principal::from_text(&id).expect("id");
    let expiry = (SystemTime::now() + Duration::from_secs(240))
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let request = Envelope {
        content: Cow::Owned(EnvelopeContent::Call {
            nonce: Some(b"once".to_vec()),
            ingress_expiry: expiry,
            sender: Principal::anonymous(),
            canister_id: canister,
            method_name: "noop".into(),
            arg: Encode!().expect("encode"),
            sender_info: None,
        }),
        sender_pubkey: None,
        sender_sig: None,
        sender_delegation: None,
    }
    .encode_bytes();
    let path = format!("/api/v3/canister/{id}/call");

    let server = d.serve();
    let before = version(&server, canister);
    for _ in 0..2 {
        assert_eq!(post(&server, &path, &request), 200);
    }
    assert_eq!(version(&server, canister), before + 1, "ran once");
    // kill -9 of the server, then the same bytes again, twice.
    // SAFETY: kill(2) on the pid of a child the guard owns and has not reaped.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGKILL);
    }
    drop(server);
    let server = d.serve();
    for _ in 0..2 {
        assert_eq!(post(&server, &path, &request), 200);
    }
    assert_eq!(
        version(&server, canister),
        before + 1,
        "not again after kill -9"
    );
    // A clean restart (SIGTERM), and again.
    drop(server);
    let server = d.serve();
    assert_eq!(post(&server, &path, &request), 200);
    assert_eq!(
        version(&server, canister),
        before + 1,
        "not again after a restart"
    );
}
