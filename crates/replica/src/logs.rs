//! Canister logs (interface spec, "IC method fetch_canister_logs"): what `ic0.debug_print`
//! printed and the messages of traps, in replicated executions, kept per canister in durable
//! state as the blob `logs/<canister id>` (JSON: the next index and the records), within the
//! canister's log memory (the IC's default of 4096 bytes of content; the oldest records go
//! first). A log change rides along with the next commit of the replica, so a message's log
//! lines are durable with the message's effects — or, for a trap, with the commit that closes
//! its call context.

use candid::Principal;
use drydock_exec::Execution;
use ic_management_canister_types::{
    CanisterLogFilter, CanisterLogRecord, FetchCanisterLogsArgs, FetchCanisterLogsResult,
    LogVisibility,
};

use crate::error::{CallError, ErrorCode, UserError};
pub use crate::log_buffer::LOG_MEMORY_LIMIT;
use crate::log_buffer::{key, CanisterLog};
use crate::replica::Replica;

impl Replica {
    pub(crate) fn log(&mut self, id: Principal, exec: &Execution) {
        const MAX_LINES: usize = 10_000;
        self.keep_log(id, exec);
        self.logs
            .extend(exec.api.debug_log.iter().map(|l| (id, l.clone())));
        if let Err(trap) = &exec.result {
            self.logs.push((id, format!("[TRAP]: {trap}")));
        }
        if self.logs.len() > MAX_LINES {
            let extra = self.logs.len() - MAX_LINES;
            self.logs.drain(..extra);
        }
    }
    /// Adds a line of drydock's own to the canister's log (and the process's log lines),
    /// committed with the next commit.
    pub(crate) fn note_in_log(&mut self, id: Principal, line: String) {
        let limit = self
            .canister(&id)
            .map_or(LOG_MEMORY_LIMIT as u64, |r| r.settings.log_memory_limit);
        let mut log = self.canister_log(&id);
        let time = self.now();
        log.push(time, line.clone().into_bytes(), limit);
        let k = key(&id);
        if let Ok(json) = serde_json::to_vec(&log) {
            self.carry.retain(|(key, _)| *key != k);
            self.carry.push((k, Some(json)));
        }
        self.log_cache.insert(id, log);
        self.logs.push((id, line));
    }

    /// Keeps what an execution printed (and its trap) in the canister's log, for replicated
    /// executions; the change is committed with the next commit.
    pub(crate) fn keep_log(&mut self, id: Principal, exec: &Execution) {
        if !exec.api.kind.is_replicated() {
            return;
        }
        let mut lines: Vec<Vec<u8>> = exec
            .api
            .debug_log
            .iter()
            .map(|l| l.as_bytes().to_vec())
            .collect();
        if let Err(trap) = &exec.result {
            lines.push(format!("[TRAP]: {trap}").into_bytes());
        }
        if lines.is_empty() {
            return;
        }
        let limit = self
            .canister(&id)
            .map_or(LOG_MEMORY_LIMIT as u64, |r| r.settings.log_memory_limit);
        let mut log = self.canister_log(&id);
        let time = self.now();
        for line in lines {
            log.push(time, line, limit);
        }
        let k = key(&id);
        if let Ok(json) = serde_json::to_vec(&log) {
            self.carry.retain(|(key, _)| *key != k);
            self.carry.push((k, Some(json)));
        }
        self.log_cache.insert(id, log);
    }

    /// The bytes of log content the canister keeps now.
    pub(crate) fn log_size(&self, id: &Principal) -> u64 {
        self.canister_log(id)
            .records
            .iter()
            .map(|r| r.2.len() as u64)
            .sum()
    }

    fn canister_log(&self, id: &Principal) -> CanisterLog {
        if let Some(l) = self.log_cache.get(id) {
            return l.clone();
        }
        self.store
            .blob(&key(id))
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default()
    }

    /// `fetch_canister_logs` (a query to the management canister): the canister's log
    /// records, for its controllers and whom its `log_visibility` names.
    pub(crate) fn fetch_canister_logs(
        &self,
        sender: Principal,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let args: FetchCanisterLogsArgs = crate::management_args::decode_arg(arg).map_err(|e| {
            UserError::new(
                ErrorCode::InvalidManagementPayload,
                format!("Error decoding candid of the management canister method fetch_canister_logs: {e}"),
            )
        })?;
        let id = args.canister_id;
        let record = &self.get(&id)?.record;
        let allowed = record.settings.controllers.contains(&sender)
            || match &record.settings.log_visibility {
                LogVisibility::Controllers => false,
                LogVisibility::Public => true,
                LogVisibility::AllowedViewers(viewers) => viewers.contains(&sender),
            };
        if !allowed {
            return Err(UserError::new(
                ErrorCode::CanisterRejectedMessage,
                format!("Caller {sender} is not allowed to query ic00 method fetch_canister_logs"),
            )
            .into());
        }
        let log = self.canister_log(&id);
        let result = FetchCanisterLogsResult {
            canister_log_records: log
                .records
                .into_iter()
                .filter(|(idx, time, _)| match &args.filter {
                    None => true,
                    Some(CanisterLogFilter::ByIdx { start, end }) => idx >= start && idx < end,
                    Some(CanisterLogFilter::ByTimestampNanos { start, end }) => {
                        time >= start && time < end
                    }
                })
                .map(|(idx, timestamp_nanos, content)| CanisterLogRecord {
                    idx,
                    timestamp_nanos,
                    content,
                })
                .collect(),
        };
        candid::encode_one(result).map_err(|e| {
            UserError::new(
                ErrorCode::InvalidManagementPayload,
                format!("encoding reply: {e}"),
            )
            .into()
        })
    }
}
