//! agent-js (`@icp-sdk/core`, from `clients/node_modules`) against `drydock start`: the root
//! key from `/api/v2/status`, a certified update call, node-signed queries and rejects, and a
//! certificate refused under another root key. The client is `clients/call.mjs`.

mod common;
mod e2e;

use std::process::Command;
use std::time::Duration;

use common::{drydock, test_canister};
use e2e::{client_file, clients_dir, run_with_timeout, Server};

/// One field of call.mjs's report, which must not be an error.
fn value<'a>(report: &'a serde_json::Value, field: &str) -> &'a serde_json::Value {
    let v = &report[field];
    assert!(
        v.get("error").is_none(),
        "agent-js step `{field}` failed: {}\nwhole report: {report}",
        v["error"]
    );
    v
}

/// One field of call.mjs's report, which must be an error; returns its message.
fn error<'a>(report: &'a serde_json::Value, field: &str) -> &'a str {
    report[field]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("agent-js step `{field}` should have failed: {report}"))
}

/// Runs `clients/SCRIPT URL ID` with node and returns the JSON report it prints last.
fn run_client(script: &str, server: &Server, id: &str) -> serde_json::Value {
    let ran = run_with_timeout(
        format!("node {script} {} {id}", server.url()),
        Command::new("node")
            .arg(clients_dir().join(script))
            .arg(server.url())
            .arg(id),
        Duration::from_secs(120),
    );
    let out = ran.ok();
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("{script} printed no JSON report: {out}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad report ({e}): {line}"))
}

#[test]
fn agent_js_calls_and_queries_a_canister_served_by_drydock_start() {
    // agent-js must be installed: fail (not skip) with the command to run otherwise.
    client_file("@icp-sdk/core/package.json");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let id = drydock(&state, &["canister", "create"]);
    let kv = test_canister("kv.wasm");
    drydock(&state, &["canister", "install", &id, kv.to_str().unwrap()]);
    drydock(
        &state,
        &[
            "canister",
            "call",
            &id,
            "put",
            r#"("before", "the server")"#,
        ],
    );

    let server = Server::start(&state);
    let report = run_client("call.mjs", &server, &id);

    // The root key agent-js fetched is the one status.json announced.
    assert_eq!(value(&report, "root_key"), server.root_key.as_str());
    // Update, then queries that see it (the value written before the server started, too).
    assert_eq!(value(&report, "put"), "ok");
    assert_eq!(value(&report, "get"), "hello from agent-js");
    assert_eq!(value(&report, "get_missing"), &serde_json::Value::Null);
    assert_eq!(value(&report, "len"), "2", "keys: 'before' and 'greeting'");
    // The canister sees agent-js's identity as the caller of a query.
    assert_eq!(value(&report, "whoami"), &report["principal"]);
    // A trapping update is a certified reject carrying the trap message, and commits nothing.
    let trap = error(&report, "trap_after_write");
    assert!(trap.contains("boom"), "trap reject: {trap}");
    assert_eq!(value(&report, "get_trapped"), &serde_json::Value::Null);
    // A query of a method the canister lacks: a signed reject that agent-js accepts as such.
    let missing = error(&report, "no_such_method");
    assert!(
        missing.contains("no_such_method") || missing.contains("IC0536"),
        "missing method reject: {missing}"
    );
    // A certificate does not verify under another root key.
    let forged = error(&report, "wrong_root_key");
    assert!(
        forged.contains("Invalid signature"),
        "a certificate under a valid root key of no secret should fail its signature: {forged}"
    );

    assert_eq!(
        server.stop(),
        Some(0),
        "drydock start should exit 0 on SIGINT"
    );
    // The server's writes are durable: the state directory, unlocked, holds agent-js's put.
    let got = drydock(&state, &["canister", "call", &id, "get", r#"("greeting")"#]);
    assert!(got.contains("hello from agent-js"), "after restart: {got}");
}

// Interface spec, "Certified data": agent-js checks a value the `certified` canister certifies
// in an ic-certification RbTree — the query's data certificate against the root key, the
// witness's root hash against the certified data, and the value in the witness.
#[test]
fn agent_js_verifies_a_value_certified_by_a_canister() {
    client_file("@icp-sdk/core/package.json");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let id = drydock(&state, &["canister", "create"]);
    let wasm = test_canister("certified.wasm");
    drydock(
        &state,
        &["canister", "install", &id, wasm.to_str().unwrap()],
    );
    let server = Server::start(&state);
    for run in 1..=2 {
        let report = run_client("certified.mjs", &server, &id);
        assert!(report["error"].is_null(), "run {run}: {report}");
        assert_eq!(report["value"], "certified hello", "run {run}: {report}");
        assert_eq!(report["certificate_verified"], true, "run {run}: {report}");
        assert!(report["certified_data"].is_string(), "run {run}: {report}");
        assert_eq!(
            report["witness_root"], report["certified_data"],
            "run {run}: the witness is what the certificate certifies: {report}"
        );
        assert_eq!(
            report["value_in_witness"], "certified hello",
            "run {run}: {report}"
        );
    }
}
