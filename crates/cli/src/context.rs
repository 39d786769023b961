//! What every canister command starts from: the state directory, the replica opened on it
//! with the limits from the command line, and the identity that signs calls.

use std::path::{Path, PathBuf};

use candid::utils::ArgumentEncoder;
use candid::{CandidType, Principal};
use drydock_replica::{Replica, ReplicaConfig};
use serde::de::DeserializeOwned;

use crate::cli::GlobalArgs;
use crate::error::CliError;
use crate::identity::Identities;
use crate::output::Output;

/// The state directory: `--state-dir`, else `<data dir>/drydock/state`.
pub fn state_dir(global: &GlobalArgs) -> Result<PathBuf, CliError> {
    if let Some(dir) = &global.state_dir {
        return Ok(dir.clone());
    }
    dirs::data_dir()
        .map(|d| d.join("drydock").join("state"))
        .ok_or_else(|| {
            CliError::usage("this system has no user data directory; pass --state-dir DIR")
        })
}

/// The identity that signs calls: `--pem FILE`, else `--identity NAME` (drydock's own, then
/// icp-cli's and dfx's).
pub fn selected_identity(global: &GlobalArgs) -> Result<Box<dyn ic_agent::Identity>, CliError> {
    match &global.pem {
        Some(pem) => crate::foreign_identities::from_pem_file(pem),
        None => Identities::new(&state_dir(global)?).identity(&global.identity),
    }
}

/// The transport to the network at `url`. Only the identity file and drydock's record of its
/// own snapshots are read: the replica's state stays closed (and may be locked by the
/// `drydock start` serving `url`).
pub fn connect(
    url: &str,
    global: &GlobalArgs,
) -> Result<crate::transport::agent::AgentTransport, CliError> {
    let identity = crate::context::selected_identity(global)?;
    Ok(
        crate::transport::agent::AgentTransport::connect(
            url,
            global.root_key.as_deref(),
            identity,
        )?
        .with_labels(state_dir(global)?.join("network-snapshots.json")),
    )
}

/// The replica's configuration: the IC's limits, with the command line's overrides.
pub fn config(global: &GlobalArgs) -> ReplicaConfig {
    let mut config = ReplicaConfig::default();
    let limits = &mut config.limits;
    if let Some(n) = global.update_instruction_limit {
        limits.update_instructions = n;
    }
    if let Some(n) = global.query_instruction_limit {
        limits.query_instructions = n;
    }
    if let Some(n) = global.install_instruction_limit {
        limits.install_instructions = n;
    }
    if let Some(n) = global.inspect_instruction_limit {
        limits.inspect_instructions = n;
    }
    config
}

/// The most changes `canister_info` returns.
const MAX_CHANGES: u64 = 20;

/// An open replica and the caller.
pub struct Ctx {
    pub replica: Replica,
    /// The principal of the selected identity.
    pub sender: Principal,
    pub out: Output,
}

impl Ctx {
    /// Resolves the identity (before touching the state, so an unknown identity changes
    /// nothing), opens the replica and runs any due timers.
    pub fn open(global: &GlobalArgs) -> Result<Ctx, CliError> {
        let dir = state_dir(global)?;
        let sender = crate::identity::sender_of(&*selected_identity(global)?)?;
        let mut replica = open_replica(&dir, config(global))?;
        replica.run_timers()?;
        Ok(Ctx {
            replica,
            sender,
            out: Output { json: global.json },
        })
    }

    /// Calls a management canister method with Candid arguments and decodes its reply.
    ///
    /// # Errors
    /// [`CliError::Rejected`] when the management canister rejects; [`CliError::Internal`]
    /// when its reply does not decode (drydock's own fault).
    pub fn management<A, R>(&mut self, method: &str, arg: A) -> Result<R, CliError>
    where
        A: ArgumentEncoder,
        R: CandidType + DeserializeOwned,
    {
        crate::transport::management(self, method, Principal::management_canister(), arg)
    }
}

fn open_replica(dir: &Path, config: ReplicaConfig) -> Result<Replica, CliError> {
    Replica::open(dir, config).map_err(|e| {
        CliError::Internal(
            anyhow::Error::new(e).context(format!("opening the state directory {}", dir.display())),
        )
    })
}

/// Parses a principal given on the command line.
pub fn principal(text: &str, what: &str) -> Result<Principal, CliError> {
    Principal::from_text(text).map_err(|e| CliError::usage(format!("invalid {what} `{text}`: {e}")))
}

impl crate::transport::Transport for Ctx {
    fn management_raw(
        &mut self,
        method: &str,
        _canister: Principal,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        Ok(self.replica.update(
            self.sender,
            drydock_replica::MANAGEMENT_CANISTER,
            method,
            &arg,
        )?)
    }

    fn labels(&mut self, canister: Principal) -> std::collections::HashMap<Vec<u8>, String> {
        self.replica
            .snapshot_infos(&self.sender, &canister)
            .map(|infos| {
                infos
                    .into_iter()
                    .filter_map(|i| Some((i.id, i.label?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn management_query_raw(
        &mut self,
        method: &str,
        _canister: Principal,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        Ok(self.replica.query(
            self.sender,
            drydock_replica::MANAGEMENT_CANISTER,
            method,
            &arg,
        )?)
    }

    fn run_round(&mut self) -> Result<(), CliError> {
        self.replica
            .run_round()
            .map(|_| ())
            .map_err(|e| CliError::from(drydock_replica::CallError::from(e)))
    }

    fn metadata(&mut self, canister: Principal, name: &str) -> Result<Option<Vec<u8>>, CliError> {
        match self.replica.metadata(&self.sender, &canister, name) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) => {
                let e = CliError::from(e);
                // A private section a non-controller may not read stays an error; a section
                // the module does not have is `None`.
                let listed = self.replica.metadata_names(&self.sender, &canister)?;
                let private = e.ic_error_code()
                    == Some(drydock_replica::ErrorCode::CanisterInvalidController);
                if private || listed.iter().any(|(n, _)| n == name) {
                    Err(e)
                } else {
                    Ok(None)
                }
            }
        }
    }

    fn query(
        &mut self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        Ok(self.replica.query(self.sender, canister, method, &arg)?)
    }

    fn update(
        &mut self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        Ok(self.replica.update(self.sender, canister, method, &arg)?)
    }

    fn exports_query(&mut self, canister: Principal, method: &str) -> bool {
        matches!(
            self.replica.method_kind(&canister, method),
            Ok(Some(
                drydock_replica::MethodKind::Query | drydock_replica::MethodKind::CompositeQuery
            ))
        )
    }

    fn take_labelled_snapshot(
        &mut self,
        args: ic_management_canister_types::TakeCanisterSnapshotArgs,
        label: String,
    ) -> Result<ic_management_canister_types::Snapshot, CliError> {
        Ok(self
            .replica
            .take_labelled_snapshot(self.sender, args, Some(label))?)
    }

    fn info(&mut self, canister: Principal) -> Result<crate::transport::CanisterInfo, CliError> {
        // Only canisters may call `canister_info` through the management canister; drydock
        // reads the same record directly.
        let i = self
            .replica
            .canister_info(ic_management_canister_types::CanisterInfoArgs {
                canister_id: canister,
                num_requested_changes: Some(MAX_CHANGES),
            })?;
        Ok(crate::transport::CanisterInfo {
            controllers: i.controllers,
            module_hash: i.module_hash,
            history: Some((i.total_num_changes, i.recent_changes)),
        })
    }

    fn call_state(&mut self, canister: Principal) -> Option<crate::transport::CallState> {
        let r = self.replica.canister(&canister)?;
        // Each outstanding call: who it went to, and which module made it. One made by another
        // module than the installed one will run its callback in the wrong table (seed 001).
        let calls = r
            .calls
            .callbacks
            .iter()
            .map(|(n, cb)| crate::transport::OutstandingCall {
                call: *n,
                callee: cb.callee.to_text(),
                module_hash: cb.module_hash.clone(),
                canister_version: cb.canister_version,
                module_changed: cb.module_hash != r.module_hash,
            })
            .collect();
        Some(crate::transport::CallState {
            open_contexts: r.calls.open_contexts(),
            outstanding: r.calls.callbacks.len(),
            calls,
            stale: r.calls.stale_responses.clone(),
        })
    }
}
