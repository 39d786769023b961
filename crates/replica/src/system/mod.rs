//! The IC's system canisters that tools expect on every network, served natively: the ICP
//! ledger, the cycles ledger and the cycles minting canister (CMC). Only what icp-cli calls
//! is here, with the IC's canister ids, method names and Candid types.
//!
//! A call to one of these ids never reaches the canister table: [`Replica::update`] and
//! [`Replica::query`] hand it to [`Replica::system_update`] / [`Replica::system_query`].
//!
//! | canister | id | methods |
//! |---|---|---|
//! | ICP ledger | `ryjl3-tyaaa-aaaaa-aaaba-cai` | `transfer` (legacy, by account identifier), `icrc1_transfer`, `icrc1_balance_of`, `icrc1_fee`, `icrc1_decimals`, `icrc1_symbol` |
//! | cycles ledger | `um5iw-rqaaa-aaaaq-qaaba-cai` | `icrc1_*` as above, `create_canister`, `withdraw` |
//! | CMC | `rkp4c-7iaaa-aaaaa-aaaca-cai` | `get_default_subnets`, `get_icp_xdr_conversion_rate`, `notify_mint_cycles`, `notify_create_canister` |
//!
//! Accounting is simple: a transfer moves `amount` and burns the fee; no duplicate detection
//! (`created_at_time` is accepted and ignored) and no block log beyond what the CMC reads.
//! Canisters created through the cycles ledger or the CMC are ordinary drydock canisters,
//! made by the management canister's own `create_canister`, holding the cycles paid for.
//!
//! # Genesis
//! When a state directory is opened and the ledgers have no state yet, the anonymous
//! principal's default account receives [`GENESIS_ICP_E8S`] and [`GENESIS_CYCLES`]:
//! icp-cli's `network start` funds every identity from that account.
//!
//! # Persisted layout (blobs of the state store, version 1)
//! ```text
//! system/icp/balance/<account identifier, 64 hex>      decimal e8s (absent = 0)
//! system/icp/next_block                                decimal: the next block index
//! system/icp/block/<index>                             JSON {to, amount, memo}: a legacy
//!                                                      transfer with the CMC's memos only
//! system/cycles/balance/<owner text>/<subaccount hex>  decimal cycles (absent = 0)
//! system/cycles/next_block                             decimal
//! system/cmc/notified/<ICP block index>                JSON: the reply given (repeated on re-notify)
//! ```
//! Each message's changes go in one `Store::commit`, with the new canister's record when a
//! canister is created or topped up.

pub(crate) mod canisters;
mod cmc;
mod cycles_ledger;
pub(crate) mod ledger;
mod ledger_calls;

use candid::Principal;
use drydock_state::Batch;

use crate::error::{CallError, ReplicaError};
use crate::method::MethodKind;
use crate::replica::Replica;
pub(crate) use canisters::no_method;
pub use canisters::{
    SystemCanister, CYCLES_LEDGER, CYCLES_MINTING_CANISTER, GENESIS_CYCLES, GENESIS_ICP_E8S,
    ICP_LEDGER,
};
pub use cycles_ledger::{
    CreateCanisterArgs, CreateCanisterError, CreateCanisterSuccess, CreationArgs,
};
pub use ledger::account_identifier;
pub(crate) use ledger::SystemState;

impl Replica {
    /// Loads the system canisters' state; at the first open, commits the genesis balances.
    pub(crate) fn open_system(&mut self) -> Result<(), ReplicaError> {
        let (mut state, icp_genesis, cycles_genesis) = SystemState::load(&self.store)?;
        let mut batch = Batch::default();
        if let Some(d) = &icp_genesis {
            batch.blobs.extend(state.icp.blobs(d));
        }
        if let Some(d) = &cycles_genesis {
            batch.blobs.extend(state.cycles.blobs(d));
        }
        if !batch.blobs.is_empty() {
            self.store.commit(batch)?;
            if let Some(d) = icp_genesis {
                state.icp.apply(d);
            }
            if let Some(d) = cycles_genesis {
                state.cycles.apply(d);
            }
        }
        self.system = Some(state);
        Ok(())
    }

    pub(crate) fn system_state(&self) -> Result<&SystemState, ReplicaError> {
        self.system
            .as_ref()
            .ok_or_else(|| ReplicaError::CorruptRecord {
                key: "system/".into(),
                cause: "the system canisters' state was not loaded".into(),
            })
    }

    pub(crate) fn system_state_mut(&mut self) -> Result<&mut SystemState, ReplicaError> {
        self.system
            .as_mut()
            .ok_or_else(|| ReplicaError::CorruptRecord {
                key: "system/".into(),
                cause: "the system canisters' state was not loaded".into(),
            })
    }

    /// Commits blobs that change only the system canisters' state.
    pub(crate) fn commit_system(
        &mut self,
        blobs: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), CallError> {
        self.store.commit(Batch {
            blobs,
            memories: Vec::new(),
        })?;
        Ok(())
    }

    /// An update call (or a query called as an update) to a system canister.
    pub(crate) fn system_update(
        &mut self,
        canister: SystemCanister,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        match canister.method_kind(method) {
            Some(MethodKind::Update) => {}
            Some(_) => return self.system_query(canister, sender, method, arg),
            None => return Err(no_method(canister, method, "update").into()),
        }
        match canister {
            SystemCanister::IcpLedger | SystemCanister::CyclesLedger => {
                self.ledger_update(canister, sender, method, arg)
            }
            SystemCanister::CyclesMinting => self.cmc_update(sender, method, arg),
        }
    }

    /// A query call to a system canister.
    pub(crate) fn system_query(
        &self,
        canister: SystemCanister,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        if canister.method_kind(method) != Some(MethodKind::Query) {
            return Err(no_method(canister, method, "query").into());
        }
        match canister {
            SystemCanister::IcpLedger | SystemCanister::CyclesLedger => {
                self.ledger_query(canister, sender, method, arg)
            }
            SystemCanister::CyclesMinting => self.cmc_query(method, arg),
        }
    }
}
