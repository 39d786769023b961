//! Memory usage, idle burn and freezing (interface spec, "IC method canister_status" and the
//! `freezing_threshold` setting of "IC method update_settings").
//!
//! A canister burns cycles idle for the memory it holds (and its compute allocation), at the
//! fees of a 13-node application subnet. It is *frozen* while its balance is below what it
//! would burn idle in `freezing_threshold` seconds: it then refuses updates, calls and queries
//! with IC0207 until it is topped up. drydock charges no fees yet (ARCHITECTURE.md,
//! "Fidelity"), so a canister freezes when it holds few cycles, or spends them on calls and
//! creations, or when its threshold is raised.

use candid::Principal;

use crate::error::{CallError, ErrorCode, UserError};
use crate::record::{CanisterRecord, Settings};
use crate::replica::Replica;

/// Cycles per GiB of memory per second on a 13-node application subnet.
pub const GIB_STORAGE_PER_SECOND_FEE: u128 = 127_000;
/// Cycles per percent of compute allocation per second on a 13-node application subnet.
pub const COMPUTE_PERCENT_ALLOCATED_PER_SECOND_FEE: u128 = 10_000_000;
const SECONDS_PER_DAY: u128 = 86_400;
const GIB: u128 = 1 << 30;

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
    let memory = u128::from(memory_bytes.max(settings.memory_allocation));
    let storage = memory * GIB_STORAGE_PER_SECOND_FEE * SECONDS_PER_DAY / GIB;
    let compute = u128::from(settings.compute_allocation)
        * COMPUTE_PERCENT_ALLOCATED_PER_SECOND_FEE
        * SECONDS_PER_DAY;
    storage + compute
}

impl Replica {
    /// The canister's memory usage.
    pub(crate) fn memory_usage(&self, record: &CanisterRecord) -> Result<MemoryUsage, CallError> {
        let module = self.module_of(record)?;
        let (binary, custom_sections) = module
            .as_ref()
            .map(|m| {
                let custom: usize = m
                    .prepared
                    .custom_sections
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum();
                (m.prepared.wasm.len() as u64, custom as u64)
            })
            .unwrap_or((0, 0));
        // The module as uploaded (gzipped or not): its bytes in the content store.
        let binary = match record.module_hash.as_deref().map(hex::decode) {
            Some(Ok(h)) => match <[u8; 32]>::try_from(h.as_slice()) {
                Ok(key) => self.store.content_len(&key).unwrap_or(binary),
                Err(_) => binary,
            },
            _ => binary,
        };
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
        let per_day = idle_cycles_burned_per_day(usage.total, &record.settings);
        Ok(per_day * u128::from(record.settings.freezing_threshold) / SECONDS_PER_DAY)
    }

    /// Refuses a message to a frozen canister, with the IC's code and text: an update or call
    /// (`caller` given; a controller is told how many cycles are missing), or a query.
    pub(crate) fn ensure_not_frozen(
        &self,
        record: &CanisterRecord,
        caller: Option<&Principal>,
    ) -> Result<(), CallError> {
        let limit = self.freezing_limit(record)?;
        if record.cycles >= limit {
            return Ok(());
        }
        let id = record.id;
        let message = match caller {
            None => format!(
                "Canister {id} is unable to process query calls because it's frozen. Please top up the canister with cycles and try again."
            ),
            Some(c) if record.settings.controllers.contains(c) => format!(
                "Canister {id} is out of cycles: please top up the canister with at least {} additional cycles",
                limit - record.cycles
            ),
            Some(_) => format!("Canister {id} is out of cycles"),
        };
        Err(UserError::new(ErrorCode::CanisterOutOfCycles, message).into())
    }
}
