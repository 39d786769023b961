//! Helpers shared by drydock's benchmarks (`benches/`), which BENCHMARKS.md describes and
//! whose numbers it records.
//!
//! - [`test_canister`]: the bytes of a test canister, or a panic that says how to build it.
//! - [`KvReplica`]: a [`Replica`] in a fresh state directory with `kv` installed.
//! - [`bare::BareCanister`]: the same module in bare wasmtime, the baseline of `update_call`.
//! - [`report`]: criterion's estimates read back, as ratios against a baseline.
//!
//! This crate is never published and no product crate depends on it.

pub mod bare;
pub mod report;

use std::path::{Path, PathBuf};
use std::process::Command;

use candid::Principal;
use drydock_replica::{CallError, Replica, ReplicaConfig, MANAGEMENT_CANISTER};
use ic_management_canister_types::{
    CanisterIdRecord, CanisterInstallMode, InstallCodeArgs, ProvisionalCreateCanisterWithCyclesArgs,
};

/// The workspace's `target/` directory (where the test canisters are built).
pub fn workspace_target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// The bytes of `target/test-canisters/<name>.wasm`.
///
/// # Panics
/// When the file is missing: a benchmark must not silently measure nothing.
pub fn test_canister(name: &str) -> Vec<u8> {
    let path = workspace_target()
        .join("test-canisters")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "test canister {} is missing ({e}): run scripts/build-test-canisters.sh first, then run the bench again",
            path.display()
        )
    })
}

/// The principal the benchmarks send messages as (the same as the replica tests' `user`).
pub fn user() -> Principal {
    Principal::self_authenticating([1u8; 44])
}

/// A replica over a fresh state directory with one canister running `wasm`.
///
/// The state directory is made under the workspace's `target/` rather than in `/tmp`, so that
/// commits are fsynced on the disk a developer's state directory would live on (`/tmp` may be
/// a tmpfs, where fsync costs nothing).
pub struct KvReplica {
    pub replica: Replica,
    pub canister: Principal,
    // Dropped after the replica (fields drop in order): the directory is locked while open.
    pub dir: tempfile::TempDir,
}

impl KvReplica {
    /// Creates the canister through the management canister and installs `wasm` with an empty
    /// Candid argument.
    ///
    /// # Panics
    /// When the replica cannot be opened or the install fails: there is nothing to measure.
    pub fn new(wasm: Vec<u8>) -> Self {
        let target = workspace_target();
        std::fs::create_dir_all(&target).expect("creating target/");
        let dir = tempfile::Builder::new()
            .prefix("drydock-bench-")
            .tempdir_in(&target)
            .expect("state directory");
        let mut replica =
            Replica::open(dir.path(), ReplicaConfig::default()).expect("opening the replica");
        let canister = another_canister(&mut replica, wasm);
        KvReplica {
            replica,
            canister,
            dir,
        }
    }

    /// An update call; panics on any error (a benchmark of a failing call measures nothing).
    pub fn update(&mut self, method: &str, arg: &[u8]) -> Vec<u8> {
        self.replica
            .update(user(), self.canister, method, arg)
            .unwrap_or_else(|e| panic!("update {method}: {}", describe(&e)))
    }

    /// A query call; panics on any error.
    pub fn query(&mut self, method: &str, arg: &[u8]) -> Vec<u8> {
        self.replica
            .query(user(), self.canister, method, arg)
            .unwrap_or_else(|e| panic!("query {method}: {}", describe(&e)))
    }

    /// The size of the state directory's write-ahead log in bytes (0 if absent).
    pub fn wal_bytes(&self) -> u64 {
        std::fs::metadata(self.dir.path().join("wal"))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

/// Creates another canister in `replica` and installs `wasm` in it (empty Candid argument).
///
/// # Panics
/// When creating or installing fails: there is nothing to measure.
pub fn another_canister(replica: &mut Replica, wasm: Vec<u8>) -> Principal {
    let create =
        candid::encode_one(ProvisionalCreateCanisterWithCyclesArgs::default()).expect("encoding");
    let reply = replica
        .update(
            user(),
            MANAGEMENT_CANISTER,
            "provisional_create_canister_with_cycles",
            &create,
        )
        .unwrap_or_else(|e| panic!("creating a canister: {}", describe(&e)));
    let id = candid::decode_one::<CanisterIdRecord>(&reply)
        .expect("decoding")
        .canister_id;
    let install = InstallCodeArgs {
        mode: CanisterInstallMode::Install,
        canister_id: id,
        wasm_module: wasm,
        arg: candid::encode_args(()).expect("encoding"),
        sender_canister_version: None,
    };
    replica
        .update(
            user(),
            MANAGEMENT_CANISTER,
            "install_code",
            &candid::encode_one(install).expect("encoding"),
        )
        .unwrap_or_else(|e| panic!("installing a canister: {}", describe(&e)));
    id
}

fn describe(e: &CallError) -> String {
    match e {
        CallError::User(u) => format!("{u:?}"),
        CallError::Replica(r) => format!("replica failure: {r}"),
    }
}

/// One line about the machine, for the bench output: CPU count and model, kernel.
pub fn machine_summary() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} CPUs, {model}, Linux {}", kernel.trim())
}

/// The release `drydock` binary.
///
/// # Panics
/// When it is missing: build it with `cargo build --release -p drydock-cli` first.
pub fn drydock_bin() -> PathBuf {
    let bin = workspace_target().join("release").join("drydock");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build --release -p drydock-cli` first, then run the bench again",
        bin.display()
    );
    bin
}

/// `drydock --state-dir STATE`, free of the `DRYDOCK_*` settings of the environment.
pub fn drydock(state: &Path) -> Command {
    let mut cmd = Command::new(drydock_bin());
    for var in [
        "DRYDOCK_STATE_DIR",
        "DRYDOCK_IDENTITY",
        "DRYDOCK_UPDATE_INSTRUCTION_LIMIT",
        "DRYDOCK_QUERY_INSTRUCTION_LIMIT",
        "DRYDOCK_INSTALL_INSTRUCTION_LIMIT",
        "DRYDOCK_INSPECT_INSTRUCTION_LIMIT",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("--state-dir").arg(state);
    cmd
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "run scripts/build-test-canisters.sh")]
    fn a_missing_test_canister_says_how_to_build_it() {
        super::test_canister("no_such_canister");
    }
}
