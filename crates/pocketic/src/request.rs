//! What a request asks for: every request body of the protocol decoded into a typed request,
//! and checked, before any instance is touched. Bad input is a [`PocketIcError::BadRequest`]
//! naming the request; an operation drydock does not serve is
//! [`PocketIcError::Unsupported`]. Nothing here panics on input (the fuzz target
//! `pocketic` drives it), and nothing here needs a replica.

use std::io::Read as _;

use candid::Principal;
use serde::de::DeserializeOwned;

use crate::error::PocketIcError;
use crate::wire::{
    AutoProgressConfig, HttpGatewayConfig, InstanceConfig, RawAddCycles, RawCanisterCall,
    RawCanisterId, RawEffectivePrincipal, RawIngressStatusArgs, RawMessageId, RawPrincipalId,
    RawSetStableMemory, RawSubnetId, RawTime,
};

/// A call from `sender` to `canister`, sent without a signature.
#[derive(Debug, Clone)]
pub struct Call {
    pub sender: Principal,
    pub canister: Principal,
    pub method: String,
    pub payload: Vec<u8>,
    /// Echoed in the message id of a submitted call.
    pub effective_principal: RawEffectivePrincipal,
}

/// `GET|POST /instances/<id>/read/<op>`.
#[derive(Debug)]
pub enum Read {
    Topology,
    GetTime,
    Query(Call),
    IngressStatus {
        message: RawMessageId,
        caller: Option<Principal>,
    },
    GetCycles(Principal),
    GetControllers(Principal),
    GetStableMemory(Principal),
    GetSubnet(Principal),
    PubKey(Principal),
}

/// `POST /instances/<id>/update/<op>`.
#[derive(Debug)]
pub enum Update {
    Submit(Call),
    Await(RawMessageId),
    Execute(Call),
    Tick,
    /// `set_time` and `set_certified_time`.
    SetTime(u64),
    SetStableMemory {
        canister: Principal,
        blob_id: Vec<u8>,
    },
    AddCycles {
        canister: Principal,
        amount: u128,
    },
}

/// `POST /http_gateway`: serve instance `instance` on `ip`:`port` (0: any free port).
#[derive(Debug)]
pub struct GatewayRequest {
    pub instance: usize,
    pub ip: std::net::IpAddr,
    pub port: u16,
}

/// `read/<op>` with `body`.
pub fn read(op: &str, body: &[u8]) -> Result<Read, PocketIcError> {
    named(&format!("read/{op}"), read_op(op, body))
}

/// `update/<op>` with `body`.
pub fn update(op: &str, body: &[u8]) -> Result<Update, PocketIcError> {
    named(&format!("update/{op}"), update_op(op, body))
}

/// A bad request's message, prefixed with the request it was.
fn named<T>(what: &str, result: Result<T, PocketIcError>) -> Result<T, PocketIcError> {
    result.map_err(|e| match e {
        PocketIcError::BadRequest(m) => PocketIcError::BadRequest(format!("{what}: {m}")),
        e => e,
    })
}

fn read_op(op: &str, body: &[u8]) -> Result<Read, PocketIcError> {
    let what = format!("read/{op}");
    Ok(match op {
        "topology" => Read::Topology,
        "get_time" => Read::GetTime,
        "query" => Read::Query(call(parse(body)?)?),
        "ingress_status" => {
            let args: RawIngressStatusArgs = parse(body)?;
            let caller = match &args.raw_caller {
                Some(RawPrincipalId { principal_id }) => Some(principal(principal_id, "caller")?),
                None => None,
            };
            Read::IngressStatus {
                message: args.raw_message_id,
                caller,
            }
        }
        "get_cycles" => Read::GetCycles(canister(body)?),
        "get_controllers" => Read::GetControllers(canister(body)?),
        "get_stable_memory" => Read::GetStableMemory(canister(body)?),
        "get_subnet" => Read::GetSubnet(canister(body)?),
        "pub_key" => {
            let RawSubnetId { subnet_id } = parse(body)?;
            Read::PubKey(principal(&subnet_id, "subnet id")?)
        }
        _ => return Err(unsupported_op(&what)),
    })
}

fn update_op(op: &str, body: &[u8]) -> Result<Update, PocketIcError> {
    let what = format!("update/{op}");
    Ok(match op {
        "submit_ingress_message" => Update::Submit(call(parse(body)?)?),
        "await_ingress_message" => Update::Await(parse(body)?),
        "execute_ingress_message" => Update::Execute(call(parse(body)?)?),
        "tick" => Update::Tick,
        "set_time" | "set_certified_time" => {
            let RawTime { nanos_since_epoch } = parse(body)?;
            Update::SetTime(nanos_since_epoch)
        }
        "set_stable_memory" => {
            let RawSetStableMemory {
                canister_id,
                blob_id,
            } = parse(body)?;
            Update::SetStableMemory {
                canister: principal(&canister_id, "canister id")?,
                blob_id,
            }
        }
        "add_cycles" => {
            let RawAddCycles {
                canister_id,
                amount,
            } = parse(body)?;
            Update::AddCycles {
                canister: principal(&canister_id, "canister id")?,
                amount,
            }
        }
        _ => return Err(unsupported_op(&what)),
    })
}

/// `POST /instances`: the instance asked for.
pub fn instance_config(body: &[u8]) -> Result<InstanceConfig, PocketIcError> {
    named("POST /instances", parse(body))
}

/// `POST /instances/<id>/auto_progress`: an empty body asks for the defaults.
pub fn auto_progress(body: &[u8]) -> Result<AutoProgressConfig, PocketIcError> {
    if body.is_empty() {
        return Ok(AutoProgressConfig::default());
    }
    named("auto_progress", parse(body))
}

/// `POST /http_gateway`. The error is the message of the clients' `{"Error": {"message"}}`.
pub fn gateway(body: &[u8]) -> Result<GatewayRequest, String> {
    let config: HttpGatewayConfig =
        named("POST /http_gateway", parse(body)).map_err(|e| e.to_string())?;
    let Some(instance) = config
        .forward_to
        .get("PocketIcInstance")
        .and_then(|v| v.as_u64())
        .and_then(|v| usize::try_from(v).ok())
    else {
        return Err(format!(
            "drydock's HTTP gateway forwards to a PocketIC instance of this server only, not to {}",
            config.forward_to
        ));
    };
    if config.https_config.is_some() {
        return Err("drydock's HTTP gateway does not serve HTTPS".into());
    }
    let ip = config
        .ip_addr
        .as_deref()
        .unwrap_or("127.0.0.1")
        .parse()
        .map_err(|e| format!("ip_addr: {e}"))?;
    Ok(GatewayRequest {
        instance,
        ip,
        port: config.port.unwrap_or(0),
    })
}

/// `POST /blobstore`: the blob, gunzipped if it came gzipped, of at most `limit` bytes.
pub fn blob(body: &[u8], gzip: bool, limit: u64) -> Result<Vec<u8>, PocketIcError> {
    if !gzip {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| PocketIcError::BadRequest(format!("the blob is not valid gzip: {e}")))?;
    if out.len() as u64 > limit {
        return Err(PocketIcError::BadRequest(format!(
            "the blob is larger than {limit} bytes once gunzipped"
        )));
    }
    Ok(out)
}

/// Why drydock cannot create the instance `config` asks for, if it cannot: drydock serves
/// one application subnet, without PocketIC's optional system canisters and integrations.
pub fn refusal(config: &InstanceConfig) -> Option<String> {
    let set = &config.subnet_config_set;
    let mut asked = Vec::new();
    for (name, present) in [
        ("an NNS subnet", set.nns.is_some()),
        ("an SNS subnet", set.sns.is_some()),
        ("an II subnet", set.ii.is_some()),
        ("a fiduciary subnet", set.fiduciary.is_some()),
        ("a bitcoin subnet", set.bitcoin.is_some()),
        (
            "a test threshold keys subnet",
            set.test_threshold_keys.is_some(),
        ),
        ("system subnets", !set.system.is_empty()),
        (
            "verified application subnets",
            !set.verified_application.is_empty(),
        ),
        ("cloud engine subnets", !set.cloud_engine.is_empty()),
    ] {
        if present {
            asked.push(name.to_string());
        }
    }
    if set.application.len() > 1 {
        asked.push(format!("{} application subnets", set.application.len()));
    }
    for spec in &set.application {
        if spec.state_config != serde_json::json!("New") {
            asked.push("a subnet loaded from a PocketIC subnet state (use state_dir, which drydock keeps in its own format)".into());
        }
        if spec.instruction_config != serde_json::json!("Production") {
            asked.push(format!(
                "instruction config {} (drydock meters as the IC does)",
                spec.instruction_config
            ));
        }
    }
    if let Some(serde_json::Value::Object(features)) = &config.icp_features {
        for (name, value) in features {
            if !value.is_null() {
                asked.push(format!("the ICP feature `{name}`"));
            }
        }
    }
    if config.http_gateway_config.is_some() {
        asked.push("an HTTP gateway".into());
    }
    if config.bitcoind_addr.is_some() || config.dogecoind_addr.is_some() {
        asked.push("a bitcoind or dogecoind connection".into());
    }
    if set.application.is_empty() && asked.is_empty() {
        // Without subnets, the instance is the one kept in `state_dir`.
        let kept = config
            .state_dir
            .as_deref()
            .and_then(|d| std::fs::read_dir(d).ok())
            .is_some_and(|mut entries| entries.next().is_some());
        if !kept {
            return Some(
                "the instance has no subnet: ask for an application subnet, or give a \
                 state_dir that holds an instance"
                    .into(),
            );
        }
    }
    if asked.is_empty() {
        return None;
    }
    Some(format!(
        "drydock's PocketIC server runs one application subnet; this instance asks for {}, \
         which it does not support (see drydock's README, \"Testing with PocketIC clients\")",
        asked.join(", ")
    ))
}

/// A principal from its raw bytes.
fn principal(bytes: &[u8], what: &str) -> Result<Principal, PocketIcError> {
    Principal::try_from_slice(bytes)
        .map_err(|e| PocketIcError::BadRequest(format!("the {what} is not a principal: {e}")))
}

/// The JSON body.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, PocketIcError> {
    serde_json::from_slice(body)
        .map_err(|e| PocketIcError::BadRequest(format!("the body is not valid: {e}")))
}

fn canister(body: &[u8]) -> Result<Principal, PocketIcError> {
    let RawCanisterId { canister_id } = parse(body)?;
    principal(&canister_id, "canister id")
}

/// A call's principals, checked. The effective principal only routes the management
/// canister's calls between subnets; with one subnet, it is checked for form only.
fn call(raw: RawCanisterCall) -> Result<Call, PocketIcError> {
    if let RawEffectivePrincipal::CanisterId(b) | RawEffectivePrincipal::SubnetId(b) =
        &raw.effective_principal
    {
        principal(b, "effective principal")?;
    }
    Ok(Call {
        sender: principal(&raw.sender, "sender")?,
        canister: principal(&raw.canister_id, "canister id")?,
        method: raw.method,
        payload: raw.payload,
        effective_principal: raw.effective_principal,
    })
}

fn unsupported_op(what: &str) -> PocketIcError {
    PocketIcError::Unsupported(format!(
        "drydock's PocketIC server does not support `{what}` (see drydock's README, \"Testing with PocketIC clients\", for what it supports)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> InstanceConfig {
        serde_json::from_str(json).expect("a config")
    }

    const APP: &str = r#"{"state_config":"New","instruction_config":"Production"}"#;

    #[test]
    fn one_application_subnet_is_served() {
        let c = config(&format!(
            r#"{{"subnet_config_set":{{"application":[{APP}]}}}}"#
        ));
        assert_eq!(refusal(&c), None);
    }

    #[test]
    fn each_unsupported_request_is_named() {
        for (json, named) in [
            (
                format!(r#"{{"subnet_config_set":{{"nns":{APP},"application":[{APP}]}}}}"#),
                "an NNS subnet",
            ),
            (
                format!(r#"{{"subnet_config_set":{{"application":[{APP},{APP}]}}}}"#),
                "2 application subnets",
            ),
            (
                r#"{"subnet_config_set":{"application":[{"state_config":"New","instruction_config":"Benchmarking"}]}}"#.to_string(),
                "instruction config \"Benchmarking\"",
            ),
            (
                format!(r#"{{"subnet_config_set":{{"application":[{APP}]}},"icp_features":{{"registry":"DefaultConfig","ii":null}}}}"#),
                "the ICP feature `registry`",
            ),
            (r#"{"subnet_config_set":{}}"#.to_string(), "has no subnet"),
        ] {
            let message = refusal(&config(&json)).unwrap_or_default();
            assert!(message.contains(named), "{json}: {message}");
            assert!(!message.contains("`ii`"), "a null feature is not asked for: {message}");
        }
    }

    #[test]
    fn a_bad_principal_is_named_in_the_error() {
        // 30 bytes: longer than any principal.
        let body = format!(r#"{{"canister_id":"{}"}}"#, "A".repeat(40));
        for _ in 0..2 {
            let e = read("get_cycles", body.as_bytes()).unwrap_err();
            assert!(
                e.to_string().contains("the canister id is not a principal"),
                "{e}"
            );
        }
    }

    #[test]
    fn an_unknown_operation_is_unsupported_not_bad() {
        let e = update("mock_canister_http_response", b"{}").unwrap_err();
        assert!(matches!(e, PocketIcError::Unsupported(_)), "{e}");
        let e = read("query", b"{").unwrap_err();
        assert!(matches!(e, PocketIcError::BadRequest(_)), "{e}");
        assert!(e.to_string().contains("read/query"), "{e}");
    }

    #[test]
    fn a_gzip_bomb_is_refused_past_the_limit() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 1 << 20]).expect("gzip");
        let body = gz.finish().expect("gzip");
        assert_eq!(blob(&body, true, 1 << 20).expect("within").len(), 1 << 20);
        let e = blob(&body, true, 1000).unwrap_err();
        assert!(e.to_string().contains("larger than 1000 bytes"), "{e}");
    }
}
