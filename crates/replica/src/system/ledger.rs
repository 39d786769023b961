//! The two ledgers' common part: balances by account, blocks, ICRC-1 (`icrc1_balance_of`,
//! `icrc1_transfer`, `icrc1_fee`, `icrc1_decimals`, `icrc1_symbol`), and the ICP ledger's
//! legacy `transfer` to a 32-byte account identifier.
//!
//! The ICP ledger keys balances by account identifier (so a legacy transfer and an ICRC-1
//! balance query meet), the cycles ledger by owner and subaccount. A `None` subaccount is the
//! all-zero one, as ICRC-1 defines.

use candid::{CandidType, Nat, Principal};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha224};

use super::{decode, encode, nat_u128, Balances, SystemCanister};
use crate::error::{CallError, ErrorCode, ReplicaError, UserError};
use crate::replica::Replica;

/// The ICP ledger's transfer fee: 0.0001 ICP.
pub const ICP_FEE_E8S: u64 = 10_000;
/// The cycles ledger's transfer fee: 100 M cycles.
pub const CYCLES_FEE: u128 = 100_000_000;

/// The ledgers' query methods.
pub(super) const QUERIES: &[&str] = &[
    "icrc1_balance_of",
    "icrc1_fee",
    "icrc1_decimals",
    "icrc1_symbol",
];

/// The legacy-transfer memo of an ICP deposit the CMC turns into cycles (`MINT`).
pub(crate) const MEMO_MINT_CYCLES: u64 = 0x544e_494d;
/// The legacy-transfer memo of an ICP deposit the CMC turns into a canister (`CREA`).
pub(crate) const MEMO_CREATE_CANISTER: u64 = 0x4145_5243;

/// The ICP ledger's account identifier of `owner`'s `subaccount`:
/// `crc32(h) ‖ h` with `h = sha224("\x0Aaccount-id" ‖ owner ‖ subaccount)`.
pub fn account_identifier(owner: &Principal, subaccount: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha224::new();
    h.update(b"\x0Aaccount-id");
    h.update(owner.as_slice());
    h.update(subaccount);
    let hash = h.finalize();
    let mut out = [0u8; 32];
    out[..4].copy_from_slice(&crc32(&hash).to_be_bytes());
    out[4..].copy_from_slice(&hash);
    out
}

/// The subaccount the CMC derives from a principal: its length, then its bytes.
pub(crate) fn principal_subaccount(p: &Principal) -> [u8; 32] {
    let bytes = p.as_slice();
    let mut out = [0u8; 32];
    out[0] = bytes.len() as u8;
    out[1..1 + bytes.len()].copy_from_slice(bytes);
    out
}

/// CRC-32 (IEEE 802.3), bit by bit: it runs once per account identifier.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The ICP ledger's balance key of an account identifier.
pub(crate) fn icp_key(account_id: &[u8; 32]) -> String {
    hex::encode(account_id)
}

/// The cycles ledger's balance key of an account.
pub(crate) fn cycles_key(owner: &Principal, subaccount: &[u8; 32]) -> String {
    format!("{}/{}", owner.to_text(), hex::encode(subaccount))
}

/// A ledger's committed balances and block count.
pub(crate) struct Ledger {
    prefix: &'static str,
    fee: u128,
    balances: Balances,
    next_block: u64,
    exists: bool,
}

/// Changes to a ledger not yet committed: new balances and the blocks they took.
pub(crate) struct Delta {
    balances: Balances,
    next_block: u64,
    extra: Vec<(String, Option<Vec<u8>>)>,
}

impl Ledger {
    /// Reads the ledger under `prefix` (`system/icp`, `system/cycles`).
    pub fn load(
        store: &drydock_state::Store,
        prefix: &'static str,
        fee: u128,
    ) -> Result<Ledger, ReplicaError> {
        let corrupt = |key: &str, cause: String| ReplicaError::CorruptRecord {
            key: key.to_string(),
            cause,
        };
        let balance_prefix = format!("{prefix}/balance/");
        let mut balances = Balances::new();
        for key in store.blob_keys(&balance_prefix) {
            let text = std::str::from_utf8(store.blob(&key).unwrap_or_default())
                .map_err(|e| corrupt(&key, e.to_string()))?;
            let value: u128 = text.parse().map_err(|e| corrupt(&key, format!("{e}")))?;
            balances.insert(key[balance_prefix.len()..].to_string(), value);
        }
        let block_key = format!("{prefix}/next_block");
        let (next_block, exists) = match store.blob(&block_key) {
            None => (0, false),
            Some(b) => (
                std::str::from_utf8(b)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| corrupt(&block_key, "not a decimal number".into()))?,
                true,
            ),
        };
        Ok(Ledger {
            prefix,
            fee,
            balances,
            next_block,
            exists,
        })
    }

    /// Whether the ledger has state (genesis happened).
    pub fn exists(&self) -> bool {
        self.exists
    }

    pub fn balance(&self, key: &str) -> u128 {
        self.balances.get(key).copied().unwrap_or(0)
    }

    pub fn fee(&self) -> u128 {
        self.fee
    }

    /// A new, empty delta over this ledger.
    pub fn delta(&self) -> Delta {
        Delta {
            balances: Balances::new(),
            next_block: self.next_block,
            extra: Vec::new(),
        }
    }

    /// The blobs that commit `delta`.
    pub fn blobs(&self, delta: &Delta) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out: Vec<_> = delta
            .balances
            .iter()
            .map(|(k, v)| {
                let key = format!("{}/balance/{k}", self.prefix);
                (key, (*v != 0).then(|| v.to_string().into_bytes()))
            })
            .collect();
        out.push((
            format!("{}/next_block", self.prefix),
            Some(delta.next_block.to_string().into_bytes()),
        ));
        out.extend(delta.extra.iter().cloned());
        out
    }

    /// Takes a committed delta in.
    pub fn apply(&mut self, delta: Delta) {
        for (k, v) in delta.balances {
            if v == 0 {
                self.balances.remove(&k);
            } else {
                self.balances.insert(k, v);
            }
        }
        self.next_block = delta.next_block;
        self.exists = true;
    }

    /// A transfer of `amount` from `from` to `to`, burning the fee, as one block: the delta
    /// and its block index, or the balance that falls short.
    pub fn transfer(&self, from: &str, to: &str, amount: u128) -> Result<(Delta, u64), u128> {
        let mut d = self.delta();
        let total = amount.checked_add(self.fee).ok_or(self.balance(from))?;
        d.debit(self, from, total)?;
        // A credit overflows only past u128::MAX in one account; report it as no funds.
        d.credit(self, to, amount).map_err(|_| self.balance(from))?;
        let block = d.block();
        Ok((d, block))
    }
}

impl Delta {
    fn get(&self, ledger: &Ledger, key: &str) -> u128 {
        self.balances
            .get(key)
            .copied()
            .unwrap_or_else(|| ledger.balance(key))
    }

    /// Takes `amount` from `key`; fails with its balance when it holds less.
    pub fn debit(&mut self, ledger: &Ledger, key: &str, amount: u128) -> Result<(), u128> {
        let balance = self.get(ledger, key);
        let left = balance.checked_sub(amount).ok_or(balance)?;
        self.balances.insert(key.to_string(), left);
        Ok(())
    }

    /// Adds `amount` to `key`; fails when the balance would pass `u128::MAX`.
    pub fn credit(&mut self, ledger: &Ledger, key: &str, amount: u128) -> Result<(), ()> {
        let balance = self.get(ledger, key).checked_add(amount).ok_or(())?;
        self.balances.insert(key.to_string(), balance);
        Ok(())
    }

    /// Takes the next block index.
    pub fn block(&mut self) -> u64 {
        let b = self.next_block;
        self.next_block += 1;
        b
    }

    /// The new balance of `key` in this delta.
    pub fn balance(&self, ledger: &Ledger, key: &str) -> u128 {
        self.get(ledger, key)
    }

    /// Another blob to commit with this delta.
    pub fn also(&mut self, key: String, value: Option<Vec<u8>>) {
        self.extra.push((key, value));
    }
}

/// ICRC-1 `Account`.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct Account {
    pub owner: Principal,
    pub subaccount: Option<Vec<u8>>,
}

/// ICRC-1 `TransferArg`.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct TransferArg {
    pub from_subaccount: Option<Vec<u8>>,
    pub to: Account,
    pub amount: Nat,
    pub fee: Option<Nat>,
    pub memo: Option<Vec<u8>>,
    pub created_at_time: Option<u64>,
}

/// ICRC-1 `TransferError`.
#[derive(Clone, Debug, CandidType, Deserialize, PartialEq, Eq)]
pub enum TransferError {
    BadFee { expected_fee: Nat },
    BadBurn { min_burn_amount: Nat },
    InsufficientFunds { balance: Nat },
    TooOld,
    CreatedInFuture { ledger_time: u64 },
    TemporarilyUnavailable,
    Duplicate { duplicate_of: Nat },
    GenericError { error_code: Nat, message: String },
}

/// The legacy ICP ledger's `Tokens`.
#[derive(Clone, Copy, Debug, CandidType, Deserialize, PartialEq, Eq)]
pub struct Tokens {
    pub e8s: u64,
}

/// The legacy ICP ledger's `TimeStamp`.
#[derive(Clone, Copy, Debug, CandidType, Deserialize)]
pub struct TimeStamp {
    pub timestamp_nanos: u64,
}

/// The legacy ICP ledger's `TransferArgs`.
#[derive(Clone, Debug, CandidType, Deserialize)]
pub struct LegacyTransferArgs {
    pub memo: u64,
    pub amount: Tokens,
    pub fee: Tokens,
    pub from_subaccount: Option<Vec<u8>>,
    #[serde(with = "serde_bytes")]
    pub to: Vec<u8>,
    pub created_at_time: Option<TimeStamp>,
}

/// The legacy ICP ledger's `TransferError`.
#[derive(Clone, Debug, CandidType, Deserialize, PartialEq, Eq)]
pub enum LegacyTransferError {
    BadFee { expected_fee: Tokens },
    InsufficientFunds { balance: Tokens },
    TxTooOld { allowed_window_nanos: u64 },
    TxCreatedInFuture,
    TxDuplicate { duplicate_of: u64 },
}

/// A legacy ICP transfer the CMC may be notified of, kept as `system/icp/block/<index>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CmcBlock {
    /// The destination account identifier, hex.
    pub to: String,
    pub amount: u64,
    pub memo: u64,
}

/// A subaccount argument as 32 bytes (`None` is all zeros).
pub(crate) fn subaccount(
    canister: SystemCanister,
    sub: &Option<Vec<u8>>,
) -> Result<[u8; 32], UserError> {
    match sub {
        None => Ok([0; 32]),
        Some(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            UserError::new(
                ErrorCode::CanisterCalledTrap,
                format!(
                    "Canister {} trapped: a subaccount must be 32 bytes, not {}",
                    canister.id(),
                    bytes.len()
                ),
            )
        }),
    }
}

/// The balance key of an ICRC-1 account on `canister`'s ledger.
fn account_key(canister: SystemCanister, account: &Account) -> Result<String, UserError> {
    let sub = subaccount(canister, &account.subaccount)?;
    Ok(match canister {
        SystemCanister::IcpLedger => icp_key(&account_identifier(&account.owner, &sub)),
        _ => cycles_key(&account.owner, &sub),
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn account_identifier_of_the_anonymous_default_account() {
        // The ICP ledger's account identifier of `2vxsx-fae` with the default subaccount.
        assert_eq!(
            hex::encode(account_identifier(&Principal::anonymous(), &[0; 32])),
            "1c7a48ba6a562aa9eaa2481a9049cdf0433b9738c992d698c31d8abf89cadc79"
        );
    }

    #[test]
    fn principal_subaccount_is_length_then_bytes() {
        let p = Principal::anonymous();
        let s = principal_subaccount(&p);
        assert_eq!(s[0], 1);
        assert_eq!(s[1], 4);
        assert!(s[2..].iter().all(|b| *b == 0));
    }
}
