//! drydock started as PocketIC's clients start a PocketIC server: the version check, the
//! port file, bad requests, a second server on the same port file, and the TTL. The clients
//! themselves run in `clients/pocket-ic-rust` (scripts/test.sh).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::bin;

/// `drydock` started with PocketIC's flags and no subcommand, as the clients start it, with
/// its temporary directory (instances, the compiled-module cache) beside the port file.
fn start(port_file: &Path, ttl: u64) -> Child {
    Command::new(bin())
        .env("TMPDIR", port_file.parent().unwrap())
        .arg("--port-file")
        .arg(port_file)
        .args(["--ttl", &ttl.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start drydock")
}

/// The port the server wrote, once it has written it.
fn port(port_file: &Path) -> u16 {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(port_file) {
            if let Some(port) = text.strip_suffix('\n') {
                return port.parse().expect("a port number");
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no port in {}",
            port_file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.1 request; the status and the body.
fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

const ONE_SUBNET: &str = r#"{"subnet_config_set":{"application":[{"state_config":"New","instruction_config":"Production"}]}}"#;

/// Stops the server as pic-js does (SIGTERM), and checks that it cleaned up after itself:
/// no port file, no instance's temporary directory.
fn stop(mut server: Child, port_file: &Path) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(server.id() as i32, libc::SIGTERM) }, 0);
    let status = wait_exit(&mut server, Duration::from_secs(30)).expect("the server stops");
    assert!(status.success(), "{status:?}");
    assert!(!port_file.exists(), "the port file is removed");
    let left: Vec<_> = std::fs::read_dir(port_file.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("drydock-pocket-ic"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_pocket_ic_client_checks_the_version_of_the_binary_it_names() {
    let me = std::fs::canonicalize(bin()).unwrap();
    for _ in 0..2 {
        let as_pocket_ic = Command::new(bin())
            .arg("--version")
            .env("POCKET_IC_BIN", &me)
            .output()
            .unwrap();
        assert!(as_pocket_ic.status.success());
        let line = String::from_utf8(as_pocket_ic.stdout).unwrap();
        assert!(
            line.starts_with("pocket-ic-server 16.") && line.contains("+drydock."),
            "{line}"
        );
        let own = Command::new(bin())
            .arg("--version")
            .env_remove("POCKET_IC_BIN")
            .output()
            .unwrap();
        let line = String::from_utf8(own.stdout).unwrap();
        assert!(line.starts_with("drydock "), "{line}");
    }
}

#[test]
fn bad_requests_get_clear_errors_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let server = start(&port_file, 60);
    let port = port(&port_file);

    let (status, body) = request(port, "POST", "/instances", "{not json");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not valid"), "{body}");

    let (status, body) = request(port, "POST", "/instances/0/read/query", "{}");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("instance 0 does not exist"), "{body}");

    let two = r#"{"subnet_config_set":{"application":[{"state_config":"New","instruction_config":"Production"},{"state_config":"New","instruction_config":"Production"}]}}"#;
    let (status, body) = request(port, "POST", "/instances", two);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("2 application subnets"), "{body}");

    for expected_id in 0..2 {
        let (status, body) = request(port, "POST", "/instances", ONE_SUBNET);
        assert_eq!(status, 201, "{body}");
        assert!(
            body.contains(&format!("\"instance_id\":{expected_id}")),
            "{body}"
        );
    }

    let bad_call = r#"{"sender":"!!","canister_id":"AA==","effective_principal":"None","method":"m","payload":""}"#;
    let (status, body) = request(port, "POST", "/instances/0/read/query", bad_call);
    assert_eq!(status, 400, "{body}");

    let (status, body) = request(port, "POST", "/instances/0/update/mock_canister_http", "{}");
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("update/mock_canister_http"), "{body}");

    let (status, body) = request(port, "GET", "/http_gateway/0/nothing", "");
    assert_eq!(status, 501, "{body}");
    assert!(body.contains("/http_gateway/0/nothing"), "{body}");

    let (status, body) = request(port, "DELETE", "/instances/0", "");
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(port, "GET", "/instances", "");
    assert_eq!(status, 200);
    assert_eq!(body, r#"["Deleted","Available"]"#);
    let (status, _) = request(port, "GET", "/instances/1/read/get_time", "");
    assert_eq!(status, 200, "the other instance still answers");
    stop(server, &port_file);
}

#[test]
fn a_second_server_on_the_same_port_file_leaves_the_first_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let first = start(&port_file, 60);
    let port = port(&port_file);
    for _ in 0..2 {
        let mut second = start(&port_file, 60);
        let status = wait_exit(&mut second, Duration::from_secs(30))
            .expect("the second server exits at once");
        assert!(status.success());
        assert_eq!(self::port(&port_file), port);
        let (status, _) = request(port, "GET", "/instances", "");
        assert_eq!(status, 200);
    }
    stop(first, &port_file);
}

#[test]
fn an_idle_server_stops_after_its_ttl_and_removes_its_port_file() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let mut server = start(&port_file, 1);
    let port = port(&port_file);
    let (status, _) = request(port, "POST", "/instances", ONE_SUBNET);
    assert_eq!(status, 201);
    let status = wait_exit(&mut server, Duration::from_secs(60)).expect("the server stops");
    assert!(status.success());
    assert!(!port_file.exists(), "the port file is removed");
}

/// A call as PocketIC's `execute_ingress_message` takes it, from the anonymous principal.
fn call_body(canister: &candid::Principal, method: &str, payload: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    serde_json::json!({
        "sender": STANDARD.encode(candid::Principal::anonymous().as_slice()),
        "canister_id": STANDARD.encode(canister.as_slice()),
        "effective_principal": "None",
        "method": method,
        "payload": STANDARD.encode(payload),
    })
    .to_string()
}

#[test]
fn with_checks_on_an_incompatible_upgrade_is_reported_as_a_warning() {
    use candid::{Decode, Encode, Principal};
    use ic_management_canister_types::{
        CanisterIdRecord, CanisterInstallMode, InstallCodeArgs,
        ProvisionalCreateCanisterWithCyclesArgs, UpgradeFlags, WasmMemoryPersistence,
    };
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let log = dir.path().join("stderr");
    let server = Command::new(bin())
        .env("TMPDIR", dir.path())
        .arg("--port-file")
        .arg(&port_file)
        .env("DRYDOCK_POCKET_IC_CHECK", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let port = port(&port_file);
    let (status, body) = request(port, "POST", "/instances", ONE_SUBNET);
    assert_eq!(status, 201, "{body}");
    let management = Principal::management_canister();
    let create = Encode!(&ProvisionalCreateCanisterWithCyclesArgs {
        amount: None,
        settings: None,
        specified_id: None,
        sender_canister_version: None,
    })
    .unwrap();
    let (status, body) = request(
        port,
        "POST",
        "/instances/0/update/execute_ingress_message",
        &call_body(
            &management,
            "provisional_create_canister_with_cycles",
            &create,
        ),
    );
    assert_eq!(status, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    let reply = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(reply["Ok"].as_str().expect("a reply"))
            .unwrap()
    };
    let id = Decode!(&reply, CanisterIdRecord).unwrap().canister_id;
    let install = |module: &str, mode: CanisterInstallMode| {
        let args = Encode!(&InstallCodeArgs {
            mode,
            canister_id: id,
            wasm_module: std::fs::read(common::test_canister(module)).unwrap(),
            arg: Encode!().unwrap(),
            sender_canister_version: None,
        })
        .unwrap();
        request(
            port,
            "POST",
            "/instances/0/update/execute_ingress_message",
            &call_body(&management, "install_code", &args),
        )
    };
    let (status, body) = install("counter_eop.wasm", CanisterInstallMode::Install);
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with(r#"{"Ok""#), "{body}");
    let keep = CanisterInstallMode::Upgrade(Some(UpgradeFlags {
        skip_pre_upgrade: None,
        wasm_memory_persistence: Some(WasmMemoryPersistence::Keep),
    }));
    let (status, body) = install("counter_eop_v2.wasm", keep);
    assert_eq!(status, 200, "{body}");
    let (status, body) = install("counter_eop_incompatible.wasm", keep);
    assert_eq!(status, 200, "{body}");
    stop(server, &port_file);
    let stderr = std::fs::read_to_string(&log).unwrap();
    let findings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("drydock check: upgrade of canister"))
        .collect();
    assert!(
        findings.iter().any(|l| l.contains("breaking")),
        "the incompatible upgrade was reported: {stderr}"
    );
    assert!(
        findings.iter().all(|l| l.contains(&id.to_text())),
        "{findings:?}"
    );
}

#[test]
fn a_server_stopped_with_sigterm_removes_its_port_file_and_instances() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let server = start(&port_file, 60);
    let port = port(&port_file);
    for _ in 0..2 {
        let (status, _) = request(port, "POST", "/instances", ONE_SUBNET);
        assert_eq!(status, 201);
    }
    stop(server, &port_file);
}
