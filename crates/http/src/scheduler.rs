//! The scheduler of `drydock start`, on its own thread: every [`ROUND_INTERVAL`] a round
//! starts (due timers and heartbeats, passed deadlines); whenever messages or ingress wait, it
//! hands each canister that is not busy a job, run by a worker without the replica's lock (so
//! a long execution holds up only its canister); and it makes finished executions durable with
//! one `fdatasync` for all of them (group commit), without the lock, before their callers get
//! their answers.
//!
//! Workers are threads kept for a while after their last job, and made when none is idle: a
//! long execution never waits for a worker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drydock_replica::{Cutoff, Job, PendingSync, Replica, ReplicaError};

use crate::service::Shared;
use crate::ROUND_INTERVAL;

/// How many messages of one canister a job runs in a row before the scheduler looks again.
const MESSAGES_PER_JOB: usize = 64;

/// How long an idle worker waits for a job before it ends.
const WORKER_IDLE: Duration = Duration::from_secs(30);

/// Runs until the service stops.
pub(crate) fn run(service: Shared) {
    let cutoff = Cutoff::running(MESSAGES_PER_JOB);
    let pool = Pool::new(service.clone(), cutoff);
    let syncer = Syncer::new();
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
        publish(&service, &syncer, !round_due);
        service.work.wait(seen, ROUND_INTERVAL);
    }
    // The jobs handed out finish, and what they did is made durable and answered, before the
    // scheduler ends: whoever runs the rounds next (an embedder's own thread) finds no
    // canister busy and no answer held back.
    loop {
        let seen = service.work.count();
        if pool.in_flight.load(Ordering::Acquire) == 0 {
            break;
        }
        service.work.wait(seen, ROUND_INTERVAL);
    }
    publish(&service, &syncer, false);
}

/// Makes the finished executions durable (one `fdatasync`, without the replica's lock), then
/// hands the answers it covers (or another path's sync covered) to their callers. The
/// certificate of those answers is signed while the `fdatasync` runs on the syncer's thread,
/// and handed out after it.
fn publish(service: &Shared, syncer: &Syncer, answers_only: bool) {
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
                (sync.run().map(|()| sync), None)
            } else {
                syncer.run_while(sync, || service.certify(ahead))
            };
            match synced {
                Ok(sync) => {
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

/// A thread that runs the scheduler's `fdatasync`s, so that the scheduler can sign meanwhile.
struct Syncer {
    syncs: Sender<PendingSync>,
    done: Receiver<(PendingSync, Result<(), ReplicaError>)>,
}

impl Syncer {
    fn new() -> Self {
        let (syncs, todo) = channel::<PendingSync>();
        let (finished, done) = channel();
        // Ends when the scheduler drops its end.
        std::thread::spawn(move || {
            for sync in todo {
                let synced = sync.run();
                if finished.send((sync, synced)).is_err() {
                    return;
                }
            }
        });
        Syncer { syncs, done }
    }

    /// Runs `sync` on the syncer's thread and `meanwhile` on this one; returns when both are
    /// done, with the sync once it succeeded. Without the thread, `sync` runs here.
    fn run_while<T>(
        &self,
        sync: PendingSync,
        meanwhile: impl FnOnce() -> T,
    ) -> (Result<PendingSync, ReplicaError>, T) {
        if let Err(std::sync::mpsc::SendError(sync)) = self.syncs.send(sync) {
            let value = meanwhile();
            return (sync.run().map(|()| sync), value);
        }
        let value = meanwhile();
        let synced = match self.done.recv() {
            Ok((sync, synced)) => synced.map(|()| sync),
            Err(_) => Err(ReplicaError::Internal(
                "the thread running the fdatasync ended".into(),
            )),
        };
        (synced, value)
    }
}

/// Worker threads that drain jobs.
struct Pool {
    service: Shared,
    cutoff: Cutoff,
    jobs: Sender<Job>,
    queue: Arc<Mutex<Receiver<Job>>>,
    idle: Arc<AtomicUsize>,
    /// Jobs handed out and not yet drained.
    in_flight: Arc<AtomicUsize>,
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
            in_flight: Arc::new(AtomicUsize::new(0)),
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
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        if self.jobs.send(job).is_err() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            tracing::error!("no worker took a job");
        }
    }

    fn spawn(&self) {
        let (service, cutoff) = (self.service.clone(), self.cutoff);
        let (queue, idle) = (self.queue.clone(), self.idle.clone());
        let in_flight = self.in_flight.clone();
        std::thread::spawn(move || loop {
            let next = queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .recv_timeout(WORKER_IDLE);
            let job = match next {
                Ok(job) => job,
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
            let with = |f: &mut dyn FnMut(&mut Replica)| {
                service.with_replica(|r| f(r));
                service.work.notify();
            };
            {
                let _counted = Counted(&in_flight);
                if let Err(e) = drydock_replica::drain(&with, job, cutoff) {
                    tracing::error!("an execution failed: {e}");
                }
            }
            idle.fetch_add(1, Ordering::AcqRel);
            service.work.notify();
        });
    }
}

/// A job in flight, counted off when its worker is done with it (even by a panic).
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
