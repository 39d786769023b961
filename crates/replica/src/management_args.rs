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
/// record of that one field, so the other fields (a 2 MB snapshot slice, a Wasm module) are
/// skipped rather than decoded.
pub fn management_target(arg: &[u8]) -> Option<Principal> {
    #[derive(candid::CandidType, serde::Deserialize)]
    struct Target {
        canister_id: Principal,
    }
    let mut decoder = candid::de::IDLDeserialize::new(arg).ok()?;
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
