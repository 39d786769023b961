//! What the management canister's callers send: the canister a call targets, and which
//! methods the IC refuses over ingress.

use candid::{CandidType, Principal};
use serde::de::DeserializeOwned;

use crate::error::{ErrorCode, UserError};

/// Quotas on the work of decoding a Candid argument from a caller, in candid's cost units
/// (`DecoderConfig::set_decoding_quota`): linear in the argument's size, so that a few bytes
/// cannot ask for a billion-element `vec null` or skip a huge unknown field. A real argument
/// costs a few units a byte.
pub fn candid_decoder_config(arg_len: usize) -> candid::de::DecoderConfig {
    let quota = arg_len.saturating_mul(64).saturating_add(2_000_000);
    let mut config = candid::de::DecoderConfig::new();
    config.set_decoding_quota(quota).set_skipping_quota(quota);
    config
}

/// Decodes a caller's Candid argument within [`candid_decoder_config`].
pub(crate) fn decode_arg<T: DeserializeOwned + CandidType>(arg: &[u8]) -> candid::Result<T> {
    candid::utils::decode_one_with_config(arg, &candid_decoder_config(arg.len()))
}

/// The `canister_id` field of a management call's argument, if it has one. Decoded as a
/// record of that one field, so the other fields are skipped rather than decoded, within
/// [`candid_decoder_config`]: a few bytes cannot make it skip 2^32 nulls. (Candid copies a
/// blob it skips, so a 2 MB slice is still copied once.)
pub fn management_target(arg: &[u8]) -> Option<Principal> {
    #[derive(candid::CandidType, serde::Deserialize)]
    struct Target {
        canister_id: Principal,
    }
    let config = candid_decoder_config(arg.len());
    let mut decoder = candid::de::IDLDeserialize::new_with_config(arg, &config).ok()?;
    let target: Target = decoder.get_value().ok()?;
    Some(target.canister_id)
}

/// The management methods the IC refuses over ingress, with its text (IC0406): they need a
/// canister caller (cycles, a key, or another canister's view), or are not replicated.
pub(crate) fn refuse_over_ingress(method: &str) -> Result<(), UserError> {
    const CANISTERS_ONLY: &[&str] = &[
        "create_canister",
        "canister_info",
        "canister_metadata",
        "ecdsa_public_key",
        "sign_with_ecdsa",
        "schnorr_public_key",
        "sign_with_schnorr",
        "vetkd_public_key",
        "vetkd_derive_key",
        "deposit_cycles",
        "http_request",
        "raw_rand",
        "bitcoin_get_balance",
        "bitcoin_get_utxos",
        "bitcoin_get_block_headers",
        "bitcoin_send_transaction",
        "bitcoin_get_current_fee_percentiles",
        "node_metrics_history",
        "subnet_info",
        "rename_canister",
    ];
    if CANISTERS_ONLY.contains(&method) {
        return Err(UserError::new(
            ErrorCode::CanisterRejectedMessage,
            format!("Only canisters can call ic00 method {method}"),
        ));
    }
    if method == "fetch_canister_logs" {
        return Err(UserError::new(
            ErrorCode::CanisterRejectedMessage,
            "fetch_canister_logs API is not accessible via ingress in replicated mode",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Principal {
        Principal::from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0, 1, 1])
    }

    #[test]
    fn the_target_of_a_2_mb_snapshot_slice_upload_is_found() {
        let arg = candid::encode_one(
            ic_management_canister_types::UploadCanisterSnapshotDataArgs {
                canister_id: id(),
                snapshot_id: vec![0; 16],
                kind: ic_management_canister_types::SnapshotDataOffset::StableMemory { offset: 0 },
                chunk: vec![7; 2_000_000],
            },
        )
        .unwrap();
        assert_eq!(management_target(&arg), Some(id()));
        assert_eq!(management_target(&arg), Some(id()));
    }

    #[test]
    fn a_few_bytes_claiming_2_pow_32_nulls_give_no_target() {
        // `record { canister_id; extra : vec null }`, `extra` last on the wire, claiming 2^32
        // nulls in its last bytes: refused by the skipping quota, not skipped one by one.
        #[derive(CandidType)]
        struct Evil {
            canister_id: Principal,
            extra: Vec<()>,
        }
        let mut arg = candid::encode_one(Evil {
            canister_id: id(),
            extra: vec![(); 4],
        })
        .unwrap();
        assert_eq!(management_target(&arg), Some(id()));
        assert_eq!(arg.pop(), Some(4));
        arg.extend([0x80, 0x80, 0x80, 0x80, 0x10]);
        assert_eq!(management_target(&arg), None);
    }
}
