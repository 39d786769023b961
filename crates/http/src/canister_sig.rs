//! Canister signatures (the interface spec, "Canister signatures"), as Internet Identity
//! makes them: the public key names a signing canister and a seed, and a signature is a
//! certificate of that canister's certified data together with a tree in which the path
//! `sig/<sha256(seed)>/<sha256(msg)>` holds an empty leaf. The certificate must be signed by
//! this replica's root key; drydock is one subnet, so a certificate with a subnet delegation
//! is refused.

use candid::Principal;
use ic_certification::{Certificate, HashTree, LookupResult};
use sha2::{Digest, Sha256};

/// The DER algorithm identifier of canister signature keys (OID 1.3.6.1.4.1.56387.1.2).
const ALGORITHM: &[u8] = &[
    0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb8, 0x43, 0x01, 0x02,
];
/// The domain separation tag of the IC's BLS signatures (signatures in G1, keys in G2).
const BLS_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

/// A canister signature public key: `|canister id| · canister id · seed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanisterKey {
    pub canister: Principal,
    pub seed: Vec<u8>,
}

impl CanisterKey {
    /// The key's DER encoding (a SubjectPublicKeyInfo).
    pub fn to_der(&self) -> Vec<u8> {
        let id = self.canister.as_slice();
        let mut raw = vec![id.len() as u8];
        raw.extend_from_slice(id);
        raw.extend_from_slice(&self.seed);
        let mut bits = der_header(0x03, raw.len() + 1);
        bits.push(0); // no unused bits
        bits.extend_from_slice(&raw);
        let mut body = ALGORITHM.to_vec();
        body.extend_from_slice(&bits);
        let mut out = der_header(0x30, body.len());
        out.extend_from_slice(&body);
        out
    }
}

fn der_header(tag: u8, len: usize) -> Vec<u8> {
    let mut out = vec![tag];
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out
}

/// Splits one DER element (tag, contents) off the front of `bytes`.
fn der_element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
        0x82 => (
            usize::from(*rest.first()?) << 8 | usize::from(*rest.get(1)?),
            rest.get(2..)?,
        ),
        _ => return None,
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

/// Whether `der` says it is a canister signature key (its algorithm identifier).
pub fn is_canister_key(der: &[u8]) -> bool {
    der_element(der)
        .filter(|(tag, _, _)| *tag == 0x30)
        .is_some_and(|(_, body, _)| body.starts_with(ALGORITHM))
}

/// Parses a DER-encoded canister signature public key.
pub fn parse_key(der: &[u8]) -> Result<CanisterKey, String> {
    let malformed = |why: &str| format!("malformed canister signature public key: {why}");
    let (tag, body, after) = der_element(der).ok_or_else(|| malformed("not DER"))?;
    if tag != 0x30 || !after.is_empty() {
        return Err(malformed("not one DER sequence"));
    }
    let bits = body
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| malformed("not the canister signature algorithm"))?;
    let (tag, bits, after) = der_element(bits).ok_or_else(|| malformed("no key bits"))?;
    if tag != 0x03 || !after.is_empty() {
        return Err(malformed("the key is not one bit string"));
    }
    let raw = bits
        .strip_prefix(&[0])
        .ok_or_else(|| malformed("the bit string has unused bits"))?;
    let (&len, rest) = raw
        .split_first()
        .ok_or_else(|| malformed("the key is empty"))?;
    let len = usize::from(len);
    if len > 29 || rest.len() < len {
        return Err(malformed("the canister id does not fit"));
    }
    let (id, seed) = rest.split_at(len);
    Ok(CanisterKey {
        canister: Principal::try_from_slice(id).map_err(|e| malformed(&e.to_string()))?,
        seed: seed.to_vec(),
    })
}

/// The CBOR signature: a certificate and the signing canister's tree.
#[derive(serde::Deserialize)]
struct Signature {
    #[serde(with = "serde_bytes")]
    certificate: Vec<u8>,
    tree: HashTree,
}

/// Verifies the canister signature `sig` over `msg` for the key `der`, against `root_key`
/// (the raw 96-byte BLS key; empty when this replica has none, which refuses every canister
/// signature).
pub fn verify(der: &[u8], msg: &[u8], sig: &[u8], root_key: &[u8]) -> Result<(), String> {
    let key = parse_key(der)?;
    let sig: Signature = serde_cbor::from_slice(sig)
        .map_err(|e| format!("the canister signature is not a CBOR certificate and tree: {e}"))?;
    let cert: Certificate = serde_cbor::from_slice(&sig.certificate)
        .map_err(|e| format!("the canister signature's certificate is malformed: {e}"))?;
    if cert.delegation.is_some() {
        return Err(
            "the canister signature's certificate has a subnet delegation; drydock is one subnet and signs its certificates with its root key"
                .into(),
        );
    }
    let root_key = blst::min_sig::PublicKey::from_bytes(root_key).map_err(|_| {
        "this replica has no root key to check canister signatures with".to_string()
    })?;
    let cert_sig = blst::min_sig::Signature::from_bytes(&cert.signature)
        .map_err(|_| "the canister signature's certificate signature is malformed".to_string())?;
    let mut signed = b"\x0Dic-state-root".to_vec();
    signed.extend_from_slice(&cert.tree.digest());
    if cert_sig.verify(true, &signed, BLS_DST, &[], &root_key, true)
        != blst::BLST_ERROR::BLST_SUCCESS
    {
        return Err(
            "the canister signature's certificate is not signed by this replica's root key".into(),
        );
    }
    let certified = cert.tree.lookup_path([
        b"canister".as_slice(),
        key.canister.as_slice(),
        b"certified_data",
    ]);
    if certified != LookupResult::Found(sig.tree.digest().as_slice()) {
        return Err(format!(
            "the canister signature's tree is not the certified data of canister {}",
            key.canister
        ));
    }
    let seed_hash = Sha256::digest(&key.seed);
    let msg_hash = Sha256::digest(msg);
    match sig
        .tree
        .lookup_path([b"sig".as_slice(), seed_hash.as_slice(), msg_hash.as_slice()])
    {
        LookupResult::Found([]) => Ok(()),
        _ => Err(format!(
            "canister {} has not signed this message for this seed",
            key.canister
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_der_and_back() {
        for seed in [vec![], vec![7; 32], vec![1; 200]] {
            let key = CanisterKey {
                canister: Principal::from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 1, 1, 1]),
                seed,
            };
            let der = key.to_der();
            assert!(is_canister_key(&der));
            assert_eq!(parse_key(&der), Ok(key));
        }
    }

    #[test]
    fn malformed_keys_and_signatures_are_refused_with_a_cause() {
        let key = CanisterKey {
            canister: Principal::from_slice(&[1, 2, 3]),
            seed: b"seed".to_vec(),
        };
        let der = key.to_der();
        assert!(parse_key(&der[..der.len() - 1]).is_err());
        assert!(parse_key(&[0x30, 0x00]).is_err());
        let e = verify(&der, b"m", b"not cbor", &[0; 96]).unwrap_err();
        assert!(e.contains("not a CBOR"), "{e}");
    }
}
