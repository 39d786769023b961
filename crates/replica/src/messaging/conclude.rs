//! Concluding an execution: [`Replica::conclude`] turns what it did into one commit — its
//! memories and system state, its fees, the calls it made, its response and the closing of
//! its call context — or, when it failed (a trap, or memory it cannot pay for), only its fees,
//! its cleanup callback's changes and the context's bookkeeping.

use candid::Principal;
use drydock_exec::{fees, EntryKind, Execution, MessageEnv, Outcome, StateDelta};

use super::execute::answer;
use super::queue::Outbox;
use super::{outcome_payload, split, Callback, Message, Payload, SavedClosure};
use crate::cycles::burn;
use crate::error::{CallError, RejectCode, ReplicaError, UserError};
use crate::ids::MANAGEMENT_CANISTER;
use crate::record::CanisterRecord;
use crate::replica::{trap_error, Replica};

/// An execution that failed, for [`Replica::conclude_failed`].
struct Failed {
    error: UserError,
    cleanup: Option<(SavedClosure, MessageEnv)>,
    context_instructions: Option<u64>,
    execution_cost: u128,
    /// Taken from the record's balance for the execution, given back before it pays.
    prepaid: u128,
}

/// Nanoseconds in a second, for best-effort call deadlines.
const NANOS: u64 = 1_000_000_000;

impl Replica {
    /// What the live instance of `id` changed since its last commit.
    fn live_delta(&mut self, id: &Principal) -> Result<StateDelta, ReplicaError> {
        match self.ensure_instance(id) {
            Ok(inst) => Ok(inst.delta()?),
            Err(CallError::Replica(e)) => Err(e),
            Err(CallError::User(u)) => Err(ReplicaError::CorruptRecord {
                key: CanisterRecord::key(id),
                cause: u.to_string(),
            }),
        }
    }

    /// Commits what an execution in call context `ctx_id` did: its memories and system state
    /// (`delta`, when the job already collected it), the calls it made, its response, and
    /// the context's closing — or, if it trapped, only the cleanup callback's changes and the
    /// context's bookkeeping.
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of one finished execution"
    )]
    pub(crate) fn conclude(
        &mut self,
        mut record: CanisterRecord,
        ctx_id: u64,
        exec: Execution,
        delta: Option<StateDelta>,
        mut out: Outbox,
        cleanup: Option<(SavedClosure, MessageEnv)>,
        prepaid: u128,
    ) -> Result<(), ReplicaError> {
        let id = record.id;
        let now = self.now();
        // The execution pays its base fee and the instructions it used, trapped or not.
        let execution_cost = fees::execution(exec.instructions);
        // Interface spec, "Performance counter": type 1 counts the call context's executions.
        let context_instructions = record.calls.contexts.get_mut(&ctx_id).map(|ctx| {
            ctx.instructions = ctx.instructions.saturating_add(exec.instructions);
            ctx.instructions
        });
        match exec.result {
            Err(trap) => {
                let error = trap_error(&id, &trap);
                let failed = Failed {
                    error,
                    cleanup,
                    context_instructions,
                    execution_cost,
                    prepaid,
                };
                self.conclude_failed(record, ctx_id, failed, out)
            }
            Ok(outcome) => {
                let delta = match delta {
                    Some(d) => d,
                    None => self.live_delta(&id)?,
                };
                // The balance after the execution: what it saw, plus what it accepted, less
                // what it sent and its calls' fees, with its prepayment back.
                let balance = exec
                    .api
                    .env
                    .cycles_balance
                    .saturating_add(exec.api.cycles_accepted)
                    .saturating_sub(exec.api.cycles_sent)
                    .saturating_sub(exec.api.call_fees_prepaid)
                    .saturating_add(prepaid);
                let before = record.heap_size.saturating_add(record.stable_size);
                let grown = delta
                    .heap
                    .size
                    .saturating_add(delta.stable.size)
                    .saturating_sub(before);
                if grown > 0 {
                    let mut probe = record.clone();
                    probe.apply_delta(&delta);
                    probe.cycles = balance.saturating_sub(execution_cost);
                    if let Err(e) = self.ensure_memory_paid(&probe, grown) {
                        let failed = Failed {
                            error: split(e)?,
                            cleanup,
                            context_instructions,
                            execution_cost,
                            prepaid,
                        };
                        return self.conclude_failed(record, ctx_id, failed, out);
                    }
                }
                record.apply_delta(&delta);
                // Interface spec, "Canister version": every successful execution of a
                // non-query message bumps it.
                record.version += 1;
                record.certified_data = exec.api.certified_data.clone();
                record.global_timer = exec.api.global_timer;
                record.cycles = balance;
                burn(&mut record, execution_cost);
                let mut calls = Vec::new();
                for call in exec.api.calls {
                    let cb_id = record.calls.next_callback;
                    record.calls.next_callback += 1;
                    let deadline = call.timeout_seconds.map_or(0, |s| {
                        now.saturating_add(u64::from(s).saturating_mul(NANOS))
                    });
                    let callee = Principal::try_from_slice(&call.callee).ok();
                    record.calls.callbacks.insert(
                        cb_id,
                        Callback {
                            context: ctx_id,
                            callee: callee.unwrap_or(MANAGEMENT_CANISTER),
                            reply: SavedClosure::from_exec(call.reply),
                            reject: SavedClosure::from_exec(call.reject),
                            cleanup: call.cleanup.map(SavedClosure::from_exec),
                            cycles_sent: call.cycles,
                            deadline,
                            timed_out: false,
                            module_hash: record.module_hash.clone(),
                            canister_version: record.version,
                        },
                    );
                    // Of the call's prepaid fees, the request's are spent now.
                    record.cycles_burned = record
                        .cycles_burned
                        .saturating_add(fees::xnet_call(call.method.len() + call.payload.len()));
                    calls.push((cb_id, callee, call, deadline));
                }
                let Some(ctx) = record.calls.contexts.get_mut(&ctx_id) else {
                    return Err(ReplicaError::CorruptRecord {
                        key: CanisterRecord::key(&id),
                        cause: format!("call context {ctx_id} vanished"),
                    });
                };
                ctx.available_cycles = ctx
                    .available_cycles
                    .saturating_sub(exec.api.cycles_accepted);
                ctx.outstanding = ctx.outstanding.saturating_add(calls.len() as u32);
                for (cb_id, callee, call, deadline) in calls {
                    match callee {
                        Some(callee) => out.sent.push(Message::Request {
                            caller: id,
                            callee,
                            method: call.method,
                            arg: call.payload,
                            cycles: call.cycles,
                            callback: cb_id,
                            deadline,
                        }),
                        None => out.sent.push(Message::Response {
                            caller: id,
                            callback: cb_id,
                            payload: Payload::Reject {
                                code: RejectCode::DestinationInvalid,
                                message: "the callee is not a valid principal".into(),
                                error: None,
                            },
                            refund: call.cycles,
                        }),
                    }
                }
                // Interface spec, "Call context": a context with no outstanding calls that
                // never replied is rejected for the canister ("did not reply").
                let replied = !matches!(outcome, Outcome::NoResponse);
                if !ctx.responded && (replied || ctx.outstanding == 0) {
                    answer(ctx, &mut out, outcome_payload(&id, outcome));
                }
                self.commit_with(record, Some(&delta), out)
            }
        }
    }

    /// Concludes an execution that failed (a trap, or memory it could not pay for): its
    /// changes are dropped and its instructions paid; a callback's cleanup runs and keeps its
    /// changes; the call context is answered with the error if nothing else will answer it.
    fn conclude_failed(
        &mut self,
        mut record: CanisterRecord,
        ctx_id: u64,
        failed: Failed,
        mut out: Outbox,
    ) -> Result<(), ReplicaError> {
        let id = record.id;
        let Failed {
            error,
            cleanup,
            context_instructions,
            execution_cost,
            prepaid,
        } = failed;
        self.discard(&id)?;
        record.cycles = record.cycles.saturating_add(prepaid);
        burn(&mut record, execution_cost);
        let mut delta = None;
        if let Some((closure, mut env)) = cleanup {
            env.call_context_instructions = context_instructions.unwrap_or(0);
            // Interface spec, "Callback invocation": a trapping callback's changes are
            // dropped, then the cleanup callback runs; its changes are kept.
            let limits = self.config.limits.update_instructions;
            if let Ok(cexec) = self.run_on(
                &record,
                "",
                Some(closure.to_exec()),
                EntryKind::Cleanup,
                env,
                limits,
            ) {
                burn(&mut record, fees::execution(cexec.instructions));
                if cexec.result.is_ok() {
                    let d = self.live_delta(&id)?;
                    record.apply_delta(&d);
                    record.certified_data = cexec.api.certified_data;
                    record.global_timer = cexec.api.global_timer;
                    delta = Some(d);
                } else {
                    self.discard(&id)?;
                }
            }
        }
        if let Some(ctx) = record.calls.contexts.get_mut(&ctx_id) {
            if !ctx.responded && ctx.outstanding == 0 {
                answer(ctx, &mut out, Payload::from_user_error(&error));
            }
        }
        self.commit_with(record, delta.as_ref(), out)
    }
}
