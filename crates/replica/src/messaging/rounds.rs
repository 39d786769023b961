//! Rounds: what the replica does when it is not waiting for input. Each round runs every due
//! global timer and every `canister_heartbeat` (as on the IC, once per round per canister),
//! then delivers the messages that were queued when it began, oldest first, then completes
//! the stops whose canisters have no open call context left.

use candid::Principal;

use super::execute::Call;
use super::job::Step;
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
    /// Runs one round and makes it durable; returns how many executions it ran.
    pub fn run_round(&mut self) -> Result<usize, ReplicaError> {
        let ran = self.round()?;
        self.sync()?;
        Ok(ran)
    }

    /// One round, its commits grouped: the due timers and heartbeats, the deadlines passed,
    /// the messages (and ingress) that were waiting when it began, canisters in parallel; then
    /// the stops that can complete.
    fn round(&mut self) -> Result<usize, ReplicaError> {
        // Tasks run alone (cutoff: nothing queued); the messages they send are delivered in
        // this round, as on the IC.
        let none = crate::Cutoff::running(1);
        let timers = self.take_tasks(true, false)?;
        let mut ran = self.run_jobs(timers, none)?;
        let heartbeats = self.take_tasks(false, true)?;
        ran += self.run_jobs(heartbeats, none)?;
        let cutoff = self.round_cutoff();
        self.grouped(|r| r.expire_deadlines())?;
        loop {
            let jobs = self.take_work(None, cutoff)?;
            if jobs.is_empty() {
                break;
            }
            ran += self.run_jobs(jobs, cutoff)?;
        }
        self.grouped(|r| r.complete_stops())?;
        Ok(ran)
    }

    /// What a scheduler does at the start of a round besides taking messages: the deadlines
    /// passed and the stops that can complete are handled, and the due timers and heartbeats
    /// of canisters that are not busy are returned as jobs.
    pub fn round_start(&mut self) -> Result<Vec<crate::Job>, ReplicaError> {
        self.grouped(|r| {
            r.sweep_requests()?;
            r.expire_deadlines()?;
            r.complete_stops()?;
            r.take_tasks(true, true)
        })
    }

    /// Between rounds: the stops that can complete.
    pub fn complete_stops_now(&mut self) -> Result<(), ReplicaError> {
        self.grouped(|r| r.complete_stops())
    }

    /// Runs rounds until no message waits, at most [`IDLE_ROUNDS`] of them (a canister
    /// whose heartbeat or timer sends messages keeps the queue busy for ever).
    pub fn run_until_idle(&mut self) -> Result<(), ReplicaError> {
        for _ in 0..IDLE_ROUNDS {
            self.round()?;
            if !self.has_pending_messages() {
                break;
            }
        }
        self.sync()
    }

    /// Runs rounds until ingress message `id` has its response, and returns it once durable.
    pub fn await_ingress(&mut self, id: u64) -> Result<Vec<u8>, CallError> {
        let start = std::time::Instant::now();
        for _ in 0..MAX_ROUNDS {
            if self.has_result(id) {
                break;
            }
            if start.elapsed() > INGRESS_WAIT {
                self.sync()?;
                return Err(UserError::new(
                    ErrorCode::IngressMessageTimeout,
                    format!("the call got no response within {} s (the IC's ingress expiry); it goes on running, and its effects stay", INGRESS_WAIT.as_secs()),
                )
                .into());
            }
            if !self.has_pending_messages() && !self.waits_for_stop(id) {
                break;
            }
            if self.round()? == 0 && !self.busy.is_empty() {
                // A scheduler's job holds a canister this call needs, and it cannot finish
                // while this waits holding the replica.
                return Err(ReplicaError::Internal(
                    "an in-process call waited for a canister that a scheduler's job holds; send it through the scheduler".into(),
                )
                .into());
            }
        }
        self.sync()?;
        match self.take_result(id) {
            Some(r) => r,
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

    /// Submits an update call without waiting for it (`--async`): accepts it, runs a round
    /// (which runs the timers due, then starts it), and returns its request number, whose response
    /// [`Self::request_status`] reads once it is there. The response is kept durably until
    /// read.
    pub fn submit(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<u64, CallError> {
        let id = self.accept_ingress(sender, canister, method, arg, true, None)?;
        // The round ends with a sync: the number is durable before it is handed out.
        self.run_round()?;
        Ok(id)
    }

    /// Checks an ingress update to a canister and accepts it for the next round; returns its
    /// number. With `keep` its answer is stored durably, else handed over in memory.
    pub(crate) fn accept_ingress(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
        keep: bool,
        caller_info: Option<super::CallerInfo>,
    ) -> Result<u64, CallError> {
        self.check_ingress(sender, canister, method, arg, caller_info.as_ref())?;
        let id = self.next_ingress_id();
        // The counter rides along with the next commit. A kept answer is found by its number
        // later, by another process: write the number now, ahead of the message's entry and
        // execution in the WAL, so it is never given twice. It needs no sync of its own: the
        // sync that makes the answer durable covers it (the WAL replays as a prefix), and
        // `submit`, which hands the number out, syncs before it does.
        if keep && !self.carry.is_empty() {
            let blobs = std::mem::take(&mut self.carry);
            self.store.commit_unsynced(drydock_state::Batch {
                blobs,
                ..Default::default()
            })?;
        }
        self.enqueue_ingress(super::queue::Ingress {
            id,
            keep,
            sender,
            canister,
            method: method.to_string(),
            arg: arg.to_vec(),
            caller_info,
        });
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
                self.sync()?;
                return Ok(Some(payload.into_result()));
            }
            if !wait || !self.has_pending_messages() {
                break;
            }
            self.round()?;
        }
        self.sync()?;
        Ok(None)
    }

    /// Whether `id` names a request this state directory has issued.
    pub fn knows_request(&self, id: u64) -> bool {
        id >= 1 && id <= self.next_ingress
    }

    /// Jobs for the global timers that are due and the heartbeats, on running canisters with
    /// a module that are not busy.
    /// With `heartbeats_too`, a canister whose timer is due gets only its timer job (its
    /// heartbeat waits for the next round); without, the heartbeats are left out (taken by a
    /// second call after the timers ran).
    fn take_tasks(
        &mut self,
        timers: bool,
        heartbeats: bool,
    ) -> Result<Vec<crate::Job>, ReplicaError> {
        self.grouped(|r| r.take_tasks_inner(timers, heartbeats))
    }

    fn take_tasks_inner(
        &mut self,
        timers: bool,
        heartbeats: bool,
    ) -> Result<Vec<crate::Job>, ReplicaError> {
        let now = self.now();
        // (canister, export, whether the module exports it)
        let mut tasks: Vec<(Principal, &'static str, bool)> = Vec::new();
        for c in self.canisters.values() {
            let r = &c.record;
            if r.status != CanisterStatus::Running
                || r.module_hash.is_none()
                || self.busy.contains(&r.id)
            {
                continue;
            }
            let Ok(Some(module)) = self.module_of(r) else {
                continue;
            };
            let e = &module.prepared.exports;
            let timer_due = timers && r.global_timer != 0 && r.global_timer <= now;
            let heartbeat = heartbeats && e.heartbeat;
            // A frozen canister's timer and heartbeat wait until it is topped up, as on the IC;
            // so do those of a canister that cannot pay for their instruction limit.
            let prepay = drydock_exec::fees::execution(self.config.limits.update_instructions);
            if (timer_due || heartbeat) && self.ensure_can_pay(r, prepay, None).is_err() {
                continue;
            }
            if timer_due {
                tasks.push((r.id, "canister_global_timer", e.global_timer));
            }
            if heartbeat {
                tasks.push((r.id, "canister_heartbeat", true));
            }
        }
        let mut jobs = Vec::new();
        for (id, export, exported) in tasks {
            if !exported {
                if let Ok(c) = self.get(&id) {
                    // A timer set by a module without the hook: deactivated.
                    let mut record = c.record.clone();
                    record.global_timer = 0;
                    self.commit_with(record, None, Outbox::default())?;
                }
            } else if jobs.iter().any(|j: &crate::Job| j.canister() == id) {
                // One job per canister at a time: its heartbeat waits for the next round.
            } else if let Step::Run(job) = self.prepare_task(id, export)? {
                jobs.push(*job);
            }
        }
        Ok(jobs)
    }

    /// Interface spec, "Best-effort responses": a bounded-wait call whose deadline has passed
    /// gets a SYS_UNKNOWN reject ("Request timed out"); a late real response is dropped.
    fn expire_deadlines(&mut self) -> Result<(), ReplicaError> {
        let now = self.now();
        let due: Vec<(Principal, Vec<u64>)> = self
            .canisters
            .values()
            .filter(|c| !self.busy.contains(&c.record.id))
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
        record.version += 1;
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
                c.record.status == CanisterStatus::Stopping
                    && c.record.calls.contexts.is_empty()
                    && !self.busy.contains(&c.record.id)
            })
            .map(|c| c.record.id)
            .collect();
        for id in ready {
            let mut record = self.canisters[&id].record.clone();
            record.status = CanisterStatus::Stopped;
            record.version += 1;
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
