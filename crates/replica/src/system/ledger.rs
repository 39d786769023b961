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

use super::canisters::{Balances, SystemCanister, GENESIS_CYCLES, GENESIS_ICP_E8S};
use crate::error::{ErrorCode, ReplicaError, UserError};

/// The ICP ledger's transfer fee: 0.0001 ICP.
pub const ICP_FEE_E8S: u64 = 10_000;
/// The cycles ledger's transfer fee: 100 M cycles.
pub const CYCLES_FEE: u128 = 100_000_000;

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
pub(crate) fn account_key(
    canister: SystemCanister,
    account: &Account,
) -> Result<String, UserError> {
    let sub = subaccount(canister, &account.subaccount)?;
    Ok(match canister {
        SystemCanister::IcpLedger => icp_key(&account_identifier(&account.owner, &sub)),
        _ => cycles_key(&account.owner, &sub),
    })
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
    ) -> Result<(SystemState, Option<Delta>, Option<Delta>), ReplicaError> {
        let icp = Ledger::load(store, "system/icp", ICP_FEE_E8S as u128)?;
        let cycles = Ledger::load(store, "system/cycles", CYCLES_FEE)?;
        let anonymous = Principal::anonymous();
        let icp_genesis = (!icp.exists()).then(|| {
            let mut d = icp.delta();
            let key = icp_key(&account_identifier(&anonymous, &[0; 32]));
            // Cannot overflow: the ledger is empty.
            let _ = d.credit(&icp, &key, GENESIS_ICP_E8S as u128);
            d
        });
        let cycles_genesis = (!cycles.exists()).then(|| {
            let mut d = cycles.delta();
            let key = cycles_key(&anonymous, &[0; 32]);
            let _ = d.credit(&cycles, &key, GENESIS_CYCLES);
            d
        });
        Ok((SystemState { icp, cycles }, icp_genesis, cycles_genesis))
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
