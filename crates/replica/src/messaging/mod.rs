//! Inter-canister messaging: call contexts, callbacks and the durable message queue, as the
//! interface spec's abstract behaviour describes them ("Call contexts", "Message execution",
//! "Call reply", "Callback invocation").
//!
//! # Shape
//! - [`CallContext`]s live in the callee's record: one per call a canister is executing (an
//!   ingress message, a call from a canister, or a timer/heartbeat task), open until it is
//!   responded to *and* none of the calls it made is outstanding.
//! - [`Callback`]s live in the caller's record: one per call made with `call_perform`, until
//!   the response runs it.
//! - [`Message`]s between canisters wait in the durable [`queue::Queue`], blobs
//!   `queue/<seq>` in the state store, FIFO overall (so FIFO per caller–callee pair).
//!
//! # Invariants
//! - Executing a message and every effect it has — the canister's memories and record (its
//!   contexts and callbacks included), the removal of the message it consumed from the queue,
//!   the messages it sends — is one `Store::commit`. After a crash each message is either
//!   fully executed or still queued: nothing runs twice and nothing acknowledged is lost.
//! - Every request gets exactly one response: a reply, a reject by the callee, or the
//!   system's reject (unknown or stopped callee, a trap, no reply, a best-effort timeout).
//! - A callback runs in whatever module the canister has when the response arrives (an
//!   upgrade in between makes it run in the new module's table, as on the IC).

mod conclude;
pub(crate) mod execute;
pub mod job;
mod json_bytes;
mod query;
pub(crate) mod queue;
mod rounds;
pub mod schedule;

pub(crate) use rounds::NEXT_INGRESS_KEY;

use candid::Principal;
use drydock_exec::Outcome;
use serde::{Deserialize, Serialize};

use crate::error::{CallError, ErrorCode, RejectCode, ReplicaError, UserError};

/// A closure in the canister's function table (see `drydock_exec::Closure`), persisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedClosure {
    pub fun: u64,
    pub env: u64,
}

impl SavedClosure {
    pub(crate) fn from_exec(c: drydock_exec::Closure) -> Self {
        SavedClosure {
            fun: c.fun,
            env: c.env,
        }
    }
    pub(crate) fn to_exec(self) -> drydock_exec::Closure {
        drydock_exec::Closure {
            fun: self.fun,
            env: self.env,
        }
    }
}

/// Who is waiting for a call context's response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// An ingress message, by the replica's ingress number; with `keep` its response is
    /// stored durably as the blob `ingress/<id>` (`--async` submissions), else handed to the
    /// waiting caller in memory.
    Ingress {
        id: u64,
        #[serde(default)]
        keep: bool,
    },
    /// Another canister (or the same one), through its callback `callback`.
    Canister { caller: Principal, callback: u64 },
    /// A timer or heartbeat: nobody waits for a response.
    System,
}

/// What a request's canister-signed `sender_info` attested about its sender, and the canister
/// that signed it (the interface spec, "Authentication"): a canister reads them with
/// `ic0.msg_caller_info_data_*` and `ic0.msg_caller_info_signer_*`, in the call's own
/// execution and its callbacks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerInfo {
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    pub signer: Principal,
}

impl CallerInfo {
    /// Sets `env`'s caller info to `info` (none: both empty).
    pub(crate) fn apply(info: Option<&CallerInfo>, env: &mut drydock_exec::MessageEnv) {
        if let Some(info) = info {
            env.caller_info_data = info.data.clone();
            env.caller_info_signer = info.signer.as_slice().to_vec();
        }
    }
}

/// A call the canister is executing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallContext {
    pub origin: Origin,
    /// The caller, as `msg_caller` reports it in callbacks too.
    pub caller: Principal,
    pub responded: bool,
    /// Cycles the caller attached that were neither accepted nor refunded yet.
    pub available_cycles: u128,
    /// Calls made from this context still waiting for their response.
    pub outstanding: u32,
    /// The deadline of the call (best-effort calls), 0 for guaranteed-response ones.
    pub deadline: u64,
    /// Instructions the executions of this context have used so far, for
    /// `performance_counter(1)` in its callbacks.
    #[serde(default)]
    pub instructions: u64,
    /// The caller info of the ingress message that opened the context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_info: Option<CallerInfo>,
}

/// A call the canister made and whose response it waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    /// The call context it belongs to.
    pub context: u64,
    pub callee: Principal,
    pub reply: SavedClosure,
    pub reject: SavedClosure,
    pub cleanup: Option<SavedClosure>,
    pub cycles_sent: u128,
    /// Nanoseconds; 0 for a guaranteed-response call.
    pub deadline: u64,
    /// The deadline passed and the SYS_UNKNOWN timeout response is on its way; whichever
    /// response arrives first runs the callback, the other is dropped.
    #[serde(default)]
    pub timed_out: bool,
    /// The module (hash, hex) and canister version that made the call: a response that
    /// arrives after a code change runs its closures in the new module's table, which drydock
    /// names in the canister's log (see `prepare_response`).
    #[serde(default)]
    pub module_hash: Option<String>,
    #[serde(default)]
    pub canister_version: u64,
}

/// What a response carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    Reply(#[serde(with = "json_bytes")] Vec<u8>),
    Reject {
        code: RejectCode,
        message: String,
        /// The IC's error code behind a system reject (for ingress callers).
        error: Option<ErrorCode>,
    },
}

impl Payload {
    pub(crate) fn from_user_error(e: &UserError) -> Self {
        Payload::Reject {
            code: e.reject_code(),
            message: e.message.clone(),
            error: Some(e.code),
        }
    }

    /// The reply, or the rejection as an ingress caller sees it.
    pub(crate) fn into_result(self) -> Result<Vec<u8>, UserError> {
        match self {
            Payload::Reply(bytes) => Ok(bytes),
            Payload::Reject {
                code,
                message,
                error,
            } => Err(UserError::new(
                error.unwrap_or(match code {
                    RejectCode::CanisterReject => ErrorCode::CanisterRejectedMessage,
                    RejectCode::DestinationInvalid => ErrorCode::CanisterNotFound,
                    _ => ErrorCode::CanisterTrapped,
                }),
                message,
            )),
        }
    }
}

/// A message between canisters (or from the management canister to one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    Request {
        caller: Principal,
        callee: Principal,
        method: String,
        #[serde(with = "json_bytes")]
        arg: Vec<u8>,
        cycles: u128,
        /// The caller's callback for the response.
        callback: u64,
        deadline: u64,
    },
    Response {
        /// The canister that made the call.
        caller: Principal,
        callback: u64,
        payload: Payload,
        /// Cycles returned to the caller.
        refund: u128,
    },
}

/// The messaging part of a canister's record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanisterCalls {
    #[serde(default)]
    pub contexts: std::collections::BTreeMap<u64, CallContext>,
    #[serde(default)]
    pub callbacks: std::collections::BTreeMap<u64, Callback>,
    #[serde(default)]
    pub next_context: u64,
    #[serde(default)]
    pub next_callback: u64,
    /// Who waits for `stop_canister` to complete.
    #[serde(default)]
    pub stop_waiters: Vec<Origin>,
    /// The last [`STALE_KEPT`] responses that ran in a module other than the one that made
    /// the call, as drydock's log note names them (for `drydock canister status`).
    #[serde(default)]
    pub stale_responses: Vec<String>,
}

/// How many stale-response notes a canister's record keeps.
pub const STALE_KEPT: usize = 5;

impl CanisterCalls {
    /// Call contexts still open (responded to or not).
    pub fn open_contexts(&self) -> usize {
        self.contexts.len()
    }
}

/// A replica failure aborts the loop; a user error becomes the call's reject.
pub(crate) fn split(e: CallError) -> Result<UserError, ReplicaError> {
    match e {
        CallError::User(u) => Ok(u),
        CallError::Replica(r) => Err(r),
    }
}

/// The response a finished method produced.
pub(crate) fn outcome_payload(id: &Principal, outcome: Outcome) -> Payload {
    match outcome {
        Outcome::Reply(bytes) => Payload::Reply(bytes),
        Outcome::Reject(message) => Payload::Reject {
            code: RejectCode::CanisterReject,
            message,
            error: Some(ErrorCode::CanisterRejectedMessage),
        },
        Outcome::NoResponse => Payload::from_user_error(&UserError::new(
            ErrorCode::CanisterDidNotReply,
            format!("Error from Canister {id}: Canister did not reply to the call"),
        )),
    }
}
