//! The request envelope decoder, `drydock_http::envelope::decode_envelope`.
//!
//! Two ways in:
//! - [`decode_bytes`]: any bytes as a request body. The decoder must return `Ok` or `Err`, never
//!   panic; an accepted envelope must be within the expiry window at [`NOW`].
//! - [`Spec`] (built by `arbitrary`): a request that is built, signed (Ed25519, ECDSA secp256k1
//!   or P-256, with a delegation chain) and perhaps tampered with, then decoded. Random bytes
//!   never carry a valid signature, so this is how the fuzzer reaches the checks behind one.
//!   The spec says by itself whether the IC would accept it ([`Spec::acceptable`]), and the
//!   decoder must agree.
//!
//! Every envelope here expires a few minutes after [`NOW`], and the decoder is always asked
//! "as of [`NOW`]", so the committed seeds stay valid forever.

use std::borrow::Cow;

use arbitrary::Arbitrary;
use candid::Principal;
use drydock_http::envelope::{decode_envelope, Authed, HttpReject};
use ic_transport_types::{
    to_request_id, Delegation, Envelope, EnvelopeContent, RequestId, SignedDelegation,
};

/// The fuzzer's clock: 2025-06-15T15:06:40Z, in nanoseconds since the epoch.
pub const NOW: u64 = 1_750_000_000_000_000_000;
/// The seeds' `ingress_expiry`: three minutes after [`NOW`].
pub const SEED_EXPIRY: u64 = NOW + 3 * 60 * 1_000_000_000;
/// The window the IC accepts `ingress_expiry` in, relative to now: one minute of drift
/// before, five minutes plus the drift after.
const EXPIRY_MIN: u64 = NOW - 60 * 1_000_000_000;
const EXPIRY_MAX: u64 = NOW + 6 * 60 * 1_000_000_000;
/// The most delegations the IC accepts in a chain.
const MAX_CHAIN: usize = 20;
/// The first canister id drydock allocates (index 2^20), the effective canister of the seeds.
pub const CANISTER: Principal = Principal::from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0, 0x01, 0x01]);

/// Decodes `body` as of [`NOW`] with the effective canister id [`CANISTER`] (and, for an
/// accepted read_state, also without one). Panics only if the decoder breaks a promise.
pub fn decode_bytes(body: &[u8]) {
    let Ok(authed) = decode_envelope(body, Some(CANISTER), NOW, &[]) else {
        return;
    };
    check_accepted(&authed);
    if matches!(authed.content, EnvelopeContent::ReadState { .. }) {
        if let Ok(authed) = decode_envelope(body, None, NOW, &[]) {
            check_accepted(&authed);
        }
    }
}

fn check_accepted(authed: &Authed) {
    let expiry = authed.content.ingress_expiry();
    assert!(
        (EXPIRY_MIN..=EXPIRY_MAX).contains(&expiry),
        "accepted an envelope expiring at {expiry}, outside [{EXPIRY_MIN}, {EXPIRY_MAX}]"
    );
    assert_eq!(&authed.sender, authed.content.sender());
}

/// A signing key, chosen by scheme and a small index (the keys are fixed, so the fuzzer can
/// make two links of a chain use the same key).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Ed25519(u8),
    Secp256k1(u8),
    P256(u8),
}

/// The twelve fixed keys, built once: deriving a public key is a scalar multiplication, as
/// costly as a signature, so the fuzzer would otherwise spend most of its time on it.
struct KeyPair {
    ed25519: ed25519_dalek::SigningKey,
    secp256k1: k256::ecdsa::SigningKey,
    p256: p256::ecdsa::SigningKey,
    /// The public keys as DER, in that order.
    der: [Vec<u8>; 3],
}

fn key_pair(index: u8) -> &'static KeyPair {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    static KEYS: std::sync::OnceLock<Vec<KeyPair>> = std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        (0..4u8)
            .map(|i| {
                // Any 32 equal bytes from 1 to 4 are a valid scalar for all three curves.
                let secret = [i + 1; 32];
                let ed25519 = ed25519_dalek::SigningKey::from_bytes(&secret);
                let secp256k1 =
                    k256::ecdsa::SigningKey::from_bytes(&secret.into()).expect("a valid scalar");
                let p256 =
                    p256::ecdsa::SigningKey::from_bytes(&secret.into()).expect("a valid scalar");
                let der = [
                    ed25519.verifying_key().to_public_key_der(),
                    secp256k1.verifying_key().to_public_key_der(),
                    p256.verifying_key().to_public_key_der(),
                ]
                .map(|d| d.expect("a fixed key encodes").into_vec());
                KeyPair {
                    ed25519,
                    secp256k1,
                    p256,
                    der,
                }
            })
            .collect()
    });
    &keys[usize::from(index % 4)]
}

impl Key {
    /// The public key as DER (SubjectPublicKeyInfo), as it goes on the wire.
    pub fn public_der(self) -> Vec<u8> {
        match self {
            Key::Ed25519(i) => key_pair(i).der[0].clone(),
            Key::Secp256k1(i) => key_pair(i).der[1].clone(),
            Key::P256(i) => key_pair(i).der[2].clone(),
        }
    }

    /// A signature over `msg`: Ed25519, or ECDSA with SHA-256 as 64 bytes `r ‖ s`.
    pub fn sign(self, msg: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        match self {
            Key::Ed25519(i) => key_pair(i).ed25519.sign(msg).to_vec(),
            Key::Secp256k1(i) => {
                let sig: k256::ecdsa::Signature = key_pair(i).secp256k1.sign(msg);
                sig.to_vec()
            }
            Key::P256(i) => {
                let sig: p256::ecdsa::Signature = key_pair(i).p256.sign(msg);
                sig.to_vec()
            }
        }
    }
}

/// A principal: one of the few that matter, or any bytes the IC allows (at most 29).
#[derive(Arbitrary, Debug, Clone)]
pub enum Id {
    Canister,
    Management,
    Anonymous,
    Other(Vec<u8>),
}

impl Id {
    pub fn principal(&self) -> Principal {
        match self {
            Id::Canister => CANISTER,
            Id::Management => Principal::management_canister(),
            Id::Anonymous => Principal::anonymous(),
            Id::Other(b) => Principal::try_from_slice(&b[..b.len().min(29)])
                .unwrap_or(Principal::management_canister()),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Kind {
    Call {
        canister: Id,
        method: String,
        arg: Vec<u8>,
        nonce: Option<Vec<u8>>,
    },
    Query {
        canister: Id,
        method: String,
        arg: Vec<u8>,
    },
    ReadState {
        paths: Vec<Vec<Vec<u8>>>,
    },
}

/// One link of a delegation chain, signed by the key before it.
#[derive(Arbitrary, Debug, Clone)]
pub struct Link {
    pub to: Key,
    /// Seconds relative to [`NOW`] (negative: expired).
    pub expires_in_s: i16,
    pub targets: Option<Vec<Id>>,
}

/// What to break in an otherwise well-formed request.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    Nothing,
    /// Flip a bit of `sender_sig`.
    Signature(u8),
    /// Flip a bit of one delegation's signature.
    DelegationSignature(u8, u8),
    /// Send it without `sender_sig`.
    NoSignature,
    /// Send it without `sender_pubkey`.
    NoPublicKey,
    /// Claim another sender than the key's principal.
    Sender,
    /// Sign with the chain's first key instead of its last.
    SignWithFirstKey,
}

/// A request as the fuzzer builds it.
#[derive(Arbitrary, Debug, Clone)]
pub struct Spec {
    pub kind: Kind,
    /// Seconds relative to [`NOW`].
    pub expires_in_s: i16,
    /// `None`: anonymous and unsigned.
    pub signer: Option<Key>,
    pub chain: Vec<Link>,
    pub tamper: Tamper,
    /// The effective canister id from the URL (read_state checks delegation targets on it).
    pub effective: Option<Id>,
}

fn at(offset_s: i16) -> u64 {
    NOW.wrapping_add_signed(i64::from(offset_s) * 1_000_000_000)
}

impl Spec {
    fn callee(&self) -> Option<Principal> {
        match &self.kind {
            Kind::Call { canister, .. } | Kind::Query { canister, .. } => {
                Some(canister.principal())
            }
            Kind::ReadState { .. } => self.effective.as_ref().map(Id::principal),
        }
    }

    fn content(&self, sender: Principal) -> EnvelopeContent {
        let ingress_expiry = at(self.expires_in_s);
        match &self.kind {
            Kind::Call {
                canister,
                method,
                arg,
                nonce,
            } => EnvelopeContent::Call {
                nonce: nonce.clone(),
                ingress_expiry,
                sender,
                canister_id: canister.principal(),
                method_name: method.clone(),
                arg: arg.clone(),
                sender_info: None,
            },
            Kind::Query {
                canister,
                method,
                arg,
            } => EnvelopeContent::Query {
                ingress_expiry,
                sender,
                canister_id: canister.principal(),
                method_name: method.clone(),
                arg: arg.clone(),
                nonce: None,
                sender_info: None,
            },
            Kind::ReadState { paths } => EnvelopeContent::ReadState {
                ingress_expiry,
                sender,
                paths: paths
                    .iter()
                    .map(|p| p.iter().map(|l| l.clone().into()).collect())
                    .collect(),
            },
        }
    }

    /// The request body, CBOR with the self-describing tag, as agents send it.
    pub fn body(&self) -> Vec<u8> {
        let Some(first) = self.signer else {
            let sender = if self.tamper == Tamper::Sender {
                CANISTER
            } else {
                Principal::anonymous()
            };
            return Envelope {
                content: Cow::Owned(self.content(sender)),
                sender_pubkey: None,
                sender_sig: None,
                sender_delegation: None,
            }
            .encode_bytes();
        };
        let pubkey = first.public_der();
        let sender = if self.tamper == Tamper::Sender {
            Principal::anonymous()
        } else {
            Principal::self_authenticating(&pubkey)
        };
        let content = self.content(sender);
        let mut key = first;
        let mut delegations = Vec::with_capacity(self.chain.len());
        for (i, link) in self.chain.iter().enumerate() {
            let delegation = Delegation {
                pubkey: link.to.public_der(),
                expiration: at(link.expires_in_s),
                targets: link
                    .targets
                    .as_ref()
                    .map(|t| t.iter().map(Id::principal).collect()),
                permissions: None,
            };
            // The IC refuses a chain of more than 20 links before it looks at a signature, so
            // a longer chain's links are not signed (a signature costs what a whole short
            // request does, and the fuzzer grows chains of hundreds of links).
            let mut signature = if self.chain.len() <= MAX_CHAIN {
                key.sign(&delegation.signable())
            } else {
                vec![0; 64]
            };
            if let Tamper::DelegationSignature(which, bit) = self.tamper {
                if usize::from(which) % self.chain.len() == i {
                    flip(&mut signature, bit);
                }
            }
            delegations.push(SignedDelegation {
                delegation,
                signature,
            });
            key = link.to;
        }
        if self.tamper == Tamper::SignWithFirstKey {
            key = first;
        }
        let request_id: RequestId = to_request_id(&content).expect("content hashes");
        let mut sig = key.sign(&request_id.signable());
        if let Tamper::Signature(bit) = self.tamper {
            flip(&mut sig, bit);
        }
        Envelope {
            content: Cow::Owned(content),
            sender_pubkey: (self.tamper != Tamper::NoPublicKey).then_some(pubkey),
            sender_sig: (self.tamper != Tamper::NoSignature).then_some(sig),
            sender_delegation: (!self.chain.is_empty()).then_some(delegations),
        }
        .encode_bytes()
    }

    /// Whether the IC accepts this request at [`NOW`], from the spec alone.
    pub fn acceptable(&self) -> bool {
        let expiry = at(self.expires_in_s);
        if !(EXPIRY_MIN..=EXPIRY_MAX).contains(&expiry) {
            return false;
        }
        let Some(first) = self.signer else {
            // An unsigned request carries no delegation either (body() adds none).
            return self.tamper != Tamper::Sender;
        };
        let callee = self.callee();
        let links_ok = self.chain.iter().all(|l| {
            at(l.expires_in_s) >= NOW
                && match (&l.targets, callee) {
                    (Some(t), Some(c)) => t.iter().any(|id| id.principal() == c),
                    _ => true,
                }
        });
        let last = self.chain.last().map_or(first, |l| l.to);
        let tamper_ok = match self.tamper {
            Tamper::Nothing => true,
            Tamper::DelegationSignature(..) => self.chain.is_empty(),
            Tamper::SignWithFirstKey => last.public_der() == first.public_der(),
            _ => false,
        };
        self.chain.len() <= MAX_CHAIN && links_ok && tamper_ok
    }

    /// Builds, decodes and checks the request: the decoder must accept exactly the acceptable
    /// ones, with the right sender, and must not panic on any.
    pub fn check(&self) {
        let body = self.body();
        let effective = self.effective.as_ref().map(Id::principal);
        let result = decode_envelope(&body, effective, NOW, &[]);
        match (self.acceptable(), result) {
            (true, Ok(authed)) => {
                check_accepted(&authed);
                let want = match self.signer {
                    Some(k) => Principal::self_authenticating(k.public_der()),
                    None => Principal::anonymous(),
                };
                assert_eq!(authed.sender, want, "accepted with the wrong sender");
                let content = self.content(want);
                assert_eq!(
                    authed.request_id,
                    to_request_id(&content).expect("content hashes"),
                    "the request id is not the hash of the content"
                );
            }
            (false, Err(_)) => {}
            (true, Err(HttpReject { status, message })) => {
                panic!("rejected an acceptable request ({status}: {message}): {self:?}")
            }
            (false, Ok(authed)) => panic!(
                "accepted an unacceptable request from {}: {self:?}",
                authed.sender
            ),
        }
    }
}

fn flip(bytes: &mut [u8], bit: u8) {
    if !bytes.is_empty() {
        let i = usize::from(bit / 8) % bytes.len();
        bytes[i] ^= 1 << (bit % 8);
    }
}

/// The seed corpus of the `envelope` target: well-formed requests of each kind and scheme,
/// all acceptable at [`NOW`]. `envelope-seeds` writes them to `corpus/envelope/`.
pub fn seeds() -> Vec<(&'static str, Spec)> {
    const EXPIRES_IN_S: i16 = ((SEED_EXPIRY - NOW) / 1_000_000_000) as i16;
    // Candid for `("world")`.
    let greet = b"DIDL\x00\x01\x71\x05world".to_vec();
    let call = |canister: Id| Kind::Call {
        canister,
        method: "greet".into(),
        arg: greet.clone(),
        nonce: Some(b"drydock-seed".to_vec()),
    };
    let query = Kind::Query {
        canister: Id::Canister,
        method: "greet".into(),
        arg: greet.clone(),
    };
    let read_state = Kind::ReadState {
        paths: vec![
            vec![b"time".to_vec()],
            vec![b"request_status".to_vec(), vec![0xab; 32]],
            vec![
                b"canister".to_vec(),
                CANISTER.as_slice().to_vec(),
                b"module_hash".to_vec(),
            ],
        ],
    };
    let spec = |kind: Kind, signer: Option<Key>, chain: Vec<Link>| Spec {
        kind,
        expires_in_s: EXPIRES_IN_S,
        signer,
        chain,
        tamper: Tamper::Nothing,
        effective: Some(Id::Canister),
    };
    vec![
        ("anonymous-call", spec(call(Id::Canister), None, vec![])),
        ("anonymous-query", spec(query.clone(), None, vec![])),
        (
            "anonymous-read-state",
            spec(read_state.clone(), None, vec![]),
        ),
        (
            "ed25519-call-management",
            spec(call(Id::Management), Some(Key::Ed25519(0)), vec![]),
        ),
        (
            "ed25519-query",
            spec(query.clone(), Some(Key::Ed25519(0)), vec![]),
        ),
        (
            "secp256k1-query",
            spec(query.clone(), Some(Key::Secp256k1(0)), vec![]),
        ),
        (
            "p256-read-state",
            spec(read_state, Some(Key::P256(0)), vec![]),
        ),
        (
            "ed25519-delegated-call",
            spec(
                call(Id::Canister),
                Some(Key::Ed25519(1)),
                vec![
                    Link {
                        to: Key::P256(1),
                        expires_in_s: 3600,
                        targets: Some(vec![Id::Canister, Id::Management]),
                    },
                    Link {
                        to: Key::Ed25519(2),
                        expires_in_s: 600,
                        targets: None,
                    },
                ],
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted_at_now() {
        for (name, spec) in seeds() {
            assert!(spec.acceptable(), "{name}");
            spec.check();
        }
    }

    #[test]
    fn committed_seeds_are_the_generated_ones() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/envelope");
        for (name, spec) in seeds() {
            let committed = std::fs::read(format!("{dir}/{name}.cbor"))
                .unwrap_or_else(|e| panic!("{name}: {e}; run `cargo run --bin envelope-seeds`"));
            assert_eq!(
                committed,
                spec.body(),
                "{name}: run `cargo run --bin envelope-seeds`"
            );
            decode_bytes(&committed);
        }
    }

    #[test]
    fn a_chain_of_more_than_twenty_links_is_refused_and_twenty_accepted() {
        let (_, base) = seeds().pop().expect("a delegated seed");
        for links in [20, 21, 40] {
            let spec = Spec {
                chain: (0..links)
                    .map(|i| Link {
                        to: Key::Ed25519(i as u8),
                        expires_in_s: 600,
                        targets: None,
                    })
                    .collect(),
                ..base.clone()
            };
            assert_eq!(spec.acceptable(), links <= MAX_CHAIN, "{links} links");
            spec.check();
        }
    }

    #[test]
    fn tampered_signed_requests_are_refused() {
        for (name, spec) in seeds() {
            for tamper in [
                Tamper::Signature(0),
                Tamper::Signature(200),
                Tamper::DelegationSignature(0, 9),
                Tamper::NoSignature,
                Tamper::NoPublicKey,
                Tamper::Sender,
            ] {
                let spec = Spec {
                    tamper,
                    ..spec.clone()
                };
                if spec.signer.is_some() {
                    let refused = !spec.acceptable();
                    let harmless =
                        matches!(tamper, Tamper::DelegationSignature(..)) && spec.chain.is_empty();
                    assert!(refused || harmless, "{name} with {tamper:?}");
                }
                spec.check();
            }
        }
    }
}
