//! What the HTTP interface does with a request, apart from HTTP itself: decoding the envelope,
//! authenticating it, running it on the replica, keeping request statuses, and certifying the
//! answer. Every failure is an [`HttpReject`] carrying the status code and text the IC uses;
//! nothing here panics on input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candid::Principal;
use drydock_replica::{CallError, ErrorCode, Replica, MANAGEMENT_CANISTER};
use ic_transport_types::RequestId;
use serde::Serialize;

pub use crate::certified::CallCertificates;
use crate::certified::{insert_status, CALL_CERTIFICATE_REUSE};
pub use crate::envelope::{
    cbor, decode_envelope, management_target, now_ns, Authed, HttpReject, MAX_REQUEST_BYTES,
};
use crate::keys::Keys;
pub use crate::statuses::{CallOutcome, INGRESS_HISTORY_CAPACITY};
use crate::statuses::{RequestEntry, Requests, Status};
use crate::tree::{leb128, Node};

/// A call's outcome, as its waiting HTTP request gets it.
pub struct Answer {
    pub outcome: CallOutcome,
    /// The call was refused before it was accepted: its refusal is not certified.
    pub refused: bool,
    /// The batch certificate that covers the call, when the scheduler made one for it: the
    /// request makes its own witness of it, with no further trip to the replica.
    pub certified: Option<Arc<CallCertificates>>,
}

/// Where a call's [`Answer`] goes.
pub type AnswerTo = tokio::sync::oneshot::Sender<Answer>;

/// The server's state: the replica, the keys, and the statuses of recent update calls.
pub struct Service {
    pub(crate) replica: Mutex<Replica>,
    pub(crate) keys: Keys,
    requests: Mutex<Requests>,
    /// Data certificates by canister: when made and for which certified data, reused for
    /// [`DATA_CERTIFICATE_REUSE`] (the IC hands queries the certificate of the latest block).
    data_certificates: Mutex<HashMap<Principal, DataCertificate>>,
    /// Accepted calls waiting for their answer, by ingress number: the request id and where
    /// the outcome goes (see [`Service::deliver_answers`]).
    waiting: Mutex<HashMap<u64, (RequestId, AnswerTo)>>,
    /// The batch certificate of recently finished calls.
    call_certificates: Mutex<Option<Arc<CallCertificates>>>,
    /// Wakes the scheduler: an ingress message accepted, an execution finished.
    pub work: crate::signal::Signal,
    /// Wakes the callers waiting for answers: answers handed out after a sync.
    pub answers: crate::signal::Signal,
    /// Set when the server stops: the scheduler thread ends.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    /// Set while the scheduler runs (see `scheduler.rs`).
    pub(crate) scheduling: std::sync::atomic::AtomicBool,
    /// Jobs taken off the replica and not yet drained, by the scheduler's workers or by the
    /// request that ran its call at once (see `scheduler.rs`).
    pub(crate) jobs_out: std::sync::atomic::AtomicUsize,
}

/// A data certificate made at a time, for certified data, and its CBOR bytes.
type DataCertificate = (std::time::Instant, Vec<u8>, Vec<u8>);

/// How long a query's data certificate is reused while the certified data is unchanged.
const DATA_CERTIFICATE_REUSE: std::time::Duration = std::time::Duration::from_secs(1);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Maps a replica error to the IC's reject code, message and error code.
pub fn outcome_of(result: Result<Vec<u8>, CallError>) -> CallOutcome {
    match result {
        Ok(bytes) => CallOutcome::Replied(bytes),
        Err(CallError::User(e)) => CallOutcome::Rejected {
            reject_code: e.reject_code() as u64,
            message: e.message.clone(),
            error_code: Some(e.code.to_string()),
        },
        // Drydock's own failure (its state directory, its engine): SYS_TRANSIENT, as the
        // message may succeed when retried, and no IC error code, as none of the IC's means
        // this (IC0204 is the IC's full ingress history).
        Err(CallError::Replica(e)) => CallOutcome::Rejected {
            reject_code: 2,
            message: format!("drydock could not process the message: {e}"),
            error_code: None,
        },
    }
}

#[derive(Serialize)]
struct RejectBody<'a> {
    reject_code: u64,
    reject_message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
}

impl Service {
    pub fn new(replica: Replica, keys: Keys) -> Self {
        Service {
            replica: Mutex::new(replica),
            keys,
            requests: Mutex::new(Requests::default()),
            data_certificates: Mutex::new(HashMap::new()),
            call_certificates: Mutex::new(None),
            waiting: Mutex::new(HashMap::new()),
            work: Default::default(),
            answers: Default::default(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            scheduling: std::sync::atomic::AtomicBool::new(false),
            jobs_out: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Runs `f` on the replica.
    pub fn with_replica<R>(&self, f: impl FnOnce(&mut Replica) -> R) -> R {
        f(&mut lock(&self.replica))
    }

    /// `/api/v2/status`.
    pub fn status(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct StatusBody<'a> {
            impl_version: &'a str,
            replica_health_status: &'a str,
            ic_api_version: &'a str,
            #[serde(with = "serde_bytes")]
            root_key: &'a [u8],
            certified_height: u64,
        }
        cbor(&StatusBody {
            impl_version: concat!("drydock-", env!("CARGO_PKG_VERSION")),
            replica_health_status: "healthy",
            ic_api_version: "0.18.0",
            root_key: self.keys.root_key_der(),
            certified_height: 1,
        })
    }

    /// Decodes and authenticates an envelope sent to `effective` (a canister or the subnet).
    pub fn decode(&self, body: &[u8], effective: Option<Principal>) -> Result<Authed, HttpReject> {
        decode_envelope(body, effective, now_ns(), self.keys.root_key())
    }

    /// The effective canister id of a call: the callee, or for the management canister the
    /// `canister_id` field of the argument (any canister for `provisional_create_*`).
    pub fn check_effective(
        &self,
        effective: Principal,
        canister_id: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<(), HttpReject> {
        if canister_id != MANAGEMENT_CANISTER {
            if canister_id != effective {
                return Err(HttpReject::bad_request(format!(
                    "Specified CanisterId {effective} does not match effective canister id in URL {canister_id}"
                )));
            }
            return Ok(());
        }
        if method.starts_with("provisional_create_canister") || method == "create_canister" {
            return Ok(());
        }
        // The HTTP path's decoder, with quotas for untrusted bytes (fuzzed as `candid_args`).
        match management_target(arg) {
            Some(target) if target != effective => Err(HttpReject::bad_request(format!(
                "Effective canister id {effective} in the URL does not match canister_id {target} of the {method} argument"
            ))),
            _ => Ok(()),
        }
    }

    /// Records a call before it runs; returns false when the same request is already known
    /// (it is then not run again).
    pub fn begin_call(
        &self,
        rid: RequestId,
        sender: Principal,
        effective: Principal,
        expiry: u64,
    ) -> bool {
        let mut requests = lock(&self.requests);
        requests.prune(now_ns());
        if requests.by_id.contains_key(&rid) {
            return false;
        }
        // Known from before a restart (kept durably until its expiry): not run again; its
        // status is its kept answer, or processing while its calls go on.
        let known = self.with_replica(|r| r.known_request(&rid));
        if let Ok(Some(known)) = known {
            let status = match known {
                drydock_replica::KnownRequest::Answered(result) => {
                    Status::Done(outcome_of(result.map_err(drydock_replica::CallError::from)))
                }
                drydock_replica::KnownRequest::Forgotten => Status::Forgotten,
                drydock_replica::KnownRequest::Running(ingress) => {
                    let (tx, _) = tokio::sync::oneshot::channel();
                    lock(&self.waiting).insert(ingress, (rid, tx));
                    Status::Processing
                }
            };
            requests.insert(
                rid,
                RequestEntry {
                    sender,
                    effective,
                    expiry,
                    status,
                },
            );
            return false;
        }
        requests.insert(
            rid,
            RequestEntry {
                sender,
                effective,
                expiry,
                status: Status::Processing,
            },
        );
        true
    }

    /// Registers an accepted call: its outcome goes to `tx` once a sync has made it durable.
    /// Called under the replica's lock.
    pub fn await_answer(&self, ingress: u64, rid: RequestId, tx: AnswerTo) {
        lock(&self.waiting).insert(ingress, (rid, tx));
    }

    /// Before a sync runs, under the replica's lock: the answers it will give calls that
    /// wait for one, copied, for [`Service::certify`] to certify while the `fdatasync` runs.
    pub(crate) fn answers_ahead(
        &self,
        r: &Replica,
        sync: &drydock_replica::PendingSync,
    ) -> Vec<(RequestId, CallOutcome)> {
        let waiting = lock(&self.waiting);
        r.pending_results(sync, |id| waiting.contains_key(&id))
            .into_iter()
            .filter_map(|(id, result)| Some((waiting.get(&id)?.0, outcome_of(result))))
            .collect()
    }

    /// One certificate for `answers` (one tree, one signature), made before they are durable:
    /// [`Service::deliver_answers`] hands it out only after the sync that makes them so.
    pub(crate) fn certify(
        &self,
        answers: Vec<(RequestId, CallOutcome)>,
    ) -> Option<Arc<CallCertificates>> {
        let mut tree = self.state_tree(&[], Principal::anonymous()).ok()?;
        let mut requests = std::collections::HashSet::new();
        for (rid, outcome) in answers {
            insert_status(&mut tree, &rid, Status::Done(outcome));
            requests.insert(rid);
        }
        Some(Arc::new(CallCertificates::sign(tree, &self.keys, requests)))
    }

    /// After a sync: takes the answers of the waiting calls from the replica, records their
    /// outcomes, and hands each its outcome with one certificate for all of them: `ahead`
    /// (made while the sync ran) when it covers them all, else a new one (one signature).
    /// Runs on the scheduler's thread.
    pub fn deliver_answers(&self, ahead: Option<Arc<CallCertificates>>) -> bool {
        let answered: Vec<(RequestId, AnswerTo, CallOutcome)> = self.with_replica(|r| {
            let mut waiting = lock(&self.waiting);
            let ids: Vec<u64> = waiting.keys().copied().collect();
            ids.into_iter()
                .filter_map(|id| {
                    let result = r.poll_update(id)?;
                    let (rid, tx) = waiting.remove(&id)?;
                    Some((rid, tx, outcome_of(result)))
                })
                .collect()
        });
        if answered.is_empty() {
            return false;
        }
        let ahead = ahead.filter(|a| answered.iter().all(|(rid, _, _)| a.covers(rid)));
        {
            let mut requests = lock(&self.requests);
            for (rid, _, outcome) in &answered {
                requests.finish(*rid, outcome.clone(), ahead.is_some());
            }
        }
        let certified = match ahead {
            Some(a) => {
                *lock(&self.call_certificates) = Some(a.clone());
                Some(a)
            }
            // One certificate for every call finished so far, these included; each request
            // makes its own witness of it.
            None => answered
                .first()
                .and_then(|(rid, _, _)| self.batch_certificate(rid, Principal::anonymous()).ok()),
        };
        for (_, tx, outcome) in answered {
            let _ = tx.send(Answer {
                outcome,
                refused: false,
                certified: certified.clone(),
            });
        }
        true
    }

    /// Records a call's outcome.
    pub fn finish_call(&self, rid: RequestId, outcome: CallOutcome) {
        lock(&self.requests).finish(rid, outcome, false);
    }

    /// Whether the call is finished.
    pub fn is_done(&self, rid: &RequestId) -> bool {
        matches!(
            lock(&self.requests).by_id.get(rid).map(|r| &r.status),
            Some(Status::Done(_) | Status::Forgotten)
        )
    }

    /// A certificate for the paths, built over the current state.
    pub fn certificate(
        &self,
        paths: &[Vec<Vec<u8>>],
        sender: Principal,
    ) -> Result<Vec<u8>, HttpReject> {
        let tree = self.state_tree(paths, sender)?;
        // Every certificate carries `time`, which agents check for freshness.
        let mut paths = paths.to_vec();
        paths.push(vec![b"time".to_vec()]);
        let witness = tree.witness(&paths);
        let signature = self.keys.sign_root(&witness.digest());
        let cert = ic_certification::Certificate {
            tree: witness,
            signature,
            delegation: None,
        };
        Ok(cbor(&cert))
    }

    /// The certificate a non-replicated query of `canister` sees through
    /// `ic0.data_certificate_copy`: `time` and `canister/<id>/certified_data`.
    pub fn data_certificate(&self, canister: Principal) -> Result<Vec<u8>, HttpReject> {
        let data = self
            .with_replica(|r| r.canister(&canister).map(|c| c.certified_data.clone()))
            .unwrap_or_default();
        if let Some((at, d, cert)) = lock(&self.data_certificates).get(&canister) {
            if *d == data && at.elapsed() < DATA_CERTIFICATE_REUSE {
                return Ok(cert.clone());
            }
        }
        let path = vec![
            b"canister".to_vec(),
            canister.as_slice().to_vec(),
            b"certified_data".to_vec(),
        ];
        let cert = self.certificate(&[path], Principal::anonymous())?;
        lock(&self.data_certificates)
            .insert(canister, (std::time::Instant::now(), data, cert.clone()));
        Ok(cert)
    }

    /// The certificate answering a synchronous call: `time` and the request's status.
    pub fn call_certificate(
        &self,
        rid: &RequestId,
        sender: Principal,
    ) -> Result<Vec<u8>, HttpReject> {
        Ok(self.batch_certificate(rid, sender)?.certificate(rid))
    }

    /// A batch certificate that covers `rid`: the current one if it does, else a new one for
    /// the calls finished since the last (one tree, one signature).
    fn batch_certificate(
        &self,
        rid: &RequestId,
        sender: Principal,
    ) -> Result<Arc<CallCertificates>, HttpReject> {
        let mut batch = lock(&self.call_certificates);
        if let Some(b) = batch.as_ref().filter(|b| b.covers(rid)) {
            return Ok(b.clone());
        }
        // One tree and one signature for the calls that finished since the last tree was cut:
        // the calls answered by the same group commit share it, and a tree holds only those
        // (its cost does not grow with the calls of the last second).
        let requests: std::collections::HashSet<RequestId> =
            std::mem::take(&mut lock(&self.requests).finished)
                .into_iter()
                .filter(|(t, _)| t.elapsed() < CALL_CERTIFICATE_REUSE)
                .map(|(_, r)| r)
                .chain(std::iter::once(*rid))
                .collect();
        let all: Vec<Vec<Vec<u8>>> = requests
            .iter()
            .map(|r| vec![b"request_status".to_vec(), r.as_slice().to_vec()])
            .collect();
        let tree = self.state_tree(&all, sender)?;
        let made = Arc::new(CallCertificates::sign(tree, &self.keys, requests));
        *batch = Some(made.clone());
        Ok(made)
    }

    /// `read_state`: checks that `sender` may read each path with this effective id, then
    /// certifies them.
    pub fn read_state(
        &self,
        effective: Option<Principal>,
        sender: Principal,
        paths: &[Vec<Vec<u8>>],
    ) -> Result<Vec<u8>, HttpReject> {
        let subnet = self.keys.subnet_id();
        let mut request_ids: Vec<&[u8]> = Vec::new();
        for path in paths {
            let Some(first) = path.first() else {
                return Err(HttpReject::bad_request(
                    "Invalid path requested: the empty path is not allowed",
                ));
            };
            let show = || {
                path.iter()
                    .map(|l| String::from_utf8(l.clone()).unwrap_or_else(|_| hex::encode(l)))
                    .collect::<Vec<_>>()
                    .join("/")
            };
            match first.as_slice() {
                b"time" | b"subnet" | b"canister_ranges" | b"api_boundary_nodes" => {}
                b"canister" => {
                    let Some(id) = path.get(1) else {
                        return Err(HttpReject::bad_request(format!(
                            "Invalid path requested: /{}",
                            show()
                        )));
                    };
                    let id = Principal::try_from_slice(id).map_err(|_| {
                        HttpReject::bad_request(format!("Invalid canister id in path /{}", show()))
                    })?;
                    match effective {
                        Some(e) if e == id => {}
                        _ => {
                            return Err(HttpReject::bad_request(format!(
                                "Effective principal id in URL {} does not match requested canister id: {id}.",
                                effective.map(|e| e.to_text()).unwrap_or_else(|| subnet.to_text())
                            )))
                        }
                    }
                    if path.get(2).map(|l| l.as_slice()) == Some(b"metadata") {
                        if let Some(name) = path.get(3) {
                            let name = String::from_utf8_lossy(name).into_owned();
                            let private = self.with_replica(|r| {
                                matches!(r.metadata(&sender, &id, &name),
                                    Err(CallError::User(e)) if e.code == ErrorCode::CanisterInvalidController)
                            });
                            if private {
                                return Err(HttpReject::forbidden(format!(
                                    "Custom section {name} of canister {id} is private: only its controllers may read it"
                                )));
                            }
                        }
                    }
                }
                b"request_status" => {
                    let Some(rid) = path.get(1) else {
                        return Err(HttpReject::bad_request(
                            "Invalid path requested: /request_status",
                        ));
                    };
                    request_ids.push(rid);
                    let requests = lock(&self.requests);
                    let key = RequestId::new(rid.as_slice().try_into().map_err(|_| {
                        HttpReject::bad_request("Invalid path requested: a request id is 32 bytes")
                    })?);
                    if let Some(r) = requests.by_id.get(&key) {
                        if r.sender != sender {
                            return Err(HttpReject::forbidden(format!(
                                "Request {} was sent by {}, not by {sender}",
                                hex::encode(rid),
                                r.sender
                            )));
                        }
                        if let Some(e) = effective {
                            if r.effective != e {
                                return Err(HttpReject::bad_request(format!(
                                    "Request {} was sent to effective canister {}, not {e}",
                                    hex::encode(rid),
                                    r.effective
                                )));
                            }
                        }
                    }
                }
                _ => {
                    return Err(HttpReject::not_found_path(show()));
                }
            }
        }
        request_ids.sort();
        request_ids.dedup();
        if request_ids.len() > 1 {
            return Err(HttpReject::bad_request(
                "Can only request a single request ID in request_status paths",
            ));
        }
        self.certificate(paths, sender)
    }

    /// The state tree for a request about `paths`. Canister subtrees are filled for the
    /// canisters the paths name (with metadata `sender` may read); the others hold their
    /// module hash and controllers.
    fn state_tree(&self, paths: &[Vec<Vec<u8>>], sender: Principal) -> Result<Node, HttpReject> {
        let mut t = Node::default();
        t.insert(&[b"time"], leb128(now_ns()));
        let subnet = self.keys.subnet_id();
        let sid = subnet.as_slice();
        t.insert(
            &[b"subnet", sid, b"public_key"],
            self.keys.root_key_der().to_vec(),
        );
        t.insert(&[b"subnet", sid, b"type"], b"application".to_vec());
        let ranges = vec![(
            drydock_replica::canister_id_from_index(0),
            drydock_replica::canister_id_from_index(u64::MAX),
        )];
        let ranges_cbor = cbor(&ranges);
        t.insert(&[b"subnet", sid, b"canister_ranges"], ranges_cbor);
        let node = self.keys.node_id();
        t.insert(
            &[b"subnet", sid, b"node", node.as_slice(), b"public_key"],
            self.keys.node_key_der().to_vec(),
        );
        let wanted: Vec<&[u8]> = paths
            .iter()
            .filter(|p| p.first().map(|l| l.as_slice()) == Some(b"canister"))
            .filter_map(|p| p.get(1).map(|l| l.as_slice()))
            .collect();
        self.with_replica(|r| {
            for id in r.canister_ids() {
                let Some(c) = r.canister(&id) else { continue };
                let cid = id.as_slice();
                if let Some(hash) = c.module_hash.as_deref().and_then(|h| hex::decode(h).ok()) {
                    t.insert(&[b"canister", cid, b"module_hash"], hash);
                }
                t.insert(
                    &[b"canister", cid, b"controllers"],
                    cbor(&c.settings.controllers),
                );
                // Interface spec, "Canister information": every canister's certified data
                // (empty until it sets some).
                t.insert(
                    &[b"canister", cid, b"certified_data"],
                    c.certified_data.clone(),
                );
                if wanted.contains(&cid) {
                    if let Ok(names) = r.metadata_names(&sender, &id) {
                        for (name, _) in names {
                            if let Ok(bytes) = r.metadata(&sender, &id, &name) {
                                t.insert(&[b"canister", cid, b"metadata", name.as_bytes()], bytes);
                            }
                        }
                    }
                }
            }
        });
        // Only the statuses the paths name: a request's certificate does not grow with the
        // number of recent requests.
        let wanted_requests: std::collections::BTreeSet<RequestId> = paths
            .iter()
            .filter(|p| p.first().map(|l| l.as_slice()) == Some(b"request_status"))
            .filter_map(|p| <[u8; 32]>::try_from(p.get(1)?.as_slice()).ok())
            .map(|b| RequestId::new(&b))
            .collect();
        let requests = lock(&self.requests);
        for (rid, r) in wanted_requests
            .iter()
            .filter_map(|rid| Some((rid, requests.by_id.get(rid)?)))
        {
            insert_status(&mut t, rid, r.status.clone());
        }
        Ok(t)
    }

    /// The body of a `non_replicated_rejection`.
    pub fn rejection_body(outcome: &CallOutcome) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            status: &'a str,
            #[serde(flatten)]
            reject: RejectBody<'a>,
        }
        match outcome {
            CallOutcome::Rejected {
                reject_code,
                message,
                error_code,
            } => cbor(&Body {
                status: "non_replicated_rejection",
                reject: RejectBody {
                    reject_code: *reject_code,
                    reject_message: message,
                    error_code: error_code.as_deref(),
                },
            }),
            CallOutcome::Replied(_) => Vec::new(),
        }
    }
}

/// Shared between the server's handlers.
pub type Shared = Arc<Service>;
