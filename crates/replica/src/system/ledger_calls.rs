//! The ICP and cycles ledgers' methods (ICRC-1 and the ICP ledger's legacy `transfer`), run
//! on the replica's ledger state.

use candid::{Nat, Principal};

use super::canisters::{decode, encode, nat_u128, SystemCanister};
use super::ledger::*;
use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::replica::Replica;

impl Replica {
    /// The ledger of `canister` (the ICP or the cycles ledger).
    pub(crate) fn ledger(&self, canister: SystemCanister) -> Result<&Ledger, ReplicaError> {
        let s = self.system_state()?;
        Ok(match canister {
            SystemCanister::IcpLedger => &s.icp,
            _ => &s.cycles,
        })
    }

    pub(crate) fn ledger_mut(
        &mut self,
        canister: SystemCanister,
    ) -> Result<&mut Ledger, ReplicaError> {
        let s = self.system_state_mut()?;
        Ok(match canister {
            SystemCanister::IcpLedger => &mut s.icp,
            _ => &mut s.cycles,
        })
    }

    /// Commits a delta of one ledger (with whatever else it carries) and takes it in.
    pub(crate) fn commit_ledger(
        &mut self,
        canister: SystemCanister,
        delta: Delta,
    ) -> Result<(), CallError> {
        let blobs = self.ledger(canister)?.blobs(&delta);
        self.commit_system(blobs)?;
        self.ledger_mut(canister)?.apply(delta);
        Ok(())
    }

    pub(super) fn ledger_query(
        &self,
        canister: SystemCanister,
        _sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let ledger = self.ledger(canister)?;
        let icp = canister == SystemCanister::IcpLedger;
        match method {
            "icrc1_balance_of" => {
                let account: Account = decode(canister, method, arg)?;
                let key = account_key(canister, &account)?;
                encode(canister, &Nat::from(ledger.balance(&key)))
            }
            "icrc1_fee" => encode(canister, &Nat::from(ledger.fee())),
            "icrc1_decimals" => encode(canister, &if icp { 8u8 } else { 12u8 }),
            "icrc1_symbol" => encode(canister, &if icp { "ICP" } else { "TCYCLES" }),
            _ => Err(super::no_method(canister, method, "query").into()),
        }
    }

    pub(super) fn ledger_update(
        &mut self,
        canister: SystemCanister,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        match method {
            "icrc1_transfer" => {
                let args: TransferArg = decode(canister, method, arg)?;
                let result = self.icrc1_transfer(canister, sender, &args)?;
                encode(canister, &result)
            }
            "transfer" if canister == SystemCanister::IcpLedger => {
                let args: LegacyTransferArgs = decode(canister, method, arg)?;
                let result = self.legacy_transfer(sender, &args)?;
                encode(canister, &result)
            }
            "create_canister" if canister == SystemCanister::CyclesLedger => {
                self.cycles_ledger_create_canister(sender, arg)
            }
            "withdraw" if canister == SystemCanister::CyclesLedger => {
                self.cycles_ledger_withdraw(sender, arg)
            }
            _ => Err(super::no_method(canister, method, "update").into()),
        }
    }

    fn icrc1_transfer(
        &mut self,
        canister: SystemCanister,
        sender: Principal,
        args: &TransferArg,
    ) -> Result<Result<Nat, TransferError>, CallError> {
        let ledger = self.ledger(canister)?;
        if let Some(fee) = &args.fee {
            if nat_u128(fee) != Some(ledger.fee()) {
                return Ok(Err(TransferError::BadFee {
                    expected_fee: Nat::from(ledger.fee()),
                }));
            }
        }
        let from = account_key(
            canister,
            &Account {
                owner: sender,
                subaccount: args.from_subaccount.clone(),
            },
        )?;
        let to = account_key(canister, &args.to)?;
        let balance = ledger.balance(&from);
        let Some(amount) = nat_u128(&args.amount) else {
            return Ok(Err(TransferError::InsufficientFunds {
                balance: Nat::from(balance),
            }));
        };
        let (delta, block) = match ledger.transfer(&from, &to, amount) {
            Ok(x) => x,
            Err(balance) => {
                return Ok(Err(TransferError::InsufficientFunds {
                    balance: Nat::from(balance),
                }))
            }
        };
        self.commit_ledger(canister, delta)?;
        Ok(Ok(Nat::from(block)))
    }

    fn legacy_transfer(
        &mut self,
        sender: Principal,
        args: &LegacyTransferArgs,
    ) -> Result<Result<u64, LegacyTransferError>, CallError> {
        let canister = SystemCanister::IcpLedger;
        let ledger = self.ledger(canister)?;
        if args.fee.e8s as u128 != ledger.fee() {
            return Ok(Err(LegacyTransferError::BadFee {
                expected_fee: Tokens { e8s: ICP_FEE_E8S },
            }));
        }
        let to: [u8; 32] = <[u8; 32]>::try_from(args.to.as_slice()).map_err(|_| {
            UserError::new(
                ErrorCode::CanisterCalledTrap,
                format!(
                    "Canister {} trapped: an account identifier must be 32 bytes, not {}",
                    canister.id(),
                    args.to.len()
                ),
            )
        })?;
        let from_sub = subaccount(canister, &args.from_subaccount)?;
        let from = icp_key(&account_identifier(&sender, &from_sub));
        let (mut delta, block) =
            match ledger.transfer(&from, &icp_key(&to), args.amount.e8s as u128) {
                Ok(x) => x,
                Err(balance) => {
                    return Ok(Err(LegacyTransferError::InsufficientFunds {
                        balance: Tokens {
                            e8s: u64::try_from(balance).unwrap_or(u64::MAX),
                        },
                    }))
                }
            };
        if args.memo == MEMO_MINT_CYCLES || args.memo == MEMO_CREATE_CANISTER {
            let record = CmcBlock {
                to: icp_key(&to),
                amount: args.amount.e8s,
                memo: args.memo,
            };
            let json = serde_json::to_vec(&record).map_err(|e| ReplicaError::CorruptRecord {
                key: format!("system/icp/block/{block}"),
                cause: e.to_string(),
            })?;
            delta.also(format!("system/icp/block/{block}"), Some(json));
        }
        self.commit_ledger(canister, delta)?;
        Ok(Ok(block))
    }
}
