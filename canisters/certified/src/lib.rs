//! A key-value store whose values are certified, as IC applications certify data: an
//! ic-certification `RbTree` of the values, its root hash (labelled "kv") set as the
//! canister's certified data on every change. A query returns the value with the data
//! certificate the system hands it (`ic0.data_certificate_copy`) and a witness (the tree
//! pruned to that key, CBOR), so a client can check the value against the IC's root key.
//!
//! It also makes canister signatures, as Internet Identity does: `sign` puts
//! `sig/<seed hash>/<message hash>` into a second tree (labelled "sig"; the certified data is
//! the hash of both), and the query `signature` returns the certificate and the witness of
//! that path (CBOR), which is the canister signature. `caller_info` (update),
//! `caller_info_query` and `caller_info_across_a_call` return what `ic0.msg_caller_info_*`
//! hand the canister.

use std::cell::RefCell;

use candid::CandidType;
use candid::Principal;
use ic_certification::{fork, fork_hash, labeled, labeled_hash, pruned, AsHashTree, RbTree};
use serde_bytes::ByteBuf;

/// The Candid interface, as the custom section `icp:public candid:service`.
const CANDID_LEN: usize = include_bytes!("../certified.did").len();
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../certified.did");

const LABEL: &[u8] = b"kv";
const SIG: &[u8] = b"sig";

type Sigs = RbTree<Vec<u8>, RbTree<Vec<u8>, Vec<u8>>>;

thread_local! {
    static TREE: RefCell<RbTree<Vec<u8>, Vec<u8>>> = RefCell::new(RbTree::new());
    static SIGS: RefCell<Sigs> = RefCell::new(RbTree::new());
}

/// The certified data: `fork(labeled("kv", values), labeled("sig", signatures))`.
fn certify() {
    ic_cdk::api::certified_data_set(fork_hash(&kv_hash(), &sig_hash()));
}

fn kv_hash() -> [u8; 32] {
    TREE.with(|t| labeled_hash(LABEL, &t.borrow().root_hash()))
}

fn sig_hash() -> [u8; 32] {
    SIGS.with(|t| labeled_hash(SIG, &t.borrow().root_hash()))
}

#[derive(CandidType)]
struct CertifiedValue {
    value: String,
    certificate: ByteBuf,
    witness: ByteBuf,
}

#[ic_cdk::update]
fn put(key: String, value: String) {
    TREE.with(|t| {
        t.borrow_mut().insert(key.into_bytes(), value.into_bytes());
    });
    certify();
}

#[ic_cdk::query]
fn get(key: String) -> Option<CertifiedValue> {
    let certificate = ic_cdk::api::data_certificate()?;
    TREE.with(|t| {
        let t = t.borrow();
        let value = t.get(key.as_bytes())?.clone();
        let witness = fork(labeled(LABEL, t.witness(key.as_bytes())), pruned(sig_hash()));
        let witness = serde_cbor::to_vec(&witness)
            .unwrap_or_else(|e| ic_cdk::trap(format!("encoding the witness: {e}")));
        Some(CertifiedValue {
            value: String::from_utf8_lossy(&value).into_owned(),
            certificate: ByteBuf::from(certificate),
            witness: ByteBuf::from(witness),
        })
    })
}

/// Signs `message_hash` for `seed_hash` (the SHA-256 hashes of the key's seed and of the
/// message, computed by the caller).
#[ic_cdk::update]
fn sign(seed_hash: ByteBuf, message_hash: ByteBuf) {
    SIGS.with(|t| {
        let mut t = t.borrow_mut();
        let (seed, message) = (seed_hash.into_vec(), message_hash.into_vec());
        if t.get(&seed).is_none() {
            t.insert(seed.clone(), RbTree::new());
        }
        t.modify(&seed, |inner| inner.insert(message, Vec::new()));
    });
    certify();
}

/// The canister signature of a message `sign` signed: CBOR `{certificate, tree}`.
#[ic_cdk::query]
fn signature(seed_hash: ByteBuf, message_hash: ByteBuf) -> Option<ByteBuf> {
    #[derive(serde::Serialize)]
    struct Sig {
        #[serde(with = "serde_bytes")]
        certificate: Vec<u8>,
        tree: ic_certification::HashTree,
    }
    let certificate = ic_cdk::api::data_certificate()?;
    let tree = SIGS.with(|t| {
        let t = t.borrow();
        t.get(&seed_hash)?.get(&message_hash)?;
        Some(labeled(
            SIG,
            t.nested_witness(&seed_hash, |inner| inner.witness(&message_hash)),
        ))
    })?;
    let sig = Sig {
        certificate,
        tree: fork(pruned(kv_hash()), tree),
    };
    let mut out = serde_cbor::ser::Serializer::new(Vec::new());
    out.self_describe()
        .unwrap_or_else(|e| ic_cdk::trap(format!("encoding the signature: {e}")));
    serde::Serialize::serialize(&sig, &mut out)
        .unwrap_or_else(|e| ic_cdk::trap(format!("encoding the signature: {e}")));
    Some(ByteBuf::from(out.into_inner()))
}

#[derive(CandidType, serde::Deserialize)]
struct CallerInfo {
    caller: Principal,
    data: ByteBuf,
    signer: Option<Principal>,
}

#[link(wasm_import_module = "ic0")]
unsafe extern "C" {
    fn msg_caller_info_data_size() -> usize;
    fn msg_caller_info_data_copy(dst: usize, offset: usize, size: usize);
    fn msg_caller_info_signer_size() -> usize;
    fn msg_caller_info_signer_copy(dst: usize, offset: usize, size: usize);
}

fn read_caller_info() -> CallerInfo {
    // SAFETY: each copy writes `size` bytes into a buffer of that size.
    let (data, signer) = unsafe {
        let mut data = vec![0u8; msg_caller_info_data_size()];
        msg_caller_info_data_copy(data.as_mut_ptr() as usize, 0, data.len());
        let mut signer = vec![0u8; msg_caller_info_signer_size()];
        msg_caller_info_signer_copy(signer.as_mut_ptr() as usize, 0, signer.len());
        (data, signer)
    };
    CallerInfo {
        caller: ic_cdk::api::msg_caller(),
        data: ByteBuf::from(data),
        signer: (!signer.is_empty()).then(|| Principal::from_slice(&signer)),
    }
}

/// The caller and its caller info, as an update.
#[ic_cdk::update]
fn caller_info() -> CallerInfo {
    read_caller_info()
}

/// The caller and its caller info, as a query.
#[ic_cdk::query]
fn caller_info_query() -> CallerInfo {
    read_caller_info()
}

/// `caller_info` of this canister called by itself (what the callee sees: an inter-canister
/// call carries no caller info), then this call's caller info read again in the reply
/// callback (the call context's).
#[ic_cdk::update]
async fn caller_info_across_a_call() -> (CallerInfo, CallerInfo) {
    let inner = ic_cdk::call::Call::unbounded_wait(ic_cdk::api::canister_self(), "caller_info")
        .await
        .unwrap_or_else(|e| ic_cdk::trap(format!("calling itself: {e}")))
        .candid::<CallerInfo>()
        .unwrap_or_else(|e| ic_cdk::trap(format!("decoding its own reply: {e}")));
    (inner, read_caller_info())
}
