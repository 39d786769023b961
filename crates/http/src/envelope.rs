//! The request envelope: decoding a body (CBOR), computing its request id from the content as
//! sent, and authenticating it ([`crate::auth`]). Refusals are [`HttpReject`]s with the IC's
//! status codes. This module needs no replica, so the fuzz target `envelope` drives it alone.

use std::time::{SystemTime, UNIX_EPOCH};

use candid::Principal;
use ic_transport_types::{Envelope, EnvelopeContent, RequestId};
use serde::Serialize;

use crate::auth::{self, AuthError};
use crate::raw_cbor::RawCbor;

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
    // One parse, lending the body's strings: the request id is the hash of the content as
    // sent, unknown fields included (so a field this server does not know cannot make a
    // valid signature fail), and the typed envelope is read from the same parse.
    let raw: RawCbor = serde_cbor::from_slice(body)
        .map_err(|e| HttpReject::bad_request(format!("Could not parse body: {e}")))?;
    // Typed first, so a malformed envelope is refused naming what is wrong with it.
    let envelope: Envelope<'static> = serde::Deserialize::deserialize(&raw).map_err(|e| {
        HttpReject::bad_request(format!("Could not parse body as read request: {e}"))
    })?;
    let request_id = raw
        .field("content")
        .and_then(|c| ic_transport_types::to_request_id(c).ok())
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

/// The `canister_id` field of a management call's argument, if it has one. Decoded as a
/// record of that one field, so the other fields (a 2 MB snapshot slice, a Wasm module) are
/// skipped rather than decoded. The Candid decoder of untrusted bytes on the HTTP path, before
/// the replica (`Service::check_effective`): the fuzz target `candid_args` drives it. Never
/// panics on input.
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

    use std::borrow::Cow;

    use ic_transport_types::{Delegation, DelegationPermissions, SenderInfo, SignedDelegation};

    const NOW: u64 = 1_750_000_000_000_000_000;
    const CANISTER: Principal = Principal::from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0, 1, 1]);

    fn call(arg: Vec<u8>) -> EnvelopeContent {
        EnvelopeContent::Call {
            nonce: Some(vec![9; 8]),
            ingress_expiry: NOW + 60_000_000_000,
            sender: Principal::anonymous(),
            canister_id: CANISTER,
            method_name: "upload_canister_snapshot_data".into(),
            arg,
            sender_info: None,
        }
    }

    /// A CBOR map with its entries in this order, duplicates kept.
    struct Entries(Vec<(String, serde_cbor::Value)>);

    impl Serialize for Entries {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                map.serialize_entry(k, v)?;
            }
            map.end()
        }
    }

    /// The entries of `content` as CBOR.
    fn entries_of(content: &EnvelopeContent) -> Entries {
        let serde_cbor::Value::Map(map) = serde_cbor::value::to_value(content).unwrap() else {
            panic!("content is a map")
        };
        Entries(
            map.into_iter()
                .map(|(k, v)| match k {
                    serde_cbor::Value::Text(k) => (k, v),
                    _ => panic!("a key is text"),
                })
                .collect(),
        )
    }

    /// The body of an anonymous envelope whose content has these entries.
    fn body_of(content: Entries) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body {
            content: Entries,
        }
        cbor(&Body { content })
    }

    #[test]
    fn an_envelope_is_read_once_into_its_content_and_the_request_id_of_the_content_as_sent() {
        let content = call(vec![7; 2_000_000]);
        let body = Envelope {
            content: Cow::Borrowed(&content),
            sender_pubkey: None,
            sender_sig: None,
            sender_delegation: None,
        }
        .encode_bytes();
        for _ in 0..2 {
            let authed = decode_envelope(&body, None, NOW, &[]).unwrap();
            assert_eq!(cbor(&authed.content), cbor(&content));
            assert_eq!(authed.sender, Principal::anonymous());
            assert_eq!(
                authed.request_id,
                ic_transport_types::to_request_id(&content).unwrap()
            );
        }

        // A field this server does not know is part of the request id, as sent.
        let mut with_extra = entries_of(&content);
        with_extra
            .0
            .push(("x_future".into(), serde_cbor::Value::Bytes(vec![1, 2, 3])));
        #[derive(Serialize)]
        struct WithExtra<'a> {
            #[serde(flatten)]
            content: &'a EnvelopeContent,
            x_future: &'a serde_bytes::Bytes,
        }
        let expected = ic_transport_types::to_request_id(&WithExtra {
            content: &content,
            x_future: serde_bytes::Bytes::new(&[1, 2, 3]),
        })
        .unwrap();
        let authed = decode_envelope(&body_of(with_extra), None, NOW, &[]).unwrap();
        assert_eq!(cbor(&authed.content), cbor(&content));
        assert_eq!(authed.request_id, expected);
        assert_ne!(
            authed.request_id,
            ic_transport_types::to_request_id(&content).unwrap()
        );
    }

    #[test]
    fn every_field_of_an_envelope_reads_back_as_sent() {
        let delegation = |permissions, targets| SignedDelegation {
            delegation: Delegation {
                pubkey: vec![3; 44],
                expiration: NOW + 1,
                targets,
                permissions,
            },
            signature: vec![4; 64],
        };
        let contents = [
            call(vec![]),
            EnvelopeContent::Query {
                ingress_expiry: NOW,
                sender: Principal::from_slice(&[5; 29]),
                canister_id: CANISTER,
                method_name: "get".into(),
                arg: b"DIDL\x00\x00".to_vec(),
                nonce: None,
                sender_info: Some(SenderInfo {
                    info: vec![1],
                    signer: vec![2; 10],
                    sig: vec![3; 5],
                }),
            },
            EnvelopeContent::ReadState {
                ingress_expiry: NOW,
                sender: Principal::anonymous(),
                paths: vec![
                    vec!["time".into()],
                    vec![b"request_status".into(), vec![0; 32].into()],
                ],
            },
        ];
        for content in contents {
            let envelope = Envelope {
                content: Cow::Owned(content),
                sender_pubkey: Some(vec![1; 44]),
                sender_sig: Some(vec![2; 64]),
                sender_delegation: Some(vec![
                    delegation(Some(DelegationPermissions::Queries), Some(vec![CANISTER])),
                    delegation(None, None),
                    delegation(Some(DelegationPermissions::All), None),
                ]),
            };
            let body = envelope.encode_bytes();
            let raw: RawCbor = serde_cbor::from_slice(&body).unwrap();
            let read: Envelope<'static> = serde::Deserialize::deserialize(&raw).unwrap();
            assert_eq!(read.encode_bytes(), body);
        }
    }

    #[test]
    fn trailing_bytes_a_duplicated_field_and_a_wrong_type_are_refused_naming_the_cause() {
        let body = Envelope {
            content: Cow::Owned(call(vec![1])),
            sender_pubkey: None,
            sender_sig: None,
            sender_delegation: None,
        }
        .encode_bytes();
        let mut trailing = body.clone();
        trailing.push(0);
        let err = decode_envelope(&trailing, None, NOW, &[]).err().unwrap();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("trailing data"), "{}", err.message);

        #[derive(Serialize)]
        struct NoContent {
            sender_sig: serde_bytes::ByteBuf,
        }
        let err = decode_envelope(
            &cbor(&NoContent {
                sender_sig: serde_bytes::ByteBuf::from(vec![1]),
            }),
            None,
            NOW,
            &[],
        )
        .err()
        .unwrap();
        assert_eq!(err.status, 400);
        assert!(
            err.message.contains("missing field `content`"),
            "{}",
            err.message
        );

        let mut duplicated = entries_of(&call(vec![1]));
        duplicated.0.push((
            "method_name".into(),
            serde_cbor::Value::Text("other".into()),
        ));
        let err = decode_envelope(&body_of(duplicated), None, NOW, &[])
            .err()
            .unwrap();
        assert_eq!(err.status, 400);
        assert!(
            err.message.contains("duplicate field `method_name`"),
            "{}",
            err.message
        );

        let mut wrong = entries_of(&call(vec![1]));
        for (k, v) in wrong.0.iter_mut() {
            if k == "canister_id" {
                *v = serde_cbor::Value::Integer(7);
            }
        }
        let err = decode_envelope(&body_of(wrong), None, NOW, &[])
            .err()
            .unwrap();
        assert_eq!(err.status, 400);
        assert!(
            err.message
                .starts_with("Could not parse body as read request"),
            "{}",
            err.message
        );
    }

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
