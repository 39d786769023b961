//! Executing messages on canisters: a call (ingress, from a canister, or a timer/heartbeat
//! task) opens a call context and runs a method; a response runs a callback in the caller;
//! either way `conclude.rs` turns what the execution did into one commit.

use candid::Principal;
use drydock_exec::{fees, EntryKind, Execution, MessageEnv, StateDelta};

use super::job::{Entry, Step, Then};
use super::queue::Outbox;
use super::{split, CallContext, Origin, Payload};
use crate::cycles::burn;
use crate::destination::{route, Destination};
use crate::error::{CallError, ErrorCode, RejectCode, ReplicaError, UserError};
use crate::ids::MANAGEMENT_CANISTER;
use crate::record::{CanisterRecord, CanisterStatus};
use crate::replica::{no_module, Replica};

/// A call to start on a canister.
pub(crate) struct Call<'a> {
    pub origin: Origin,
    pub caller: Principal,
    pub callee: Principal,
    pub method: &'a str,
    pub arg: &'a [u8],
    pub cycles: u128,
    pub deadline: u64,
    /// An ingress message's caller info.
    pub caller_info: Option<&'a super::CallerInfo>,
}

impl Replica {
    /// Commits an outbox alone (no canister changed), then applies it.
    pub(crate) fn commit_outbox(&mut self, mut out: Outbox) -> Result<(), ReplicaError> {
        if out.is_empty() && out.ingress.is_empty() {
            return Ok(());
        }
        let mut batch = drydock_state::Batch {
            blobs: out.blobs(&mut self.queue)?,
            ..Default::default()
        };
        batch.blobs.append(&mut self.carry);
        if !batch.blobs.is_empty() {
            self.store_commit(batch)?;
        }
        self.outbox_committed(out);
        Ok(())
    }

    pub(crate) fn outbox_committed(&mut self, out: Outbox) {
        for (id, _keep, payload) in out.committed(&mut self.queue) {
            // Handed out after the next sync (group commit); a kept answer is in the store
            // as well.
            self.unpublished.push((id, payload));
        }
    }

    /// Checks that `callee` can take the call `method` as an update, and returns the export
    /// and entry kind to run.
    pub(crate) fn update_entry(
        &self,
        callee: &Principal,
        method: &str,
    ) -> Result<(String, EntryKind), CallError> {
        let record = &self.get(callee)?.record;
        match record.status {
            CanisterStatus::Running => {}
            CanisterStatus::Stopping => {
                return Err(UserError::new(
                    ErrorCode::CanisterStopping,
                    format!("Canister {callee} is stopping"),
                )
                .into())
            }
            CanisterStatus::Stopped => {
                return Err(UserError::new(
                    ErrorCode::CanisterStopped,
                    format!("Canister {callee} is stopped"),
                )
                .into())
            }
        }
        let module = self.module_of(record)?.ok_or_else(|| no_module(callee))?;
        let exports = &module.prepared.exports;
        if exports.updates.contains(method) {
            Ok((format!("canister_update {method}"), EntryKind::Update))
        } else if exports.queries.contains(method) {
            Ok((
                format!("canister_query {method}"),
                EntryKind::ReplicatedQuery,
            ))
        } else if exports.composite_queries.contains(method) {
            // Interface spec, "Composite query methods": not callable in replicated mode.
            Err(UserError::new(
                ErrorCode::CompositeQueryCalledInReplicatedMode,
                format!("Error from Canister {callee}: Composite query cannot be called in replicated mode"),
            )
            .into())
        } else {
            Err(UserError::new(
                ErrorCode::CanisterMethodNotFound,
                format!("Error from Canister {callee}: Canister has no update method '{method}'"),
            )
            .into())
        }
    }

    /// Prepares `call` on its callee: opens a call context and checks out the method's
    /// execution, consuming the queued message `seq`. A call that cannot start is rejected to
    /// its origin at once, refunding its cycles; a call to the management canister or a native
    /// canister runs at once.
    pub(crate) fn prepare_call(
        &mut self,
        call: Call<'_>,
        seq: Option<u64>,
    ) -> Result<Step, ReplicaError> {
        let out = Outbox::consuming(seq);
        if !matches!(route(&call.callee), Destination::Canister(_)) {
            self.call_native(call, out)?;
            return Ok(Step::Done);
        }
        let (export, kind) = match self.update_entry(&call.callee, call.method) {
            Ok(e) => e,
            Err(e) => return self.reject_at_once(&call, out, &split(e)?),
        };
        let mut record = match self.get(&call.callee) {
            Ok(c) => c.record.clone(),
            Err(e) => return self.reject_at_once(&call, out, &e),
        };
        // The canister pays for its memory so far, for an ingress message, and in advance for
        // the execution's instruction limit, all above its freezing threshold ("Cycles
        // costs"; interface spec, "freezing_threshold": a frozen canister takes no message).
        let now = self.now();
        let instructions = self.config.limits.update_instructions;
        let induction = match call.origin {
            Origin::Ingress { .. } => fees::ingress_induction(call.method.len() + call.arg.len()),
            _ => 0,
        };
        let prepaid = fees::execution(instructions);
        let cost = induction.saturating_add(prepaid);
        let threshold = match self.pay_in_advance(&mut record, now, cost, Some(&call.caller)) {
            Ok(t) => t,
            Err(e) => return self.reject_at_once(&call, out, &split(e)?),
        };
        burn(&mut record, induction);
        record.cycles -= prepaid;
        let ctx_id = record.calls.next_context;
        record.calls.next_context += 1;
        record.calls.contexts.insert(
            ctx_id,
            CallContext {
                origin: call.origin,
                caller: call.caller,
                responded: false,
                available_cycles: call.cycles,
                outstanding: 0,
                deadline: call.deadline,
                instructions: 0,
                caller_info: call.caller_info.cloned(),
            },
        );
        let mut env = self.env(&record, &call.caller, call.method, call.arg);
        super::CallerInfo::apply(call.caller_info, &mut env);
        env.cycles_available = call.cycles;
        env.deadline = call.deadline;
        env.freezing_threshold = threshold;
        let then = Then {
            record,
            ctx_id,
            out,
            cleanup: None,
            replicated_query: (kind == EntryKind::ReplicatedQuery).then_some(call.cycles),
            prepaid,
        };
        self.prepared(
            Entry::Export(export),
            kind,
            env,
            instructions,
            then,
            true,
            call.cycles,
        )
    }

    /// Rejects a call that cannot start to its origin at once with `e`, refunding its cycles.
    fn reject_at_once(
        &mut self,
        call: &Call<'_>,
        mut out: Outbox,
        e: &UserError,
    ) -> Result<Step, ReplicaError> {
        out.respond(&call.origin, Payload::from_user_error(e), call.cycles);
        self.commit_outbox(out)?;
        Ok(Step::Done)
    }

    /// Checks a prepared execution out, or handles the failure to.
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of one prepared execution"
    )]
    fn prepared(
        &mut self,
        entry: Entry,
        kind: EntryKind,
        env: MessageEnv,
        instructions: u64,
        then: Then,
        fresh: bool,
        cycles: u128,
    ) -> Result<Step, ReplicaError> {
        // The failure path needs `then` back; check the instance first.
        let id = then.record.id;
        if let Err(e) = self.ensure_instance(&id) {
            return self.checkout_failed(e, then, fresh, cycles);
        }
        match self.checkout(entry, kind, env, instructions, then) {
            Ok(job) => Ok(Step::Run(Box::new(job))),
            Err(e) => Err(match split(e) {
                Ok(u) => ReplicaError::CorruptRecord {
                    key: CanisterRecord::key(&id),
                    cause: u.to_string(),
                },
                Err(r) => r,
            }),
        }
    }

    /// Prepares a timer or heartbeat task in a call context nobody waits for.
    pub(crate) fn prepare_task(
        &mut self,
        id: Principal,
        export: &str,
    ) -> Result<Step, ReplicaError> {
        let Ok(c) = self.get(&id) else {
            return Ok(Step::Done);
        };
        let mut record = c.record.clone();
        let now = self.now();
        let instructions = self.config.limits.update_instructions;
        let prepaid = fees::execution(instructions);
        let Ok(threshold) = self.pay_in_advance(&mut record, now, prepaid, None) else {
            // Out of cycles (checked when the task was chosen; the memory charge may have
            // tipped it): the task waits for a top-up.
            return Ok(Step::Done);
        };
        if export == "canister_global_timer" {
            // Deactivated before it runs, as on the IC; the handler may set it again.
            record.global_timer = 0;
        }
        let ctx_id = record.calls.next_context;
        record.calls.next_context += 1;
        record.calls.contexts.insert(
            ctx_id,
            CallContext {
                origin: Origin::System,
                caller: MANAGEMENT_CANISTER,
                responded: true,
                available_cycles: 0,
                outstanding: 0,
                deadline: 0,
                instructions: 0,
                caller_info: None,
            },
        );
        record.cycles -= prepaid;
        let mut env = self.env(&record, &MANAGEMENT_CANISTER, "", &[]);
        env.freezing_threshold = threshold;
        let then = Then {
            record,
            ctx_id,
            out: Outbox::default(),
            cleanup: None,
            replicated_query: None,
            prepaid,
        };
        self.prepared(
            Entry::Export(export.to_string()),
            EntryKind::SystemTask,
            env,
            instructions,
            then,
            true,
            0,
        )
    }

    /// Prepares the delivery of a response to the canister that made the call: its reply or
    /// reject callback (and the cleanup callback if that traps).
    pub(crate) fn prepare_response(
        &mut self,
        seq: u64,
        caller: Principal,
        callback_id: u64,
        payload: Payload,
        refund: u128,
    ) -> Result<Step, ReplicaError> {
        let out = Outbox::consuming(Some(seq));
        let Ok(c) = self.get(&caller) else {
            // The caller was deleted: the response is dropped.
            self.commit_outbox(out)?;
            return Ok(Step::Done);
        };
        let mut record = c.record.clone();
        let Some(cb) = record.calls.callbacks.remove(&callback_id) else {
            // A callback dropped by an uninstall or a timeout: the late response is dropped.
            self.commit_outbox(out)?;
            return Ok(Step::Done);
        };
        // What the call reserved comes back: the cycles the callee did not take, the response
        // bytes not used (those used are paid), and the callback's execution, which is then
        // prepaid like any execution ("Cycles costs": Xnet byte transmission).
        let response_bytes = match &payload {
            Payload::Reply(bytes) => bytes.len(),
            Payload::Reject { message, .. } => message.len(),
        };
        record.cycles = record
            .cycles
            .saturating_add(refund)
            .saturating_add(fees::unused_response_bytes(response_bytes))
            .saturating_add(fees::callback_execution());
        record.cycles_burned = record
            .cycles_burned
            .saturating_add(fees::xnet_bytes(response_bytes));
        let Some(ctx) = record.calls.contexts.get_mut(&cb.context) else {
            self.commit_with(record, None, out)?;
            return Ok(Step::Done);
        };
        ctx.outstanding = ctx.outstanding.saturating_sub(1);
        let ctx = ctx.clone();
        if record.module_hash.is_none() {
            self.commit_with(record, None, out)?;
            return Ok(Step::Done);
        }
        if cb.module_hash != record.module_hash {
            // Interface spec, "Callback invocation" (and the IC's advice to stop a canister
            // before upgrading it): the closure indices were the old module's; they now run
            // in the new module's table, or trap with "table not found".
            let note = format!(
                    "[drydock] the response to call {callback_id} (to {}) was registered by module {} at canister version {}; it runs in module {} at version {}: its callback is table index {} of a module that did not make the call. Stop the canister and let its calls finish before upgrading it (drydock canister upgrade does).",
                    cb.callee,
                    cb.module_hash.as_deref().map_or("none", |h| &h[..h.len().min(16)]),
                    cb.canister_version,
                    record.module_hash.as_deref().map_or("none", |h| &h[..h.len().min(16)]),
                    record.version,
                    if matches!(payload, Payload::Reply(_)) { cb.reply.fun } else { cb.reject.fun },
                );
            let stale = &mut record.calls.stale_responses;
            stale.push(note.clone());
            let extra = stale.len().saturating_sub(super::STALE_KEPT);
            stale.drain(..extra);
            self.note_in_log(record.id, note);
        }
        let (closure, kind, reject) = match &payload {
            Payload::Reply(_) => (cb.reply, EntryKind::ReplyCallback, None),
            Payload::Reject { code, message, .. } => (
                cb.reject,
                EntryKind::RejectCallback,
                Some((*code as u32, message.clone())),
            ),
        };
        let arg = match payload {
            Payload::Reply(bytes) => bytes,
            Payload::Reject { .. } => Vec::new(),
        };
        let mut env = self.env(&record, &ctx.caller, "", &arg);
        super::CallerInfo::apply(ctx.caller_info.as_ref(), &mut env);
        env.cycles_available = ctx.available_cycles;
        env.cycles_refunded = refund;
        env.reject = reject;
        env.responded = ctx.responded;
        env.deadline = cb.deadline;
        env.call_context_instructions = ctx.instructions;
        let instructions = self.config.limits.update_instructions;
        let prepaid = fees::callback_execution().min(record.cycles);
        record.cycles -= prepaid;
        env.cycles_balance = record.cycles;
        env.freezing_threshold = self.freezing_limit(&record).unwrap_or(u128::MAX);
        let then = Then {
            record,
            ctx_id: cb.context,
            out,
            cleanup: cb.cleanup.map(|c| (c, env.clone())),
            replicated_query: None,
            prepaid,
        };
        self.prepared(
            Entry::Callback(closure.to_exec()),
            kind,
            env,
            instructions,
            then,
            false,
            0,
        )
    }

    /// Commits a canister's record — with a delta of its live instance, when given — and
    /// an outbox, closing the call contexts that are finished, then applies the outbox.
    pub(crate) fn commit_with(
        &mut self,
        mut record: CanisterRecord,
        delta: Option<&StateDelta>,
        mut out: Outbox,
    ) -> Result<(), ReplicaError> {
        close_finished(&mut record);
        let blobs = out.blobs(&mut self.queue)?;
        match self.commit(record, delta.map(|d| (d, false, false)), blobs) {
            Ok(()) | Err(CallError::User(_)) => {}
            Err(CallError::Replica(e)) => return Err(e),
        }
        self.outbox_committed(out);
        Ok(())
    }

    /// Runs an export (or, with `closure`, a callback) on the canister's live instance.
    pub(crate) fn run_on(
        &mut self,
        record: &CanisterRecord,
        export: &str,
        closure: Option<drydock_exec::Closure>,
        kind: EntryKind,
        env: MessageEnv,
        instructions: u64,
    ) -> Result<Execution, CallError> {
        let enforce = matches!(kind, EntryKind::Update);
        let limits = self.exec_limits(instructions, record, enforce);
        let certified = record.certified_data.clone();
        let timer = record.global_timer;
        let inst = self.ensure_instance(&record.id)?;
        let exec = match closure {
            Some(c) => inst.run_callback(c, kind, env, certified, timer, limits),
            None => inst.run(export, kind, env, certified, timer, limits),
        };
        self.log(record.id, &exec);
        Ok(exec)
    }

    /// Rolls the live instance back to the committed state (dropping it when it cannot be).
    pub(crate) fn discard(&mut self, id: &Principal) -> Result<(), ReplicaError> {
        let Ok(c) = self.get_mut(id) else {
            return Ok(());
        };
        if let Some(inst) = c.instance.as_mut() {
            if inst.rollback().is_err() {
                c.instance = None;
            }
        }
        Ok(())
    }

    /// A call to the management canister or a native system canister from a canister: runs
    /// it now as the calling canister, and sends the response back.
    fn call_native(&mut self, call: Call<'_>, mut out: Outbox) -> Result<(), ReplicaError> {
        let result = match route(&call.callee) {
            Destination::System(system) => self
                .system_update(system, call.caller, call.method, call.arg)
                .map(|r| (r, 0)),
            Destination::Management if call.method == "stop_canister" => {
                return self.stop_from(call, out)
            }
            Destination::Management => {
                self.management_from_canister(call.caller, call.method, call.arg, call.cycles)
            }
            Destination::Canister(_) => Err(crate::error::ReplicaError::Internal(
                "a canister call routed as a native one".into(),
            )
            .into()),
        };
        let (payload, refund) = match result {
            Ok((bytes, used)) => (Payload::Reply(bytes), call.cycles.saturating_sub(used)),
            Err(e) => (Payload::from_user_error(&split(e)?), call.cycles),
        };
        out.respond(&call.origin, payload, refund);
        self.commit_outbox(out)
    }
}

/// Answers a call context: its origin gets `payload` and the cycles still available.
pub(crate) fn answer(ctx: &mut CallContext, out: &mut Outbox, payload: Payload) {
    ctx.responded = true;
    let refund = std::mem::take(&mut ctx.available_cycles);
    out.respond(&ctx.origin, payload, refund);
}

/// Removes the call contexts that are responded to and wait for no call.
pub(crate) fn close_finished(record: &mut CanisterRecord) {
    record
        .calls
        .contexts
        .retain(|_, c| !(c.responded && c.outstanding == 0));
}

/// Interface spec, "IC method uninstall_code" (and reinstall): every open call context is
/// rejected with "Canister has been uninstalled." and the outstanding callbacks are dropped,
/// so their responses are discarded when they arrive.
pub(crate) fn reject_open_contexts(record: &mut CanisterRecord, out: &mut Outbox) {
    for (_, ctx) in std::mem::take(&mut record.calls.contexts) {
        if !ctx.responded {
            out.respond(
                &ctx.origin,
                Payload::Reject {
                    code: RejectCode::CanisterReject,
                    message: "Canister has been uninstalled.".into(),
                    error: Some(ErrorCode::CanisterRejectedMessage),
                },
                ctx.available_cycles,
            );
        }
    }
    record.calls.callbacks.clear();
}
