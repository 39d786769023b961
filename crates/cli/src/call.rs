//! `canister call`: encodes the argument, picks query or update, calls, and prints the reply.
//!
//! The canister's `candid:service` metadata (read as the calling identity, so private
//! sections work for controllers) types both the argument and the reply, and says whether a
//! method is a query. Without it — no module section, a section that does not parse, or a
//! method it does not list — the argument is encoded with the types its text implies, the
//! call is an update (which runs query methods too, as replicated queries), and the reply is
//! decoded with the types it carries.

use candid::types::Type;
use candid::{Principal, TypeEnv};
use serde_json::{json, Value};

use crate::candid_io::{decode_reply, encode_args, is_query, to_json, Service};
use crate::cli::OutputFormat;
use crate::context::Ctx;
use crate::error::CliError;
use crate::output::{warn, Output};
use crate::transport::Transport;

/// The argument as given on the command line.
pub enum Arg {
    /// Candid text.
    Text(String),
    /// Hex-encoded bytes, sent as they are.
    Raw(String),
    /// Bytes, sent as they are (`--raw-file`).
    Bytes(Vec<u8>),
}

/// The argument's bytes: Candid text encoded (typed by the method when known), or as given.
fn arg_bytes(arg: &Arg, arg_types: Option<(&TypeEnv, &[Type])>) -> Result<Vec<u8>, CliError> {
    match arg {
        Arg::Text(text) => encode_args(text, arg_types),
        Arg::Raw(h) => hex::decode(h.trim())
            .map_err(|e| CliError::usage(format!("--raw is not valid hex: {e}"))),
        Arg::Bytes(bytes) => Ok(bytes.clone()),
    }
}

/// Query or update, when the command line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Query,
    Update,
}

/// Runs `canister call`.
pub fn run(
    t: &mut dyn Transport,
    out: Output,
    canister: Principal,
    method: &str,
    arg: Arg,
    kind: Option<Kind>,
    output: OutputFormat,
) -> Result<(), CliError> {
    let service = service_of(t, canister);
    let function = service.as_ref().and_then(|s| s.method(method));
    if service.is_some() && function.is_none() {
        warn(format!(
            "the canister's candid:service has no method `{method}`; calling it untyped"
        ));
    }
    let env = service.as_ref().map(|s| &s.env);
    let arg_types: Option<(&TypeEnv, &[Type])> = env.zip(function.map(|f| f.args.as_slice()));
    let ret_types: Option<(&TypeEnv, &[Type])> = env.zip(function.map(|f| f.rets.as_slice()));
    let bytes = arg_bytes(&arg, arg_types)?;
    // The Candid service decides, as for icp-cli; without one, the module's exports do.
    let kind = kind.unwrap_or(
        if function.map_or_else(|| t.exports_query(canister, method), is_query) {
            Kind::Query
        } else {
            Kind::Update
        },
    );
    let reply = match kind {
        Kind::Query => t.query(canister, method, bytes)?,
        Kind::Update => t.update(canister, method, bytes)?,
    };
    print_reply(out, &reply, ret_types, output);
    Ok(())
}

/// `canister call --async`: submits the update and prints the request id.
pub fn submit(ctx: &mut Ctx, canister: Principal, method: &str, arg: Arg) -> Result<(), CliError> {
    let service = service_of(ctx, canister);
    let function = service.as_ref().and_then(|s| s.method(method));
    let env = service.as_ref().map(|s| &s.env);
    let arg_types: Option<(&TypeEnv, &[Type])> = env.zip(function.map(|f| f.args.as_slice()));
    let bytes = arg_bytes(&arg, arg_types)?;
    let id = ctx.replica.submit(ctx.sender, canister, method, &bytes)?;
    let text = request_id_text(id);
    ctx.out.data(
        || text.clone(),
        || json!({ "request_id": text, "canister_id": canister.to_text(), "method": method }),
    );
    Ok(())
}

/// A request number as the CLI shows it.
pub fn request_id_text(id: u64) -> String {
    format!("{id:016x}")
}

/// `request status ID [--wait]`.
pub fn status(ctx: &mut Ctx, id: &str, wait: bool, output: OutputFormat) -> Result<(), CliError> {
    let n = u64::from_str_radix(id.trim().trim_start_matches("0x"), 16)
        .ok()
        .filter(|n| ctx.replica.knows_request(*n))
        .ok_or_else(|| {
            CliError::usage(format!(
                "unknown request id {id}: `drydock canister call --async` prints the ids of this state directory"
            ))
        })?;
    match ctx.replica.request_status(n, wait)? {
        None => {
            ctx.out.data(
                || "processing".to_string(),
                || json!({ "request_id": id, "status": "processing" }),
            );
            Ok(())
        }
        Some(Ok(reply)) => {
            print_reply(ctx.out, &reply, None, output);
            Ok(())
        }
        Some(Err(e)) => Err(drydock_replica::CallError::from(e).into()),
    }
}

/// The canister's Candid service, if it has one that parses.
fn service_of(t: &mut dyn Transport, canister: Principal) -> Option<Service> {
    let bytes = t.metadata(canister, "candid:service").ok()??;
    let text = String::from_utf8(bytes).ok()?;
    match Service::parse(&text) {
        Ok(s) => Some(s),
        Err(e) => {
            warn(format!(
                "the canister's candid:service does not parse ({e}); calling it untyped"
            ));
            None
        }
    }
}

fn print_reply(
    out: Output,
    reply: &[u8],
    types: Option<(&TypeEnv, &[Type])>,
    output: OutputFormat,
) {
    let reply_hex = hex::encode(reply);
    let decoded = decode_reply(reply, types);
    if decoded.is_none() && output != OutputFormat::Hex {
        warn("the reply is not Candid; printing it as hex");
    }
    let candid_text = decoded.as_ref().map(|a| a.to_string());
    if out.json {
        out.data(
            String::new,
            || json!({ "reply": candid_text, "reply_hex": reply_hex }),
        );
        return;
    }
    let text = match (output, &decoded) {
        (OutputFormat::Hex, _) | (_, None) => reply_hex.clone(),
        (OutputFormat::Candid, Some(_)) => candid_text.clone().unwrap_or_default(),
        (OutputFormat::Json, Some(args)) => {
            Value::Array(args.args.iter().map(to_json).collect()).to_string()
        }
    };
    out.data(|| text, || Value::Null);
}
