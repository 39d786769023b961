//! The cycles minting canister: the subnet to create canisters on, the ICP/XDR rate, and
//! turning ICP sent to it (a legacy `transfer` to `account_identifier(CMC,
//! principal_subaccount(caller))` with memo `MINT` or `CREA`) into cycles on the cycles
//! ledger or into a new canister.
//!
//! A notified block is remembered with the reply given (`system/cmc/notified/<index>`): a
//! second notification of it gets the same reply, as on the IC.

use candid::{CandidType, Nat, Principal};
use ic_management_canister_types::CanisterSettings;
use serde::{Deserialize, Serialize};

use super::canisters::{decode, encode, SystemCanister, CYCLES_MINTING_CANISTER};
use super::cycles_ledger::SubnetSelection;
use super::ledger::{
    account_identifier, cycles_key, icp_key, principal_subaccount, subaccount, CmcBlock,
    MEMO_CREATE_CANISTER, MEMO_MINT_CYCLES,
};
use crate::error::{CallError, ReplicaError};
use crate::replica::Replica;

/// The ICP/XDR rate drydock reports, in XDR per ten thousand ICP: 1 ICP = 3.5 XDR, so one e8
/// of ICP buys 35 000 cycles (1 XDR = 10¹² cycles).
pub const XDR_PERMYRIAD_PER_ICP: u64 = 35_000;

/// `IcpXdrConversionRate`.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct IcpXdrConversionRate {
    pub timestamp_seconds: u64,
    pub xdr_permyriad_per_icp: u64,
}

/// `IcpXdrConversionRateResponse` (drydock certifies nothing here: empty tree and certificate).
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct IcpXdrConversionRateResponse {
    pub data: IcpXdrConversionRate,
    #[serde(with = "serde_bytes")]
    pub hash_tree: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub certificate: Vec<u8>,
}

/// `NotifyError`.
#[derive(Clone, Debug, CandidType, Deserialize, Serialize, PartialEq, Eq)]
pub enum NotifyError {
    Refunded {
        reason: String,
        block_index: Option<u64>,
    },
    InvalidTransaction(String),
    TransactionTooOld(u64),
    Processing,
    Other {
        error_code: u64,
        error_message: String,
    },
}

/// `NotifyMintCyclesArg`.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct NotifyMintCyclesArg {
    pub block_index: u64,
    pub to_subaccount: Option<Vec<u8>>,
    pub deposit_memo: Option<Vec<u8>>,
}

/// `NotifyMintCyclesSuccess`.
#[derive(Clone, Debug, CandidType, Deserialize, Serialize, PartialEq, Eq)]
pub struct NotifyMintCyclesSuccess {
    pub block_index: Nat,
    pub minted: Nat,
    pub balance: Nat,
}

/// `NotifyCreateCanisterArg`.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct NotifyCreateCanisterArg {
    pub block_index: u64,
    pub controller: Principal,
    pub subnet_type: Option<String>,
    pub subnet_selection: Option<SubnetSelection>,
    pub settings: Option<CanisterSettings>,
}

/// What a notified block produced, kept to answer a repeated notification.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Notified {
    Minted(NotifyMintCyclesSuccess),
    Created(Principal),
    Refunded(NotifyError),
}

/// `notify_error(Other)` with the CMC's generic code.
fn other(message: String) -> NotifyError {
    NotifyError::Other {
        error_code: 1,
        error_message: message,
    }
}

impl Replica {
    /// The subnet id canisters are created on, as `get_default_subnets` reports it.
    pub fn subnet_id(&self) -> Principal {
        self.subnet_id
    }

    /// Sets the subnet id. The HTTP interface sets it to the subnet its certificates name (the
    /// self-authenticating id of its root key), so that the CMC and the state tree agree.
    pub fn set_subnet_id(&mut self, id: Principal) {
        self.subnet_id = id;
    }

    pub(super) fn cmc_query(&self, method: &str, arg: &[u8]) -> Result<Vec<u8>, CallError> {
        let canister = SystemCanister::CyclesMinting;
        match method {
            "get_default_subnets" => {
                decode::<()>(canister, method, arg)?;
                encode(canister, &vec![self.subnet_id])
            }
            "get_icp_xdr_conversion_rate" => {
                decode::<()>(canister, method, arg)?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                encode(
                    canister,
                    &IcpXdrConversionRateResponse {
                        data: IcpXdrConversionRate {
                            timestamp_seconds: now - now % 60,
                            xdr_permyriad_per_icp: XDR_PERMYRIAD_PER_ICP,
                        },
                        hash_tree: Vec::new(),
                        certificate: Vec::new(),
                    },
                )
            }
            _ => Err(super::canisters::no_method(canister, method, "query").into()),
        }
    }

    pub(super) fn cmc_update(
        &mut self,
        sender: Principal,
        method: &str,
        arg: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let canister = SystemCanister::CyclesMinting;
        match method {
            "notify_mint_cycles" => {
                let args: NotifyMintCyclesArg = decode(canister, method, arg)?;
                let result = self.notify_mint_cycles(sender, &args)?;
                encode(canister, &result)
            }
            "notify_create_canister" => {
                let args: NotifyCreateCanisterArg = decode(canister, method, arg)?;
                let result = self.notify_create_canister(sender, args)?;
                encode(canister, &result)
            }
            _ => Err(super::canisters::no_method(canister, method, "update").into()),
        }
    }

    /// The earlier reply to a notification of `block`, if any.
    fn notified(&self, block: u64) -> Result<Option<Notified>, ReplicaError> {
        let key = notified_key(block);
        self.store
            .blob(&key)
            .map(|b| {
                serde_json::from_slice(b).map_err(|e| ReplicaError::CorruptRecord {
                    key: key.clone(),
                    cause: e.to_string(),
                })
            })
            .transpose()
    }

    /// The ICP the caller sent to the CMC in `block` with `memo`, in e8s.
    fn deposit(&self, caller: &Principal, block: u64, memo: u64) -> Result<u64, NotifyError> {
        let key = format!("system/icp/block/{block}");
        let Some(bytes) = self.store.blob(&key) else {
            return Err(NotifyError::InvalidTransaction(format!(
                "block {block} is not an ICP transfer to the cycles minting canister"
            )));
        };
        let record: CmcBlock = serde_json::from_slice(bytes)
            .map_err(|e| other(format!("block {block} is unreadable: {e}")))?;
        let expected = icp_key(&account_identifier(
            &CYCLES_MINTING_CANISTER,
            &principal_subaccount(caller),
        ));
        if record.to != expected {
            return Err(NotifyError::InvalidTransaction(format!(
                "block {block} does not pay the cycles minting canister's account for {caller}"
            )));
        }
        if record.memo != memo {
            return Err(NotifyError::InvalidTransaction(format!(
                "block {block} has memo {:#x}, this notification needs {memo:#x}",
                record.memo
            )));
        }
        Ok(record.amount)
    }

    fn notify_mint_cycles(
        &mut self,
        sender: Principal,
        args: &NotifyMintCyclesArg,
    ) -> Result<Result<NotifyMintCyclesSuccess, NotifyError>, CallError> {
        match self.notified(args.block_index)? {
            Some(Notified::Minted(ok)) => return Ok(Ok(ok)),
            Some(Notified::Created(_) | Notified::Refunded(_)) => {
                return Ok(Err(NotifyError::InvalidTransaction(format!(
                    "block {} was already used to create a canister",
                    args.block_index
                ))))
            }
            None => {}
        }
        let e8s = match self.deposit(&sender, args.block_index, MEMO_MINT_CYCLES) {
            Ok(e8s) => e8s,
            Err(e) => return Ok(Err(e)),
        };
        let canister = SystemCanister::CyclesLedger;
        let to_sub = subaccount(canister, &args.to_subaccount)?;
        let to = cycles_key(&sender, &to_sub);
        let minted = e8s as u128 * XDR_PERMYRIAD_PER_ICP as u128;
        let ledger = self.ledger(canister)?;
        let mut delta = ledger.delta();
        // The deposit into the cycles ledger pays its fee.
        let deposited = minted.saturating_sub(ledger.fee());
        if delta.credit(ledger, &to, deposited).is_err() {
            return Ok(Err(other(format!(
                "the cycles ledger account of {sender} cannot hold {deposited} more cycles"
            ))));
        }
        let block = delta.block();
        let ok = NotifyMintCyclesSuccess {
            block_index: Nat::from(block),
            minted: Nat::from(minted),
            balance: Nat::from(delta.balance(ledger, &to)),
        };
        delta.also(
            notified_key(args.block_index),
            Some(to_json(&Notified::Minted(ok.clone()))?),
        );
        self.commit_ledger(canister, delta)?;
        Ok(Ok(ok))
    }

    fn notify_create_canister(
        &mut self,
        sender: Principal,
        args: NotifyCreateCanisterArg,
    ) -> Result<Result<Principal, NotifyError>, CallError> {
        match self.notified(args.block_index)? {
            Some(Notified::Created(id)) => return Ok(Ok(id)),
            Some(Notified::Refunded(e)) => return Ok(Err(e)),
            Some(Notified::Minted(_)) => {
                return Ok(Err(NotifyError::InvalidTransaction(format!(
                    "block {} was already used to mint cycles",
                    args.block_index
                ))))
            }
            None => {}
        }
        if args.controller != sender {
            return Ok(Err(NotifyError::InvalidTransaction(format!(
                "the controller {} must be the caller {sender}",
                args.controller
            ))));
        }
        let e8s = match self.deposit(&sender, args.block_index, MEMO_CREATE_CANISTER) {
            Ok(e8s) => e8s,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(error) = self.unknown_subnet(args.subnet_selection.as_ref()) {
            return self.refund(sender, args.block_index, e8s, error);
        }
        let cycles = e8s as u128 * XDR_PERMYRIAD_PER_ICP as u128;
        let id = self.next_canister_id();
        let record = vec![(
            notified_key(args.block_index),
            Some(to_json(&Notified::Created(id))?),
        )];
        match self.create_canister_committing(sender, args.settings, Some(cycles), record) {
            Ok(created) => Ok(Ok(created)),
            Err(CallError::User(e)) => self.refund(sender, args.block_index, e8s, e.to_string()),
            Err(e) => Err(e),
        }
    }

    /// Sends the ICP of a failed creation back to the caller's default account, less the fee,
    /// and remembers the refund as the block's answer.
    fn refund(
        &mut self,
        caller: Principal,
        block: u64,
        e8s: u64,
        reason: String,
    ) -> Result<Result<Principal, NotifyError>, CallError> {
        let canister = SystemCanister::IcpLedger;
        let ledger = self.ledger(canister)?;
        let from = icp_key(&account_identifier(
            &CYCLES_MINTING_CANISTER,
            &principal_subaccount(&caller),
        ));
        let to = icp_key(&account_identifier(&caller, &[0; 32]));
        let back = (e8s as u128).saturating_sub(ledger.fee());
        let (mut delta, refund_block) = match ledger.transfer(&from, &to, back) {
            Ok(x) => x,
            Err(_) => return Ok(Err(other(format!("{reason}; the refund failed")))),
        };
        let error = NotifyError::Refunded {
            reason,
            block_index: Some(refund_block),
        };
        delta.also(
            notified_key(block),
            Some(to_json(&Notified::Refunded(error.clone()))?),
        );
        self.commit_ledger(canister, delta)?;
        Ok(Err(error))
    }
}

fn notified_key(block: u64) -> String {
    format!("system/cmc/notified/{block}")
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, ReplicaError> {
    serde_json::to_vec(value).map_err(|e| ReplicaError::CorruptRecord {
        key: "system/cmc/notified".into(),
        cause: e.to_string(),
    })
}
