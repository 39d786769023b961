//! The router: where a message to a principal goes — the management canister, a native
//! system canister (`system/`), or a canister of the table — for ingress updates, and the
//! checks an ingress message passes before it is accepted.

use candid::Principal;
use drydock_exec::EntryKind;

use crate::destination::{route, Destination};
use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::ids::MANAGEMENT_CANISTER;
use crate::messaging::CallerInfo;
use crate::method::MethodKind;
use crate::record::CanisterRecord;
use crate::replica::{no_module, trap_error, Replica, Started};
use crate::system::SystemCanister;

impl Replica {
    /// An ingress update call from `sender` to `canister`.
    pub fn update(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        // The call runs in the next round, after the timers and heartbeats due.
        match self.start_update(sender, canister, method, arg)? {
            Started::Done(result) => result,
            Started::Pending(id) => self.await_ingress(id),
            Started::Busy => Err(ReplicaError::Internal(
                "the canister is busy with a job outside a scheduler".into(),
            )
            .into()),
        }
    }

    /// Starts an ingress update. A management call or a native canister's method runs now
    /// ([`Started::Done`]), unless a canister it would change is executing a job
    /// ([`Started::Busy`]: try again shortly). A call to a canister is checked (including
    /// `canister_inspect_message`) and accepted for the next round ([`Started::Pending`]);
    /// [`Replica::poll_update`] gives its answer once a round ran it and it is durable.
    pub fn start_update(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Started, CallError> {
        self.start_update_keeping(sender, canister, method, arg, false, None)
    }

    /// [`Replica::start_update`]; with `keep`, a call to a canister keeps its answer durably
    /// (`ingress/<n>`) as well.
    pub(crate) fn start_update_keeping(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
        keep: bool,
        caller_info: Option<CallerInfo>,
    ) -> Result<Started, CallError> {
        match route(&canister) {
            Destination::Management => {
                // Interface spec, "The IC management canister": some methods only canisters
                // may call.
                crate::management_args::refuse_over_ingress(method)?;
                // Read only when some canister is busy: candid copies the blob it skips (a
                // 2 MB snapshot slice), here under the replica's lock.
                let busy = !self.busy.is_empty()
                    && crate::management_target(arg).is_some_and(|t| self.busy.contains(&t));
                if busy {
                    return Ok(Started::Busy);
                }
                return self.management_ingress(sender, method, arg);
            }
            Destination::System(system) => {
                // A native canister may change any canister's balance.
                if !self.busy.is_empty() {
                    return Ok(Started::Busy);
                }
                return Ok(Started::Done(
                    self.system_update(system, sender, method, arg),
                ));
            }
            Destination::Canister(_) => {}
        }
        let id = self.accept_ingress(sender, canister, method, arg, keep, caller_info)?;
        Ok(Started::Pending(id))
    }

    /// An ingress message's answer if it has one, else the number to poll it by.
    fn started(&mut self, id: u64) -> Result<Started, CallError> {
        self.sync()?;
        Ok(match self.take_result(id) {
            Some(result) => Started::Done(result),
            None => Started::Pending(id),
        })
    }

    /// The answer to a pending ingress update once a round ran it and it is durable. Runs
    /// nothing itself: a scheduler runs the rounds.
    pub fn poll_update(&mut self, id: u64) -> Option<Result<Vec<u8>, CallError>> {
        self.take_result(id)
    }

    /// The checks an ingress message passes before it is accepted: the callee takes it as an
    /// update, and `canister_inspect_message` accepts it.
    pub(crate) fn check_ingress(
        &mut self,
        sender: Principal,
        canister: Principal,
        method: &str,
        arg: &[u8],
        caller_info: Option<&CallerInfo>,
    ) -> Result<(), CallError> {
        self.update_entry(&canister, method)?;
        let record = self.get(&canister)?.record.clone();
        // "Cycles costs": the canister pays for receiving the message (charged when it runs).
        let induction = drydock_exec::fees::ingress_induction(method.len() + arg.len());
        self.ensure_can_pay(&record, induction, Some(&sender))?;
        let module = self
            .module_of(&record)?
            .ok_or_else(|| no_module(&canister))?;
        if module.prepared.exports.inspect_message {
            self.inspect_message(&record, sender, method, arg, caller_info)?;
        }
        Ok(())
    }

    /// An ingress call to the management canister. `stop_canister` answers once the canister
    /// has stopped; the others at once.
    fn management_ingress(
        &mut self,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Started, CallError> {
        if method != "stop_canister" {
            return Ok(Started::Done(self.management(sender, method, arg)));
        }
        let id = self.next_ingress_id();
        self.stop_from(
            crate::messaging::execute::Call {
                origin: crate::messaging::Origin::Ingress { id, keep: false },
                caller: sender,
                callee: MANAGEMENT_CANISTER,
                method,
                arg,
                cycles: 0,
                deadline: 0,
                caller_info: None,
            },
            crate::messaging::queue::Outbox::default(),
        )?;
        self.started(id)
    }

    fn inspect_message(
        &mut self,
        record: &CanisterRecord,
        sender: Principal,
        method: &str,
        arg: &[u8],
        caller_info: Option<&CallerInfo>,
    ) -> Result<(), CallError> {
        let id = record.id;
        let limits = self.exec_limits(self.config.limits.inspect_instructions, record, false);
        let mut env = self.env(record, &sender, method, arg);
        CallerInfo::apply(caller_info, &mut env);
        let inst = self.ensure_instance(&id)?;
        let exec = inst.run(
            "canister_inspect_message",
            EntryKind::InspectMessage,
            env,
            record.certified_data.clone(),
            record.global_timer,
            limits,
        );
        inst.rollback()?;
        self.log(id, &exec);
        match exec.result {
            Err(t) => Err(trap_error(&id, &t).into()),
            Ok(_) if !exec.api.accepted => Err(UserError::new(
                ErrorCode::CanisterRejectedMessage,
                format!("Canister {id} rejected the message in canister_inspect_message"),
            )
            .into()),
            Ok(_) => Ok(()),
        }
    }

    /// Runs one round of messages and tasks (see [`Replica::run_round`]); returns how many
    /// timers and heartbeats and messages ran.
    pub fn run_timers(&mut self) -> Result<usize, ReplicaError> {
        self.run_round()
    }

    /// Whether `method` is an update, query or composite query export of the canister.
    pub fn method_kind(
        &self,
        canister: &Principal,
        method: &str,
    ) -> Result<Option<MethodKind>, CallError> {
        if let Some(system) = SystemCanister::of(canister) {
            return Ok(system.method_kind(method));
        }
        let c = self.get(canister)?;
        let Some(module) = self.module_of(&c.record)? else {
            return Ok(None);
        };
        let e = &module.prepared.exports;
        Ok(if e.updates.contains(method) {
            Some(MethodKind::Update)
        } else if e.queries.contains(method) {
            Some(MethodKind::Query)
        } else if e.composite_queries.contains(method) {
            Some(MethodKind::CompositeQuery)
        } else {
            None
        })
    }
}
