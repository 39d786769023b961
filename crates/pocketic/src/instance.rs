//! One PocketIC instance: a drydock replica over its own state directory (a temporary one,
//! or the client's `state_dir`), seen as a single application subnet, with PocketIC's clock
//! (time moves when the client moves it) and its ingress messages by message id.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candid::{Encode, Principal};
use drydock_replica::{
    canister_id_from_index, CallError, Replica, ReplicaConfig, Started, UserError,
    MANAGEMENT_CANISTER,
};
use sha2::{Digest, Sha256};

use crate::error::PocketIcError;
use crate::request::Call;
use crate::wire::{
    CanisterIdRange, RawCanisterId, RawCanisterResult, RawMessageId, RejectResponse, SubmitResult,
    SubnetConfig, Topology,
};

/// The index of the first canister id PocketIC gives out on its (first) application subnet,
/// `lxzze-o7777-77777-aaaaa-cai`; suites written for PocketIC may expect it.
pub const FIRST_CANISTER_INDEX: u64 = 0xFFFF_FFFF_FFE0_0000;

/// How many canister ids the subnet's range holds.
const RANGE_LEN: u64 = 1 << 20;

/// A submitted ingress message.
enum Message {
    /// Accepted, waiting for rounds: the replica's ingress number.
    Pending { sender: Principal, ingress: u64 },
    /// Answered.
    Done {
        sender: Principal,
        result: RawCanisterResult,
    },
}

pub struct Instance {
    /// The replica, inside the IC HTTP interface's service, which an HTTP gateway serves.
    service: drydock_http::Shared,
    /// An HTTP gateway serves the instance: its scheduler runs the rounds.
    gateway: Arc<AtomicBool>,
    /// The temporary state directory, deleted with the instance (none for a `state_dir`).
    _dir: Option<tempfile::TempDir>,
    subnet_id: Principal,
    root_key: Vec<u8>,
    messages: HashMap<Vec<u8>, Message>,
    submitted: u64,
    /// Run drydock's upgrade checks on each upgrade (`DRYDOCK_POCKET_IC_CHECK`).
    check_upgrades: bool,
    /// Findings of those checks not yet reported.
    warnings: Vec<String>,
}

impl Instance {
    /// Opens the instance's replica over `state_dir` (kept), or over a new temporary
    /// directory (deleted with the instance), with its clock pinned at `time` or now.
    /// Compiled modules are cached in `compiled` (the server's, shared by its instances).
    pub fn open(
        state_dir: Option<&Path>,
        time: Option<u64>,
        check_upgrades: bool,
        compiled: &Path,
    ) -> Result<Self, PocketIcError> {
        let (dir, path) = match state_dir {
            Some(p) => (None, p.to_path_buf()),
            None => {
                let dir = temp_state_dir()?;
                let path = dir.path().to_path_buf();
                (Some(dir), path)
            }
        };
        Instance::open_at(dir, path, time, check_upgrades, compiled)
    }

    /// A new instance over a copy of this one's state directory (deleted with the new
    /// instance), at this one's time: drydock's instant-clone extension. The copy shares
    /// nothing with this instance after; ingress messages still pending here are not in it.
    pub fn clone_instance(&self, compiled: &Path) -> Result<Self, PocketIcError> {
        let dir = temp_state_dir()?;
        let path = dir.path().join("state");
        let time = self.with_replica(|r| {
            r.copy_state_to(&path)?;
            Ok::<_, drydock_replica::ReplicaError>(r.time())
        })?;
        Instance::open_at(Some(dir), path, Some(time), self.check_upgrades, compiled)
    }

    fn open_at(
        dir: Option<tempfile::TempDir>,
        path: std::path::PathBuf,
        time: Option<u64>,
        check_upgrades: bool,
        compiled: &Path,
    ) -> Result<Self, PocketIcError> {
        let config = ReplicaConfig {
            first_canister_index: Some(FIRST_CANISTER_INDEX),
            compiled_cache: Some(compiled.to_path_buf()),
            ..ReplicaConfig::default()
        };
        let mut replica = Replica::open(&path, config)?;
        let start = match time {
            Some(t) => t,
            // Unpinned, the clock follows real time (and never goes back).
            None => {
                let _ = replica.set_time(None);
                replica.time()
            }
        };
        replica.set_time(Some(start)).map_err(|current| {
            PocketIcError::BadRequest(format!(
                "the initial time is before the state directory's time ({current} ns)"
            ))
        })?;
        let service = drydock_http::service(replica, &path)?;
        let keys = service.keys();
        let (subnet_id, root_key) = (keys.subnet_id(), keys.root_key_der().to_vec());
        Ok(Instance {
            service,
            gateway: Arc::new(AtomicBool::new(false)),
            _dir: dir,
            subnet_id,
            root_key,
            messages: HashMap::new(),
            submitted: 0,
            check_upgrades,
            warnings: Vec::new(),
        })
    }

    /// The upgrade checks' findings since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Runs `f` with the replica locked.
    pub fn with_replica<R>(&self, f: impl FnOnce(&mut Replica) -> R) -> R {
        self.service.with_replica(f)
    }

    /// The service an HTTP gateway serves, and the flag that says one does.
    pub fn gateway_parts(&self) -> (drydock_http::Shared, Arc<AtomicBool>) {
        (self.service.clone(), self.gateway.clone())
    }

    /// Whether an HTTP gateway (and its scheduler) serves the instance.
    pub fn has_gateway(&self) -> bool {
        self.gateway.load(Ordering::SeqCst)
    }

    /// The one application subnet, with PocketIC's canister id range for it.
    pub fn topology(&self) -> Topology {
        let range = CanisterIdRange {
            start: raw_canister(canister_id_from_index(FIRST_CANISTER_INDEX)),
            end: raw_canister(canister_id_from_index(FIRST_CANISTER_INDEX + RANGE_LEN - 1)),
        };
        let config = SubnetConfig {
            subnet_kind: "Application",
            subnet_admins: None,
            cost_schedule: "Normal",
            subnet_seed: Sha256::digest(self.subnet_id.as_slice()).into(),
            instruction_config: "Production",
            canister_ranges: vec![range],
        };
        Topology {
            subnet_configs: BTreeMap::from([(self.subnet_id.to_text(), config)]),
            default_effective_canister_id: raw_canister(canister_id_from_index(
                FIRST_CANISTER_INDEX,
            )),
        }
    }

    pub fn subnet_id(&self) -> Principal {
        self.subnet_id
    }

    pub fn root_key(&self) -> &[u8] {
        &self.root_key
    }

    /// `submit_ingress_message`: accepts an update call. A call to the management canister
    /// runs now (as in drydock's own ingress path); a call to a canister waits for a round.
    pub fn submit(&mut self, call: Call) -> Result<SubmitResult, PocketIcError> {
        let (sender, canister) = (call.sender, call.canister);
        if self.check_upgrades && canister == MANAGEMENT_CANISTER {
            let found = self
                .with_replica(|r| crate::upgrade_check::warnings(r, &call.method, &call.payload));
            self.warnings.extend(found);
        }
        let started = self.start(sender, canister, &call)?;
        let message = match started {
            Ok(Started::Pending(ingress)) => Message::Pending { sender, ingress },
            Ok(Started::Done(result)) => Message::Done {
                sender,
                result: canister_result(result)?,
            },
            Ok(Started::Busy) => unreachable_busy()?,
            Err(CallError::User(e)) => return Ok(SubmitResult::Err(reject(&e))),
            Err(CallError::Replica(e)) => return Err(e.into()),
        };
        self.submitted += 1;
        let id: Vec<u8> = Sha256::new()
            .chain_update(b"drydock pocket-ic message")
            .chain_update(self.subnet_id.as_slice())
            .chain_update(self.submitted.to_be_bytes())
            .finalize()
            .to_vec();
        self.messages.insert(id.clone(), message);
        Ok(SubmitResult::Ok(RawMessageId {
            effective_principal: call.effective_principal,
            message_id: id,
        }))
    }

    /// `await_ingress_message`: runs rounds until the message has its answer.
    pub fn await_message(&mut self, id: &RawMessageId) -> Result<RawCanisterResult, PocketIcError> {
        match self.messages.get(&id.message_id) {
            None => Err(unknown_message()),
            Some(Message::Done { result, .. }) => Ok(result.clone()),
            Some(&Message::Pending { sender, ingress }) => {
                let result = canister_result(self.wait(ingress))?;
                self.messages.insert(
                    id.message_id.clone(),
                    Message::Done {
                        sender,
                        result: result.clone(),
                    },
                );
                Ok(result)
            }
        }
    }

    /// `ingress_status`: the answer if the message has one, without running anything. A
    /// `caller` other than the sender is refused, as PocketIC refuses it.
    pub fn ingress_status(
        &mut self,
        id: &RawMessageId,
        caller: Option<Principal>,
    ) -> Result<Option<RawCanisterResult>, PocketIcError> {
        let sender = match self.messages.get(&id.message_id) {
            None => return Ok(None),
            Some(Message::Done { sender, .. } | Message::Pending { sender, .. }) => *sender,
        };
        if caller.is_some_and(|c| c != sender) {
            return Err(PocketIcError::Forbidden(format!(
                "the message was sent by {sender}, not by {}",
                caller.map(|c| c.to_text()).unwrap_or_default()
            )));
        }
        if let Some(&Message::Pending { ingress, .. }) = self.messages.get(&id.message_id) {
            match self.with_replica(|r| r.poll_update(ingress)) {
                None => return Ok(None),
                Some(result) => {
                    let result = canister_result(result)?;
                    self.messages
                        .insert(id.message_id.clone(), Message::Done { sender, result });
                }
            }
        }
        match self.messages.get(&id.message_id) {
            Some(Message::Done { result, .. }) => Ok(Some(result.clone())),
            _ => Ok(None),
        }
    }

    /// `update/execute_ingress_message`: submit and await in one.
    pub fn execute(&mut self, call: Call) -> Result<RawCanisterResult, PocketIcError> {
        match self.submit(call)? {
            SubmitResult::Ok(id) => self.await_message(&id),
            SubmitResult::Err(e) => Ok(RawCanisterResult::Err(e)),
        }
    }

    /// `read/query`: a query call, in non-replicated mode.
    pub fn query(&mut self, call: Call) -> Result<RawCanisterResult, PocketIcError> {
        canister_result(
            self.with_replica(|r| r.query(call.sender, call.canister, &call.method, &call.payload)),
        )
    }

    /// `update/add_cycles`: tops the canister up (`provisional_top_up_canister`); returns
    /// its new balance.
    pub fn add_cycles(&mut self, canister: Principal, amount: u128) -> Result<u128, PocketIcError> {
        let args = ic_management_canister_types::ProvisionalTopUpCanisterArgs {
            canister_id: canister,
            amount: amount.into(),
        };
        let arg = Encode!(&args).map_err(|e| PocketIcError::Internal(e.to_string()))?;
        user_error(self.with_replica(|r| {
            r.update(
                Principal::anonymous(),
                MANAGEMENT_CANISTER,
                "provisional_top_up_canister",
                &arg,
            )
        }))?;
        self.cycles(canister)
    }

    /// A canister's cycles balance.
    pub fn cycles(&self, canister: Principal) -> Result<u128, PocketIcError> {
        self.record(canister, |r| r.cycles)
    }

    /// A canister's controllers.
    pub fn controllers(&self, canister: Principal) -> Result<Vec<Principal>, PocketIcError> {
        self.record(canister, |r| r.settings.controllers.clone())
    }

    /// `read/get_stable_memory`.
    pub fn stable_memory(&self, canister: Principal) -> Result<Vec<u8>, PocketIcError> {
        self.record(canister, |_| ())?;
        user_error(self.with_replica(|r| r.stable_memory(&canister)))
    }

    /// `update/set_stable_memory`.
    pub fn set_stable_memory(
        &mut self,
        canister: Principal,
        bytes: &[u8],
    ) -> Result<(), PocketIcError> {
        self.record(canister, |_| ())?;
        user_error(self.with_replica(|r| r.set_stable_memory(&canister, bytes)))
    }

    /// Whether the canister exists (PocketIC's `get_subnet` answers its subnet, or none).
    pub fn has_canister(&self, canister: Principal) -> bool {
        self.with_replica(|r| r.canister(&canister).is_some())
    }

    /// `f` of the canister's record, or an error naming the missing canister.
    fn record<T>(
        &self,
        canister: Principal,
        f: impl FnOnce(&drydock_replica::CanisterRecord) -> T,
    ) -> Result<T, PocketIcError> {
        self.with_replica(|r| r.canister(&canister).map(f))
            .ok_or_else(|| PocketIcError::BadRequest(format!("canister {canister} not found")))
    }

    /// Starts an update. While an HTTP gateway's scheduler holds a canister the call needs,
    /// it is tried again shortly, with the replica unlocked in between.
    fn start(
        &self,
        sender: Principal,
        canister: Principal,
        call: &Call,
    ) -> Result<Result<Started, CallError>, PocketIcError> {
        let deadline = Instant::now() + MAX_WAIT;
        loop {
            let started = self
                .with_replica(|r| r.start_update(sender, canister, &call.method, &call.payload));
            if !matches!(started, Ok(Started::Busy)) || Instant::now() > deadline {
                return Ok(started);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The answer to ingress `id`: rounds run here until it is there, or, while an HTTP
    /// gateway's scheduler runs the rounds, it is polled for (and the rounds run here once
    /// the gateway has stopped).
    fn wait(&self, id: u64) -> Result<Vec<u8>, CallError> {
        let deadline = Instant::now() + MAX_WAIT;
        loop {
            // A stopped gateway's scheduler ended with no job out and its answers handed
            // over (see drydock_http's scheduler), so the rounds can run here.
            if !self.has_gateway() {
                return self.with_replica(|r| r.await_ingress(id));
            }
            if let Some(result) = self.with_replica(|r| r.poll_update(id)) {
                return result;
            }
            if Instant::now() > deadline {
                return Err(drydock_replica::UserError::new(
                    drydock_replica::ErrorCode::IngressMessageTimeout,
                    format!("the call got no response within {} s", MAX_WAIT.as_secs()),
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// How long a call waits for a canister held by the gateway's scheduler, or for its answer.
const MAX_WAIT: Duration = Duration::from_secs(300);

/// A canister is still busy after [`MAX_WAIT`].
/// A new temporary state directory, deleted when dropped.
fn temp_state_dir() -> Result<tempfile::TempDir, PocketIcError> {
    tempfile::Builder::new()
        .prefix("drydock-pocket-ic-")
        .tempdir()
        .map_err(|e| PocketIcError::Io {
            what: "cannot create the instance's state directory".into(),
            source: e,
        })
}

fn unreachable_busy<T>() -> Result<T, PocketIcError> {
    Err(PocketIcError::Internal(format!(
        "a canister the call needs stayed busy for {} s",
        MAX_WAIT.as_secs()
    )))
}

/// A request's failure: the canister's (a bad request) or drydock's.
fn user_error<T>(result: Result<T, CallError>) -> Result<T, PocketIcError> {
    match result {
        Ok(v) => Ok(v),
        Err(CallError::User(e)) => Err(PocketIcError::BadRequest(e.to_string())),
        Err(CallError::Replica(e)) => Err(e.into()),
    }
}

fn unknown_message() -> PocketIcError {
    PocketIcError::BadRequest(
        "no ingress message with this id was submitted to this instance".into(),
    )
}

fn raw_canister(id: Principal) -> RawCanisterId {
    RawCanisterId {
        canister_id: id.as_slice().to_vec(),
    }
}

/// A call's outcome as the clients read it; drydock's own failures are errors of the
/// request, not rejections.
fn canister_result(result: Result<Vec<u8>, CallError>) -> Result<RawCanisterResult, PocketIcError> {
    match result {
        Ok(bytes) => Ok(RawCanisterResult::Ok(bytes)),
        Err(CallError::User(e)) => Ok(RawCanisterResult::Err(reject(&e))),
        Err(CallError::Replica(e)) => Err(e.into()),
    }
}

fn reject(e: &UserError) -> RejectResponse {
    RejectResponse {
        reject_code: e.reject_code(),
        reject_message: e.message.clone(),
        error_code: e.code,
        certified: true,
    }
}
