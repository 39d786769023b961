//! The one way commands reach the management canister: [`Transport`], its methods as Candid
//! bytes, implemented for the embedded replica ([`crate::context::Ctx`], the state directory) and for any IC
//! endpoint through ic-agent ([`agent::AgentTransport`], `--network URL`). A command written
//! against it works both ways: `canister create` (the cycles ledger's, over a network),
//! `status`, `start`, `stop`, `delete`, `info`,
//! `metadata`, `logs`, `install`, `call`, `upgrade`, `check` and the `canister snapshot`
//! commands (`rehearse` reads the network through it too).

pub mod agent;
mod labels;

use std::collections::HashMap;

use candid::utils::ArgumentEncoder;
use candid::{CandidType, Principal};
use ic_management_canister_types::{Snapshot, TakeCanisterSnapshotArgs};
use serde::de::DeserializeOwned;

use crate::error::CliError;

/// The management canister's methods as Candid bytes: implemented for the embedded replica
/// ([`crate::context::Ctx`]) and for any IC endpoint through ic-agent ([`agent::AgentTransport`],
/// `--network URL`). Typed calls go through [`management`].
pub trait Transport {
    /// Calls management method `method` about `canister` (the call's effective canister id)
    /// with Candid-encoded `arg`, and returns the Candid reply.
    fn management_raw(
        &mut self,
        method: &str,
        canister: Principal,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError>;

    /// Calls of management method `method` about `canister`, one per item of `args`, with up
    /// to `in_flight` of them in flight at once where the transport can (the agent sends the
    /// next as soon as an answer is in; the embedded replica runs them one after another).
    /// Each answer goes to `answer` in the order of `args`. Stops at the first error `answer`
    /// returns and returns it; the calls in flight then are abandoned, so only calls that may be
    /// made twice belong here.
    fn management_raw_stream(
        &mut self,
        method: &str,
        canister: Principal,
        args: &mut dyn Iterator<Item = Vec<u8>>,
        in_flight: usize,
        answer: &mut dyn FnMut(Result<Vec<u8>, CliError>) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let _ = in_flight;
        for arg in args {
            answer(self.management_raw(method, canister, arg))?;
        }
        Ok(())
    }

    /// Calls management method `method` as a query (`fetch_canister_logs`,
    /// `canister_status`), with `canister` as the effective canister id.
    fn management_query_raw(
        &mut self,
        method: &str,
        canister: Principal,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError>;

    /// Lets time pass where the transport itself runs the rounds (the embedded replica runs
    /// one: timers and queued messages); a network runs its own.
    fn run_round(&mut self) -> Result<(), CliError> {
        Ok(())
    }

    /// drydock's labels of a canister's snapshots (its automatic snapshots), where known.
    fn labels(&mut self, _canister: Principal) -> HashMap<Vec<u8>, String> {
        HashMap::new()
    }

    /// The flags that name this transport on a command line (`--network URL`), for hints.
    fn cli_flags(&self) -> String {
        String::new()
    }

    /// The canister's call contexts and outstanding calls, where this transport sees them (the
    /// embedded replica; the IC's HTTP interface does not show them).
    fn call_state(&mut self, _canister: Principal) -> Option<CallState> {
        None
    }

    /// The bytes of the canister's metadata section `name` (without its `icp:public` or
    /// `icp:private` prefix), as the state tree's `canister/<id>/metadata/<name>` gives them
    /// to the caller (a private section only to a controller); `None` when the module has no
    /// such section.
    fn metadata(&mut self, canister: Principal, name: &str) -> Result<Option<Vec<u8>>, CliError>;

    /// Calls `method` of `canister` as a query, signed by the caller; returns the Candid reply.
    fn query(
        &mut self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError>;

    /// Calls `method` of `canister` as an update, signed by the caller, and waits for the
    /// reply.
    fn update(
        &mut self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError>;

    /// Whether the module of `canister` exports `method` as a query (or composite query),
    /// where this transport sees the module (the embedded replica; a network shows only its
    /// metadata).
    fn exports_query(&mut self, _canister: Principal, _method: &str) -> bool {
        false
    }

    /// Takes a snapshot (`take_canister_snapshot`) and records it as drydock's own, with
    /// `label`, so that [`Transport::labels`] names it and drydock may replace it later.
    fn take_labelled_snapshot(
        &mut self,
        args: TakeCanisterSnapshotArgs,
        label: String,
    ) -> Result<Snapshot, CliError>;

    /// The canister's controllers and module hash, and its history where this transport sees
    /// it (`canister_info` is for canisters only; the embedded replica reads the record).
    fn info(&mut self, canister: Principal) -> Result<CanisterInfo, CliError>;
}

/// What `canister info` shows.
pub struct CanisterInfo {
    pub controllers: Vec<Principal>,
    pub module_hash: Option<Vec<u8>>,
    /// The total number of changes and the most recent ones, where known.
    pub history: Option<(u64, Vec<ic_management_canister_types::Change>)>,
}

/// One call a canister made whose response it still waits for, as `canister status` shows it.
#[derive(serde::Serialize)]
pub struct OutstandingCall {
    pub call: u64,
    pub callee: String,
    /// The module (hash, hex) that made the call.
    pub module_hash: Option<String>,
    pub canister_version: u64,
    /// The installed module is another: the response will run in its table (seed 001).
    pub module_changed: bool,
}

/// What the embedded replica knows of a canister's calls beyond `canister_status`.
pub struct CallState {
    pub open_contexts: usize,
    pub outstanding: usize,
    pub calls: Vec<OutstandingCall>,
    /// Responses that ran in another module than the one that made the call.
    pub stale: Vec<String>,
}

/// Calls a management method through `t` with Candid arguments and decodes its reply.
pub fn management<T, A, R>(
    t: &mut T,
    method: &str,
    canister: Principal,
    arg: A,
) -> Result<R, CliError>
where
    T: Transport + ?Sized,
    A: ArgumentEncoder,
    R: CandidType + DeserializeOwned,
{
    let bytes = encode(method, arg)?;
    decode(method, &t.management_raw(method, canister, bytes)?)
}

/// [`management`] of a stream of arguments, `in_flight` at a time where the transport can,
/// each decoded reply handed to `answer` in order (see [`Transport::management_raw_stream`]).
pub fn management_stream<T, A, R>(
    t: &mut T,
    method: &str,
    canister: Principal,
    args: &mut dyn Iterator<Item = A>,
    in_flight: usize,
    answer: &mut dyn FnMut(Result<R, CliError>) -> Result<(), CliError>,
) -> Result<(), CliError>
where
    T: Transport + ?Sized,
    A: CandidType,
    R: CandidType + DeserializeOwned,
{
    let mut unencodable = None;
    let mut bytes =
        args.map_while(|a| encode(method, (a,)).map_err(|e| unencodable = Some(e)).ok());
    t.management_raw_stream(method, canister, &mut bytes, in_flight, &mut |reply| {
        answer(reply.and_then(|r| decode(method, &r)))
    })?;
    drop(bytes);
    unencodable.map_or(Ok(()), Err)
}

fn encode(method: &str, arg: impl ArgumentEncoder) -> Result<Vec<u8>, CliError> {
    candid::encode_args(arg).map_err(|e| {
        CliError::internal(format!(
            "encoding the arguments of management method {method}: {e}"
        ))
    })
}

fn decode<R: CandidType + DeserializeOwned>(method: &str, reply: &[u8]) -> Result<R, CliError> {
    candid::decode_one(reply).map_err(|e| {
        CliError::internal(format!(
            "decoding the reply of management method {method}: {e}"
        ))
    })
}
