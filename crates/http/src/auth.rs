//! Who sent a request: the envelope's signature, its delegation chain and its expiry, checked
//! as the IC checks them (the interface spec, "Authentication").
//!
//! A request is either anonymous (no key, no signature, sender `2vxsx-fae`) or signed: the
//! sender must be the self-authenticating principal of `sender_pubkey`, each delegation must be
//! signed by the key before it (over `"\x1Aic-request-auth-delegation" ++ hash(delegation)`),
//! unexpired and targeting the callee when it names targets, and `sender_sig` must be the last
//! key's signature over `"\x0Aic-request" ++ request_id`. Supported keys: Ed25519, ECDSA on
//! secp256k1 and on P-256 (SHA-256, 64-byte `r ‖ s`), and canister signatures
//! ([`crate::canister_sig`], as Internet Identity makes them) certified by this replica.
//!
//! A request's `sender_info` (an attestation the canister reads with `msg_caller_info_*`) must
//! be signed, with the sender's own canister signature key (`sender_pubkey`), over
//! `"\x0Eic-sender-info" ++ info`, by the canister it names as `signer`.

use candid::Principal;
use ed25519_dalek::pkcs8::DecodePublicKey;
use ic_transport_types::{Envelope, EnvelopeContent, RequestId, SenderInfo};

use crate::canister_sig;

/// Why a request was refused before it reached a canister (HTTP 400 or 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Invalid signature: {0}")]
    BadSignature(String),
    #[error("Invalid request: {0}")]
    Invalid(String),
    #[error("Invalid request expiry: {0}")]
    Expiry(String),
    #[error("Request is not allowed to access canister {callee}: {why}")]
    Forbidden { callee: Principal, why: String },
    #[error("Invalid sender info: {0}")]
    SenderInfo(String),
}

/// Drift allowed on `ingress_expiry` (the IC allows five minutes plus some slack).
pub const MAX_INGRESS_TTL_NS: u64 = 5 * 60 * 1_000_000_000;
const PERMITTED_DRIFT_NS: u64 = 60 * 1_000_000_000;

/// Checks `ingress_expiry` against `now` (ns since the epoch).
pub fn check_expiry(content: &EnvelopeContent, now: u64) -> Result<(), AuthError> {
    let expiry = content.ingress_expiry();
    let min = now.saturating_sub(PERMITTED_DRIFT_NS);
    let max = now
        .saturating_add(MAX_INGRESS_TTL_NS)
        .saturating_add(PERMITTED_DRIFT_NS);
    if expiry < min || expiry > max {
        return Err(AuthError::Expiry(format!(
            "Minimum allowed expiry: {min}, Maximum allowed expiry: {max}, provided expiry: {expiry}"
        )));
    }
    Ok(())
}

/// Checks the envelope's authentication for a request to `callee` (None for read_state of a
/// subnet), returning the verified sender. `root_key` is this replica's raw BLS root key, which
/// canister signatures must be certified with (empty: none, and canister signatures fail).
pub fn authenticate(
    envelope: &Envelope<'_>,
    request_id: &RequestId,
    callee: Option<Principal>,
    now: u64,
    root_key: &[u8],
) -> Result<Principal, AuthError> {
    let sender = *envelope.content.sender();
    let sender_info = match &*envelope.content {
        EnvelopeContent::Call { sender_info, .. } | EnvelopeContent::Query { sender_info, .. } => {
            sender_info.as_ref()
        }
        EnvelopeContent::ReadState { .. } => None,
    };
    let (pubkey, sig) = match (&envelope.sender_pubkey, &envelope.sender_sig) {
        (None, None) => {
            if sender != Principal::anonymous() {
                return Err(AuthError::BadSignature(format!(
                    "request from {sender} carries no signature; only the anonymous principal may send unsigned requests"
                )));
            }
            if envelope.sender_delegation.is_some() {
                return Err(AuthError::Invalid(
                    "an unsigned request carries a delegation".into(),
                ));
            }
            if sender_info.is_some() {
                return Err(AuthError::SenderInfo(
                    "an unsigned request carries sender_info, which only a sender with a canister signature key may attach".into(),
                ));
            }
            return Ok(sender);
        }
        (Some(pk), Some(sig)) => (pk, sig),
        _ => {
            return Err(AuthError::BadSignature(
                "sender_pubkey and sender_sig must be given together".into(),
            ))
        }
    };
    if sender == Principal::anonymous() {
        return Err(AuthError::BadSignature(
            "the anonymous principal's request must not be signed".into(),
        ));
    }
    if Principal::self_authenticating(pubkey) != sender {
        return Err(AuthError::BadSignature(format!(
            "the sender {sender} is not the principal of sender_pubkey ({})",
            Principal::self_authenticating(pubkey)
        )));
    }
    let mut key = pubkey.clone();
    let delegations = envelope.sender_delegation.as_deref().unwrap_or_default();
    if delegations.len() > 20 {
        return Err(AuthError::Invalid(format!(
            "the delegation chain has {} links; at most 20 are allowed",
            delegations.len()
        )));
    }
    if let Some(info) = sender_info {
        check_sender_info(pubkey, info, root_key)?;
    }
    for (i, d) in delegations.iter().enumerate() {
        verify(&key, &d.delegation.signable(), &d.signature, root_key)
            .map_err(|e| AuthError::BadSignature(format!("delegation {i}: {e}")))?;
        if d.delegation.expiration < now {
            return Err(AuthError::BadSignature(format!(
                "delegation {i} expired at {} (now {now})",
                d.delegation.expiration
            )));
        }
        if let (Some(targets), Some(callee)) = (&d.delegation.targets, callee) {
            if !targets.contains(&callee) {
                return Err(AuthError::Forbidden {
                    callee,
                    why: format!("delegation {i} does not target it"),
                });
            }
        }
        if d.delegation.permissions == Some(ic_transport_types::DelegationPermissions::Queries)
            && matches!(&*envelope.content, EnvelopeContent::Call { .. })
        {
            return Err(AuthError::BadSignature(format!(
                "delegation {i} permits only queries and read_state, not update calls"
            )));
        }
        key = d.delegation.pubkey.clone();
    }
    let mut msg = b"\x0Aic-request".to_vec();
    msg.extend_from_slice(request_id.as_slice());
    verify(&key, &msg, sig, root_key)?;
    Ok(sender)
}

/// `sender_info` is signed by the canister of the sender's canister signature key, with that
/// key, over `"\x0Eic-sender-info" ++ info`.
fn check_sender_info(pubkey: &[u8], info: &SenderInfo, root_key: &[u8]) -> Result<(), AuthError> {
    let bad = AuthError::SenderInfo;
    let key = canister_sig::parse_key(pubkey).map_err(|e| {
        bad(format!(
            "sender_pubkey is not a canister signature public key ({e})"
        ))
    })?;
    if key.canister.as_slice() != info.signer.as_slice() {
        return Err(bad(format!(
            "signer {} does not match canister ID {} in sender_pubkey",
            Principal::try_from_slice(&info.signer)
                .map_or_else(|_| hex::encode(&info.signer), |p| p.to_text()),
            key.canister
        )));
    }
    let mut msg = b"\x0Eic-sender-info".to_vec();
    msg.extend_from_slice(&info.info);
    canister_sig::verify(pubkey, &msg, &info.sig, root_key)
        .map_err(|e| bad(format!("signature verification failed: {e}")))
}

const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_SECP256K1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Verifies `sig` over `msg` with a DER-encoded public key of a supported scheme.
fn verify(der: &[u8], msg: &[u8], sig: &[u8], root_key: &[u8]) -> Result<(), AuthError> {
    let bad = |what: &str| AuthError::BadSignature(what.to_string());
    // First: a canister key's seed may hold any bytes, another algorithm's OID among them.
    if canister_sig::is_canister_key(der) {
        return canister_sig::verify(der, msg, sig, root_key).map_err(AuthError::BadSignature);
    }
    // The algorithm identifier sits in the first few bytes of the SubjectPublicKeyInfo.
    let head = &der[..der.len().min(32)];
    if contains(head, OID_ED25519) {
        let key = ed25519_dalek::VerifyingKey::from_public_key_der(der)
            .map_err(|e| bad(&format!("malformed Ed25519 public key: {e}")))?;
        let sig = ed25519_dalek::Signature::from_slice(sig)
            .map_err(|_| bad("Ed25519 signature is not 64 bytes"))?;
        return key
            .verify_strict(msg, &sig)
            .map_err(|_| bad("Ed25519 signature does not verify"));
    }
    if contains(head, OID_SECP256K1) {
        use k256::ecdsa::signature::Verifier;
        let key = k256::ecdsa::VerifyingKey::from_public_key_der(der)
            .map_err(|e| bad(&format!("malformed secp256k1 public key: {e}")))?;
        let sig = k256::ecdsa::Signature::from_slice(sig)
            .map_err(|_| bad("ECDSA secp256k1 signature is not 64 bytes r‖s"))?;
        return key
            .verify(msg, &sig)
            .map_err(|_| bad("ECDSA secp256k1 signature does not verify"));
    }
    if contains(head, OID_P256) {
        use p256::ecdsa::signature::Verifier;
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(der)
            .map_err(|e| bad(&format!("malformed P-256 public key: {e}")))?;
        let sig = p256::ecdsa::Signature::from_slice(sig)
            .map_err(|_| bad("ECDSA P-256 signature is not 64 bytes r‖s"))?;
        return key
            .verify(msg, &sig)
            .map_err(|_| bad("ECDSA P-256 signature does not verify"));
    }
    Err(bad(
        "unsupported public key: expected Ed25519, ECDSA secp256k1, ECDSA P-256 or a canister signature key in DER",
    ))
}
