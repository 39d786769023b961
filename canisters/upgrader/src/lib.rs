//! drydock's upgrader canister: upgrades other canisters safely, including a canister that
//! asks for its own upgrade. It works unchanged on the IC.
//!
//! `request_upgrade` replies with a ticket before it touches the target. Then, in later
//! messages, it
//! 1. stops the target and waits for it to drain (the management canister answers
//!    `stop_canister` only when no call context of the target is open, so no callback of the
//!    old module can run in the new one);
//! 2. takes a snapshot, replacing the one it took before for that target;
//! 3. installs the new module in mode upgrade (`wasm_memory_persistence = keep` when the module
//!    uses Motoko's enhanced orthogonal persistence);
//! 4. starts the target;
//! 5. runs the health check, a call whose reply must equal `expected_reply` when one is given.
//!
//! On any failure after the snapshot it stops the target, loads the snapshot, starts it and
//! records why (`rolled_back`). When the upgrade never began (the stop or the snapshot failed)
//! or the rollback itself failed, the ticket ends `failed`.
//!
//! Only the target itself or a controller of the upgrader may ask for a target's upgrade, and
//! the upgrader must be a controller of the target. Requests for one target run one after the
//! other, in ticket order; different targets proceed independently.
//!
//! State lives in stable structures (ticket counter, tickets, pending jobs, the snapshot taken
//! for each target), so it survives the upgrader's own upgrades with no `pre_upgrade`. Jobs
//! still pending after an upgrade of the upgrader resume from a timer.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use candid::{CandidType, Principal};
use ic_cdk::call::Call;
use ic_cdk_management_canister as mgmt;
use ic_stable_structures::memory_manager::{MemoryId, MemoryManager, VirtualMemory};
use ic_stable_structures::storable::Bound;
use ic_stable_structures::{DefaultMemoryImpl, StableBTreeMap, StableCell, Storable};
use serde::Deserialize;
use serde_bytes::ByteBuf;

type Mem = VirtualMemory<DefaultMemoryImpl>;

/// The Candid interface, as the custom section `icp:public candid:service`.
const CANDID_LEN: usize = include_bytes!("../upgrader.did").len();
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../upgrader.did");

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct HealthCheck {
    pub method: String,
    pub arg: ByteBuf,
    pub expected_reply: Option<ByteBuf>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct UpgradeRequest {
    pub canister_id: Principal,
    pub wasm_module: ByteBuf,
    pub arg: ByteBuf,
    pub health_check: Option<HealthCheck>,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct ChunkedUpgradeRequest {
    pub canister_id: Principal,
    pub chunk_hashes: Vec<ByteBuf>,
    pub wasm_module_hash: ByteBuf,
    pub arg: ByteBuf,
    pub health_check: Option<HealthCheck>,
    pub keep_main_memory: bool,
}

#[derive(CandidType, Deserialize, Clone, Debug)]
pub struct UploadChunkRequest {
    pub canister_id: Principal,
    pub chunk: ByteBuf,
}

#[derive(CandidType, Deserialize, Clone, Debug, PartialEq)]
pub enum UpgradeState {
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
pub struct UpgradeStatus {
    pub canister_id: Principal,
    pub state: UpgradeState,
    pub log: Vec<String>,
}

/// Where the new module comes from.
#[derive(CandidType, Deserialize, Clone, Debug)]
enum Module {
    Inline(ByteBuf),
    Chunked {
        chunk_hashes: Vec<ByteBuf>,
        wasm_module_hash: ByteBuf,
    },
}

/// A request not yet finished.
#[derive(CandidType, Deserialize, Clone, Debug)]
struct Job {
    canister_id: Principal,
    module: Module,
    keep_main_memory: bool,
    arg: ByteBuf,
    health_check: Option<HealthCheck>,
}

/// Candid-encoded values in stable structures.
macro_rules! candid_storable {
    ($t:ty) => {
        impl Storable for $t {
            fn to_bytes(&self) -> Cow<'_, [u8]> {
                Cow::Owned(candid::encode_one(self).expect("encoding a stored value"))
            }
            fn into_bytes(self) -> Vec<u8> {
                candid::encode_one(&self).expect("encoding a stored value")
            }
            fn from_bytes(bytes: Cow<[u8]>) -> Self {
                candid::decode_one(&bytes).expect("decoding a stored value")
            }
            const BOUND: Bound = Bound::Unbounded;
        }
    };
}
candid_storable!(UpgradeStatus);
candid_storable!(Job);

/// A principal as a stable-map key (at most 29 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key(Principal);

impl Storable for Key {
    fn to_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.as_slice().to_vec())
    }
    fn into_bytes(self) -> Vec<u8> {
        self.0.as_slice().to_vec()
    }
    fn from_bytes(bytes: Cow<[u8]>) -> Self {
        Key(Principal::from_slice(&bytes))
    }
    const BOUND: Bound = Bound::Bounded {
        max_size: 29,
        is_fixed_size: false,
    };
}

thread_local! {
    static MM: MemoryManager<DefaultMemoryImpl> = MemoryManager::init(DefaultMemoryImpl::default());
    static NEXT: RefCell<StableCell<u64, Mem>> =
        RefCell::new(StableCell::init(MM.with(|m| m.get(MemoryId::new(0))), 0));
    static TICKETS: RefCell<StableBTreeMap<u64, UpgradeStatus, Mem>> =
        RefCell::new(StableBTreeMap::init(MM.with(|m| m.get(MemoryId::new(1)))));
    static JOBS: RefCell<StableBTreeMap<u64, Job, Mem>> =
        RefCell::new(StableBTreeMap::init(MM.with(|m| m.get(MemoryId::new(2)))));
    static SNAPSHOTS: RefCell<StableBTreeMap<Key, Vec<u8>, Mem>> =
        RefCell::new(StableBTreeMap::init(MM.with(|m| m.get(MemoryId::new(3)))));
    /// Targets with a job running (heap only: nothing runs across an upgrade of the upgrader,
    /// which drains it first).
    static ACTIVE: RefCell<BTreeSet<Principal>> = const { RefCell::new(BTreeSet::new()) };
}

fn refuse(why: String) -> ! {
    ic_cdk::trap(format!("upgrader: {why}"))
}

/// Only the target itself, or a controller of the upgrader, may act for a target.
fn authorize(target: Principal) {
    let caller = ic_cdk::api::msg_caller();
    if target == ic_cdk::api::canister_self() {
        refuse("the upgrader cannot upgrade itself (it would have to stop itself); upgrade it with `drydock canister upgrade` or icp-cli".into());
    }
    if caller != target && !ic_cdk::api::is_controller(&caller) {
        refuse(format!(
            "{caller} may not request an upgrade of {target}: only the target itself or a controller of the upgrader may"
        ));
    }
}

/// Whether a module declares Motoko's enhanced orthogonal persistence (custom section
/// `icp:private enhanced-orthogonal-persistence` or its public twin).
fn uses_eop(module: &[u8]) -> bool {
    fn leb(bytes: &[u8], at: &mut usize) -> Option<usize> {
        let mut value = 0usize;
        for shift in (0..35).step_by(7) {
            let b = *bytes.get(*at)?;
            *at += 1;
            value |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    if module.len() < 8 || &module[..4] != b"\0asm" {
        return false;
    }
    let mut at = 8;
    while at < module.len() {
        let id = module[at];
        at += 1;
        let Some(size) = leb(module, &mut at) else {
            return false;
        };
        let end = at.saturating_add(size).min(module.len());
        if id == 0 {
            let mut p = at;
            if let Some(n) = leb(module, &mut p) {
                let name = module.get(p..p.saturating_add(n)).unwrap_or(&[]);
                if name.ends_with(b" enhanced-orthogonal-persistence") {
                    return true;
                }
            }
        }
        at = end;
    }
    false
}

fn new_ticket(canister_id: Principal, job: Job) -> u64 {
    let ticket = NEXT.with(|n| {
        let mut n = n.borrow_mut();
        let ticket = *n.get() + 1;
        n.set(ticket);
        ticket
    });
    let caller = ic_cdk::api::msg_caller();
    let status = UpgradeStatus {
        canister_id,
        state: UpgradeState::Pending,
        log: vec![format!("requested by {caller}")],
    };
    TICKETS.with(|t| t.borrow_mut().insert(ticket, status));
    JOBS.with(|j| j.borrow_mut().insert(ticket, job));
    // The work starts in later messages: the calls it makes go out only after this message
    // has replied with the ticket, so a target asking for its own upgrade has its answer
    // before it is stopped.
    ic_cdk::futures::spawn(next(canister_id));
    ticket
}

#[ic_cdk::update]
fn request_upgrade(req: UpgradeRequest) -> u64 {
    authorize(req.canister_id);
    let keep_main_memory = uses_eop(&req.wasm_module);
    let job = Job {
        canister_id: req.canister_id,
        module: Module::Inline(req.wasm_module),
        keep_main_memory,
        arg: req.arg,
        health_check: req.health_check,
    };
    new_ticket(req.canister_id, job)
}

#[ic_cdk::update]
fn request_chunked_upgrade(req: ChunkedUpgradeRequest) -> u64 {
    authorize(req.canister_id);
    let job = Job {
        canister_id: req.canister_id,
        module: Module::Chunked {
            chunk_hashes: req.chunk_hashes,
            wasm_module_hash: req.wasm_module_hash,
        },
        keep_main_memory: req.keep_main_memory,
        arg: req.arg,
        health_check: req.health_check,
    };
    new_ticket(req.canister_id, job)
}

/// Uploads a chunk of a large module to the target's chunk store (the upgrader is one of its
/// controllers), for `request_chunked_upgrade`.
#[ic_cdk::update]
async fn upload_chunk(req: UploadChunkRequest) -> ByteBuf {
    authorize(req.canister_id);
    let args = mgmt::UploadChunkArgs {
        canister_id: req.canister_id,
        chunk: req.chunk.into_vec(),
    };
    match mgmt::upload_chunk(&args).await {
        Ok(hash) => ByteBuf::from(hash.hash),
        Err(e) => refuse(format!("upload_chunk to {}: {e}", req.canister_id)),
    }
}

#[ic_cdk::query]
fn upgrade_status(ticket: u64) -> Option<UpgradeStatus> {
    TICKETS.with(|t| t.borrow().get(&ticket))
}

#[ic_cdk::post_upgrade]
fn post_upgrade() {
    // No calls from post_upgrade: resume pending jobs from a timer.
    ic_cdk_timers::set_timer(Duration::ZERO, async {
        let targets: BTreeSet<Principal> =
            JOBS.with(|j| j.borrow().iter().map(|e| e.value().canister_id).collect());
        for target in targets {
            ic_cdk::futures::spawn(next(target));
        }
    });
}

fn log(ticket: u64, line: String) {
    TICKETS.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(mut s) = t.get(&ticket) {
            s.log.push(line);
            t.insert(ticket, s);
        }
    });
}

fn finish(ticket: u64, state: UpgradeState) {
    TICKETS.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(mut s) = t.get(&ticket) {
            s.log.push(match &state {
                UpgradeState::Upgraded => "upgraded".to_string(),
                UpgradeState::RolledBack(why) => format!("rolled back: {why}"),
                UpgradeState::Failed(why) => format!("failed: {why}"),
                UpgradeState::Pending => "pending".to_string(),
            });
            s.state = state;
            t.insert(ticket, s);
        }
    });
    JOBS.with(|j| j.borrow_mut().remove(&ticket));
}

/// Runs the target's pending jobs one after the other, unless a job of it is running.
async fn next(target: Principal) {
    if !ACTIVE.with(|a| a.borrow_mut().insert(target)) {
        return;
    }
    loop {
        let job = JOBS.with(|j| {
            j.borrow()
                .iter()
                .find(|e| e.value().canister_id == target)
                .map(|e| (*e.key(), e.value()))
        });
        let Some((ticket, job)) = job else { break };
        let state = upgrade(ticket, &job).await;
        finish(ticket, state);
    }
    ACTIVE.with(|a| a.borrow_mut().remove(&target));
}

async fn upgrade(ticket: u64, job: &Job) -> UpgradeState {
    let target = job.canister_id;
    log(
        ticket,
        "stopping the target; the stop completes when its open calls have finished".into(),
    );
    if let Err(e) = mgmt::stop_canister(&mgmt::StopCanisterArgs { canister_id: target }).await {
        // A failed stop leaves the target as it was; start it in case it was left stopping.
        let _ = mgmt::start_canister(&mgmt::StartCanisterArgs { canister_id: target }).await;
        return UpgradeState::Failed(format!(
            "stop_canister: {e} (is the upgrader a controller of {target}?)"
        ));
    }
    log(ticket, "stopped".into());
    let previous = SNAPSHOTS.with(|s| s.borrow().get(&Key(target)));
    let snapshot = match take_snapshot(target, previous.clone()).await {
        Ok(id) => id,
        Err(e) => {
            let _ = mgmt::start_canister(&mgmt::StartCanisterArgs { canister_id: target }).await;
            return UpgradeState::Failed(format!(
                "take_canister_snapshot: {e}; the target was started again, unchanged"
            ));
        }
    };
    SNAPSHOTS.with(|s| s.borrow_mut().insert(Key(target), snapshot.clone()));
    log(ticket, format!("took snapshot {}", hex(&snapshot)));

    let mode = mgmt::CanisterInstallMode::Upgrade(Some(mgmt::UpgradeFlags {
        skip_pre_upgrade: None,
        wasm_memory_persistence: job
            .keep_main_memory
            .then_some(mgmt::WasmMemoryPersistence::Keep),
    }));
    let installed = match &job.module {
        Module::Inline(wasm) => {
            log(ticket, format!("installing a module of {} bytes", wasm.len()));
            mgmt::install_code(&mgmt::InstallCodeArgs {
                mode,
                canister_id: target,
                wasm_module: wasm.to_vec(),
                arg: job.arg.to_vec(),
            })
            .await
        }
        Module::Chunked {
            chunk_hashes,
            wasm_module_hash,
        } => {
            log(
                ticket,
                format!("installing a module of {} chunks", chunk_hashes.len()),
            );
            mgmt::install_chunked_code(&mgmt::InstallChunkedCodeArgs {
                mode,
                target_canister: target,
                store_canister: None,
                chunk_hashes_list: chunk_hashes
                    .iter()
                    .map(|h| mgmt::ChunkHash { hash: h.to_vec() })
                    .collect(),
                wasm_module_hash: wasm_module_hash.to_vec(),
                arg: job.arg.to_vec(),
            })
            .await
        }
    };
    if let Err(e) = installed {
        return roll_back(ticket, target, snapshot, format!("install_code: {e}")).await;
    }
    log(ticket, "installed".into());
    if let Err(e) = mgmt::start_canister(&mgmt::StartCanisterArgs { canister_id: target }).await {
        return roll_back(ticket, target, snapshot, format!("start_canister: {e}")).await;
    }
    log(ticket, "started".into());
    if let Some(check) = &job.health_check {
        log(ticket, format!("health check: calling {}", check.method));
        let reply = Call::unbounded_wait(target, &check.method)
            .with_raw_args(&check.arg)
            .await;
        let why = match reply {
            Err(e) => Some(format!("health check {}: {e}", check.method)),
            Ok(reply) => match &check.expected_reply {
                Some(expected) if reply.as_ref() != expected.as_slice() => Some(format!(
                    "health check {}: replied {}, expected {}",
                    check.method,
                    hex(reply.as_ref()),
                    hex(expected)
                )),
                _ => None,
            },
        };
        if let Some(why) = why {
            return roll_back(ticket, target, snapshot, why).await;
        }
        log(ticket, "health check passed".into());
    }
    UpgradeState::Upgraded
}

async fn take_snapshot(
    target: Principal,
    previous: Option<Vec<u8>>,
) -> Result<Vec<u8>, ic_cdk::call::Error> {
    let args = |replace_snapshot| mgmt::TakeCanisterSnapshotArgs {
        canister_id: target,
        replace_snapshot,
        uninstall_code: None,
        sender_canister_version: None,
    };
    match mgmt::take_canister_snapshot(&args(previous.clone())).await {
        Ok(s) => Ok(s.id),
        // The previous snapshot may have been deleted by a controller: take a new one.
        Err(_) if previous.is_some() => Ok(mgmt::take_canister_snapshot(&args(None)).await?.id),
        Err(e) => Err(e),
    }
}

/// Stops the target, loads the snapshot, starts it; `why` is what went wrong.
async fn roll_back(ticket: u64, target: Principal, snapshot: Vec<u8>, why: String) -> UpgradeState {
    log(ticket, format!("{why}; rolling back to snapshot {}", hex(&snapshot)));
    let _ = mgmt::stop_canister(&mgmt::StopCanisterArgs { canister_id: target }).await;
    let loaded = mgmt::load_canister_snapshot(&mgmt::LoadCanisterSnapshotArgs {
        canister_id: target,
        snapshot_id: snapshot,
    })
    .await;
    let started = mgmt::start_canister(&mgmt::StartCanisterArgs { canister_id: target }).await;
    match (loaded, started) {
        (Ok(()), Ok(())) => UpgradeState::RolledBack(why),
        (Err(e), _) => UpgradeState::Failed(format!(
            "{why}; then load_canister_snapshot failed: {e}"
        )),
        (Ok(()), Err(e)) => UpgradeState::Failed(format!(
            "{why}; the snapshot was loaded, then start_canister failed: {e}"
        )),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}


