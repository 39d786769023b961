//! The cycles ledger's own methods: `create_canister` (a canister paid from the caller's
//! cycles, controlled by the caller unless the settings name controllers) and `withdraw`
//! (cycles sent to a canister's balance, as `icp canister top-up` does).

use candid::{CandidType, Nat, Principal};
use ic_management_canister_types::CanisterSettings;
use serde::Deserialize;

use super::canisters::{decode, encode, nat_u128, SystemCanister};
use super::ledger::{cycles_key, subaccount};
use crate::error::CallError;
use crate::replica::Replica;

/// `SubnetSelection` of the cycles ledger and the CMC.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub enum SubnetSelection {
    Filter { subnet_type: Option<String> },
    Subnet { subnet: Principal },
}

/// `CmcCreateCanisterArgs`, as the cycles ledger calls it.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct CreationArgs {
    pub subnet_selection: Option<SubnetSelection>,
    pub settings: Option<CanisterSettings>,
}

/// The argument of `create_canister`.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct CreateCanisterArgs {
    pub from_subaccount: Option<Vec<u8>>,
    pub created_at_time: Option<u64>,
    pub amount: Nat,
    pub creation_args: Option<CreationArgs>,
}

/// `CreateCanisterSuccess`.
#[derive(Clone, Debug, CandidType, Deserialize, PartialEq, Eq)]
pub struct CreateCanisterSuccess {
    pub block_id: Nat,
    pub canister_id: Principal,
}

/// `CreateCanisterError`.
#[derive(Clone, Debug, CandidType, Deserialize, PartialEq, Eq)]
pub enum CreateCanisterError {
    InsufficientFunds {
        balance: Nat,
    },
    TooOld,
    CreatedInFuture {
        ledger_time: u64,
    },
    TemporarilyUnavailable,
    Duplicate {
        duplicate_of: Nat,
        canister_id: Option<Principal>,
    },
    FailedToCreate {
        fee_block: Option<Nat>,
        refund_block: Option<Nat>,
        error: String,
    },
    GenericError {
        message: String,
        error_code: Nat,
    },
}

/// The argument of `withdraw`.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct WithdrawArgs {
    pub amount: Nat,
    pub from_subaccount: Option<Vec<u8>>,
    pub to: Principal,
    pub created_at_time: Option<u64>,
}

/// `RejectionCode`, inside `WithdrawError::FailedToWithdraw`.
#[derive(Clone, Debug, CandidType, Deserialize, PartialEq, Eq)]
pub enum RejectionCode {
    NoError,
    CanisterError,
    SysTransient,
    DestinationInvalid,
    Unknown,
    SysFatal,
    CanisterReject,
}

/// `WithdrawError`.
#[derive(Clone, Debug, CandidType, Deserialize, PartialEq, Eq)]
pub enum WithdrawError {
    BadFee {
        expected_fee: Nat,
    },
    InsufficientFunds {
        balance: Nat,
    },
    TooOld,
    CreatedInFuture {
        ledger_time: u64,
    },
    TemporarilyUnavailable,
    Duplicate {
        duplicate_of: Nat,
    },
    FailedToWithdraw {
        fee_block: Option<Nat>,
        rejection_code: RejectionCode,
        rejection_reason: String,
    },
    GenericError {
        message: String,
        error_code: Nat,
    },
    InvalidReceiver {
        receiver: Principal,
    },
}

impl Replica {
    /// Whether a subnet selection names a subnet drydock does not have: the reason, if so.
    pub(crate) fn unknown_subnet(&self, selection: Option<&SubnetSelection>) -> Option<String> {
        match selection {
            Some(SubnetSelection::Subnet { subnet }) if *subnet != self.subnet_id() => {
                Some(format!(
                    "subnet {subnet} does not exist: drydock has one subnet, {}",
                    self.subnet_id()
                ))
            }
            _ => None,
        }
    }

    pub(super) fn cycles_ledger_create_canister(
        &mut self,
        sender: Principal,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let canister = SystemCanister::CyclesLedger;
        let args: CreateCanisterArgs = decode(canister, "create_canister", arg)?;
        let result = self.create_through_cycles_ledger(sender, args)?;
        encode(canister, &result)
    }

    fn create_through_cycles_ledger(
        &mut self,
        sender: Principal,
        args: CreateCanisterArgs,
    ) -> Result<Result<CreateCanisterSuccess, CreateCanisterError>, CallError> {
        let canister = SystemCanister::CyclesLedger;
        let sub = subaccount(canister, &args.from_subaccount)?;
        let from = cycles_key(&sender, &sub);
        let ledger = self.ledger(canister)?;
        let balance = ledger.balance(&from);
        let insufficient = || {
            Ok(Err(CreateCanisterError::InsufficientFunds {
                balance: Nat::from(balance),
            }))
        };
        let Some(amount) = nat_u128(&args.amount) else {
            return insufficient();
        };
        let Some(total) = amount.checked_add(ledger.fee()) else {
            return insufficient();
        };
        let (selection, settings) = match args.creation_args {
            Some(c) => (c.subnet_selection, c.settings),
            None => (None, None),
        };
        if let Some(error) = self.unknown_subnet(selection.as_ref()) {
            return Ok(Err(CreateCanisterError::FailedToCreate {
                fee_block: None,
                refund_block: None,
                error,
            }));
        }
        let mut delta = ledger.delta();
        if delta.debit(ledger, &from, total).is_err() {
            return insufficient();
        }
        let block = delta.block();
        let blobs = ledger.blobs(&delta);
        match self.create_canister_committing(sender, settings, Some(amount), blobs) {
            Ok(id) => {
                self.ledger_mut(canister)?.apply(delta);
                Ok(Ok(CreateCanisterSuccess {
                    block_id: Nat::from(block),
                    canister_id: id,
                }))
            }
            // Nothing was committed: the caller keeps the cycles, so there is no refund block.
            Err(CallError::User(e)) => Ok(Err(CreateCanisterError::FailedToCreate {
                fee_block: None,
                refund_block: None,
                error: e.to_string(),
            })),
            Err(e) => Err(e),
        }
    }

    pub(super) fn cycles_ledger_withdraw(
        &mut self,
        sender: Principal,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let canister = SystemCanister::CyclesLedger;
        let args: WithdrawArgs = decode(canister, "withdraw", arg)?;
        let result = self.withdraw(sender, args)?;
        encode(canister, &result)
    }

    fn withdraw(
        &mut self,
        sender: Principal,
        args: WithdrawArgs,
    ) -> Result<Result<Nat, WithdrawError>, CallError> {
        let canister = SystemCanister::CyclesLedger;
        let sub = subaccount(canister, &args.from_subaccount)?;
        let from = cycles_key(&sender, &sub);
        let ledger = self.ledger(canister)?;
        let balance = ledger.balance(&from);
        let insufficient = || {
            Ok(Err(WithdrawError::InsufficientFunds {
                balance: Nat::from(balance),
            }))
        };
        let Some(amount) = nat_u128(&args.amount) else {
            return insufficient();
        };
        let Some(total) = amount.checked_add(ledger.fee()) else {
            return insufficient();
        };
        let Some(target) = self.canisters.get(&args.to) else {
            return Ok(Err(WithdrawError::InvalidReceiver { receiver: args.to }));
        };
        let mut record = target.record.clone();
        let Some(cycles) = record.cycles.checked_add(amount) else {
            return Ok(Err(WithdrawError::GenericError {
                message: format!("canister {} cannot hold that many cycles", args.to),
                error_code: Nat::from(0u8),
            }));
        };
        record.cycles = cycles;
        let mut delta = ledger.delta();
        if delta.debit(ledger, &from, total).is_err() {
            return insufficient();
        }
        let block = delta.block();
        let blobs = ledger.blobs(&delta);
        self.commit_record(record, blobs)?;
        self.ledger_mut(canister)?.apply(delta);
        Ok(Ok(Nat::from(block)))
    }
}
