//! Who sent a request: the envelope's signature, its delegation chain and its expiry, checked
//! as the IC checks them (the interface spec, "Authentication").
//!
//! A request is either anonymous (no key, no signature, sender `2vxsx-fae`) or signed: the
//! sender must be the self-authenticating principal of `sender_pubkey`, each delegation must be
//! signed by the key before it (over `"\x1Aic-request-auth-delegation" ++ hash(delegation)`),
//! unexpired and targeting the callee when it names targets, and `sender_sig` must be the last
//! key's signature over `"\x0Aic-request" ++ request_id`. Supported keys: Ed25519, ECDSA on
//! secp256k1 and on P-256 (SHA-256, 64-byte `r ‖ s`). Canister signatures are not.

use candid::Principal;
use ed25519_dalek::pkcs8::DecodePublicKey;
use ic_transport_types::{Envelope, EnvelopeContent, RequestId};

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
/// subnet), returning the verified sender.
pub fn authenticate(
    envelope: &Envelope<'_>,
    request_id: &RequestId,
    callee: Option<Principal>,
    now: u64,
) -> Result<Principal, AuthError> {
    let sender = *envelope.content.sender();
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
    for (i, d) in delegations.iter().enumerate() {
        verify(&key, &d.delegation.signable(), &d.signature)
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
    verify(&key, &msg, sig)?;
    Ok(sender)
}

const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_SECP256K1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_CANISTER_SIG: &[u8] = &[
    0x06, 0x0c, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x02,
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Verifies `sig` over `msg` with a DER-encoded public key of a supported scheme.
fn verify(der: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), AuthError> {
    let bad = |what: &str| AuthError::BadSignature(what.to_string());
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
    if contains(head, OID_CANISTER_SIG) {
        return Err(bad(
            "canister signatures (e.g. Internet Identity) are not supported by drydock",
        ));
    }
    Err(bad(
        "unsupported public key: expected Ed25519, ECDSA secp256k1 or ECDSA P-256 in DER",
    ))
}
