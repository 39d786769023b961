//! Queries, run in non-replicated mode and always rolled back — composite queries included,
//! whose calls to other canisters' query methods run at once, depth first, with the callbacks
//! on the caller's live (uncommitted) instance (interface spec, "Composite query methods").

use std::collections::VecDeque;

use candid::Principal;
use drydock_exec::{EntryKind, Outcome, OutgoingCall};

use super::outcome_payload;
use super::CallerInfo;
use super::Payload;
use crate::destination::{route, Destination};
use crate::error::{CallError, ErrorCode, UserError};
use crate::record::CanisterStatus;
use crate::replica::{no_module, trap_error, Replica};

/// The deepest chain of composite query calls the IC allows.
const MAX_QUERY_DEPTH: usize = 6;

impl Replica {
    /// A query call: runs and is always rolled back.
    pub fn query(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        self.query_with_certificate(sender, canister, method, arg, None, None)
    }

    /// A query call whose method sees `certificate` through `ic0.data_certificate_*` (the HTTP
    /// interface passes a certificate of the canister's certified data), and the request's
    /// `caller_info` through `ic0.msg_caller_info_*`. Calls a composite query makes see
    /// neither, as on the IC.
    pub fn query_with_certificate(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
        certificate: Option<Vec<u8>>,
        caller_info: Option<CallerInfo>,
    ) -> Result<Vec<u8>, CallError> {
        match route(&canister) {
            // Interface spec, "IC method fetch_canister_logs": a query call.
            Destination::Management if method == "fetch_canister_logs" => {
                return self.fetch_canister_logs(sender, arg);
            }
            // Interface spec, "IC method canister_status": callable as a query too, with the
            // same access control.
            Destination::Management if method == "canister_status" => {
                return self.management(sender, method, arg);
            }
            Destination::Management => {
                return Err(UserError::new(
                    ErrorCode::CanisterMethodNotFound,
                    format!("Management canister has no query method '{method}'"),
                )
                .into());
            }
            Destination::System(system) => {
                return self.system_query(system, sender, method, arg);
            }
            Destination::Canister(_) => {}
        }
        self.data_certificate = certificate;
        self.query_caller_info = caller_info;
        let mut stack = Vec::new();
        let result = self.query_call(sender, canister, method, arg, &mut stack);
        self.data_certificate = None;
        self.query_caller_info = None;
        result
    }

    fn query_call(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
        stack: &mut Vec<Principal>,
    ) -> Result<Vec<u8>, CallError> {
        let record = self.get(&canister)?.record.clone();
        if record.status == CanisterStatus::Stopped {
            return Err(UserError::new(
                ErrorCode::CanisterStopped,
                format!("Canister {canister} is stopped"),
            )
            .into());
        }
        let threshold = self.ensure_not_frozen(&record, None)?;
        let module = self
            .module_of(&record)?
            .ok_or_else(|| no_module(&canister))?;
        let exports = &module.prepared.exports;
        let (export, kind) = if exports.queries.contains(method) {
            (format!("canister_query {method}"), EntryKind::Query)
        } else if exports.composite_queries.contains(method) {
            (
                format!("canister_composite_query {method}"),
                EntryKind::CompositeQuery,
            )
        } else {
            return Err(UserError::new(
                ErrorCode::CanisterMethodNotFound,
                format!("Canister {canister} has no query method '{method}'"),
            )
            .into());
        };
        if stack.contains(&canister) {
            return Err(UserError::new(
                ErrorCode::QueryCallGraphLoopDetected,
                format!("Error from Canister {canister}: Loop detected.  MSG: Composite query call graph contains a loop"),
            )
            .into());
        }
        if stack.len() >= MAX_QUERY_DEPTH {
            return Err(UserError::new(
                ErrorCode::QueryCallGraphTooDeep,
                format!("Error from Canister {canister}: Composite query call graph is too deep (more than {MAX_QUERY_DEPTH} levels)"),
            )
            .into());
        }
        stack.push(canister);
        let result = self.query_run(
            sender, &record, threshold, method, arg, &export, kind, stack,
        );
        self.discard(&canister)?;
        stack.pop();
        result
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the query's parts, as the caller has them"
    )]
    fn query_run(
        &mut self,
        sender: Principal,
        record: &crate::record::CanisterRecord,
        threshold: u128,
        method: &str,
        arg: &[u8],
        export: &str,
        kind: EntryKind,
        stack: &mut Vec<Principal>,
    ) -> Result<Vec<u8>, CallError> {
        let canister = record.id;
        let instructions = self.config.limits.query_instructions;
        let mut env = self.env(record, &sender, method, arg);
        env.freezing_threshold = threshold;
        // Only the query the client sent sees the certificate and the caller info.
        let caller_info = if stack.len() == 1 {
            env.data_certificate = self.data_certificate.take();
            self.query_caller_info.take()
        } else {
            None
        };
        CallerInfo::apply(caller_info.as_ref(), &mut env);
        let mut exec = self.run_on(record, export, None, kind, env, instructions)?;
        let mut response: Option<Outcome> = None;
        let mut pending: VecDeque<OutgoingCall> = VecDeque::new();
        loop {
            match exec.result {
                Err(trap) => {
                    if response.is_none() {
                        return Err(trap_error(&canister, &trap).into());
                    }
                }
                Ok(Outcome::NoResponse) => {}
                Ok(outcome) => {
                    if response.is_none() {
                        response = Some(outcome);
                    }
                }
            }
            pending.extend(exec.api.calls);
            let Some(call) = pending.pop_front() else {
                break;
            };
            let payload = match Principal::try_from_slice(&call.callee) {
                Ok(callee) => {
                    match self.query_call(canister, callee, &call.method, &call.payload, stack) {
                        Ok(bytes) => Payload::Reply(bytes),
                        Err(CallError::User(u)) => Payload::from_user_error(&u),
                        Err(e) => return Err(e),
                    }
                }
                Err(_) => Payload::from_user_error(&UserError::new(
                    ErrorCode::CanisterNotFound,
                    "the callee is not a valid principal",
                )),
            };
            let mut env = self.env(record, &sender, "", &[]);
            env.freezing_threshold = threshold;
            CallerInfo::apply(caller_info.as_ref(), &mut env);
            env.responded = response.is_some();
            let (closure, kind) = match payload {
                Payload::Reply(bytes) => {
                    env.arg = bytes;
                    (call.reply, EntryKind::ReplyCallback)
                }
                Payload::Reject { code, message, .. } => {
                    env.reject = Some((code as u32, message));
                    (call.reject, EntryKind::RejectCallback)
                }
            };
            exec = self.run_on(record, "", Some(closure), kind, env, instructions)?;
        }
        match response {
            Some(outcome) => outcome_payload(&canister, outcome)
                .into_result()
                .map_err(CallError::from),
            None => Err(UserError::new(
                ErrorCode::CanisterDidNotReply,
                format!("Error from Canister {canister}: Canister did not reply to the call"),
            )
            .into()),
        }
    }
}
