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
};
use serde::{Deserialize, Serialize};

use crate::error::{CallError, ErrorCode, UserError};
use crate::replica::Replica;

/// The bytes of log content a canister keeps: the IC's default `log_memory_limit`.
pub const LOG_MEMORY_LIMIT: usize = 4096;

/// A canister's log, as stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct CanisterLog {
    next_idx: u64,
    records: Vec<(u64, u64, Vec<u8>)>,
}

fn key(id: &Principal) -> String {
    format!("logs/{id}")
}

impl CanisterLog {
    fn push(&mut self, time: u64, content: Vec<u8>) {
        self.records.push((self.next_idx, time, content));
        self.next_idx += 1;
        let mut total: usize = self.records.iter().map(|r| r.2.len()).sum();
        while total > LOG_MEMORY_LIMIT && !self.records.is_empty() {
            total -= self.records.remove(0).2.len();
        }
    }
}

impl Replica {
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
        let mut log = self.canister_log(&id);
        let time = self.now();
        for line in lines {
            log.push(time, line);
        }
        let k = key(&id);
        if let Ok(json) = serde_json::to_vec(&log) {
            self.carry.retain(|(key, _)| *key != k);
            self.carry.push((k, Some(json)));
        }
        self.log_cache.insert(id, log);
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
    /// records, for its controllers, or anyone when its log visibility is public.
    pub(crate) fn fetch_canister_logs(
        &self,
        sender: Principal,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let args: FetchCanisterLogsArgs = crate::management::decode_arg(arg).map_err(|e| {
            UserError::new(
                ErrorCode::InvalidManagementPayload,
                format!("Error decoding candid of the management canister method fetch_canister_logs: {e}"),
            )
        })?;
        let id = args.canister_id;
        let record = &self.get(&id)?.record;
        if !record.settings.log_visibility_public && !record.settings.controllers.contains(&sender)
        {
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
