//! The upgrader canister (`canisters/upgrader`): a canister asks it for its own upgrade, and
//! it stops, snapshots, upgrades, starts and health-checks the target, rolling back on failure.

use candid::{CandidType, Principal};
use serde::Deserialize;
use serde_bytes::ByteBuf;

use crate::support::{eve, user, wasm, Env};

#[derive(CandidType, Deserialize, Clone, Debug)]
struct HealthCheck {
    method: String,
    arg: ByteBuf,
    expected_reply: Option<ByteBuf>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct UpgradeRequest {
    canister_id: Principal,
    wasm_module: ByteBuf,
    arg: ByteBuf,
    health_check: Option<HealthCheck>,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
enum UpgradeState {
    #[serde(rename = "pending")]
    Pending,
    #[serde(rename = "upgraded")]
    Upgraded,
    #[serde(rename = "rolled_back")]
    RolledBack(String),
    #[serde(rename = "failed")]
    Failed(String),
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct UpgradeStatus {
    canister_id: Principal,
    state: UpgradeState,
    log: Vec<String>,
}

/// The check the tests ask for: `health` must answer "ok".
fn health_ok() -> Option<HealthCheck> {
    Some(HealthCheck {
        method: "health".into(),
        arg: ByteBuf::from(candid::encode_args(()).unwrap()),
        expected_reply: Some(ByteBuf::from(candid::encode_one("ok").unwrap())),
    })
}

struct Setup {
    env: Env,
    upgrader: Principal,
}

impl Setup {
    fn new() -> Self {
        let mut env = Env::new();
        let upgrader = env.installed(wasm("upgrader"));
        Setup { env, upgrader }
    }

    /// A `selfup` canister holding `value`, controlled by the user and the upgrader.
    fn target(&mut self, value: u64) -> Principal {
        let id = self.env.installed(wasm("selfup"));
        let upgrader = self.upgrader;
        self.env.set_controllers(id, vec![user(), upgrader]);
        self.env.update::<_, ()>(id, "set", (value,)).unwrap();
        id
    }

    /// The target asks for its own upgrade; runs until everything is done.
    fn upgrade_me(&mut self, target: Principal, module: &str) -> u64 {
        let (ticket,): (u64,) = self
            .env
            .update(
                target,
                "upgrade_me",
                (self.upgrader, ByteBuf::from(wasm(module)), health_ok()),
            )
            .unwrap();
        self.env.replica.run_until_idle().unwrap();
        ticket
    }

    fn status(&mut self, ticket: u64) -> UpgradeStatus {
        let (status,): (Option<UpgradeStatus>,) = self
            .env
            .query(self.upgrader, "upgrade_status", (ticket,))
            .unwrap();
        status.unwrap_or_else(|| panic!("no ticket {ticket}"))
    }

    fn version_and_value(&mut self, target: Principal) -> (String, u64) {
        let (v,): (String,) = self.env.query(target, "version", ()).unwrap();
        let (n,): (u64,) = self.env.query(target, "get", ()).unwrap();
        (v, n)
    }
}

#[test]
fn a_canister_asks_the_upgrader_for_its_own_upgrade_and_keeps_its_state() {
    let mut s = Setup::new();
    let target = s.target(42);
    for round in 1..=2 {
        let module = if round == 1 { "selfup_v2" } else { "selfup" };
        let ticket = s.upgrade_me(target, module);
        let status = s.status(ticket);
        assert_eq!(status.state, UpgradeState::Upgraded, "{:?}", status.log);
        assert_eq!(status.canister_id, target);
        for step in [
            "stopped",
            "took snapshot",
            "installed",
            "started",
            "health check passed",
        ] {
            assert!(
                status.log.iter().any(|l| l.starts_with(step)),
                "no {step:?} in {:?}",
                status.log
            );
        }
        let want = if round == 1 { "v2" } else { "v1" };
        assert_eq!(s.version_and_value(target), (want.to_string(), 42));
        assert_eq!(
            s.env.replica.canister(&target).unwrap().status,
            drydock_replica::CanisterStatus::Running
        );
    }
    // The upgrader keeps one snapshot per target: the second replaced the first.
    let snapshots: Vec<ic_management_canister_types::Snapshot> = s
        .env
        .mgmt(
            user(),
            "list_canister_snapshots",
            &ic_management_canister_types::CanisterIdRecord {
                canister_id: target,
            },
        )
        .unwrap();
    assert_eq!(snapshots.len(), 1);
}

#[test]
fn an_upgrade_whose_health_check_fails_is_rolled_back_with_state_and_module_as_before() {
    let mut s = Setup::new();
    let target = s.target(7);
    let hash_before = s.env.replica.canister(&target).unwrap().module_hash.clone();
    for _ in 0..2 {
        let ticket = s.upgrade_me(target, "selfup_unhealthy");
        let status = s.status(ticket);
        match &status.state {
            UpgradeState::RolledBack(why) => {
                assert!(why.contains("health check health"), "{why}")
            }
            other => panic!("expected rolled_back, got {other:?}: {:?}", status.log),
        }
        assert_eq!(s.version_and_value(target), ("v1".to_string(), 7));
        assert_eq!(
            s.env.replica.canister(&target).unwrap().module_hash,
            hash_before
        );
    }
}

#[test]
fn an_upgrade_whose_post_upgrade_traps_is_rolled_back() {
    let mut s = Setup::new();
    let target = s.target(9);
    let ticket = s.upgrade_me(target, "selfup_post_trap");
    let status = s.status(ticket);
    match &status.state {
        UpgradeState::RolledBack(why) => {
            assert!(why.contains("install_code"), "{why}");
            assert!(why.contains("this version always traps"), "{why}");
        }
        other => panic!("expected rolled_back, got {other:?}: {:?}", status.log),
    }
    assert_eq!(s.version_and_value(target), ("v1".to_string(), 9));
    // And a good version goes through afterwards.
    let ticket = s.upgrade_me(target, "selfup_v2");
    assert_eq!(s.status(ticket).state, UpgradeState::Upgraded);
}

#[test]
fn a_strangers_upgrade_request_is_refused_and_nothing_changes() {
    let mut s = Setup::new();
    let target = s.target(1);
    let req = UpgradeRequest {
        canister_id: target,
        wasm_module: ByteBuf::from(wasm("selfup_v2")),
        arg: ByteBuf::from(candid::encode_args(()).unwrap()),
        health_check: None,
    };
    for _ in 0..2 {
        let bytes = candid::encode_one(&req).unwrap();
        let err = match s
            .env
            .replica
            .update(eve(), s.upgrader, "request_upgrade", &bytes)
        {
            Err(drydock_replica::CallError::User(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert!(err.message.contains("may not request an upgrade"), "{err}");
        s.env.replica.run_until_idle().unwrap();
        assert_eq!(s.version_and_value(target), ("v1".to_string(), 1));
    }
    // No ticket was issued.
    let (none,): (Option<UpgradeStatus>,) =
        s.env.query(s.upgrader, "upgrade_status", (1u64,)).unwrap();
    assert!(none.is_none());
}

#[test]
fn one_upgrader_upgrades_two_targets_concurrently() {
    let mut s = Setup::new();
    let a = s.target(1);
    let b = s.target(2);
    // A controller of the upgrader (the user) asks for both, without waiting for either.
    let mut requests = Vec::new();
    for id in [a, b] {
        let req = UpgradeRequest {
            canister_id: id,
            wasm_module: ByteBuf::from(wasm("selfup_v2")),
            arg: ByteBuf::from(candid::encode_args(()).unwrap()),
            health_check: health_ok(),
        };
        let bytes = candid::encode_one(&req).unwrap();
        requests.push(
            s.env
                .replica
                .submit(user(), s.upgrader, "request_upgrade", &bytes)
                .unwrap(),
        );
    }
    let mut tickets = Vec::new();
    for r in requests {
        let reply = s.env.replica.request_status(r, true).unwrap().unwrap();
        let ticket: u64 = candid::decode_one(&reply.unwrap()).unwrap();
        tickets.push(ticket);
    }
    // Both are under way before either finishes.
    let both_started = tickets
        .iter()
        .all(|t| s.status(*t).state == UpgradeState::Pending);
    assert!(both_started);
    s.env.replica.run_until_idle().unwrap();
    for (ticket, (id, value)) in tickets.iter().zip([(a, 1), (b, 2)]) {
        let status = s.status(*ticket);
        assert_eq!(status.state, UpgradeState::Upgraded, "{:?}", status.log);
        assert_eq!(status.canister_id, id);
        assert_eq!(s.version_and_value(id), ("v2".to_string(), value));
    }
}

#[test]
fn the_upgraders_tickets_survive_its_own_upgrade() {
    let mut s = Setup::new();
    let target = s.target(3);
    let ticket = s.upgrade_me(target, "selfup_v2");
    assert_eq!(s.status(ticket).state, UpgradeState::Upgraded);
    let upgrader = s.upgrader;
    for _ in 0..2 {
        s.env
            .upgrade(upgrader, wasm("upgrader"), false, None)
            .unwrap();
        let status = s.status(ticket);
        assert_eq!(status.state, UpgradeState::Upgraded);
        assert_eq!(status.canister_id, target);
    }
    // Tickets go on from where they were, and the snapshot it took is replaced, not added.
    let next = s.upgrade_me(target, "selfup");
    assert_eq!(next, ticket + 1);
    assert_eq!(s.status(next).state, UpgradeState::Upgraded);
    assert_eq!(s.version_and_value(target), ("v1".to_string(), 3));
}

/// Makes `id` one of its own controllers (with the user).
fn own_controller(env: &mut Env, id: Principal) {
    env.set_controllers(id, vec![user(), id]);
}

#[test]
fn a_motoko_canister_asks_the_upgrader_for_its_own_upgrade_and_keeps_its_state() {
    let mut s = Setup::new();
    let target = s.env.installed(wasm("selfup_mo"));
    let upgrader = s.upgrader;
    s.env.set_controllers(target, vec![user(), upgrader]);
    s.env
        .update::<_, ()>(target, "set", (candid::Nat::from(5u64),))
        .unwrap();
    for (module, want) in [("selfup_mo_v2", "mo-v2"), ("selfup_mo", "mo-v1")] {
        let (ticket,): (u64,) = s
            .env
            .update(
                target,
                "upgradeMe",
                (s.upgrader, ByteBuf::from(wasm(module)), health_ok()),
            )
            .unwrap();
        s.env.replica.run_until_idle().unwrap();
        let status = s.status(ticket);
        assert_eq!(status.state, UpgradeState::Upgraded, "{:?}", status.log);
        let (v,): (String,) = s.env.query(target, "version", ()).unwrap();
        let (n,): (candid::Nat,) = s.env.query(target, "get", ()).unwrap();
        assert_eq!((v.as_str(), n), (want, candid::Nat::from(5u64)));
    }
    // A health check that fails (it expects "sick"): rolled back, with the state and module
    // as before (Motoko EOP: the snapshot holds the main memory).
    let hash = s.env.replica.canister(&target).unwrap().module_hash.clone();
    let sick = Some(HealthCheck {
        method: "health".into(),
        arg: ByteBuf::from(candid::encode_args(()).unwrap()),
        expected_reply: Some(ByteBuf::from(candid::encode_one("sick").unwrap())),
    });
    let (ticket,): (u64,) = s
        .env
        .update(
            target,
            "upgradeMe",
            (s.upgrader, ByteBuf::from(wasm("selfup_mo_v2")), sick),
        )
        .unwrap();
    s.env.replica.run_until_idle().unwrap();
    let status = s.status(ticket);
    assert!(
        matches!(&status.state, UpgradeState::RolledBack(why) if why.contains("expected")),
        "{status:?}"
    );
    let (v,): (String,) = s.env.query(target, "version", ()).unwrap();
    let (n,): (candid::Nat,) = s.env.query(target, "get", ()).unwrap();
    assert_eq!((v.as_str(), n), ("mo-v1", candid::Nat::from(5u64)));
    assert_eq!(s.env.replica.canister(&target).unwrap().module_hash, hash);
}

// Seed 001 in Motoko: the canister's own install_code call is an outstanding callback when
// its pre_upgrade runs, and Motoko traps there, so the upgrade fails and nothing changes.
#[test]
fn a_motoko_canister_that_upgrades_itself_gets_motokos_pre_upgrade_trap_and_keeps_its_state() {
    let mut env = Env::new();
    let id = env.installed(wasm("selfup_mo"));
    own_controller(&mut env, id);
    env.update::<_, ()>(id, "set", (candid::Nat::from(11u64),))
        .unwrap();
    let hash = env.replica.canister(&id).unwrap().module_hash.clone();
    for _ in 0..2 {
        let err = env
            .update::<_, ()>(id, "installSelf", (ByteBuf::from(wasm("selfup_mo_v2")),))
            .unwrap_err();
        assert!(err.message.contains("outstanding"), "{err}");
        let (v,): (String,) = env.query(id, "version", ()).unwrap();
        let (n,): (candid::Nat,) = env.query(id, "get", ()).unwrap();
        assert_eq!((v.as_str(), n), ("mo-v1", candid::Nat::from(11u64)));
        assert_eq!(env.replica.canister(&id).unwrap().module_hash, hash);
    }
}

// Seed 001 in Rust: the upgrade goes through (ic-cdk has no guard), and the response to the
// canister's install_code call comes back to the new module, as on the IC: the call fails,
// and drydock names the event in the canister's log.
#[test]
fn a_rust_canister_that_upgrades_itself_has_its_call_fail_and_the_event_logged() {
    let mut env = Env::new();
    let id = env.installed(wasm("selfup"));
    own_controller(&mut env, id);
    // The note gives the version after the execution that made the call (as the messaging
    // test of the same event reads it).
    let registered = env.replica.canister(&id).unwrap().version + 1;
    let err = env
        .update::<_, ()>(id, "install_self", (ByteBuf::from(wasm("selfup_v2")),))
        .unwrap_err();
    env.assert_stale_response(id, &err, registered);
    let stale = &env.replica.canister(&id).unwrap().calls.stale_responses;
    assert_eq!(stale.len(), 1, "{stale:?}");
    // The new module is installed and serves.
    let (v,): (String,) = env.query(id, "version", ()).unwrap();
    assert_eq!(v, "v2");
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct ChunkedUpgradeRequest {
    canister_id: Principal,
    chunk_hashes: Vec<ByteBuf>,
    wasm_module_hash: ByteBuf,
    arg: ByteBuf,
    health_check: Option<HealthCheck>,
    keep_main_memory: bool,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
struct UploadChunkRequest {
    canister_id: Principal,
    chunk: ByteBuf,
}

// A module larger than one message: its chunks go to the target's chunk store through the
// upgrader (a controller of the target), then `request_chunked_upgrade` installs them with
// `install_chunked_code`. Here a small module in three chunks shows the flow.
#[test]
fn a_module_uploaded_in_chunks_is_upgraded_through_the_upgrader() {
    use sha2::Digest;
    let mut s = Setup::new();
    let target = s.target(8);
    let module = wasm("selfup_v2");
    let mut hashes = Vec::new();
    for chunk in module.chunks(module.len() / 3 + 1) {
        let (hash,): (ByteBuf,) = s
            .env
            .update(
                s.upgrader,
                "upload_chunk",
                (UploadChunkRequest {
                    canister_id: target,
                    chunk: ByteBuf::from(chunk.to_vec()),
                },),
            )
            .unwrap();
        assert_eq!(hash.as_slice(), sha2::Sha256::digest(chunk).as_slice());
        hashes.push(hash);
    }
    assert_eq!(hashes.len(), 3);
    let req = ChunkedUpgradeRequest {
        canister_id: target,
        chunk_hashes: hashes,
        wasm_module_hash: ByteBuf::from(sha2::Sha256::digest(&module).to_vec()),
        arg: ByteBuf::from(candid::encode_args(()).unwrap()),
        health_check: health_ok(),
        keep_main_memory: false,
    };
    let (ticket,): (u64,) = s
        .env
        .update(s.upgrader, "request_chunked_upgrade", (req,))
        .unwrap();
    s.env.replica.run_until_idle().unwrap();
    let status = s.status(ticket);
    assert_eq!(status.state, UpgradeState::Upgraded, "{:?}", status.log);
    assert!(
        status
            .log
            .iter()
            .any(|l| l == "installing a module of 3 chunks"),
        "{:?}",
        status.log
    );
    assert_eq!(s.version_and_value(target), ("v2".to_string(), 8));
    // A stranger may not upload into the target's chunk store through the upgrader.
    let bytes = candid::encode_one(UploadChunkRequest {
        canister_id: target,
        chunk: ByteBuf::from(vec![1, 2, 3]),
    })
    .unwrap();
    let err = match s
        .env
        .replica
        .update(eve(), s.upgrader, "upload_chunk", &bytes)
    {
        Err(drydock_replica::CallError::User(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(err.message.contains("may not request an upgrade"), "{err}");
}
