//! The certificates of finished update calls: one state tree and one BLS signature for a
//! batch of calls (as the IC certifies once per block), a witness of it for each call, and the
//! leaves a call's status puts in a state tree. It knows nothing of the replica or of HTTP.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ic_transport_types::RequestId;

use crate::envelope::cbor;
use crate::keys::Keys;
use crate::statuses::{CallOutcome, Status};
use crate::tree::{leb128, Node};

/// How long a batch certificate is used for calls it covers.
pub(crate) const CALL_CERTIFICATE_REUSE: Duration = Duration::from_secs(1);

/// One certificate for a batch of finished calls: the state tree with all their statuses and
/// its signature. Each call's certificate is a witness of this tree (same root hash) with the
/// same signature, as the IC certifies once per block.
pub struct CallCertificates {
    made: Instant,
    tree: Node,
    signature: Vec<u8>,
    requests: HashSet<RequestId>,
}

impl CallCertificates {
    /// The batch of `requests`, whose statuses `tree` holds, its root signed with `keys`.
    pub(crate) fn sign(tree: Node, keys: &Keys, requests: HashSet<RequestId>) -> Self {
        CallCertificates {
            made: Instant::now(),
            signature: keys.sign_root(&tree.digest()),
            tree,
            requests,
        }
    }

    /// Whether this batch certifies `rid`, and is recent enough to be used.
    pub fn covers(&self, rid: &RequestId) -> bool {
        self.made.elapsed() < CALL_CERTIFICATE_REUSE && self.requests.contains(rid)
    }

    /// The certificate of `rid` (covered): `time` and its status, a witness of the batch's
    /// tree (same root hash) with the batch's signature.
    pub fn certificate(&self, rid: &RequestId) -> Vec<u8> {
        let paths = vec![
            vec![b"time".to_vec()],
            vec![b"request_status".to_vec(), rid.as_slice().to_vec()],
        ];
        cbor(&ic_certification::Certificate {
            tree: self.tree.witness(&paths),
            signature: self.signature.clone(),
            delegation: None,
        })
    }
}

/// Puts the leaves of `rid`'s status under `request_status/<rid>` (interface spec, "Request
/// status").
pub(crate) fn insert_status(t: &mut Node, rid: &RequestId, status: Status) {
    let base = rid.as_slice();
    match status {
        Status::Processing => t.insert(
            &[b"request_status", base, b"status"],
            b"processing".to_vec(),
        ),
        Status::Forgotten => t.insert(&[b"request_status", base, b"status"], b"done".to_vec()),
        Status::Done(CallOutcome::Replied(reply)) => {
            t.insert(&[b"request_status", base, b"status"], b"replied".to_vec());
            t.insert(&[b"request_status", base, b"reply"], reply);
        }
        Status::Done(CallOutcome::Rejected {
            reject_code,
            message,
            error_code,
        }) => {
            t.insert(&[b"request_status", base, b"status"], b"rejected".to_vec());
            t.insert(
                &[b"request_status", base, b"reject_code"],
                leb128(reject_code),
            );
            t.insert(
                &[b"request_status", base, b"reject_message"],
                message.into_bytes(),
            );
            if let Some(code) = error_code {
                t.insert(&[b"request_status", base, b"error_code"], code.into_bytes());
            }
        }
    }
}
