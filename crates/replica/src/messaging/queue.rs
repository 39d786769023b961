//! The durable message queue: every [`Message`] waiting for delivery, as the blob
//! `queue/<seq>` (JSON, `seq` a zero-padded decimal so keys sort in order), mirrored in
//! memory. A message is added and removed only inside the commit of the execution that sent
//! or consumed it ([`Outbox`]).

use std::collections::VecDeque;

use candid::Principal;
use drydock_state::Store;

use super::{Message, Origin, Payload};
use crate::error::ReplicaError;

const PREFIX: &str = "queue/";

/// A blob put (`Some`) or deleted (`None`), as a `Batch` carries it.
pub(crate) type BlobChange = (String, Option<Vec<u8>>);

fn key(seq: u64) -> String {
    format!("{PREFIX}{seq:020}")
}

/// The blob holding the response to a kept ingress message.
pub(crate) fn ingress_key(id: u64) -> String {
    format!("ingress/{id:016x}")
}

/// An ingress message accepted and waiting for a round.
#[derive(Clone, Debug)]
pub(crate) struct Ingress {
    pub id: u64,
    pub keep: bool,
    pub sender: Principal,
    pub canister: Principal,
    pub method: String,
    pub arg: Vec<u8>,
    pub caller_info: Option<super::CallerInfo>,
}

/// The queued messages, oldest first.
#[derive(Default)]
pub(crate) struct Queue {
    items: VecDeque<(u64, Message)>,
    next_seq: u64,
}

impl Queue {
    /// Reads the queue from the store.
    pub(crate) fn load(store: &Store) -> Result<Self, ReplicaError> {
        let mut items = Vec::new();
        for k in store.blob_keys(PREFIX) {
            let Some(seq) = k.strip_prefix(PREFIX).and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            let bytes = store.blob(&k).unwrap_or_default();
            let msg: Message =
                serde_json::from_slice(bytes).map_err(|e| ReplicaError::CorruptRecord {
                    key: k.clone(),
                    cause: e.to_string(),
                })?;
            items.push((seq, msg));
        }
        items.sort_by_key(|(seq, _)| *seq);
        let next_seq = items.last().map_or(0, |(s, _)| s + 1);
        Ok(Queue {
            items: items.into(),
            next_seq,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The message at `index` (0 is the oldest).
    pub(crate) fn get(&self, index: usize) -> Option<&(u64, Message)> {
        self.items.get(index)
    }

    /// Takes the message at `index` out of the in-memory queue (its blob stays until the
    /// commit of its execution removes it; on failure the caller puts it back).
    pub(crate) fn take(&mut self, index: usize) -> Option<(u64, Message)> {
        self.items.remove(index)
    }

    /// Puts a message taken at `index` back there.
    pub(crate) fn put_back(&mut self, index: usize, seq: u64, msg: Message) {
        self.items.insert(index.min(self.items.len()), (seq, msg));
    }

    /// Puts the message `seq` back at the front, as the store still holds it (its execution
    /// was not committed).
    pub(crate) fn requeue_from_store(&mut self, store: &Store, seq: u64) {
        let msg = store
            .blob(&key(seq))
            .and_then(|b| serde_json::from_slice::<Message>(b).ok());
        if let Some(msg) = msg {
            if !self.items.iter().any(|(s, _)| *s == seq) {
                self.items.push_front((seq, msg));
            }
        }
    }

    /// The number the next message sent gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// What one execution consumes and sends: turned into blobs of its commit, then applied to the
/// in-memory queue once the commit is durable.
#[derive(Default, Debug)]
pub(crate) struct Outbox {
    /// The queued message this execution consumed.
    pub consumed: Option<u64>,
    pub sent: Vec<Message>,
    /// Responses to ingress messages (number, kept durably, response).
    pub ingress: Vec<(u64, bool, Payload)>,
    /// Numbers given to `sent`, set by [`Outbox::blobs`].
    seqs: Vec<u64>,
}

impl Outbox {
    pub(crate) fn consuming(seq: Option<u64>) -> Self {
        Outbox {
            consumed: seq,
            ..Outbox::default()
        }
    }

    /// Sends `payload` to whoever waits on `origin`.
    pub(crate) fn respond(&mut self, origin: &Origin, payload: Payload, refund: u128) {
        match origin {
            Origin::Ingress { id, keep } => self.ingress.push((*id, *keep, payload)),
            Origin::Canister { caller, callback } => self.sent.push(Message::Response {
                caller: *caller,
                callback: *callback,
                payload,
                refund,
            }),
            Origin::System => {}
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.consumed.is_none() && self.sent.is_empty()
    }

    /// The blob changes of this outbox, numbering the sent messages from `queue`'s counter.
    pub(crate) fn blobs(&mut self, queue: &mut Queue) -> Result<Vec<BlobChange>, ReplicaError> {
        let mut blobs = Vec::new();
        if let Some(seq) = self.consumed {
            blobs.push((key(seq), None));
        }
        for (id, keep, payload) in &self.ingress {
            if *keep {
                let k = ingress_key(*id);
                let json =
                    serde_json::to_vec(payload).map_err(|e| ReplicaError::CorruptRecord {
                        key: k.clone(),
                        cause: e.to_string(),
                    })?;
                blobs.push((k, Some(json)));
            }
        }
        self.seqs.clear();
        for msg in &self.sent {
            let seq = queue.next_seq;
            queue.next_seq += 1;
            let json = serde_json::to_vec(msg).map_err(|e| ReplicaError::CorruptRecord {
                key: key(seq),
                cause: e.to_string(),
            })?;
            blobs.push((key(seq), Some(json)));
            self.seqs.push(seq);
        }
        Ok(blobs)
    }

    /// After the commit: the sent messages join the in-memory queue.
    pub(crate) fn committed(self, queue: &mut Queue) -> Vec<(u64, bool, Payload)> {
        for (seq, msg) in self.seqs.into_iter().zip(self.sent) {
            queue.items.push_back((seq, msg));
        }
        self.ingress
    }
}
