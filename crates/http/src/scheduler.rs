//! The scheduler of `drydock start`, on its own thread: every [`ROUND_INTERVAL`] a round
//! starts (due timers and heartbeats, passed deadlines); whenever messages or ingress wait, it
//! hands each canister that is not busy a job, run by a worker without the replica's lock (so
//! a long execution holds up only its canister); and it makes finished executions durable with
//! one `fdatasync` for all of them (group commit), without the lock, before their callers get
//! their answers.
//!
//! Workers are threads kept for a while after their last job, and made when none is idle: a
//! long execution never waits for a worker.
//!
//! A call accepted over HTTP while the scheduler runs starts at once on the request's own
//! thread when its canister is idle ([`run_here`]): waking the scheduler, which would wake a
//! worker, cost a single call two thread hand-offs. Such a job runs one message; what follows
//! in the canister's queue goes to the workers as before.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candid::Principal;
use drydock_replica::{Cutoff, Job, PendingSync, Replica, ReplicaError};
use ic_transport_types::RequestId;

use crate::certified::CallCertificates;
use crate::service::Shared;
use crate::statuses::CallOutcome;
use crate::ROUND_INTERVAL;

/// How many messages of one canister a job runs in a row before the scheduler looks again.
const MESSAGES_PER_JOB: usize = 64;

/// How many a job run on a request's thread runs: its caller's answer waits for the thread.
const MESSAGES_HERE: usize = 1;

/// How long an idle worker waits for a job before it ends.
const WORKER_IDLE: Duration = Duration::from_secs(30);

/// Runs until the service stops.
pub(crate) fn run(service: Shared) {
    service.scheduling.store(true, Ordering::SeqCst);
    let cutoff = Cutoff::running(MESSAGES_PER_JOB);
    let pool = Pool::new(service.clone(), cutoff);
    let signer = Signer::new(service.clone());
    let mut last_round: Option<std::time::Instant> = None;
    while !service.stopping.load(Ordering::Relaxed) {
        let seen = service.work.count();
        let round_due = last_round.is_none_or(|t| t.elapsed() >= ROUND_INTERVAL);
        if round_due {
            last_round = Some(std::time::Instant::now());
        }
        let jobs = service.with_replica(|r| {
            let mut jobs = if round_due {
                r.round_start()?
            } else {
                r.complete_stops_now()?;
                Vec::new()
            };
            jobs.extend(r.take_work(None, cutoff)?);
            Ok::<_, ReplicaError>(jobs)
        });
        match jobs {
            Ok(jobs) => jobs.into_iter().for_each(|job| pool.run(job)),
            Err(e) => tracing::error!("the scheduler failed: {e}"),
        }
        // Commits no answer waits for are made durable once a round.
        publish(&service, &signer, !round_due);
        service.work.wait(seen, ROUND_INTERVAL);
    }
    // The jobs handed out finish, and what they did is made durable and answered, before the
    // scheduler ends: whoever runs the rounds next (an embedder's own thread) finds no
    // canister busy and no answer held back.
    loop {
        let seen = service.work.count();
        if service.jobs_out.load(Ordering::SeqCst) == 0 {
            break;
        }
        service.work.wait(seen, ROUND_INTERVAL);
    }
    publish(&service, &signer, false);
    service.scheduling.store(false, Ordering::SeqCst);
}

/// A job taken by a request's thread (see [`run_here`]), counted in `Service::jobs_out` from
/// before the scheduler's state was read until it is drained.
pub(crate) struct Here {
    job: Option<Job>,
    counted: Counted,
}

/// Under the replica's lock, right after a request queued a call to `canister`: its next
/// message, to run on the request's thread ([`run_here`]) when the scheduler runs and the
/// canister is idle.
pub(crate) fn take_here(service: &Shared, r: &mut Replica, canister: Principal) -> Here {
    // Counted before the scheduler's state is read: a scheduler that is ending waits for it
    // (both sequentially consistent; see the end of `run`).
    let counted = Counted::new(service);
    let mut job = None;
    if service.scheduling.load(Ordering::SeqCst) && !service.stopping.load(Ordering::SeqCst) {
        match r.take_work(Some(canister), Cutoff::running(MESSAGES_HERE)) {
            Ok(mut jobs) => job = jobs.pop(),
            Err(e) => tracing::error!("the scheduler failed: {e}"),
        }
    }
    Here { job, counted }
}

/// Runs the job [`take_here`] took, without the replica's lock, on the calling thread, then
/// wakes the scheduler, which makes the execution durable and answers as for its workers' jobs
/// (and runs what follows in the canister's queue).
pub(crate) fn run_here(service: &Shared, here: Here) {
    if let Some(job) = here.job {
        drain(service, job, Cutoff::running(MESSAGES_HERE));
    }
    drop(here.counted);
    service.work.notify();
}

/// Runs a job, and the canister's messages after it up to `cutoff`, taking the replica for
/// each step.
fn drain(service: &Shared, job: Job, cutoff: Cutoff) {
    let with = |f: &mut dyn FnMut(&mut Replica)| {
        service.with_replica(|r| f(r));
        service.work.notify();
    };
    if let Err(e) = drydock_replica::drain(&with, job, cutoff) {
        tracing::error!("an execution failed: {e}");
    }
}

/// Makes the finished executions durable (one `fdatasync`, without the replica's lock), then
/// hands the answers it covers (or another path's sync covered) to their callers. The
/// certificate of those answers is signed on the signer's thread while the `fdatasync` runs,
/// and handed out after it.
fn publish(service: &Shared, signer: &Signer, answers_only: bool) {
    let begun = service.with_replica(|r| {
        let sync = r.begin_sync(answers_only)?;
        Ok::<_, ReplicaError>(sync.map(|s| {
            let ahead = service.answers_ahead(r, &s);
            (s, ahead)
        }))
    });
    let mut certified = None;
    match begun {
        Ok(Some((sync, ahead))) => {
            let (synced, signed) = if ahead.is_empty() {
                (sync.run(), None)
            } else {
                signer.sign_while(service, ahead, &sync)
            };
            match synced {
                Ok(()) => {
                    service.with_replica(|r| r.published(sync));
                    certified = signed;
                }
                Err(e) => tracing::error!("making executions durable failed: {e}"),
            }
        }
        Ok(None) => {}
        Err(e) => tracing::error!("making executions durable failed: {e}"),
    }
    if service.deliver_answers(certified) {
        service.answers.notify();
    }
}

/// A thread that signs the certificate of the answers an `fdatasync` covers while the
/// scheduler's thread runs that `fdatasync`.
///
/// The blocking call stays on the scheduler and the CPU work goes to the other thread: a
/// thread woken by the scheduler is queued on the scheduler's CPU, and if the scheduler signed
/// while the woken thread was to start the `fdatasync`, the sync (measured with `perf sched`)
/// often began only when the signature was done. A thread blocked in `fdatasync` frees its CPU
/// for the signer at once.
///
/// Dropping it ends the thread and waits for it, so that when the scheduler has ended (and is
/// joined) the thread's handle on the service is gone as well.
struct Signer {
    answers: Option<Sender<Vec<(RequestId, CallOutcome)>>>,
    signed: Receiver<Option<Arc<CallCertificates>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Signer {
    fn new(service: Shared) -> Self {
        let (answers, todo) = channel::<Vec<(RequestId, CallOutcome)>>();
        let (done, signed) = channel();
        // Ends when `Drop` drops the sending end.
        let thread = std::thread::spawn(move || {
            for answers in todo {
                if done.send(service.certify(answers)).is_err() {
                    return;
                }
            }
        });
        Signer {
            answers: Some(answers),
            signed,
            thread: Some(thread),
        }
    }

    /// Certifies `answers` on the signer's thread while `sync` runs on this one; returns when
    /// both are done. Without the thread, both run here.
    fn sign_while(
        &self,
        service: &Shared,
        answers: Vec<(RequestId, CallOutcome)>,
        sync: &PendingSync,
    ) -> (Result<(), ReplicaError>, Option<Arc<CallCertificates>>) {
        let sent = match &self.answers {
            Some(to_thread) => to_thread.send(answers).map_err(|e| e.0),
            None => Err(answers),
        };
        match sent {
            Ok(()) => {
                let synced = sync.run();
                let signed = self.signed.recv().unwrap_or_else(|_| {
                    tracing::error!("the thread signing certificates ended");
                    None
                });
                (synced, signed)
            }
            Err(answers) => (sync.run(), service.certify(answers)),
        }
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        self.answers = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Worker threads that drain jobs.
struct Pool {
    service: Shared,
    cutoff: Cutoff,
    jobs: Sender<(Job, Counted)>,
    queue: Arc<Mutex<Receiver<(Job, Counted)>>>,
    idle: Arc<AtomicUsize>,
}

impl Pool {
    fn new(service: Shared, cutoff: Cutoff) -> Self {
        let (jobs, queue) = channel();
        Pool {
            service,
            cutoff,
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            idle: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Hands `job` to an idle worker, or to a new one.
    fn run(&self, job: Job) {
        let claimed = self
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !claimed {
            self.spawn();
        }
        // Counted off by the worker that drains it (or here, if none takes it).
        if self.jobs.send((job, Counted::new(&self.service))).is_err() {
            tracing::error!("no worker took a job");
        }
    }

    fn spawn(&self) {
        let (service, cutoff) = (self.service.clone(), self.cutoff);
        let (queue, idle) = (self.queue.clone(), self.idle.clone());
        std::thread::spawn(move || loop {
            let next = queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .recv_timeout(WORKER_IDLE);
            let (job, counted) = match next {
                Ok(next) => next,
                // The scheduler ended.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                // Idle too long: this worker ends, unless a job was promised to it meanwhile.
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if idle
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        return;
                    }
                    continue;
                }
            };
            drain(&service, job, cutoff);
            drop(counted);
            idle.fetch_add(1, Ordering::AcqRel);
            service.work.notify();
        });
    }
}

/// A job out (`Service::jobs_out`), counted off when it is drained (even by a panic).
struct Counted(Shared);

impl Counted {
    fn new(service: &Shared) -> Self {
        service.jobs_out.fetch_add(1, Ordering::SeqCst);
        Counted(service.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.jobs_out.fetch_sub(1, Ordering::SeqCst);
    }
}
