//! Rounds: what the replica does when it is not waiting for input. Each round runs every due
//! global timer and every `canister_heartbeat` (as on the IC, once per round per canister),
//! then delivers the messages that were queued when it began, oldest first, then completes
//! the stops whose canisters have no open call context left.

use candid::Principal;

use super::execute::Call;
use super::queue::Outbox;
use super::{Message, Origin, Payload};
use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::management::ensure_controller;
use crate::record::CanisterStatus;
use crate::replica::Replica;

/// The blob holding the last ingress number given out.
pub(crate) const NEXT_INGRESS_KEY: &str = "replica/next_ingress";

/// The most rounds [`Replica::run_until_idle`] runs.
pub const IDLE_ROUNDS: usize = 10_000;

/// How long an ingress message waits for its response before the caller is told it has none
/// yet: the IC's ingress expiry (the call goes on; its effects stay).
const INGRESS_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Rounds an ingress message may wait before drydock gives up on it (a canister that calls
/// itself forever): about the IC's ingress expiry of 5 minutes at one message per round.
const MAX_ROUNDS: u64 = 10_000_000;

impl Replica {
    /// Runs one round; returns how many executions it ran.
    pub fn run_round(&mut self) -> Result<usize, ReplicaError> {
        let mut ran = self.run_tasks()?;
        self.expire_deadlines()?;
        let n = self.queue.len();
        for _ in 0..n {
            let Some((seq, msg)) = self.queue.pop() else {
                break;
            };
            let r = match msg.clone() {
                Message::Request {
                    caller,
                    callee,
                    method,
                    arg,
                    cycles,
                    callback,
                    deadline,
                } => self.start_call(
                    Call {
                        origin: Origin::Canister { caller, callback },
                        caller,
                        callee,
                        method: &method,
                        arg: &arg,
                        cycles,
                        deadline,
                    },
                    Some(seq),
                ),
                Message::Response {
                    caller,
                    callback,
                    payload,
                    refund,
                } => self.deliver_response(seq, caller, callback, payload, refund),
            };
            if let Err(e) = r {
                self.queue.restore(seq, msg);
                return Err(e);
            }
            ran += 1;
        }
        self.complete_stops()?;
        Ok(ran)
    }

    /// Runs rounds until the queue is empty, at most [`IDLE_ROUNDS`] of them (a canister
    /// whose heartbeat or timer sends messages keeps the queue busy for ever).
    pub fn run_until_idle(&mut self) -> Result<(), ReplicaError> {
        for _ in 0..IDLE_ROUNDS {
            self.run_round()?;
            if self.queue.is_empty() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Whether messages wait for delivery.
    pub fn has_pending_messages(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Runs rounds until ingress message `id` has its response, and returns it.
    pub(crate) fn await_ingress(&mut self, id: u64) -> Result<Vec<u8>, CallError> {
        let start = std::time::Instant::now();
        for _ in 0..MAX_ROUNDS {
            if start.elapsed() > INGRESS_WAIT {
                return Err(UserError::new(
                    ErrorCode::IngressMessageTimeout,
                    format!("the call got no response within {} s (the IC's ingress expiry); it goes on running, and its effects stay", INGRESS_WAIT.as_secs()),
                )
                .into());
            }
            if let Some(p) = self.ingress_results.remove(&id) {
                return p.into_result().map_err(CallError::from);
            }
            if self.queue.is_empty() && !self.waits_for_stop(id) {
                break;
            }
            self.run_round()?;
        }
        match self.ingress_results.remove(&id) {
            Some(p) => p.into_result().map_err(CallError::from),
            None => Err(UserError::new(
                ErrorCode::CanisterDidNotReply,
                "the message got no response: every call it made has completed, but no call context answered it",
            )
            .into()),
        }
    }

    fn waits_for_stop(&self, id: u64) -> bool {
        self.canisters.values().any(|c| {
            c.record
                .calls
                .stop_waiters
                .iter()
                .any(|w| matches!(w, Origin::Ingress { id: i, .. } if *i == id))
        })
    }

    /// A new ingress number, unique across processes: the counter rides along with the next
    /// commit.
    pub(crate) fn next_ingress_id(&mut self) -> u64 {
        self.next_ingress += 1;
        self.carry.retain(|(k, _)| k != NEXT_INGRESS_KEY);
        self.carry.push((
            NEXT_INGRESS_KEY.to_string(),
            Some(self.next_ingress.to_string().into_bytes()),
        ));
        self.next_ingress
    }

    /// Submits an update call without waiting for it (`--async`): starts it and returns its
    /// request number, whose response [`Self::request_status`] reads once it is there. The
    /// response is kept durably until read.
    pub fn submit(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<u64, CallError> {
        self.run_round()?;
        self.start_ingress(sender, canister, method, arg, true)
    }

    /// Checks an ingress update to a canister and starts it; returns its number. With `keep`
    /// its answer is stored durably, else handed over in memory.
    pub(crate) fn start_ingress(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
        keep: bool,
    ) -> Result<u64, CallError> {
        self.check_ingress(sender, canister, method, arg)?;
        let id = self.next_ingress_id();
        self.start_call(
            Call {
                origin: Origin::Ingress { id, keep },
                caller: sender,
                callee: canister,
                method,
                arg,
                cycles: 0,
                deadline: 0,
            },
            None,
        )?;
        Ok(id)
    }

    /// The response to a submitted request, if it has one yet. With `wait`, runs rounds
    /// until it has.
    pub fn request_status(
        &mut self,
        id: u64,
        wait: bool,
    ) -> Result<Option<Result<Vec<u8>, UserError>>, ReplicaError> {
        let key = super::queue::ingress_key(id);
        for _ in 0..MAX_ROUNDS {
            if let Some(bytes) = self.store.blob(&key) {
                let payload: Payload =
                    serde_json::from_slice(bytes).map_err(|e| ReplicaError::CorruptRecord {
                        key: key.clone(),
                        cause: e.to_string(),
                    })?;
                return Ok(Some(payload.into_result()));
            }
            if !wait || self.queue.is_empty() {
                break;
            }
            self.run_round()?;
        }
        Ok(None)
    }

    /// Whether `id` names a request this state directory has issued.
    pub fn knows_request(&self, id: u64) -> bool {
        id >= 1 && id <= self.next_ingress
    }

    /// Global timers that are due and heartbeats, on running canisters with a module.
    fn run_tasks(&mut self) -> Result<usize, ReplicaError> {
        let now = self.now();
        // (canister, export, whether the module exports it)
        let mut tasks: Vec<(Principal, &'static str, bool)> = Vec::new();
        for c in self.canisters.values() {
            let r = &c.record;
            if r.status != CanisterStatus::Running || r.module_hash.is_none() {
                continue;
            }
            let Ok(Some(module)) = self.module_of(r) else {
                continue;
            };
            let e = &module.prepared.exports;
            if r.global_timer != 0 && r.global_timer <= now {
                tasks.push((r.id, "canister_global_timer", e.global_timer));
            }
            if e.heartbeat {
                tasks.push((r.id, "canister_heartbeat", true));
            }
        }
        let mut ran = 0;
        for (id, export, exported) in tasks {
            if exported {
                self.run_task(id, export)?;
                ran += 1;
            } else if let Ok(c) = self.get(&id) {
                // A timer set by a module without the hook: deactivated.
                let mut record = c.record.clone();
                record.global_timer = 0;
                self.commit_with(record, None, Outbox::default())?;
            }
        }
        Ok(ran)
    }

    /// Interface spec, "Best-effort responses": a bounded-wait call whose deadline has passed
    /// gets a SYS_UNKNOWN reject ("Request timed out"); a late real response is dropped.
    fn expire_deadlines(&mut self) -> Result<(), ReplicaError> {
        let now = self.now();
        let due: Vec<(Principal, Vec<u64>)> = self
            .canisters
            .values()
            .filter_map(|c| {
                let ids: Vec<u64> = c
                    .record
                    .calls
                    .callbacks
                    .iter()
                    .filter(|(_, cb)| cb.deadline != 0 && cb.deadline <= now && !cb.timed_out)
                    .map(|(id, _)| *id)
                    .collect();
                (!ids.is_empty()).then_some((c.record.id, ids))
            })
            .collect();
        for (id, callbacks) in due {
            let mut record = self.canisters[&id].record.clone();
            let mut out = Outbox::default();
            for cb in callbacks {
                if let Some(c) = record.calls.callbacks.get_mut(&cb) {
                    c.timed_out = true;
                }
                out.sent.push(Message::Response {
                    caller: id,
                    callback: cb,
                    payload: Payload::Reject {
                        code: crate::error::RejectCode::SysUnknown,
                        message: "Request timed out.".into(),
                        error: None,
                    },
                    refund: 0,
                });
            }
            self.commit_with(record, None, out)?;
        }
        Ok(())
    }

    /// `stop_canister`: the canister becomes `stopping`; the call is answered once no call
    /// context of the canister is open (see [`Self::complete_stops`]).
    fn begin_stop(
        &mut self,
        sender: Principal,
        id: Principal,
        waiter: Origin,
        mut out: Outbox,
    ) -> Result<(), ReplicaError> {
        let checked = self.get(&id).and_then(|c| {
            ensure_controller(&c.record, &sender)?;
            Ok(c.record.clone())
        });
        let mut record = match checked {
            Ok(record) if record.status != CanisterStatus::Stopped => record,
            Ok(_) => {
                out.respond(&waiter, Payload::Reply(candid_unit()), 0);
                return self.commit_outbox(out);
            }
            Err(e) => {
                out.respond(&waiter, Payload::from_user_error(&e), 0);
                return self.commit_outbox(out);
            }
        };
        record.status = CanisterStatus::Stopping;
        record.calls.stop_waiters.push(waiter);
        self.commit_with(record, None, out)?;
        self.complete_stops()
    }

    /// `stop_canister` without waiting (`drydock canister stop --no-wait`): the canister is
    /// stopping, or stopped at once when no call context is open; returns which.
    pub fn stop_without_waiting(
        &mut self,
        sender: Principal,
        id: Principal,
    ) -> Result<CanisterStatus, CallError> {
        let record = self.get(&id)?.record.clone();
        ensure_controller(&record, &sender)?;
        self.begin_stop(sender, id, Origin::System, Outbox::default())?;
        Ok(self.get(&id)?.record.status)
    }

    /// `stop_canister` called by `call.origin` (a canister, or an ingress message).
    pub(crate) fn stop_from(
        &mut self,
        call: Call<'_>,
        mut out: Outbox,
    ) -> Result<(), ReplicaError> {
        match candid::decode_one::<ic_management_canister_types::CanisterIdRecord>(call.arg) {
            Ok(a) => self.begin_stop(call.caller, a.canister_id, call.origin, out),
            Err(e) => {
                let err = UserError::new(
                    ErrorCode::InvalidManagementPayload,
                    format!("Error decoding candid of the management canister method stop_canister: {e}"),
                );
                out.respond(&call.origin, Payload::from_user_error(&err), call.cycles);
                self.commit_outbox(out)
            }
        }
    }

    /// Stopping canisters without open call contexts become stopped; their stop calls reply.
    fn complete_stops(&mut self) -> Result<(), ReplicaError> {
        let ready: Vec<Principal> = self
            .canisters
            .values()
            .filter(|c| {
                c.record.status == CanisterStatus::Stopping && c.record.calls.contexts.is_empty()
            })
            .map(|c| c.record.id)
            .collect();
        for id in ready {
            let mut record = self.canisters[&id].record.clone();
            record.status = CanisterStatus::Stopped;
            let mut out = Outbox::default();
            for w in std::mem::take(&mut record.calls.stop_waiters) {
                out.respond(&w, Payload::Reply(candid_unit()), 0);
            }
            self.commit_with(record, None, out)?;
        }
        Ok(())
    }

    /// `start_canister` on a stopping canister: its pending stop calls are rejected.
    pub(crate) fn cancel_stops(
        &mut self,
        record: &mut crate::record::CanisterRecord,
        out: &mut Outbox,
    ) {
        for w in std::mem::take(&mut record.calls.stop_waiters) {
            let e = UserError::new(
                ErrorCode::CanisterStoppingCancelled,
                format!("Canister {}'s stop request was cancelled.", record.id),
            );
            out.respond(&w, Payload::from_user_error(&e), 0);
        }
    }
}

fn candid_unit() -> Vec<u8> {
    candid::encode_args(()).unwrap_or_else(|_| b"DIDL\x00\x00".to_vec())
}
