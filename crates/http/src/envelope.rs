//! The request envelope: decoding a body (CBOR), computing its request id from the content as
//! sent, and authenticating it ([`crate::auth`]). Refusals are [`HttpReject`]s with the IC's
//! status codes. This module needs no replica, so the fuzz target `envelope` drives it alone.

use std::time::{SystemTime, UNIX_EPOCH};

use candid::Principal;
use ic_transport_types::{Envelope, EnvelopeContent, RequestId};
use serde::Serialize;

use crate::auth::{self, AuthError};

/// The largest request body the IC accepts (ingress payload 2 MiB, plus envelope overhead).
pub const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024 + 256 * 1024;
/// A refusal in HTTP terms: a status code and a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReject {
    pub status: u16,
    pub message: String,
}

impl HttpReject {
    pub fn bad_request(message: impl Into<String>) -> Self {
        HttpReject {
            status: 400,
            message: message.into(),
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        HttpReject {
            status: 403,
            message: message.into(),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        HttpReject {
            status: 500,
            message: message.into(),
        }
    }
}

impl From<AuthError> for HttpReject {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Forbidden { .. } => HttpReject::forbidden(e.to_string()),
            _ => HttpReject::bad_request(e.to_string()),
        }
    }
}

impl HttpReject {
    pub fn not_found_path(path: String) -> Self {
        HttpReject {
            status: 404,
            message: format!("Invalid path requested: /{path}"),
        }
    }
}

/// A decoded, authenticated request.
pub struct Authed {
    pub request_id: RequestId,
    pub sender: Principal,
    pub content: EnvelopeContent,
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Decodes a request body and authenticates it as of `now`, canister signatures against
/// `root_key` (raw BLS, empty for none): the envelope decoder that the
/// fuzz target `envelope` drives. Never panics on input.
pub fn decode_envelope(
    body: &[u8],
    effective: Option<Principal>,
    now: u64,
    root_key: &[u8],
) -> Result<Authed, HttpReject> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(HttpReject {
            status: 413,
            message: format!(
                "Request of {} bytes is larger than the maximum of {MAX_REQUEST_BYTES} bytes",
                body.len()
            ),
        });
    }
    let envelope: Envelope<'static> = serde_cbor::from_slice(body).map_err(|e| {
        HttpReject::bad_request(format!("Could not parse body as read request: {e}"))
    })?;
    // The request id is the hash of the content as sent, unknown fields included, so a
    // field this server does not know cannot make a valid signature fail.
    let raw: serde_cbor::Value = serde_cbor::from_slice(body)
        .map_err(|e| HttpReject::bad_request(format!("Could not parse body: {e}")))?;
    let request_id = raw_content(&raw)
        .and_then(|c| ic_transport_types::to_request_id(&RawValue(c)).ok())
        .ok_or_else(|| {
            HttpReject::bad_request("Could not compute the request id of the envelope's content")
        })?;
    auth::check_expiry(&envelope.content, now)?;
    let callee = match &*envelope.content {
        EnvelopeContent::Call { canister_id, .. } | EnvelopeContent::Query { canister_id, .. } => {
            Some(*canister_id)
        }
        EnvelopeContent::ReadState { .. } => effective,
    };
    let sender = auth::authenticate(&envelope, &request_id, callee, now, root_key)?;
    Ok(Authed {
        request_id,
        sender,
        content: envelope.content.into_owned(),
    })
}

/// Serialises `value` as self-describing CBOR.
pub fn cbor<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_cbor::Serializer::new(Vec::new());
    let _ = out.self_describe();
    // Serialising plain structs into a Vec cannot fail.
    let _ = value.serialize(&mut out);
    out.into_inner()
}

fn raw_content(v: &serde_cbor::Value) -> Option<&serde_cbor::Value> {
    match v {
        serde_cbor::Value::Tag(_, inner) => raw_content(inner),
        serde_cbor::Value::Map(m) => m.get(&serde_cbor::Value::Text("content".into())),
        _ => None,
    }
}

/// A CBOR value serialised for the request-id hash (integers as unsigned or signed LEB128).
struct RawValue<'a>(&'a serde_cbor::Value);

impl Serialize for RawValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap, SerializeSeq};
        use serde_cbor::Value;
        match self.0 {
            Value::Integer(i) if *i >= 0 => s.serialize_u64(
                u64::try_from(*i).map_err(|_| S::Error::custom("integer out of range"))?,
            ),
            Value::Integer(i) => s.serialize_i64(
                i64::try_from(*i).map_err(|_| S::Error::custom("integer out of range"))?,
            ),
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::Text(t) => s.serialize_str(t),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Null => s.serialize_none(),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Tag(_, inner) => RawValue(inner).serialize(s),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&RawValue(item))?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(&RawValue(k), &RawValue(v))?;
                }
                map.end()
            }
            _ => Err(S::Error::custom("unsupported CBOR value")),
        }
    }
}

/// The `canister_id` field of a management call's argument, if it has one. Decoded as a
/// record of that one field, so the other fields (a 2 MB snapshot slice, a Wasm module) are
/// skipped rather than decoded. The Candid decoder of untrusted bytes on the HTTP path, before
/// the replica: the fuzz target `candid_args` drives it. Never panics on input.
pub fn management_target(arg: &[u8]) -> Option<Principal> {
    target_of(arg).ok()
}

/// [`management_target`], with candid's error when there is none.
fn target_of(arg: &[u8]) -> Result<Principal, candid::Error> {
    #[derive(candid::CandidType, serde::Deserialize)]
    struct Target {
        canister_id: Principal,
    }
    // The work is bounded by the size of the request, so a tiny argument cannot ask for a
    // billion-element `vec null`. In candid's cost model a skipped byte of a blob costs about
    // 4 units, times 50 against the decoding quota: a 2 MiB module must fit.
    let mut config = candid::de::DecoderConfig::new();
    config
        .set_decoding_quota(256 * MAX_REQUEST_BYTES)
        .set_skipping_quota(8 * MAX_REQUEST_BYTES);
    let mut decoder = candid::de::IDLDeserialize::new_with_config(arg, &config)?;
    let target: Target = decoder.get_value()?;
    Ok(target.canister_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_of_an_install_code_with_a_2_mib_module_is_found() {
        #[derive(candid::CandidType)]
        struct Install {
            canister_id: Principal,
            wasm_module: serde_bytes::ByteBuf,
            arg: serde_bytes::ByteBuf,
        }
        let id = Principal::from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0, 1, 1]);
        let arg = candid::encode_one(Install {
            canister_id: id,
            wasm_module: serde_bytes::ByteBuf::from(vec![7u8; 2 * 1024 * 1024]),
            arg: serde_bytes::ByteBuf::from(vec![1u8; 100]),
        })
        .unwrap();
        assert_eq!(management_target(&arg), Some(id));
    }

    #[test]
    fn a_few_bytes_claiming_2_pow_32_nulls_are_cut_short() {
        // `record { canister_id; extra : vec null }`, `extra` last on the wire (its field
        // hash is the larger), claiming 2^32 nulls in its last bytes.
        #[derive(candid::CandidType)]
        struct Evil {
            canister_id: Principal,
            extra: Vec<()>,
        }
        let id = Principal::from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0, 1, 1]);
        let mut arg = candid::encode_one(Evil {
            canister_id: id,
            extra: vec![(); 4],
        })
        .unwrap();
        assert_eq!(management_target(&arg), Some(id));
        assert_eq!(arg.pop(), Some(4));
        arg.extend([0x80, 0x80, 0x80, 0x80, 0x10]);
        assert_eq!(management_target(&arg), None);
        // Refused by the quota, before any of the nulls is skipped.
        let err = format!("{:?}", target_of(&arg).expect_err("decoded 2^32 nulls"));
        assert!(err.contains("cost exceeds"), "{err}");
    }
}
