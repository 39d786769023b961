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

mod cmc;
mod cycles_ledger;
mod ledger;

use std::collections::BTreeMap;

use candid::{CandidType, Principal};
use drydock_state::Batch;
use serde::de::DeserializeOwned;

use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::replica::{MethodKind, Replica};

pub use ledger::account_identifier;
pub(crate) use ledger::Ledger;

/// The ICP ledger, `ryjl3-tyaaa-aaaaa-aaaba-cai`.
pub const ICP_LEDGER: Principal = Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 2, 1, 1]);
/// The cycles ledger, `um5iw-rqaaa-aaaaq-qaaba-cai`.
pub const CYCLES_LEDGER: Principal = Principal::from_slice(&[0, 0, 0, 0, 2, 16, 0, 2, 1, 1]);
/// The cycles minting canister, `rkp4c-7iaaa-aaaaa-aaaca-cai`.
pub const CYCLES_MINTING_CANISTER: Principal =
    Principal::from_slice(&[0, 0, 0, 0, 0, 0, 0, 4, 1, 1]);

/// The ICP the anonymous principal holds at genesis: 10⁹ ICP, in e8s.
pub const GENESIS_ICP_E8S: u64 = 100_000_000_000_000_000;
/// The cycles the anonymous principal holds at genesis: `i128::MAX`, as PocketIC gives it.
pub const GENESIS_CYCLES: u128 = i128::MAX as u128;

/// One of the system canisters drydock serves natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemCanister {
    IcpLedger,
    CyclesLedger,
    CyclesMinting,
}

impl SystemCanister {
    /// The system canister with this id, if it is one.
    pub fn of(id: &Principal) -> Option<Self> {
        if *id == ICP_LEDGER {
            Some(SystemCanister::IcpLedger)
        } else if *id == CYCLES_LEDGER {
            Some(SystemCanister::CyclesLedger)
        } else if *id == CYCLES_MINTING_CANISTER {
            Some(SystemCanister::CyclesMinting)
        } else {
            None
        }
    }

    /// Its canister id.
    pub fn id(self) -> Principal {
        match self {
            SystemCanister::IcpLedger => ICP_LEDGER,
            SystemCanister::CyclesLedger => CYCLES_LEDGER,
            SystemCanister::CyclesMinting => CYCLES_MINTING_CANISTER,
        }
    }

    /// Whether `method` is one of its methods, and of which kind.
    pub fn method_kind(self, method: &str) -> Option<MethodKind> {
        let (queries, updates): (&[&str], &[&str]) = match self {
            SystemCanister::IcpLedger => (ledger::QUERIES, &["icrc1_transfer", "transfer"]),
            SystemCanister::CyclesLedger => (
                ledger::QUERIES,
                &["icrc1_transfer", "create_canister", "withdraw"],
            ),
            SystemCanister::CyclesMinting => (cmc::QUERIES, cmc::UPDATES),
        };
        if queries.contains(&method) {
            Some(MethodKind::Query)
        } else if updates.contains(&method) {
            Some(MethodKind::Update)
        } else {
            None
        }
    }
}

/// The ledgers' balances, as committed.
pub(crate) struct SystemState {
    pub icp: Ledger,
    pub cycles: Ledger,
}

impl SystemState {
    /// The ledgers' balances from the store, and the genesis batch to commit when the ledgers
    /// have never been opened.
    pub(crate) fn load(
        store: &drydock_state::Store,
    ) -> Result<(SystemState, Option<ledger::Delta>, Option<ledger::Delta>), ReplicaError> {
        let icp = Ledger::load(store, "system/icp", ledger::ICP_FEE_E8S as u128)?;
        let cycles = Ledger::load(store, "system/cycles", ledger::CYCLES_FEE)?;
        let anonymous = Principal::anonymous();
        let icp_genesis = (!icp.exists()).then(|| {
            let mut d = icp.delta();
            let key = ledger::icp_key(&account_identifier(&anonymous, &[0; 32]));
            // Cannot overflow: the ledger is empty.
            let _ = d.credit(&icp, &key, GENESIS_ICP_E8S as u128);
            d
        });
        let cycles_genesis = (!cycles.exists()).then(|| {
            let mut d = cycles.delta();
            let key = ledger::cycles_key(&anonymous, &[0; 32]);
            let _ = d.credit(&cycles, &key, GENESIS_CYCLES);
            d
        });
        Ok((SystemState { icp, cycles }, icp_genesis, cycles_genesis))
    }
}

/// Decodes a system canister method's argument; a bad one is the caller's fault, reported as
/// the real canister would (its Candid decoding traps).
pub(crate) fn decode<T: DeserializeOwned + CandidType>(
    canister: SystemCanister,
    method: &str,
    arg: &[u8],
) -> Result<T, UserError> {
    crate::management::decode_arg(arg).map_err(|e| {
        UserError::new(
            ErrorCode::CanisterCalledTrap,
            format!(
                "Canister {} trapped: cannot decode the argument of {method} as {}: {e}",
                canister.id(),
                std::any::type_name::<T>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("its type"),
            ),
        )
    })
}

/// Encodes a reply.
pub(crate) fn encode<T: CandidType>(
    canister: SystemCanister,
    value: &T,
) -> Result<Vec<u8>, CallError> {
    candid::encode_one(value).map_err(|e| {
        UserError::new(
            ErrorCode::CanisterCalledTrap,
            format!(
                "Canister {} trapped: encoding its reply: {e}",
                canister.id()
            ),
        )
        .into()
    })
}

/// A `nat` as `u128`, or `None` when it is larger.
pub(crate) fn nat_u128(n: &candid::Nat) -> Option<u128> {
    u128::try_from(&n.0).ok()
}

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

fn no_method(canister: SystemCanister, method: &str, kind: &str) -> UserError {
    UserError::new(
        ErrorCode::CanisterMethodNotFound,
        format!(
            "Canister {} has no {kind} method '{method}' (drydock serves this system canister natively, with the methods icp-cli uses)",
            canister.id()
        ),
    )
}

/// The balances of a ledger, by account key.
pub(crate) type Balances = BTreeMap<String, u128>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{canister_id_from_index, FIRST_CANISTER_INDEX};

    #[test]
    fn the_ids_are_the_ics() {
        assert_eq!(ICP_LEDGER.to_text(), "ryjl3-tyaaa-aaaaa-aaaba-cai");
        assert_eq!(CYCLES_LEDGER.to_text(), "um5iw-rqaaa-aaaaq-qaaba-cai");
        assert_eq!(
            CYCLES_MINTING_CANISTER.to_text(),
            "rkp4c-7iaaa-aaaaa-aaaca-cai"
        );
    }

    #[test]
    fn the_cycles_ledger_id_lies_in_drydocks_allocation_range() {
        // Which is why the allocator skips system canister ids.
        let index = 0x0210_0002;
        assert!(index >= FIRST_CANISTER_INDEX);
        assert_eq!(
            SystemCanister::of(&canister_id_from_index(index)),
            Some(SystemCanister::CyclesLedger)
        );
    }
}
