//! Shared helpers: test canisters, a replica in a temp dir, Candid shortcuts.

use std::path::PathBuf;

use candid::{CandidType, Principal};
use drydock_replica::{CallError, Limits, Replica, ReplicaConfig, UserError, MANAGEMENT_CANISTER};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, CanisterStatusResult, InstallCodeArgs,
    ProvisionalCreateCanisterWithCyclesArgs, UpgradeFlags, WasmMemoryPersistence,
};
use serde::de::DeserializeOwned;

/// The bytes of a test canister; fails with a clear message when it was not built.
pub fn wasm(name: &str) -> Vec<u8> {
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

/// A WAT fixture from `fixtures/wat`, compiled.
pub fn wat(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/wat")
        .join(format!("{name}.wat"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The cycles an IC0207 error's text says are missing ("... with at least N additional
/// cycles").
pub fn missing_cycles(message: &str) -> u128 {
    let after = message
        .split("at least ")
        .nth(1)
        .unwrap_or_else(|| panic!("no amount in {message:?}"));
    after
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no amount in {message:?}"))
}

pub fn user() -> Principal {
    Principal::self_authenticating([1u8; 44])
}

pub fn eve() -> Principal {
    Principal::self_authenticating([2u8; 44])
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub replica: Replica,
}

impl Env {
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let replica = Replica::open(
            dir.path(),
            ReplicaConfig {
                limits,
                ..Default::default()
            },
        )
        .unwrap();
        Env { dir, replica }
    }

    /// Drops the replica and opens the directory again, as a new process would.
    pub fn reopen(&mut self) {
        let limits = self.replica.limits();
        self.reopen_with_limits(limits);
    }

    /// Reopens the directory with other limits.
    pub fn reopen_with_limits(&mut self, limits: Limits) {
        // Drop first: the directory is locked while open.
        let placeholder = tempfile::tempdir().unwrap();
        let old = std::mem::replace(
            &mut self.replica,
            Replica::open(placeholder.path(), ReplicaConfig::default()).unwrap(),
        );
        drop(old);
        self.replica = Replica::open(
            self.dir.path(),
            ReplicaConfig {
                limits,
                ..Default::default()
            },
        )
        .unwrap();
    }

    pub fn mgmt<A: CandidType, R: DeserializeOwned + CandidType>(
        &mut self,
        sender: Principal,
        method: &str,
        arg: &A,
    ) -> Result<R, UserError> {
        let bytes = candid::encode_one(arg).unwrap();
        match self
            .replica
            .update(sender, MANAGEMENT_CANISTER, method, &bytes)
        {
            Ok(reply) => Ok(candid::decode_one(&reply).unwrap()),
            Err(CallError::User(e)) => Err(e),
            Err(CallError::Replica(e)) => panic!("replica failure: {e}"),
        }
    }

    pub fn create(&mut self) -> Principal {
        let r: CanisterIdRecord = self
            .mgmt(
                user(),
                "provisional_create_canister_with_cycles",
                &ProvisionalCreateCanisterWithCyclesArgs::default(),
            )
            .unwrap();
        r.canister_id
    }

    pub fn install_mode(
        &mut self,
        id: Principal,
        wasm: Vec<u8>,
        mode: CanisterInstallMode,
        arg: Vec<u8>,
    ) -> Result<(), UserError> {
        let args = InstallCodeArgs {
            mode,
            canister_id: id,
            wasm_module: wasm,
            arg,
            sender_canister_version: None,
        };
        self.mgmt::<_, ()>(user(), "install_code", &args)
    }

    /// A new canister with `wasm` installed (no init argument).
    pub fn installed(&mut self, wasm: Vec<u8>) -> Principal {
        let id = self.create();
        self.install(id, wasm);
        id
    }

    pub fn install(&mut self, id: Principal, wasm: Vec<u8>) {
        self.install_mode(
            id,
            wasm,
            CanisterInstallMode::Install,
            candid::encode_args(()).unwrap(),
        )
        .unwrap();
    }

    pub fn upgrade(
        &mut self,
        id: Principal,
        wasm: Vec<u8>,
        skip_pre_upgrade: bool,
        persistence: Option<WasmMemoryPersistence>,
    ) -> Result<(), UserError> {
        let flags = UpgradeFlags {
            skip_pre_upgrade: Some(skip_pre_upgrade),
            wasm_memory_persistence: persistence,
        };
        self.install_mode(
            id,
            wasm,
            CanisterInstallMode::Upgrade(Some(flags)),
            candid::encode_args(()).unwrap(),
        )
    }

    pub fn status(&mut self, id: Principal) -> CanisterStatusResult {
        self.mgmt(
            user(),
            "canister_status",
            &CanisterIdRecord { canister_id: id },
        )
        .unwrap()
    }

    pub fn update_raw(
        &mut self,
        id: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, UserError> {
        match self.replica.update(user(), id, method, &arg) {
            Ok(r) => Ok(r),
            Err(CallError::User(e)) => Err(e),
            Err(CallError::Replica(e)) => panic!("replica failure: {e}"),
        }
    }

    pub fn query_raw(
        &mut self,
        id: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, UserError> {
        match self.replica.query(user(), id, method, &arg) {
            Ok(r) => Ok(r),
            Err(CallError::User(e)) => Err(e),
            Err(CallError::Replica(e)) => panic!("replica failure: {e}"),
        }
    }

    pub fn update<
        A: candid::utils::ArgumentEncoder,
        R: for<'a> candid::utils::ArgumentDecoder<'a>,
    >(
        &mut self,
        id: Principal,
        method: &str,
        arg: A,
    ) -> Result<R, UserError> {
        let bytes = self.update_raw(id, method, candid::encode_args(arg).unwrap())?;
        Ok(candid::decode_args(&bytes).unwrap())
    }

    pub fn query<
        A: candid::utils::ArgumentEncoder,
        R: for<'a> candid::utils::ArgumentDecoder<'a>,
    >(
        &mut self,
        id: Principal,
        method: &str,
        arg: A,
    ) -> Result<R, UserError> {
        let bytes = self.query_raw(id, method, candid::encode_args(arg).unwrap())?;
        Ok(candid::decode_args(&bytes).unwrap())
    }
}

impl Env {
    /// Sets `id`'s controllers (as the user, one of them).
    pub fn set_controllers(&mut self, id: Principal, controllers: Vec<Principal>) {
        let settings = ic_management_canister_types::UpdateSettingsArgs {
            canister_id: id,
            settings: ic_management_canister_types::CanisterSettings {
                controllers: Some(controllers),
                ..Default::default()
            },
            sender_canister_version: None,
        };
        self.mgmt::<_, ()>(user(), "update_settings", &settings)
            .unwrap();
    }

    /// Asserts that `id`'s call failed as a canister error, and that drydock's log note names
    /// a response run in another module than the one that made the call at `registered`.
    pub fn assert_stale_response(&mut self, id: Principal, err: &UserError, registered: u64) {
        assert_eq!(
            err.code.reject_code(),
            drydock_replica::RejectCode::CanisterError,
            "{err}"
        );
        let logs = self.replica.take_logs();
        let note = logs
            .iter()
            .find(|(c, l)| *c == id && l.starts_with("[drydock] the response to call"))
            .unwrap_or_else(|| panic!("no drydock note in {logs:?}"));
        assert!(
            note.1
                .contains(&format!("at canister version {registered}")),
            "{}",
            note.1
        );
    }
}
