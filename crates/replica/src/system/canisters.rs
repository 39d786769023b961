//! The system canisters' ids, kinds and ledger state, and the Candid plumbing of their methods:
//! what the replica's core needs to know of them, without running any of their methods.

use std::collections::BTreeMap;

use candid::{CandidType, Principal};
use serde::de::DeserializeOwned;

use crate::error::{CallError, ErrorCode, UserError};
use crate::method::MethodKind;

/// The ledgers' query methods.
pub(crate) const LEDGER_QUERIES: &[&str] = &[
    "icrc1_balance_of",
    "icrc1_fee",
    "icrc1_decimals",
    "icrc1_symbol",
];
/// The CMC's query methods.
pub(crate) const CMC_QUERIES: &[&str] = &["get_default_subnets", "get_icp_xdr_conversion_rate"];
/// The CMC's update methods.
pub(crate) const CMC_UPDATES: &[&str] = &["notify_mint_cycles", "notify_create_canister"];

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
            SystemCanister::IcpLedger => (LEDGER_QUERIES, &["icrc1_transfer", "transfer"]),
            SystemCanister::CyclesLedger => (
                LEDGER_QUERIES,
                &["icrc1_transfer", "create_canister", "withdraw"],
            ),
            SystemCanister::CyclesMinting => (CMC_QUERIES, CMC_UPDATES),
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

/// Decodes a system canister method's argument; a bad one is the caller's fault, reported as
/// the real canister would (its Candid decoding traps).
pub(crate) fn decode<T: DeserializeOwned + CandidType>(
    canister: SystemCanister,
    method: &str,
    arg: &[u8],
) -> Result<T, UserError> {
    crate::management_args::decode_arg(arg).map_err(|e| {
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

pub(crate) fn no_method(canister: SystemCanister, method: &str, kind: &str) -> UserError {
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
