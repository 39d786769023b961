//! A key-value store whose values are certified, as IC applications certify data: an
//! ic-certification `RbTree` of the values, its root hash (labelled "kv") set as the
//! canister's certified data on every change. A query returns the value with the data
//! certificate the system hands it (`ic0.data_certificate_copy`) and a witness (the tree
//! pruned to that key, CBOR), so a client can check the value against the IC's root key.

use std::cell::RefCell;

use candid::CandidType;
use ic_certification::{labeled, labeled_hash, AsHashTree, RbTree};
use serde_bytes::ByteBuf;

/// The Candid interface, as the custom section `icp:public candid:service`.
const CANDID_LEN: usize = include_bytes!("../certified.did").len();
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../certified.did");

const LABEL: &[u8] = b"kv";

thread_local! {
    static TREE: RefCell<RbTree<Vec<u8>, Vec<u8>>> = RefCell::new(RbTree::new());
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
        let mut t = t.borrow_mut();
        t.insert(key.into_bytes(), value.into_bytes());
        ic_cdk::api::certified_data_set(labeled_hash(LABEL, &t.root_hash()));
    });
}

#[ic_cdk::query]
fn get(key: String) -> Option<CertifiedValue> {
    let certificate = ic_cdk::api::data_certificate()?;
    TREE.with(|t| {
        let t = t.borrow();
        let value = t.get(key.as_bytes())?.clone();
        let witness = labeled(LABEL, t.witness(key.as_bytes()));
        let witness = serde_cbor::to_vec(&witness)
            .unwrap_or_else(|e| ic_cdk::trap(format!("encoding the witness: {e}")));
        Some(CertifiedValue {
            value: String::from_utf8_lossy(&value).into_owned(),
            certificate: ByteBuf::from(certificate),
            witness: ByteBuf::from(witness),
        })
    })
}
