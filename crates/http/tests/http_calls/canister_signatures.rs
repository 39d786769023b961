//! Canister signatures, as Internet Identity makes them, and the `sender_info` they sign:
//! the `certified` test canister signs, ic-agent builds the identities, and canisters read the
//! caller info (`ic0.msg_caller_info_*`).

use super::*;

/// An Internet Identity-style user: the principal of a canister signature key (`certified`'s
/// canister and `seed`), with a delegation to an Ed25519 session key that the canister signed.
struct CanisterSigUser {
    key_der: Vec<u8>,
    seed: Vec<u8>,
    session: u8,
    chain: Vec<SignedDelegation>,
}

impl CanisterSigUser {
    fn principal(&self) -> Principal {
        Principal::self_authenticating(&self.key_der)
    }

    /// The user's identity, as ic-agent builds it without checking the chain.
    fn identity(&self) -> DelegatedIdentity {
        DelegatedIdentity::new_unchecked(
            self.key_der.clone(),
            Box::new(ed25519(self.session)),
            self.chain.clone(),
        )
    }
}

fn sha256(bytes: &[u8]) -> serde_bytes::ByteBuf {
    use sha2::Digest;
    serde_bytes::ByteBuf::from(sha2::Sha256::digest(bytes).to_vec())
}

/// Has the `certified` canister `signer` make a canister signature over `msg` for `seed`.
async fn canister_signature(agent: &Agent, signer: Principal, seed: &[u8], msg: &[u8]) -> Vec<u8> {
    agent
        .update(&signer, "sign")
        .with_arg(Encode!(&sha256(seed), &sha256(msg)).unwrap())
        .call_and_wait()
        .await
        .unwrap();
    let reply = agent
        .query(&signer, "signature")
        .with_arg(Encode!(&sha256(seed), &sha256(msg)).unwrap())
        .call()
        .await
        .unwrap();
    Decode!(&reply, Option<serde_bytes::ByteBuf>)
        .unwrap()
        .expect("the canister signed it")
        .into_vec()
}

/// A server, an admin agent, a `certified` canister (the signer) and a user of its keys.
async fn signer_and_user(admin: u8, session: u8) -> (Server, Agent, Principal, CanisterSigUser) {
    let server = start().await;
    let admin = agent(&server, ed25519(admin)).await;
    let signer = canister_with(&admin, "certified").await;
    let seed = format!("anchor {session}").into_bytes();
    let key_der = drydock_http::canister_sig::CanisterKey {
        canister: signer,
        seed: seed.clone(),
    }
    .to_der();
    let delegation = Delegation {
        pubkey: ed25519(session).public_key().unwrap(),
        expiration: drydock_http::envelope::now_ns() + 600_000_000_000,
        targets: None,
        permissions: None,
    };
    let signature = canister_signature(&admin, signer, &seed, &delegation.signable()).await;
    let user = CanisterSigUser {
        key_der,
        seed,
        session,
        chain: vec![SignedDelegation {
            delegation,
            signature,
        }],
    };
    (server, admin, signer, user)
}

#[derive(candid::CandidType, serde::Deserialize, Debug, PartialEq)]
struct CallerInfo {
    caller: Principal,
    data: serde_bytes::ByteBuf,
    signer: Option<Principal>,
}

/// `caller_info` as an update and as a query, twice each.
async fn caller_infos(agent: &Agent, id: Principal) -> Vec<CallerInfo> {
    let mut out = Vec::new();
    for _ in 0..2 {
        let reply = agent
            .update(&id, "caller_info")
            .with_arg(Encode!().unwrap())
            .call_and_wait()
            .await
            .unwrap();
        out.push(Decode!(&reply, CallerInfo).unwrap());
        let reply = agent
            .query(&id, "caller_info_query")
            .with_arg(Encode!().unwrap())
            .call()
            .await
            .unwrap();
        out.push(Decode!(&reply, CallerInfo).unwrap());
    }
    out
}

/// The errors of `caller_info` as an update and of `caller_info_query`, once each.
async fn caller_info_errors(agent: &Agent, id: Principal) -> [String; 2] {
    let update = agent
        .update(&id, "caller_info")
        .with_arg(Encode!().unwrap())
        .call_and_wait()
        .await
        .unwrap_err();
    let query = agent
        .query(&id, "caller_info_query")
        .with_arg(Encode!().unwrap())
        .call()
        .await
        .unwrap_err();
    [update.to_string(), query.to_string()]
}

// Interface spec, "Authentication" (canister signatures, as Internet Identity makes them): a
// user whose key is a canister signature key calls through a delegation the canister signed,
// with ic-agent's DelegatedIdentity, which checks the canister signature itself against the
// root key first.
#[tokio::test(flavor = "multi_thread")]
async fn an_internet_identity_style_user_calls_through_a_canister_signed_delegation() {
    let (server, admin, signer, user) = signer_and_user(20, 21).await;
    let identity = DelegatedIdentity::new_with_root_key(
        user.key_der.clone(),
        Box::new(ed25519(user.session)),
        user.chain.clone(),
        &admin.read_root_key(),
    )
    .expect("ic-agent accepts the canister signature");
    let as_user = agent(&server, identity).await;
    for info in caller_infos(&as_user, signer).await {
        assert_eq!(
            info,
            CallerInfo {
                caller: user.principal(),
                data: serde_bytes::ByteBuf::new(),
                signer: None,
            }
        );
    }
    // A delegation the canister did not sign: its signature is for another message.
    let mut forger = user;
    forger.chain[0].delegation.expiration += 1;
    let as_forger = agent(&server, forger.identity()).await;
    for _ in 0..2 {
        for err in caller_info_errors(&as_forger, signer).await {
            assert!(err.contains("has not signed this message"), "{err}");
        }
    }
}

// Interface spec, "Authentication" (`sender_info`) and "Caller information"
// (`ic0.msg_caller_info_data_*`, `ic0.msg_caller_info_signer_*`): a request carries what its
// sender's canister attested about it, signed by that canister; the callee reads it in
// updates and queries. Another signer, or a sender without a canister signature key, is
// refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_canister_reads_the_caller_info_the_callers_canister_attested() {
    use ic_agent::identity::InfoAwareIdentity;
    let (server, admin, signer, user) = signer_and_user(22, 23).await;
    let info = b"email: someone@example.org".to_vec();
    let mut attested = b"\x0Eic-sender-info".to_vec();
    attested.extend_from_slice(&info);
    let sig = canister_signature(&admin, signer, &user.seed, &attested).await;
    let identity = InfoAwareIdentity::new_with_root_key(
        user.identity(),
        info.clone(),
        sig.clone(),
        &admin.read_root_key(),
    )
    .expect("ic-agent accepts the attestation");
    let as_user = agent(&server, identity).await;
    for got in caller_infos(&as_user, signer).await {
        assert_eq!(
            got,
            CallerInfo {
                caller: user.principal(),
                data: serde_bytes::ByteBuf::from(info.clone()),
                signer: Some(signer),
            }
        );
    }
    // Interface spec, "Caller information": a call the canister makes carries none, and its
    // reply callback runs in the call context of the attested request.
    for _ in 0..2 {
        let reply = as_user
            .update(&signer, "caller_info_across_a_call")
            .with_arg(Encode!().unwrap())
            .call_and_wait()
            .await
            .unwrap();
        let (inner, after) = Decode!(&reply, CallerInfo, CallerInfo).unwrap();
        assert_eq!(
            inner,
            CallerInfo {
                caller: signer,
                data: serde_bytes::ByteBuf::new(),
                signer: None,
            }
        );
        assert_eq!(
            after,
            CallerInfo {
                caller: user.principal(),
                data: serde_bytes::ByteBuf::from(info.clone()),
                signer: Some(signer),
            }
        );
    }
    // An attestation of other data than what was signed.
    let lie = b"email: admin@example.org".to_vec();
    let identity = InfoAwareIdentity::new_unchecked(user.identity(), lie, sig.clone()).unwrap();
    let as_liar = agent(&server, identity).await;
    for _ in 0..2 {
        for err in caller_info_errors(&as_liar, signer).await {
            assert!(
                err.contains("Invalid sender info") && err.contains("has not signed"),
                "{err}"
            );
        }
    }
    // Sender info from a sender whose key is no canister's (Ed25519), or from the anonymous
    // principal: ic-agent will not build such requests, so they are made by hand.
    let expiry = drydock_http::envelope::now_ns() + 120_000_000_000;
    let ed = ed25519(24);
    for (sender, signed, why) in [
        (
            ed.sender().unwrap(),
            true,
            "not a canister signature public key",
        ),
        (
            Principal::anonymous(),
            false,
            "an unsigned request carries sender_info",
        ),
    ] {
        let content = EnvelopeContent::Call {
            nonce: None,
            ingress_expiry: expiry,
            sender,
            canister_id: signer,
            method_name: "caller_info".into(),
            arg: Encode!().unwrap(),
            sender_info: Some(ic_transport_types::SenderInfo {
                info: info.clone(),
                signer: signer.as_slice().to_vec(),
                sig: sig.clone(),
            }),
        };
        let (sender_pubkey, sender_sig) = if signed {
            let s = ed.sign(&content).unwrap();
            (s.public_key, s.signature)
        } else {
            (None, None)
        };
        let body = ic_transport_types::Envelope {
            content: std::borrow::Cow::Owned(content),
            sender_pubkey,
            sender_sig,
            sender_delegation: None,
        }
        .encode_bytes();
        for _ in 0..2 {
            let (code, reply) = raw(
                server.addr,
                "POST",
                &format!("/api/v3/canister/{signer}/call"),
                &body,
            );
            let reply = String::from_utf8_lossy(&reply);
            assert_eq!(code, 400, "{reply}");
            assert!(
                reply.contains("Invalid sender info") && reply.contains(why),
                "{reply}"
            );
        }
    }
}
