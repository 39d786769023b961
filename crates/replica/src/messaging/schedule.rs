//! The scheduler's side of the replica: which message runs next on which canister, running
//! jobs of different canisters in parallel, and group commit.
//!
//! # Shape
//! - Ingress messages wait in the in-memory ingress pool until a round takes them (the IC
//!   inducts them into a block); messages between canisters wait in the durable queue.
//! - [`Replica::take_work`] walks both in order and prepares at most one job per canister
//!   that is not busy. Management and native-canister calls run at once, unless the canister
//!   they target is busy. A message held back holds back every later message to the same
//!   canister (and, for the management canister, from the same caller), so order per
//!   caller–callee pair is kept.
//! - [`drain`] runs a job and then the same canister's next messages, each finished under the
//!   replica's lock: a canister runs one message at a time, different canisters in parallel.
//! - Group commit: executions commit without `fdatasync` while grouped; their ingress
//!   responses are handed out only after [`Replica::sync`] (or [`PendingSync`], which runs the
//!   `fdatasync` without the replica), so one durable write covers every execution before it.

use std::collections::HashSet;
use std::sync::Mutex;

use candid::Principal;

use super::execute::Call;
use super::job::{Job, Step};
use super::queue::Ingress;
use super::{Message, Origin};
use crate::destination::{route, Destination};
use crate::error::{CallError, ReplicaError};
use crate::ids::MANAGEMENT_CANISTER;
use crate::management_args::management_target;
use crate::replica::Replica;

/// Which messages a round may take: those queued, or ingress accepted, before it began (so a
/// canister that calls itself for ever does not hold the round), and at most `per_job`
/// messages of one canister in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cutoff {
    queue: u64,
    ingress: u64,
    per_job: usize,
}

impl Cutoff {
    /// No cutoff but a bound on messages per job: for a scheduler that runs all the time.
    pub const fn running(per_job: usize) -> Self {
        Cutoff {
            queue: u64::MAX,
            ingress: u64::MAX,
            per_job,
        }
    }
}

/// Where a message goes.
enum Dest {
    Canister(Principal),
    /// The management canister (with the canister the call targets) or a native canister.
    Native {
        target: Option<Principal>,
        system: bool,
    },
}

fn destination(msg: &Message) -> (Principal, Dest) {
    match msg {
        Message::Request {
            caller,
            callee,
            method,
            arg,
            ..
        } => {
            let dest = match route(callee) {
                Destination::Management => {
                    let target = if method.starts_with("provisional_create_canister")
                        || method == "create_canister"
                    {
                        None
                    } else {
                        management_target(arg)
                    };
                    Dest::Native {
                        target,
                        system: false,
                    }
                }
                Destination::System(_) => Dest::Native {
                    target: None,
                    system: true,
                },
                Destination::Canister(c) => Dest::Canister(c),
            };
            (*caller, dest)
        }
        Message::Response { caller, .. } => (MANAGEMENT_CANISTER, Dest::Canister(*caller)),
    }
}

/// A sync of the state directory taken off the replica: [`PendingSync::run`] it without the
/// replica, then [`Replica::published`].
pub struct PendingSync {
    handle: Option<drydock_state::WalSync>,
    results: usize,
}

impl PendingSync {
    /// Runs the `fdatasync`.
    ///
    /// # Errors
    /// When it fails; the responses it covers are then not handed out.
    pub fn run(&self) -> Result<(), ReplicaError> {
        if let Some(h) = &self.handle {
            h.sync()?;
        }
        Ok(())
    }
}

impl Replica {
    /// Accepts an ingress message for the next round.
    pub(crate) fn enqueue_ingress(&mut self, ingress: Ingress) {
        self.ingress_pool.push_back(ingress);
    }

    /// Whether messages wait for delivery or ingress messages for a round.
    pub fn has_pending_messages(&self) -> bool {
        !self.queue.is_empty() || !self.ingress_pool.is_empty()
    }

    /// The cutoff of a round beginning now.
    pub fn round_cutoff(&self) -> Cutoff {
        Cutoff {
            queue: self.queue.next_seq(),
            ingress: self.next_ingress,
            per_job: usize::MAX,
        }
    }

    /// Prepares the next jobs, at most one per canister that is not busy (only of `only`,
    /// when given), handling at once the messages that need no execution. Returns no job when
    /// nothing below `cutoff` can run now.
    pub fn take_work(
        &mut self,
        only: Option<Principal>,
        cutoff: Cutoff,
    ) -> Result<Vec<Job>, ReplicaError> {
        self.grouped(|r| r.take_work_inner(only, cutoff))
    }

    fn take_work_inner(
        &mut self,
        only: Option<Principal>,
        cutoff: Cutoff,
    ) -> Result<Vec<Job>, ReplicaError> {
        if only.is_some_and(|o| self.busy.contains(&o)) {
            // Nothing of it can run (without looking through the queue).
            return Ok(Vec::new());
        }
        let mut blocked: HashSet<Principal> = self.busy.clone();
        let mut held: HashSet<(Principal, Principal)> = HashSet::new();
        let mut jobs: Vec<Job> = Vec::new();
        let mut i = 0;
        while let Some((seq, msg)) = self.queue.get(i) {
            if *seq >= cutoff.queue {
                break;
            }
            let (sender, dest) = destination(msg);
            let runs = match &dest {
                Dest::Canister(p) => !blocked.contains(p) && only.is_none_or(|o| o == *p),
                Dest::Native { target, system } => {
                    only.is_none()
                        && !held.contains(&(sender, MANAGEMENT_CANISTER))
                        && match (target, system) {
                            // A native canister may touch any canister (a top-up).
                            (_, true) => blocked.is_empty(),
                            (Some(t), false) => !blocked.contains(t),
                            (None, false) => true,
                        }
                }
            };
            if !runs {
                if matches!(dest, Dest::Native { .. }) {
                    held.insert((sender, MANAGEMENT_CANISTER));
                }
                i += 1;
                continue;
            }
            let Some((seq, msg)) = self.queue.take(i) else {
                break;
            };
            let step = match self.prepare_message(seq, msg.clone()) {
                Ok(step) => step,
                Err(e) => {
                    self.queue.put_back(i, seq, msg);
                    return Err(e);
                }
            };
            if let Step::Run(job) = step {
                blocked.insert(job.canister());
                jobs.push(*job);
            }
        }
        let mut i = 0;
        while let Some(ingress) = self.ingress_pool.get(i) {
            if ingress.id > cutoff.ingress {
                break;
            }
            let c = ingress.canister;
            if blocked.contains(&c) || only.is_some_and(|o| o != c) {
                i += 1;
                continue;
            }
            let Some(ingress) = self.ingress_pool.remove(i) else {
                break;
            };
            let step = self.prepare_call(
                Call {
                    origin: Origin::Ingress {
                        id: ingress.id,
                        keep: ingress.keep,
                    },
                    caller: ingress.sender,
                    callee: ingress.canister,
                    method: &ingress.method,
                    arg: &ingress.arg,
                    cycles: 0,
                    deadline: 0,
                    caller_info: ingress.caller_info.as_ref(),
                },
                None,
            );
            match step {
                Ok(Step::Run(job)) => {
                    blocked.insert(c);
                    jobs.push(*job);
                }
                Ok(Step::Done) => {}
                Err(e) => {
                    self.ingress_pool.insert(i, ingress);
                    return Err(e);
                }
            }
        }
        Ok(jobs)
    }

    /// Prepares a queued message.
    fn prepare_message(&mut self, seq: u64, msg: Message) -> Result<Step, ReplicaError> {
        match msg {
            Message::Request {
                caller,
                callee,
                method,
                arg,
                cycles,
                callback,
                deadline,
            } => self.prepare_call(
                Call {
                    origin: Origin::Canister { caller, callback },
                    caller,
                    callee,
                    method: &method,
                    arg: &arg,
                    cycles,
                    deadline,
                    caller_info: None,
                },
                Some(seq),
            ),
            Message::Response {
                caller,
                callback,
                payload,
                refund,
            } => self.prepare_response(seq, caller, callback, payload, refund),
        }
    }

    /// Runs `jobs` (at most one per canister) and each canister's next messages below
    /// `cutoff`, on up to as many threads as the machine has cores; returns how many
    /// executions ran.
    pub(crate) fn run_jobs(
        &mut self,
        jobs: Vec<Job>,
        cutoff: Cutoff,
    ) -> Result<usize, ReplicaError> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(jobs.len());
        let replica = Mutex::new(self);
        let with = |f: &mut dyn FnMut(&mut Replica)| {
            let mut r = replica.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut r)
        };
        if threads <= 1 {
            let mut ran = 0;
            for job in jobs {
                ran += drain(&with, job, cutoff)?;
            }
            return Ok(ran);
        }
        let jobs = Mutex::new(jobs);
        let results: Vec<Result<usize, ReplicaError>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut ran = 0;
                        loop {
                            let next = jobs.lock().unwrap_or_else(|p| p.into_inner()).pop();
                            let Some(job) = next else {
                                return Ok(ran);
                            };
                            ran += drain(&with, job, cutoff)?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(ReplicaError::Internal(
                            "an execution thread panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        results.into_iter().sum()
    }

    /// Makes every commit so far durable and hands out the ingress responses it covers.
    ///
    /// # Errors
    /// When the `fdatasync` fails; no response is handed out then.
    pub fn sync(&mut self) -> Result<(), ReplicaError> {
        self.store.sync()?;
        let n = self.unpublished.len();
        self.publish(n);
        Ok(())
    }

    /// Takes a sync to run without the replica (see [`PendingSync`]), when anything waits
    /// for one. With `answers_only`, only when responses wait for it: commits nobody waits
    /// for yet (an accepted message, a timer's effects) are then left to a later sync, so a
    /// caller's answer does not wait for an `fdatasync` of its own acceptance before the one
    /// of its execution.
    pub fn begin_sync(&mut self, answers_only: bool) -> Result<Option<PendingSync>, ReplicaError> {
        let needs = self.store.needs_sync();
        if self.unpublished.is_empty() && (answers_only || !needs) {
            return Ok(None);
        }
        let handle = if needs {
            Some(self.store.wal_sync()?)
        } else {
            None
        };
        Ok(Some(PendingSync {
            handle,
            results: self.unpublished.len(),
        }))
    }

    /// Copies of the responses `sync` will hand out to the ingress messages `wanted` picks,
    /// for work to do while it runs (certifying them): they are not handed out, and must not
    /// be given to anyone, before [`Replica::published`].
    pub fn pending_results(
        &self,
        sync: &PendingSync,
        wanted: impl Fn(u64) -> bool,
    ) -> Vec<(u64, Result<Vec<u8>, CallError>)> {
        let n = sync.results.min(self.unpublished.len());
        self.unpublished[..n]
            .iter()
            .filter(|(id, _)| wanted(*id))
            .map(|(id, p)| (*id, p.clone().into_result().map_err(CallError::from)))
            .collect()
    }

    /// After a [`PendingSync`] ran: hands out the responses it covers.
    pub fn published(&mut self, sync: PendingSync) {
        if let Some(h) = &sync.handle {
            self.store.synced(h);
        }
        self.publish(sync.results);
    }

    fn publish(&mut self, n: usize) {
        let n = n.min(self.unpublished.len());
        for (id, payload) in self.unpublished.drain(..n) {
            self.ingress_results.insert(id, payload);
        }
    }

    /// The response to ingress message `id`, once it is durable.
    pub fn take_result(&mut self, id: u64) -> Option<Result<Vec<u8>, CallError>> {
        if let Some(why) = self.ingress_failures.remove(&id) {
            return Some(Err(ReplicaError::Internal(why).into()));
        }
        self.ingress_results
            .remove(&id)
            .map(|p| p.into_result().map_err(CallError::from))
    }

    /// Whether ingress message `id` has a response, durable or not yet.
    pub(crate) fn has_result(&self, id: u64) -> bool {
        self.ingress_results.contains_key(&id)
            || self.ingress_failures.contains_key(&id)
            || self.unpublished.iter().any(|(i, _)| *i == id)
    }
}

/// Lends the replica to a closure, under whatever lock guards it.
pub type WithReplica<'a> = dyn Fn(&mut dyn FnMut(&mut Replica)) + Sync + 'a;

/// Runs `job`, then — while its canister has messages below `cutoff`, at most
/// `cutoff.per_job` in all — the next ones: each finished, and the next taken, inside `with`,
/// which lends the replica (under its lock). Returns how many executions ran.
///
/// # Errors
/// Drydock's own failures (a commit that failed).
pub fn drain(with: &WithReplica<'_>, job: Job, cutoff: Cutoff) -> Result<usize, ReplicaError> {
    let id = job.canister();
    let mut job = job;
    let mut ran = 0;
    loop {
        let done = job.run();
        ran += 1;
        let mut done = Some(done);
        let mut next: Result<Option<Job>, ReplicaError> = Ok(None);
        with(&mut |r: &mut Replica| {
            let Some(d) = done.take() else {
                return;
            };
            next = r.finish(d).and_then(|()| {
                if ran >= cutoff.per_job {
                    return Ok(None);
                }
                r.take_work(Some(id), cutoff).map(|mut v| v.pop())
            });
        });
        match next? {
            Some(j) => job = j,
            None => return Ok(ran),
        }
    }
}
