//! Replay protection of `drydock start` (interface spec, "Request ids"): the same request —
//! the same bytes — runs at most once until its expiry, across a kill -9 and a clean restart
//! of the server. Pingpong's canister version moves by one for each update that runs.

mod common;

use std::time::Duration;

use candid::Principal;
use common::{call_envelope, pingpong_version, post_cbor, Drydock, Server};

/// POSTs `body` to `path` of the server; the HTTP status.
fn post(server: &Server, path: &str, body: &[u8]) -> u16 {
    post_cbor(&server.url, path, body).expect("the server answers")
}

/// Pingpong's canister version, by a query through ic-agent.
fn version(server: &Server, id: Principal) -> u64 {
    pingpong_version(&server.url, id)
}

#[test]
fn the_same_request_runs_once_across_a_kill_and_a_restart_of_drydock_start() {
    let d = Drydock::new();
    let (id, canister) = d.with_test_canister("pingpong.wasm");
    let request = call_envelope(canister, "noop", b"once", Duration::from_secs(240));
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
