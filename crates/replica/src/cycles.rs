//! What a canister pays in cycles, and when it cannot: memory usage and the idle burn
//! (interface spec, "IC method canister_status"), freezing (the `freezing_threshold` setting
//! of "IC method update_settings"), and the charges of the 13-node fee table
//! (`drydock_exec::fees`).
//!
//! A canister burns cycles for the memory it holds (and its compute allocation), charged for
//! the time since it last paid whenever it next executes. It is *frozen* while its balance is
//! below what it would burn idle in `freezing_threshold` seconds: it then refuses updates,
//! calls and queries with IC0207 until it is topped up. An execution is paid in advance for
//! its whole instruction limit, which the balance must cover above the freezing threshold;
//! the instructions it did not use are refunded when it ends.

use candid::Principal;

use drydock_exec::fees;

use crate::error::{CallError, ErrorCode, UserError};
use crate::record::{CanisterRecord, Settings};
use crate::replica::Replica;

const SECONDS_PER_DAY: u128 = 86_400;
const NANOS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// What a canister's memory is made of, as `canister_status` reports it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MemoryUsage {
    /// The module as uploaded (gzipped or not).
    pub binary: u64,
    pub custom_sections: u64,
    pub globals: u64,
    pub history: u64,
    pub snapshots: u64,
    /// Everything the canister is charged for.
    pub total: u64,
}

/// The cycles a canister with this much memory and these settings burns in a day, idle.
pub(crate) fn idle_cycles_burned_per_day(memory_bytes: u64, settings: &Settings) -> u128 {
    // A memory allocation is paid for whole, used or not.
    let memory = memory_bytes.max(settings.memory_allocation);
    fees::resources(memory, settings.compute_allocation, NANOS_PER_DAY)
}

/// A user error's text put inside an operation's own, as the IC words the failure of an
/// install or a snapshot it could not pay for: ``{before} `{text}`{after}``. The code stays.
pub(crate) fn worded(e: CallError, before: &str, after: &str) -> CallError {
    match e {
        CallError::User(e) => {
            UserError::new(e.code, format!("{before} `{}`{after}", e.message)).into()
        }
        e => e,
    }
}

/// Takes `cost` from the canister's balance (all of it, at most), counting it as burned.
pub(crate) fn burn(record: &mut CanisterRecord, cost: u128) {
    let paid = cost.min(record.cycles);
    record.cycles -= paid;
    record.cycles_burned = record.cycles_burned.saturating_add(paid);
}

impl Replica {
    /// The canister's memory usage.
    pub(crate) fn memory_usage(&self, record: &CanisterRecord) -> Result<MemoryUsage, CallError> {
        let module = self.module_of(record)?;
        // The module as uploaded (gzipped or not), and its custom sections.
        let (binary, custom_sections) = module
            .as_ref()
            .map(|m| {
                let custom: usize = m
                    .prepared
                    .custom_sections
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum();
                (m.prepared.installed_size, custom as u64)
            })
            .unwrap_or((0, 0));
        let globals = (record.globals.len() * 8) as u64;
        let history = (record.history.len() * 64) as u64;
        let snapshots = self.snapshots_size(&record.id)?;
        let total = record.heap_size
            + record.stable_size
            + binary
            + custom_sections
            + globals
            + history
            + snapshots;
        Ok(MemoryUsage {
            binary,
            custom_sections,
            globals,
            history,
            snapshots,
            total,
        })
    }

    /// The balance below which the canister is frozen.
    pub(crate) fn freezing_limit(&self, record: &CanisterRecord) -> Result<u128, CallError> {
        let usage = self.memory_usage(record)?;
        Ok(freezing_limit_of(usage.total, &record.settings))
    }

    /// Before an execution: charges the canister for the memory it held and the compute
    /// allocation it had since it last paid, up to `now` (nanoseconds), then checks that it
    /// can pay `cost` in advance above its freezing threshold (see [`Replica::ensure_can_pay`]).
    /// Returns the freezing threshold in cycles. The IC charges for memory every few seconds;
    /// drydock when the canister next executes or is installed.
    pub(crate) fn pay_in_advance(
        &self,
        record: &mut CanisterRecord,
        now: u64,
        cost: u128,
        caller: Option<&Principal>,
    ) -> Result<u128, CallError> {
        let usage = self.memory_usage(record)?.total;
        if record.resources_paid_at != 0 && now > record.resources_paid_at {
            let memory = usage.max(record.settings.memory_allocation);
            let cost = fees::resources(
                memory,
                record.settings.compute_allocation,
                now - record.resources_paid_at,
            );
            burn(record, cost);
        }
        record.resources_paid_at = record.resources_paid_at.max(now);
        let limit = freezing_limit_of(usage, &record.settings);
        refuse_unless_paid(record, limit, cost, caller)?;
        Ok(limit)
    }

    /// Charges a management operation `cost` cycles, paid as an execution is (above the
    /// freezing threshold, after the memory held since the last charge). When the canister
    /// cannot pay, the IC0207 error's text is put inside `failed`, the operation's own (see
    /// [`worded`]).
    pub(crate) fn pay_for_operation(
        &mut self,
        record: &mut CanisterRecord,
        cost: u128,
        caller: &Principal,
        failed: &str,
    ) -> Result<(), CallError> {
        let now = self.now();
        self.pay_in_advance(record, now, cost, Some(caller))
            .map_err(|e| worded(e, failed, ""))?;
        burn(record, cost);
        Ok(())
    }

    /// Refuses a message to a frozen canister, with the IC's code and text: an update or call
    /// (`caller` given; a controller is told how many cycles are missing), or a query.
    /// Returns the freezing threshold in cycles.
    pub(crate) fn ensure_not_frozen(
        &self,
        record: &CanisterRecord,
        caller: Option<&Principal>,
    ) -> Result<u128, CallError> {
        self.ensure_can_pay(record, 0, caller)
    }

    /// Refuses what would cost the canister `cost` cycles in advance when its balance cannot
    /// pay it and stay above its freezing threshold (IC0207; a query, `caller` none, is
    /// told the canister is frozen). Returns the freezing threshold in cycles.
    pub(crate) fn ensure_can_pay(
        &self,
        record: &CanisterRecord,
        cost: u128,
        caller: Option<&Principal>,
    ) -> Result<u128, CallError> {
        let limit = self.freezing_limit(record)?;
        refuse_unless_paid(record, limit, cost, caller)?;
        Ok(limit)
    }

    /// Refuses an execution that grew the canister's memory to `record`'s sizes when its
    /// balance no longer covers the freezing threshold of the larger memory (IC0532, the
    /// IC's `InsufficientCyclesInMemoryGrow`). The IC checks at each grow; drydock when the
    /// execution ends, before anything of it is committed.
    pub(crate) fn ensure_memory_paid(
        &self,
        record: &CanisterRecord,
        grown_by: u64,
    ) -> Result<(), CallError> {
        if grown_by == 0 || record.settings.memory_allocation > 0 {
            return Ok(());
        }
        let limit = self.freezing_limit(record)?;
        if record.cycles >= limit {
            return Ok(());
        }
        Err(UserError::new(
            ErrorCode::InsufficientCyclesInMemoryGrow,
            format!(
                "Error from Canister {}: Canister cannot grow memory by {grown_by} bytes due to insufficient cycles. At least {} additional cycles are required.",
                record.id,
                limit - record.cycles
            ),
        )
        .into())
    }
}

/// What a canister holding `bytes` of memory must keep: its idle burn over its freezing
/// threshold.
fn freezing_limit_of(bytes: u64, settings: &Settings) -> u128 {
    idle_cycles_burned_per_day(bytes, settings) * u128::from(settings.freezing_threshold)
        / SECONDS_PER_DAY
}

/// IC0207 unless the balance covers `cost` above `limit`, with the IC's texts.
fn refuse_unless_paid(
    record: &CanisterRecord,
    limit: u128,
    cost: u128,
    caller: Option<&Principal>,
) -> Result<(), CallError> {
    let needed = limit.saturating_add(cost);
    if record.cycles >= needed {
        return Ok(());
    }
    let id = record.id;
    let message = match caller {
        None => format!(
            "Canister {id} is unable to process query calls because it's frozen. Please top up the canister with cycles and try again."
        ),
        Some(c) if record.settings.controllers.contains(c) => format!(
            "Canister {id} is out of cycles: please top up the canister with at least {} additional cycles",
            needed - record.cycles
        ),
        Some(_) => format!("Canister {id} is out of cycles"),
    };
    Err(UserError::new(ErrorCode::CanisterOutOfCycles, message).into())
}
