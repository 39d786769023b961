//! The statuses of recent update calls, as `read_state` and a replayed request see them:
//! kept in memory until their expiry plus five minutes, with the replies and reject messages
//! of finished calls bounded by the IC's ingress history capacity (oldest forgotten first).
//! It knows nothing of the replica, certificates or HTTP.

use std::collections::HashMap;

use candid::Principal;
use ic_transport_types::RequestId;

/// How long a request's status stays readable after its expiry.
pub(crate) const STATUS_RETENTION_NS: u64 = 5 * 60 * 1_000_000_000;

/// The outcome of an update call, as `request_status` records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    Replied(Vec<u8>),
    Rejected {
        reject_code: u64,
        message: String,
        /// The IC's error code; none for a failure of drydock itself, which has no IC code
        /// (the interface spec makes `error_code` optional).
        error_code: Option<String>,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum Status {
    Processing,
    Done(CallOutcome),
    /// Answered, and its answer no longer held: answered before a restart and not kept (the
    /// replica's `KnownRequest::Forgotten`), or forgotten past the ingress history's
    /// capacity. The spec's `done`.
    Forgotten,
}

#[derive(Clone, Debug)]
pub(crate) struct RequestEntry {
    pub(crate) sender: Principal,
    pub(crate) effective: Principal,
    pub(crate) expiry: u64,
    pub(crate) status: Status,
}

/// The most bytes of replies and reject messages the statuses of finished calls hold: the
/// IC's `INGRESS_HISTORY_MEMORY_CAPACITY` (4 GiB). Past it, the oldest finished statuses
/// become `done`, their payload dropped, as the IC's ingress history forgets them.
pub const INGRESS_HISTORY_CAPACITY: u64 = 4 << 30;

/// The statuses of recent calls, with their ids in expiry order and the calls finished since
/// the last batch certificate, so that neither a new call nor a certificate looks at every
/// call of the last minutes.
pub(crate) struct Requests {
    pub(crate) by_id: HashMap<RequestId, RequestEntry>,
    /// `(expiry, id)` of every entry of `by_id`: the expired ones are at the front.
    by_expiry: std::collections::BTreeSet<(u64, RequestId)>,
    /// Calls finished since the last batch certificate was cut, with when they finished.
    pub(crate) finished: Vec<(std::time::Instant, RequestId)>,
    /// Calls given a finished status, oldest first (some may have been pruned or forgotten
    /// since), and the payload bytes the finished statuses of `by_id` hold.
    terminal: std::collections::VecDeque<RequestId>,
    terminal_bytes: u64,
    /// [`INGRESS_HISTORY_CAPACITY`], smaller in tests.
    capacity: u64,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            by_id: HashMap::new(),
            by_expiry: Default::default(),
            finished: Vec::new(),
            terminal: Default::default(),
            terminal_bytes: 0,
            capacity: INGRESS_HISTORY_CAPACITY,
        }
    }
}

/// The bytes a status holds towards [`INGRESS_HISTORY_CAPACITY`]: its reply or reject message.
fn payload_bytes(status: &Status) -> u64 {
    match status {
        Status::Done(CallOutcome::Replied(bytes)) => bytes.len() as u64,
        Status::Done(CallOutcome::Rejected { message, .. }) => message.len() as u64,
        Status::Processing | Status::Forgotten => 0,
    }
}

impl Requests {
    pub(crate) fn insert(&mut self, rid: RequestId, entry: RequestEntry) {
        self.by_expiry.insert((entry.expiry, rid));
        let bytes = payload_bytes(&entry.status);
        if matches!(entry.status, Status::Done(_)) {
            self.terminal.push_back(rid);
        }
        self.terminal_bytes = self.terminal_bytes.saturating_add(bytes);
        if let Some(old) = self.by_id.insert(rid, entry) {
            self.terminal_bytes = self
                .terminal_bytes
                .saturating_sub(payload_bytes(&old.status));
            if old.expiry != self.by_id[&rid].expiry {
                self.by_expiry.remove(&(old.expiry, rid));
            }
        }
        self.forget_over_capacity();
    }

    /// Gives a known call its finished status; false when the call is not known. A call that
    /// a batch certificate already holds (`certified`) is not held for the next batch.
    pub(crate) fn finish(&mut self, rid: RequestId, outcome: CallOutcome, certified: bool) -> bool {
        let Some(r) = self.by_id.get_mut(&rid) else {
            return false;
        };
        let status = Status::Done(outcome);
        self.terminal_bytes = self
            .terminal_bytes
            .saturating_sub(payload_bytes(&r.status))
            .saturating_add(payload_bytes(&status));
        r.status = status;
        self.terminal.push_back(rid);
        if !certified {
            self.finished.push((std::time::Instant::now(), rid));
        }
        self.forget_over_capacity();
        true
    }

    /// Past the capacity, the oldest finished statuses become `done` (interface spec: the IC
    /// may forget a reply; it does so, oldest first, once its ingress history is full).
    fn forget_over_capacity(&mut self) {
        while self.terminal_bytes > self.capacity {
            let Some(rid) = self.terminal.pop_front() else {
                break;
            };
            if let Some(r) = self.by_id.get_mut(&rid) {
                if matches!(r.status, Status::Done(_)) {
                    self.terminal_bytes =
                        self.terminal_bytes.saturating_sub(payload_bytes(&r.status));
                    r.status = Status::Forgotten;
                }
            }
        }
    }

    /// Forgets the requests whose expiry and retention have passed at `now`.
    pub(crate) fn prune(&mut self, now: u64) {
        while let Some(&(expiry, rid)) = self.by_expiry.first() {
            if expiry.saturating_add(STATUS_RETENTION_NS) > now {
                break;
            }
            self.by_expiry.pop_first();
            if let Some(r) = self.by_id.remove(&rid) {
                self.terminal_bytes = self.terminal_bytes.saturating_sub(payload_bytes(&r.status));
            }
        }
        // The ids of pruned calls leave the front of the order too (ids of calls still known
        // but forgotten go when the capacity is next passed).
        while let Some(rid) = self.terminal.front() {
            if self.by_id.contains_key(rid) {
                break;
            }
            self.terminal.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(n: u8) -> RequestId {
        RequestId::new(&[n; 32])
    }

    fn processing() -> RequestEntry {
        RequestEntry {
            sender: Principal::anonymous(),
            effective: Principal::anonymous(),
            expiry: 1_000,
            status: Status::Processing,
        }
    }

    fn status(r: &Requests, n: u8) -> &'static str {
        match r.by_id.get(&rid(n)).map(|e| &e.status) {
            None => "unknown",
            Some(Status::Processing) => "processing",
            Some(Status::Done(CallOutcome::Replied(_))) => "replied",
            Some(Status::Done(CallOutcome::Rejected { .. })) => "rejected",
            Some(Status::Forgotten) => "done",
        }
    }

    #[test]
    fn past_the_capacity_the_oldest_answers_read_done_as_in_the_ic_s_ingress_history() {
        let mut r = Requests {
            capacity: 2_000,
            ..Default::default()
        };
        for n in 1..=5 {
            r.insert(rid(n), processing());
        }
        assert!(r.finish(rid(1), CallOutcome::Replied(vec![1; 1_000]), false));
        assert!(r.finish(rid(2), CallOutcome::Replied(vec![2; 1_000]), false));
        // At the capacity, not past it: both kept.
        assert_eq!((status(&r, 1), status(&r, 2)), ("replied", "replied"));
        assert!(r.finish(rid(3), CallOutcome::Replied(vec![3; 1_000]), false));
        assert_eq!(
            (status(&r, 1), status(&r, 2), status(&r, 3)),
            ("done", "replied", "replied")
        );
        // A reject counts its message, and the next oldest goes.
        assert!(r.finish(
            rid(4),
            CallOutcome::Rejected {
                reject_code: 5,
                message: "x".repeat(500),
                error_code: Some("IC0503".into()),
            },
            false
        ));
        assert_eq!(
            (status(&r, 2), status(&r, 3), status(&r, 4), status(&r, 5)),
            ("done", "replied", "rejected", "processing")
        );
        assert_eq!(r.terminal_bytes, 1_500);
        // An unknown call is not given a status.
        assert!(!r.finish(rid(9), CallOutcome::Replied(vec![]), false));
        assert_eq!(status(&r, 9), "unknown");
        // Pruned at their expiry, the statuses take their bytes and ids with them.
        r.prune(u64::MAX);
        assert!(r.by_id.is_empty());
        assert_eq!(r.terminal_bytes, 0);
        assert!(r.terminal.is_empty());
    }

    /// A call whose answer is in a batch certificate already (made while its sync ran) is not
    /// held for the next batch, which would hash its reply into a second tree; the others are.
    #[test]
    fn a_call_certified_ahead_is_not_held_for_the_next_batch() {
        let mut r = Requests::default();
        for n in 1..=2 {
            r.insert(rid(n), processing());
        }
        assert!(r.finish(rid(1), CallOutcome::Replied(vec![1]), true));
        assert!(r.finish(rid(2), CallOutcome::Replied(vec![2]), false));
        assert_eq!((status(&r, 1), status(&r, 2)), ("replied", "replied"));
        let held: Vec<RequestId> = r.finished.iter().map(|(_, id)| *id).collect();
        assert_eq!(held, vec![rid(2)]);
    }

    #[test]
    fn an_answer_larger_than_the_capacity_reads_done_at_once() {
        let mut r = Requests {
            capacity: 100,
            ..Default::default()
        };
        r.insert(rid(1), processing());
        r.insert(rid(2), processing());
        r.finish(rid(1), CallOutcome::Replied(vec![0; 101]), false);
        assert_eq!(status(&r, 1), "done");
        r.finish(rid(2), CallOutcome::Replied(vec![0; 100]), false);
        assert_eq!(status(&r, 2), "replied");
        assert_eq!(r.terminal_bytes, 100);
    }
}
