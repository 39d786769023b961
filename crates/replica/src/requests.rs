//! Replay protection: the request ids of ingress calls, kept durably until their
//! `ingress_expiry` (plus the IC's five minutes of status retention) has passed, so that the
//! same signed request runs at most once, across restarts and crashes (interface spec,
//! "Request ids" and "Request status").
//!
//! # Layout
//! `request/<request id, 64 hex>` → JSON `{ "expiry": ns, "ingress": n }`: the ingress number
//! the call got; its answer is the blob `ingress/<n>` (the call is accepted with `keep`). A
//! call answered at once with more than [`KEEP_ANSWER_BYTES`] has `"forgotten": true` instead
//! of an answer blob.
//!
//! # Invariants
//! - A request's blob is committed before (in WAL order) any effect of its execution, and
//!   both are made durable by the same sync before its answer is handed out: after a crash a
//!   request either never ran and is unknown, or is known (ran, or is running).
//! - Entries whose expiry and retention have passed are deleted, at most once a minute.

use candid::Principal;
use serde::{Deserialize, Serialize};

use crate::error::{CallError, ReplicaError, UserError};
use crate::messaging::Payload;
use crate::replica::{Replica, Started};

/// An ingress update call as the HTTP interface received it.
pub struct IngressRequest<'a> {
    /// The request id, kept durably until `expiry` (and the retention after it) has passed.
    pub id: [u8; 32],
    pub expiry: u64,
    pub sender: Principal,
    pub canister: Principal,
    pub method: &'a str,
    pub arg: &'a [u8],
    /// What the request's `sender_info` attested, verified.
    pub caller_info: Option<crate::messaging::CallerInfo>,
}

/// How long the status of a request is kept after its expiry (the IC's retention).
const RETENTION_NS: u64 = 5 * 60 * 1_000_000_000;

/// How often expired entries are looked for.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest answer of a call answered at once (a management or native canister call) that
/// is kept durably with its request id. A longer one (a 2 MB `read_canister_snapshot_data`
/// slice) is handed out and kept in the HTTP server's memory for the retention, as the IC
/// keeps its ingress history in memory; written durably, each slice of a snapshot download
/// was written to disk three times over. After a restart its status reads `done`.
pub const KEEP_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct Entry {
    expiry: u64,
    ingress: u64,
    /// Answered at once, and the answer was longer than [`KEEP_ANSWER_BYTES`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    forgotten: bool,
}

fn key(request_id: &[u8; 32]) -> String {
    format!("request/{}", hex::encode(request_id))
}

/// What drydock knows of a request id.
#[derive(Debug)]
pub enum KnownRequest {
    /// It was accepted (as ingress number `.0`) and has no answer yet.
    Running(u64),
    /// It was answered.
    Answered(Result<Vec<u8>, UserError>),
    /// It was answered at once, and its answer, longer than [`KEEP_ANSWER_BYTES`], was not
    /// kept: the spec's status `done`.
    Forgotten,
}

impl Replica {
    /// What is known of request `request_id`, if it was accepted before (in this process or
    /// an earlier one) and has not expired.
    pub fn known_request(
        &self,
        request_id: &[u8; 32],
    ) -> Result<Option<KnownRequest>, ReplicaError> {
        let k = key(request_id);
        let Some(bytes) = self.store.blob(&k) else {
            return Ok(None);
        };
        let entry: Entry =
            serde_json::from_slice(bytes).map_err(|e| ReplicaError::CorruptRecord {
                key: k.clone(),
                cause: e.to_string(),
            })?;
        if entry.forgotten {
            return Ok(Some(KnownRequest::Forgotten));
        }
        let answer_key = crate::messaging::queue::ingress_key(entry.ingress);
        Ok(Some(match self.store.blob(&answer_key) {
            None => KnownRequest::Running(entry.ingress),
            Some(bytes) => {
                let payload: Payload =
                    serde_json::from_slice(bytes).map_err(|e| ReplicaError::CorruptRecord {
                        key: answer_key.clone(),
                        cause: e.to_string(),
                    })?;
                KnownRequest::Answered(payload.into_result())
            }
        }))
    }

    /// [`Replica::start_update`] for an ingress call with a request id: the id is recorded
    /// durably with the acceptance (see the module documentation), and the answer is kept.
    pub fn start_request(&mut self, request: IngressRequest<'_>) -> Result<Started, CallError> {
        let IngressRequest {
            id: request_id,
            expiry,
            sender,
            canister,
            method,
            arg,
            caller_info,
        } = request;
        let started =
            self.start_update_keeping(sender, canister, method, arg, true, caller_info)?;
        let ingress = match &started {
            Started::Pending(id) => *id,
            // Management calls and native canisters answer at once; their effects are
            // committed already. Record the id so a replay does not run them again.
            Started::Done(_) => self.next_ingress_id(),
            Started::Busy => return Ok(started),
        };
        let forgotten =
            matches!(&started, Started::Done(Ok(bytes)) if bytes.len() > KEEP_ANSWER_BYTES);
        let entry = serde_json::to_vec(&Entry {
            expiry,
            ingress,
            forgotten,
        })
        .map_err(|e| ReplicaError::CorruptRecord {
            key: key(&request_id),
            cause: e.to_string(),
        })?;
        let mut blobs = vec![(key(&request_id), Some(entry))];
        if let (Started::Done(result), false) = (&started, forgotten) {
            // The answer, kept for a status read after a restart.
            let payload = match result {
                Ok(bytes) => Payload::Reply(bytes.clone()),
                Err(CallError::User(u)) => Payload::from_user_error(u),
                Err(CallError::Replica(_)) => return Ok(started),
            };
            let answer = serde_json::to_vec(&payload).map_err(|e| ReplicaError::CorruptRecord {
                key: key(&request_id),
                cause: e.to_string(),
            })?;
            blobs.push((crate::messaging::queue::ingress_key(ingress), Some(answer)));
        }
        blobs.append(&mut self.carry);
        let batch = drydock_state::Batch {
            blobs,
            ..Default::default()
        };
        if matches!(started, Started::Pending(_)) {
            // Before the call's execution in the WAL; durable with the sync that makes its
            // answer durable.
            self.grouped(|r| r.store_commit(batch))?;
        } else {
            // The answer goes out now: the id must be durable now.
            self.store.commit(batch)?;
        }
        Ok(started)
    }

    /// Deletes the request ids (and their kept answers) whose expiry and retention have
    /// passed, at most once every [`SWEEP_EVERY`].
    pub(crate) fn sweep_requests(&mut self) -> Result<(), ReplicaError> {
        if self.last_sweep.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
            return Ok(());
        }
        self.last_sweep = Some(std::time::Instant::now());
        let now = self.now();
        let mut blobs = Vec::new();
        for k in self.store.blob_keys("request/") {
            let Some(entry) = self
                .store
                .blob(&k)
                .and_then(|b| serde_json::from_slice::<Entry>(b).ok())
            else {
                continue;
            };
            if entry.expiry.saturating_add(RETENTION_NS) < now {
                blobs.push((k, None));
                blobs.push((crate::messaging::queue::ingress_key(entry.ingress), None));
            }
        }
        if blobs.is_empty() {
            return Ok(());
        }
        self.grouped(|r| {
            r.store_commit(drydock_state::Batch {
                blobs,
                ..Default::default()
            })
        })
    }
}
