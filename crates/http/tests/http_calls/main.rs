//! ic-agent (Rust) against `drydock start`'s HTTP interface, with the agent's default
//! verification on: certificates (BLS) for calls and read_state, node signatures for queries.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use candid::{Decode, Encode, Principal};
use ic_agent::identity::{
    BasicIdentity, DelegatedIdentity, Prime256v1Identity, Secp256k1Identity, Signature,
};
use ic_agent::{Agent, AgentError, Identity};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, InstallCodeArgs, ProvisionalCreateCanisterWithCyclesArgs,
};
use ic_transport_types::{Delegation, DelegationPermissions, EnvelopeContent, SignedDelegation};

struct Server {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let replica = drydock_replica::Replica::open(dir.path(), Default::default()).unwrap();
    let service = drydock_http::service(replica, dir.path()).unwrap();
    let listener = drydock_http::Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(listener.serve(service, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        _dir: dir,
        _stop: stop,
    }
}

async fn agent(server: &Server, identity: impl Identity + 'static) -> Agent {
    let agent = Agent::builder()
        .with_url(format!("http://{}", server.addr))
        .with_identity(identity)
        .build()
        .unwrap();
    agent.fetch_root_key().await.unwrap();
    agent
}

fn ed25519(seed: u8) -> BasicIdentity {
    BasicIdentity::from_raw_key(&[seed; 32])
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

/// Creates a canister controlled by the agent's identity and installs `kv` in it.
async fn kv_canister(agent: &Agent) -> Principal {
    canister_with(agent, "kv").await
}

/// Creates a canister controlled by the agent's identity and installs the test canister
/// `name` in it.
async fn canister_with(agent: &Agent, name: &str) -> Principal {
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
        wasm_module: wasm(name),
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

async fn put(agent: &Agent, id: Principal, k: &str, v: &str) -> Result<(), AgentError> {
    agent
        .update(&id, "put")
        .with_arg(Encode!(&k.to_string(), &v.to_string()).unwrap())
        .call_and_wait()
        .await
        .map(|_| ())
}

async fn get(agent: &Agent, id: Principal, k: &str) -> Result<Option<String>, AgentError> {
    let reply = agent
        .query(&id, "get")
        .with_arg(Encode!(&k.to_string()).unwrap())
        .call()
        .await?;
    Ok(Decode!(&reply, Option<String>).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_updates_and_queries_with_certificate_and_query_signature_checks_on() {
    let server = start().await;
    let agent = agent(&server, ed25519(1)).await;
    let id = kv_canister(&agent).await;
    put(&agent, id, "greeting", "hello").await.unwrap();
    assert_eq!(
        get(&agent, id, "greeting").await.unwrap().as_deref(),
        Some("hello")
    );
    assert_eq!(get(&agent, id, "missing").await.unwrap(), None);
    // A trap is a certified rejection with the IC's codes.
    let err = agent
        .update(&id, "trap_after_write")
        .with_arg(Encode!(&"k".to_string()).unwrap())
        .call_and_wait()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("IC0503") || text.contains("trapped"),
        "{text}"
    );
    assert_eq!(
        get(&agent, id, "k").await.unwrap(),
        None,
        "the trap rolled back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn read_state_gives_the_module_hash_and_controllers() {
    let server = start().await;
    let identity = ed25519(2);
    let me = identity.sender().unwrap();
    let agent = agent(&server, identity).await;
    let id = kv_canister(&agent).await;
    let hash = agent
        .read_state_canister_info(id, "module_hash")
        .await
        .unwrap();
    use sha2::Digest;
    assert_eq!(hash, sha2::Sha256::digest(wasm("kv")).to_vec());
    let controllers = agent.read_state_canister_controllers(id).await.unwrap();
    assert_eq!(controllers, vec![me]);
    let candid = agent
        .read_state_canister_metadata(id, "candid:service")
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&candid).contains("put"));
}

/// Claims one key's principal and signs with another.
struct Forger {
    claimed: BasicIdentity,
    signer: BasicIdentity,
}

impl Identity for Forger {
    fn sender(&self) -> Result<Principal, String> {
        self.claimed.sender()
    }
    fn public_key(&self) -> Option<Vec<u8>> {
        self.claimed.public_key()
    }
    fn sign(&self, content: &EnvelopeContent) -> Result<Signature, String> {
        let mut sig = self.signer.sign(content)?;
        sig.public_key = self.claimed.public_key();
        Ok(sig)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_signature_is_refused_and_changes_nothing() {
    let server = start().await;
    let owner = agent(&server, ed25519(3)).await;
    let id = kv_canister(&owner).await;
    let forger = agent(
        &server,
        Forger {
            claimed: ed25519(3),
            signer: ed25519(4),
        },
    )
    .await;
    let err = put(&forger, id, "stolen", "yes").await.unwrap_err();
    match &err {
        AgentError::HttpError(p) => {
            assert_eq!(p.status, 400);
            let body = String::from_utf8_lossy(&p.content);
            assert!(body.contains("Ed25519 signature does not verify"), "{body}");
        }
        other => panic!("expected an HTTP 400, got {other}"),
    }
    assert_eq!(get(&owner, id, "stolen").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn ecdsa_identities_and_delegations_with_targets_and_expiry_are_checked() {
    let server = start().await;
    let k1 = Secp256k1Identity::from_private_key(k256::SecretKey::from_slice(&[5; 32]).unwrap());
    let k1_agent = agent(&server, k1).await;
    let id = kv_canister(&k1_agent).await;
    put(&k1_agent, id, "a", "secp256k1").await.unwrap();
    let p = Prime256v1Identity::from_private_key(p256::SecretKey::from_slice(&[6; 32]).unwrap());
    let p_agent = agent(&server, p).await;
    put(&p_agent, id, "b", "p256").await.unwrap();
    assert_eq!(
        get(&p_agent, id, "a").await.unwrap().as_deref(),
        Some("secp256k1")
    );

    let root = ed25519(7);
    let session = ed25519(8);
    let far = (std::time::SystemTime::now() + Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let delegated_with = |targets: Option<Vec<Principal>>,
                          expiration: u64,
                          permissions: Option<DelegationPermissions>| {
        let delegation = Delegation {
            pubkey: session.public_key().unwrap(),
            expiration,
            targets,
            permissions,
        };
        let signature = root
            .sign_delegation(&delegation)
            .unwrap()
            .signature
            .unwrap();
        DelegatedIdentity::new_unchecked(
            root.public_key().unwrap(),
            Box::new(ed25519(8)),
            vec![SignedDelegation {
                delegation,
                signature,
            }],
        )
    };
    let delegated = |targets, expiration| delegated_with(targets, expiration, None);
    let ok = agent(&server, delegated(Some(vec![id]), far)).await;
    put(&ok, id, "c", "delegated").await.unwrap();
    assert_eq!(
        get(&ok, id, "c").await.unwrap().as_deref(),
        Some("delegated")
    );

    let elsewhere = agent(&server, delegated(Some(vec![Principal::anonymous()]), far)).await;
    match put(&elsewhere, id, "d", "no").await.unwrap_err() {
        AgentError::HttpError(p) => {
            assert_eq!(p.status, 403);
            assert!(String::from_utf8_lossy(&p.content).contains("does not target it"));
        }
        other => panic!("expected an HTTP 403, got {other}"),
    }
    let expired = agent(&server, delegated(None, 1)).await;
    match put(&expired, id, "e", "no").await.unwrap_err() {
        AgentError::HttpError(p) => {
            assert_eq!(p.status, 400);
            assert!(String::from_utf8_lossy(&p.content).contains("expired"));
        }
        other => panic!("expected an HTTP 400, got {other}"),
    }
    let queries_only = agent(
        &server,
        delegated_with(None, far, Some(DelegationPermissions::Queries)),
    )
    .await;
    assert_eq!(
        get(&queries_only, id, "c").await.unwrap().as_deref(),
        Some("delegated")
    );
    match put(&queries_only, id, "f", "no").await.unwrap_err() {
        AgentError::HttpError(p) => {
            assert_eq!(p.status, 400);
            assert!(String::from_utf8_lossy(&p.content).contains("permits only queries"));
        }
        other => panic!("expected an HTTP 400, got {other}"),
    }
    assert_eq!(get(&ok, id, "f").await.unwrap(), None);
    assert_eq!(get(&ok, id, "d").await.unwrap(), None);
    assert_eq!(get(&ok, id, "e").await.unwrap(), None);
}

/// One raw HTTP/1.1 request; returns the status code and body.
fn raw(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/cbor\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => out[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (code, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_the_ics_status_codes_and_the_server_keeps_serving() {
    let server = start().await;
    let agent = agent(&server, ed25519(9)).await;
    let id = kv_canister(&agent).await;
    let addr = server.addr;
    let path = format!("/api/v4/canister/{id}/call");
    let (code, body) = tokio::task::spawn_blocking({
        let path = path.clone();
        move || raw(addr, "POST", &path, b"\xd9\xd9\xf7 not cbor")
    })
    .await
    .unwrap();
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("Could not parse body"));

    let (code, _) = tokio::task::spawn_blocking({
        let path = path.clone();
        move || raw(addr, "POST", &path, &vec![0u8; 3 * 1024 * 1024])
    })
    .await
    .unwrap();
    assert_eq!(code, 413);

    let (code, _) = tokio::task::spawn_blocking(move || raw(addr, "GET", "/api/v9/nothing", b""))
        .await
        .unwrap();
    assert_eq!(code, 404);

    // An expired request.
    let past = std::time::SystemTime::now() - Duration::from_secs(600);
    let err = agent
        .update(&id, "put")
        .with_arg(Encode!(&"x".to_string(), &"y".to_string()).unwrap())
        .expire_at(past)
        .call_and_wait()
        .await
        .unwrap_err();
    match err {
        AgentError::HttpError(p) => {
            assert_eq!(p.status, 400);
            assert!(String::from_utf8_lossy(&p.content).contains("Invalid request expiry"));
        }
        other => panic!("expected an HTTP 400, got {other}"),
    }

    // An unknown canister and an unknown method are rejected with the IC's error codes.
    let nowhere = drydock_replica::canister_id_from_index(4242);
    let err = put(&agent, nowhere, "k", "v")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("IC0301") || err.contains("not found"), "{err}");
    let err = agent
        .update(&id, "no_such_method")
        .with_arg(Encode!().unwrap())
        .call_and_wait()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no_such_method") || err.contains("IC0536"),
        "{err}"
    );

    // A stopped canister refuses calls; started again, it answers.
    let stop = |method: &'static str| {
        agent
            .update(&Principal::management_canister(), method)
            .with_effective_canister_id(id)
            .with_arg(Encode!(&CanisterIdRecord { canister_id: id }).unwrap())
            .call_and_wait()
    };
    stop("stop_canister").await.unwrap();
    let err = get(&agent, id, "x").await.unwrap_err().to_string();
    assert!(err.contains("IC0508") || err.contains("stopped"), "{err}");
    stop("start_canister").await.unwrap();

    // Still serving.
    put(&agent, id, "after", "ok").await.unwrap();
    assert_eq!(
        get(&agent, id, "after").await.unwrap().as_deref(),
        Some("ok")
    );
    let status = agent.status().await.unwrap();
    assert_eq!(status.replica_health_status.as_deref(), Some("healthy"));
}

// Interface spec, "Certified data" and "Canister information": a canister's certified data is
// in the state tree (`canister/<id>/certified_data`, read through read_state), and a query
// sees it in `ic0.data_certificate_copy` as a certificate the agent verifies against the root
// key.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_verifies_certified_data_from_a_query_and_read_state() {
    let server = start().await;
    let agent = agent(&server, ed25519(9)).await;
    let id = kv_canister(&agent).await;
    for value in [[7u8; 32], [42u8; 32]] {
        agent
            .update(&id, "certify")
            .with_arg(Encode!(&serde_bytes::ByteBuf::from(value.to_vec())).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        // read_state: certified by the root key.
        let data = agent
            .read_state_canister_info(id, "certified_data")
            .await
            .unwrap();
        assert_eq!(data, value.to_vec());
        // A query: the canister hands out the certificate it saw.
        let reply = agent
            .query(&id, "get_certificate")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        let cert = Decode!(&reply, Option<serde_bytes::ByteBuf>)
            .unwrap()
            .expect("a query sees a data certificate");
        let cert: ic_certification::Certificate = serde_cbor::from_slice(&cert).unwrap();
        agent.verify(&cert, id).unwrap();
        let path: [&[u8]; 3] = [b"canister", id.as_slice(), b"certified_data"];
        match cert.tree.lookup_path(&path) {
            ic_certification::LookupResult::Found(bytes) => assert_eq!(bytes, value),
            other => panic!("certified_data not in the certificate: {other:?}"),
        }
    }
    // An update (replicated) sees no certificate.
    let reply = agent
        .update(&id, "get_certificate")
        .with_arg(Encode!().unwrap())
        .call_and_wait()
        .await
        .unwrap();
    assert_eq!(Decode!(&reply, Option<serde_bytes::ByteBuf>).unwrap(), None);
}

// Interface spec, "Certified data": a canister certifies its values in an ic-certification
// `RbTree` (the tree's root hash, labelled "kv", is its certified data); a query hands out the
// value, the data certificate and a witness. The agent verifies the certificate against the
// root key, and the witness against the certified data, then reads the value from the witness.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_verifies_a_value_certified_in_a_canisters_rbtree() {
    #[derive(candid::CandidType, serde::Deserialize)]
    struct CertifiedValue {
        value: String,
        certificate: serde_bytes::ByteBuf,
        witness: serde_bytes::ByteBuf,
    }
    let server = start().await;
    let agent = agent(&server, ed25519(11)).await;
    let id = canister_with(&agent, "certified").await;
    for (key, value) in [("a", "one"), ("b", "two"), ("a", "three")] {
        agent
            .update(&id, "put")
            .with_arg(Encode!(&key, &value).unwrap())
            .call_and_wait()
            .await
            .unwrap();
        for k in ["a", "b"] {
            let reply = agent
                .query(&id, "get")
                .with_arg(Encode!(&k).unwrap())
                .call()
                .await
                .unwrap();
            let Some(got) = Decode!(&reply, Option<CertifiedValue>).unwrap() else {
                assert_eq!(k, "b", "a is always there");
                continue;
            };
            let cert: ic_certification::Certificate =
                serde_cbor::from_slice(&got.certificate).unwrap();
            agent.verify(&cert, id).unwrap();
            let path: [&[u8]; 3] = [b"canister", id.as_slice(), b"certified_data"];
            let certified = match cert.tree.lookup_path(&path) {
                ic_certification::LookupResult::Found(bytes) => bytes.to_vec(),
                other => panic!("certified_data not in the certificate: {other:?}"),
            };
            let witness: ic_certification::HashTree = serde_cbor::from_slice(&got.witness).unwrap();
            assert_eq!(
                witness.digest().to_vec(),
                certified,
                "the witness is certified"
            );
            match witness.lookup_path([b"kv".as_slice(), k.as_bytes()]) {
                ic_certification::LookupResult::Found(bytes) => {
                    assert_eq!(bytes, got.value.as_bytes())
                }
                other => panic!("{k} not in the witness: {other:?}"),
            }
        }
    }
    // The last value of "a" is the one certified.
    let reply = agent
        .query(&id, "get")
        .with_arg(Encode!(&"a").unwrap())
        .call()
        .await
        .unwrap();
    let got = Decode!(&reply, Option<CertifiedValue>).unwrap().unwrap();
    assert_eq!(got.value, "three");
}

// Interface spec, "Root key" (`ic0.root_key_size`/`ic0.root_key_copy`, available in
// replicated executions only): a canister reads the root key its network's certificates
// verify with — the one `/api/v2/status` gives agents.
#[tokio::test(flavor = "multi_thread")]
async fn a_canister_reads_the_root_key_agents_verify_with() {
    let server = start().await;
    let agent = agent(&server, ed25519(10)).await;
    let id = canister_with(&agent, "pingpong").await;
    for _ in 0..2 {
        // As an update: the query method runs in replicated mode.
        let reply = agent
            .update(&id, "root_key")
            .with_arg(Encode!().unwrap())
            .call_and_wait()
            .await
            .unwrap();
        let key = Decode!(&reply, serde_bytes::ByteBuf).unwrap();
        assert!(!key.is_empty());
        assert_eq!(key.into_vec(), agent.read_root_key());
    }
    // As a query it is not available, as on the IC.
    let err = agent
        .query(&id, "root_key")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot be executed in non replicated query mode"),
        "{err}"
    );
}

/// Interface spec, "Overview of canister lifecycle" / the IC's scheduler: canisters execute
/// in parallel, so a long message on one canister does not hold up calls to another.
#[tokio::test(flavor = "multi_thread")]
async fn while_one_canister_runs_a_long_update_other_canisters_are_answered() {
    let server = start().await;
    let agent = agent(&server, ed25519(9)).await;
    let a = kv_canister(&agent).await;
    let b = kv_canister(&agent).await;
    // About 20 B instructions: seconds of work for A.
    let long = {
        let agent = agent.clone();
        tokio::spawn(async move {
            agent
                .update(&a, "compute")
                .with_arg(Encode!(&1_000_000_000u32).unwrap())
                .call_and_wait()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..3 {
        put(&agent, b, "k", &format!("v{i}")).await.unwrap();
        assert_eq!(get(&agent, b, "k").await.unwrap(), Some(format!("v{i}")));
        // A query to the busy canister is answered too, from its state before the message.
        let len = agent
            .query(&a, "len")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        assert_eq!(Decode!(&len, u64).unwrap(), 0);
    }
    assert!(
        !long.is_finished(),
        "A's long update finished before B's calls: nothing was shown"
    );
    let reply = long.await.unwrap().unwrap();
    Decode!(&reply, u64).unwrap();
}

/// Many clients updating one canister at once: calls accepted while others run and sync (an
/// accepted call makes no sync of its own; the group sync covers it) each run once, in turn,
/// and each client gets its own answer with a certificate it verifies. Twice, overwriting.
#[tokio::test(flavor = "multi_thread")]
async fn many_clients_updating_one_canister_at_once_each_get_their_certified_answer() {
    let server = start().await;
    let admin = agent(&server, ed25519(11)).await;
    let id = kv_canister(&admin).await;
    let mut clients = Vec::new();
    for i in 0..24u8 {
        clients.push(agent(&server, ed25519(40 + i)).await);
    }
    for round in 0..2 {
        let calls = clients.iter().enumerate().map(|(i, a)| {
            let a = a.clone();
            tokio::spawn(
                async move { put(&a, id, &format!("k{i}"), &format!("r{round}-{i}")).await },
            )
        });
        for call in calls.collect::<Vec<_>>() {
            call.await.unwrap().unwrap();
        }
        for i in 0..clients.len() {
            let want = format!("r{round}-{i}");
            assert_eq!(get(&admin, id, &format!("k{i}")).await.unwrap(), Some(want));
        }
        let len = admin
            .query(&id, "len")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        assert_eq!(Decode!(&len, u64).unwrap(), clients.len() as u64);
    }
}

/// Interface spec, "Request status": a canister's own reject is a replicated outcome, so
/// agents get it certified; a call refused before it is accepted (an unknown method) is not.
#[tokio::test(flavor = "multi_thread")]
async fn a_canisters_reject_is_certified_and_a_refusal_is_not() {
    let server = start().await;
    let agent = agent(&server, ed25519(11)).await;
    let a = canister_with(&agent, "pingpong").await;
    for _ in 0..2 {
        let err = agent
            .update(&a, "reject_now")
            .with_arg(Encode!(&"no thanks".to_string()).unwrap())
            .call_and_wait()
            .await
            .unwrap_err();
        match err {
            AgentError::CertifiedReject { reject, .. } => {
                assert_eq!(reject.reject_message, "no thanks");
                assert_eq!(reject.error_code.as_deref(), Some("IC0406"));
            }
            other => panic!("expected a certified reject, got {other:?}"),
        }
        let err = agent
            .update(&a, "no_such_method")
            .with_arg(Encode!().unwrap())
            .call_and_wait()
            .await
            .unwrap_err();
        assert!(
            matches!(err, AgentError::UncertifiedReject { .. }),
            "expected an uncertified refusal, got {err:?}"
        );
    }
}

/// `drydock start` over `dir`; returns the server and its stop handle's owner.
async fn start_in(
    dir: &std::path::Path,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let replica = loop {
        // The previous server releases the state directory when it has stopped.
        match drydock_replica::Replica::open(dir, Default::default()) {
            Ok(r) => break r,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let service = drydock_http::service(replica, dir).unwrap();
    let listener = drydock_http::Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = listener
            .serve(service, async {
                let _ = stopped.await;
            })
            .await;
    });
    (addr, stop, task)
}

/// The status and reply of request `rid` in the certificate of a v3 call's answer `body`.
fn certified_status(body: &[u8], rid: &[u8]) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(with = "serde_bytes")]
        certificate: Vec<u8>,
    }
    let body: Body = serde_cbor::from_slice(body).unwrap();
    let cert: ic_certification::Certificate = serde_cbor::from_slice(&body.certificate).unwrap();
    let leaf = |name: &[u8]| match cert
        .tree
        .lookup_path([b"request_status".as_slice(), rid, name])
    {
        ic_certification::LookupResult::Found(v) => Some(v.to_vec()),
        _ => None,
    };
    (leaf(b"status"), leaf(b"reply"))
}

/// Interface spec, "Request ids": the same request (the same bytes) runs at most once, also
/// after the server restarts; its status stays readable.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_request_sent_again_after_a_restart_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, task) = start_in(dir.path()).await;
    let id = {
        let agent = Agent::builder()
            .with_url(format!("http://{addr}"))
            .with_identity(ed25519(12))
            .build()
            .unwrap();
        agent.fetch_root_key().await.unwrap();
        canister_with(&agent, "pingpong").await
    };
    let version = |addr: SocketAddr| async move {
        let agent = Agent::builder()
            .with_url(format!("http://{addr}"))
            .build()
            .unwrap();
        agent.fetch_root_key().await.unwrap();
        let reply = agent
            .query(&id, "canister_versions")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        Decode!(&reply, u64, u64).unwrap().1
    };
    let expiry = (std::time::SystemTime::now() + Duration::from_secs(240))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let content = EnvelopeContent::Call {
        nonce: Some(vec![1, 2, 3]),
        ingress_expiry: expiry,
        sender: Principal::anonymous(),
        canister_id: id,
        method_name: "noop".into(),
        arg: Encode!().unwrap(),
        sender_info: None,
    };
    let rid = ic_transport_types::to_request_id(&content).unwrap();
    let request = ic_transport_types::Envelope {
        content: std::borrow::Cow::Owned(content),
        sender_pubkey: None,
        sender_sig: None,
        sender_delegation: None,
    }
    .encode_bytes();
    let path = format!("/api/v3/canister/{id}/call");
    let before = version(addr).await;
    let mut replies = Vec::new();
    for _ in 0..2 {
        let (code, body) = raw(addr, "POST", &path, &request);
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let (status, reply) = certified_status(&body, rid.as_slice());
        assert_eq!(status.as_deref(), Some(b"replied".as_slice()));
        assert!(reply.is_some());
        replies.push(reply);
    }
    assert_eq!(replies[0], replies[1], "the replay reads the first answer");
    assert_eq!(version(addr).await, before + 1, "ran once");
    drop(stop);
    task.await.unwrap();
    let (addr, _stop, _task) = start_in(dir.path()).await;
    for _ in 0..2 {
        let (code, body) = raw(addr, "POST", &path, &request);
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let (status, reply) = certified_status(&body, rid.as_slice());
        assert_eq!(
            status.as_deref(),
            Some(b"replied".as_slice()),
            "the kept status"
        );
        assert_eq!(reply, replies[0], "the kept reply");
    }
    assert_eq!(
        version(addr).await,
        before + 1,
        "not run again after the restart"
    );
}

/// A call answered at once with more than `KEEP_ANSWER_BYTES` (here a 100,000-byte slice of a
/// snapshot's module) replies as usual, and a replay of it is not run again, but after a
/// restart its status reads `done`: drydock did not write the answer to disk. The IC keeps
/// such answers in its ingress history (up to 4 GiB) across a node's restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_answer_reads_done_after_a_restart_differs_from_the_ic() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, task) = start_in(dir.path()).await;
    // The anonymous principal controls the canister, so that a raw anonymous envelope may
    // read its snapshot.
    let agent = Agent::builder()
        .with_url(format!("http://{addr}"))
        .build()
        .unwrap();
    agent.fetch_root_key().await.unwrap();
    let id = canister_with(&agent, "pingpong").await;
    let management = |method: &'static str, arg: Vec<u8>| {
        let agent = agent.clone();
        async move {
            agent
                .update(&Principal::management_canister(), method)
                .with_effective_canister_id(id)
                .with_arg(arg)
                .call_and_wait()
                .await
                .unwrap()
        }
    };
    management(
        "stop_canister",
        Encode!(&CanisterIdRecord { canister_id: id }).unwrap(),
    )
    .await;
    let taken = management(
        "take_canister_snapshot",
        Encode!(&ic_management_canister_types::TakeCanisterSnapshotArgs {
            canister_id: id,
            replace_snapshot: None,
            uninstall_code: None,
            sender_canister_version: None,
        })
        .unwrap(),
    )
    .await;
    let snapshot = Decode!(&taken, ic_management_canister_types::Snapshot)
        .unwrap()
        .id;
    let size = 100_000u64;
    assert!(size as usize > drydock_replica::KEEP_ANSWER_BYTES);
    let expiry = (std::time::SystemTime::now() + Duration::from_secs(240))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let content = EnvelopeContent::Call {
        nonce: Some(vec![4, 5, 6]),
        ingress_expiry: expiry,
        sender: Principal::anonymous(),
        canister_id: Principal::management_canister(),
        method_name: "read_canister_snapshot_data".into(),
        arg: Encode!(
            &ic_management_canister_types::ReadCanisterSnapshotDataArgs {
                canister_id: id,
                snapshot_id: snapshot,
                kind: ic_management_canister_types::SnapshotDataKind::WasmModule {
                    offset: 0,
                    size
                },
            }
        )
        .unwrap(),
        sender_info: None,
    };
    let rid = ic_transport_types::to_request_id(&content).unwrap();
    let request = ic_transport_types::Envelope {
        content: std::borrow::Cow::Owned(content),
        sender_pubkey: None,
        sender_sig: None,
        sender_delegation: None,
    }
    .encode_bytes();
    let path = format!("/api/v3/canister/{id}/call");
    let status_of = |body: &[u8]| certified_status(body, rid.as_slice());
    for _ in 0..2 {
        let (code, body) = raw(addr, "POST", &path, &request);
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let (status, reply) = status_of(&body);
        assert_eq!(status.as_deref(), Some(b"replied".as_slice()));
        let reply = reply.expect("a reply");
        let chunk = Decode!(
            &reply,
            ic_management_canister_types::ReadCanisterSnapshotDataResult
        )
        .unwrap()
        .chunk;
        assert_eq!(
            chunk.len() as u64,
            size,
            "the certificate carries the slice"
        );
    }
    drop(stop);
    task.await.unwrap();
    let (addr, _stop, _task) = start_in(dir.path()).await;
    for _ in 0..2 {
        let (code, body) = raw(addr, "POST", &path, &request);
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let (status, reply) = status_of(&body);
        assert_eq!(
            status.as_deref(),
            Some(b"done".as_slice()),
            "after the restart the status is done"
        );
        assert!(reply.is_none(), "and no reply is left");
    }
}

mod canister_signatures;
