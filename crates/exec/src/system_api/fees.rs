//! The cycle costs returned by `ic0.cost_*`: the IC's fee formulas for a 13-node application
//! subnet (dfinity/ic `rs/cycles_account_manager`, default `CyclesAccountManagerConfig`).

/// Nodes of the subnet drydock pretends to be.
const SUBNET_SIZE: u128 = 13;
/// The reference subnet size the IC's fees are quoted for.
const REFERENCE_SUBNET_SIZE: u128 = 13;

const XNET_CALL_FEE: u128 = 260_000;
const XNET_BYTE_TRANSMISSION_FEE: u128 = 1_000;
const UPDATE_MESSAGE_EXECUTION_FEE: u128 = 5_000_000;
const TEN_UPDATE_INSTRUCTIONS_EXECUTION_FEE: u128 = 4;
/// Instructions reserved for executing the response callback (the limit of a message without
/// deterministic time slicing).
const MAX_RESPONSE_INSTRUCTIONS: u128 = 5_000_000_000;
/// The largest inter-canister response.
const MAX_RESPONSE_BYTES: u128 = 2 * 1024 * 1024;
const CANISTER_CREATION_FEE: u128 = 500_000_000_000;
const HTTP_REQUEST_LINEAR_BASELINE_FEE: u128 = 3_000_000;
const HTTP_REQUEST_QUADRATIC_BASELINE_FEE: u128 = 60_000;
const HTTP_REQUEST_PER_BYTE_FEE: u128 = 400;
const HTTP_RESPONSE_PER_BYTE_FEE: u128 = 800;
/// Threshold signature and vetKD fees: test keys live on a 13-node subnet, `key_1` on the
/// 34-node fiduciary subnet.
const TEST_KEY_FEE: u128 = 10_000_000_000;
const PRODUCTION_KEY_FEE: u128 = 26_153_846_153;

fn scale(fee: u128) -> u128 {
    fee.saturating_mul(SUBNET_SIZE) / REFERENCE_SUBNET_SIZE
}

/// `ic0.cost_call`: base fee, request bytes, the reservation for the largest response and for
/// executing its callback.
pub(crate) fn call(method_name_size: u64, payload_size: u64) -> u128 {
    let bytes = u128::from(method_name_size).saturating_add(u128::from(payload_size));
    let transmission = XNET_CALL_FEE
        .saturating_add(XNET_BYTE_TRANSMISSION_FEE.saturating_mul(bytes))
        .saturating_add(XNET_BYTE_TRANSMISSION_FEE.saturating_mul(MAX_RESPONSE_BYTES));
    let execution = UPDATE_MESSAGE_EXECUTION_FEE
        + TEN_UPDATE_INSTRUCTIONS_EXECUTION_FEE * MAX_RESPONSE_INSTRUCTIONS / 10;
    scale(transmission.saturating_add(execution))
}

/// `ic0.cost_create_canister`.
pub(crate) fn create_canister() -> u128 {
    scale(CANISTER_CREATION_FEE)
}

/// `ic0.cost_http_request`.
pub(crate) fn http_request(request_size: u64, max_res_bytes: u64) -> u128 {
    let n = SUBNET_SIZE;
    let base = (HTTP_REQUEST_LINEAR_BASELINE_FEE + HTTP_REQUEST_QUADRATIC_BASELINE_FEE * n) * n;
    base.saturating_add((HTTP_REQUEST_PER_BYTE_FEE * n).saturating_mul(u128::from(request_size)))
        .saturating_add((HTTP_RESPONSE_PER_BYTE_FEE * n).saturating_mul(u128::from(max_res_bytes)))
}

/// Which threshold scheme a `cost_*` call asks about.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scheme {
    Ecdsa,
    Schnorr,
    VetKd,
}

/// The spec's return codes of `cost_sign_with_*` and `cost_vetkd_derive_key`.
pub(crate) const COST_OK: u32 = 0;
pub(crate) const COST_UNKNOWN_CURVE: u32 = 1;
pub(crate) const COST_UNKNOWN_KEY: u32 = 2;

/// The fee for one signature or key derivation, or the spec's error code.
pub(crate) fn threshold(scheme: Scheme, curve: u32, key_name: &str) -> Result<u128, u32> {
    let curve_known = match scheme {
        // secp256k1
        Scheme::Ecdsa => curve == 0,
        // bip340secp256k1, ed25519
        Scheme::Schnorr => curve <= 1,
        // bls12_381_g2
        Scheme::VetKd => curve == 0,
    };
    if !curve_known {
        return Err(COST_UNKNOWN_CURVE);
    }
    match key_name {
        "key_1" => Ok(PRODUCTION_KEY_FEE),
        "test_key_1" | "dfx_test_key" => Ok(TEST_KEY_FEE),
        _ => Err(COST_UNKNOWN_KEY),
    }
}
