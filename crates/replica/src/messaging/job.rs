//! [`Job`]: one execution taken off the replica so it can run without it — on another
//! thread, in parallel with other canisters' jobs, while the replica serves other requests.
//!
//! # Protocol
//! 1. Under the replica, a message is *prepared* ([`Step::Run`]): its call context is opened
//!    in a copy of the canister's record, and the canister's live instance is checked out
//!    into the job. The canister is *busy* from then on.
//! 2. [`Job::run`] executes it, touching nothing but the job (the instance maps the
//!    canister's own committed memory files privately), and collects what a successful
//!    execution changed (its delta), so that the replica's lock is not held for that.
//! 3. Under the replica again, [`Replica::finish`] puts the instance back and commits what the
//!    execution did, as one batch.
//!
//! # Invariants
//! - While a canister is busy nothing else changes its record or its memories: schedulers
//!   hold back its messages, the management calls that target it, and its timers. Queries to
//!   it run on a second instance over its committed state, which is exactly the state before
//!   the job.
//! - A job is finished exactly once; until then its message is still in the durable queue
//!   (a crash re-runs it from the committed state).

use candid::Principal;
use drydock_exec::{
    fees, Closure, EntryKind, ExecError, ExecLimits, Execution, Instance, MessageEnv, StateDelta,
};

use super::queue::Outbox;
use super::{outcome_payload, split, Origin, Payload, SavedClosure};
use crate::cycles::burn;
use crate::error::{CallError, ReplicaError};
use crate::record::CanisterRecord;
use crate::replica::{trap_error, Replica};

/// What a job runs: an exported method, or a callback through the function table.
pub(crate) enum Entry {
    Export(String),
    Callback(Closure),
}

/// How a job's execution is concluded.
pub(crate) struct Then {
    /// The canister's record with the job's call context in it.
    pub record: CanisterRecord,
    pub ctx_id: u64,
    pub out: Outbox,
    /// The cleanup callback to run if a callback traps, with its environment.
    pub cleanup: Option<(SavedClosure, MessageEnv)>,
    /// A query method called as an update: its changes are discarded; the cycles the call
    /// carried are refunded with the response.
    pub replicated_query: Option<u128>,
    /// Cycles taken from `record`'s balance in advance for the execution (its instruction
    /// limit; a callback's share of its call's fees); given back when it has paid.
    pub prepaid: u128,
}

/// One execution, prepared on the replica, run off it (see the module documentation).
pub struct Job {
    instance: Instance,
    entry: Entry,
    kind: EntryKind,
    env: MessageEnv,
    limits: ExecLimits,
    certified: Vec<u8>,
    timer: u64,
    then: Then,
}

/// A job that ran, waiting for [`Replica::finish`].
pub struct Done {
    job: Job,
    exec: Execution,
    /// What the execution changed, when it is to be committed (it succeeded, and it is not
    /// a query called as an update).
    delta: Option<Result<StateDelta, ExecError>>,
}

/// What preparing a message led to.
pub(crate) enum Step {
    /// It was handled at once (a reject, a management call) and committed.
    Done,
    /// An execution to run.
    Run(Box<Job>),
}

impl Job {
    /// The canister the job runs on.
    pub fn canister(&self) -> Principal {
        self.then.record.id
    }

    /// Executes the job and collects its delta. Touches nothing outside it, so it runs
    /// without the replica.
    pub fn run(mut self) -> Done {
        let env = self.env.clone();
        let certified = self.certified.clone();
        let exec = match &self.entry {
            Entry::Export(export) => {
                self.instance
                    .run(export, self.kind, env, certified, self.timer, self.limits)
            }
            Entry::Callback(closure) => self.instance.run_callback(
                *closure,
                self.kind,
                env,
                certified,
                self.timer,
                self.limits,
            ),
        };
        let commits = exec.result.is_ok() && self.then.replicated_query.is_none();
        let delta = commits.then(|| self.instance.delta());
        Done {
            job: self,
            exec,
            delta,
        }
    }
}

impl Replica {
    /// Checks out the canister's live instance into a job that runs `entry`: the canister is
    /// busy until [`Replica::finish`].
    pub(crate) fn checkout(
        &mut self,
        entry: Entry,
        kind: EntryKind,
        env: MessageEnv,
        instructions: u64,
        then: Then,
    ) -> Result<Job, CallError> {
        let record = &then.record;
        let enforce = matches!(kind, EntryKind::Update);
        let limits = self.exec_limits(instructions, record, enforce);
        let id = record.id;
        self.ensure_instance(&id)?;
        let instance = self
            .get_mut(&id)?
            .instance
            .take()
            .ok_or_else(|| CallError::User(crate::replica::no_module(&id)))?;
        self.busy.insert(id);
        Ok(Job {
            instance,
            entry,
            kind,
            env,
            limits,
            certified: then.record.certified_data.clone(),
            timer: then.record.global_timer,
            then,
        })
    }

    /// The instructions the last update, callback, timer or heartbeat executed on the canister
    /// used (in this process).
    pub fn last_instructions(&self, id: &Principal) -> Option<u64> {
        self.last_instructions.get(id).copied()
    }

    /// Whether a job of the canister is out (see [`Job`]).
    pub fn is_busy(&self, id: &Principal) -> bool {
        self.busy.contains(id)
    }

    /// Puts a job's instance back and commits what its execution did.
    ///
    /// # Errors
    /// Only drydock's own failures (a commit that failed); the canister's are its response.
    pub fn finish(&mut self, done: Done) -> Result<(), ReplicaError> {
        let then = &done.job.then;
        let consumed = then.out.consumed;
        let ingress = match then
            .record
            .calls
            .contexts
            .get(&then.ctx_id)
            .map(|c| &c.origin)
        {
            Some(Origin::Ingress { id, .. }) if consumed.is_none() => Some(*id),
            _ => None,
        };
        let result = self.grouped(|r| r.finish_inner(done));
        if let Err(e) = &result {
            // Nothing of the execution was committed (out of space, say). An ingress call is
            // answered with the failure; a queued message goes back to the queue, to run
            // again when it can.
            if let Some(id) = ingress {
                self.ingress_failures.insert(id, e.to_string());
            }
            if let Some(seq) = consumed {
                self.queue.requeue_from_store(&self.store, seq);
            }
        }
        result
    }

    fn finish_inner(&mut self, done: Done) -> Result<(), ReplicaError> {
        let Done { job, exec, delta } = done;
        let Job { instance, then, .. } = job;
        let id = then.record.id;
        self.busy.remove(&id);
        match self.get_mut(&id) {
            // A query may have made a second instance meanwhile; the job's is the current one.
            Ok(c) => c.instance = Some(instance),
            Err(_) => return Ok(()),
        }
        self.log(id, &exec);
        self.last_instructions.insert(id, exec.instructions);
        let Then {
            mut record,
            ctx_id,
            mut out,
            cleanup,
            replicated_query,
            prepaid,
        } = then;
        if let Some(cycles) = replicated_query {
            // Interface spec, "Entry points": a query method called as an update keeps none
            // of its changes; only the response goes out. Its execution is paid for, as an
            // update's is.
            self.discard(&id)?;
            let ctx = record.calls.contexts.remove(&ctx_id);
            let origin = ctx.map_or(Origin::System, |c| c.origin);
            let payload = match exec.result {
                Ok(outcome) => outcome_payload(&id, outcome),
                Err(trap) => Payload::from_user_error(&trap_error(&id, &trap)),
            };
            out.respond(&origin, payload, cycles);
            record.cycles = record.cycles.saturating_add(prepaid);
            burn(&mut record, fees::execution(exec.instructions));
            return self.commit_with(record, None, out);
        }
        let delta = delta.transpose()?;
        self.conclude(record, ctx_id, exec, delta, out, cleanup, prepaid)
    }

    /// A failure to check an instance out: a user error becomes the response of a context
    /// the job opened (`fresh`), a replica error is returned.
    pub(crate) fn checkout_failed(
        &mut self,
        e: CallError,
        mut then: Then,
        fresh: bool,
        cycles: u128,
    ) -> Result<Step, ReplicaError> {
        let e = split(e)?;
        if fresh {
            if let Some(ctx) = then.record.calls.contexts.remove(&then.ctx_id) {
                then.out
                    .respond(&ctx.origin, Payload::from_user_error(&e), cycles);
            }
            self.commit_outbox(then.out)?;
        } else {
            // A callback that cannot run: its prepaid execution comes back.
            then.record.cycles = then.record.cycles.saturating_add(then.prepaid);
            self.commit_with(then.record, None, then.out)?;
        }
        Ok(Step::Done)
    }

    /// Runs `f` with commits deferred to the next sync (group commit; see
    /// [`Replica::sync`]).
    pub(crate) fn grouped<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let previous = std::mem::replace(&mut self.group, true);
        let r = f(self);
        self.group = previous;
        r
    }
}
