//! The IC's fee table for a 13-node application subnet, and the costs built from it: what
//! `ic0.cost_*` returns, and what the replica charges for executions, messages and storage
//! (the developer docs' "Cycles costs"; dfinity/ic `rs/cycles_account_manager`).

/// Nodes of the subnet drydock pretends to be.
const SUBNET_SIZE: u128 = 13;
/// The reference subnet size the IC's fees are quoted for.
const REFERENCE_SUBNET_SIZE: u128 = 13;

/// Per inter-canister request (with its response), paid by the caller.
pub const XNET_CALL_FEE: u128 = 260_000;
/// Per byte of an inter-canister request or response, paid by the caller.
pub const XNET_BYTE_TRANSMISSION_FEE: u128 = 1_000;
/// Per execution of an update method, callback, timer or heartbeat, or an install.
pub const UPDATE_MESSAGE_EXECUTION_FEE: u128 = 5_000_000;
/// Per ten instructions executed (one cycle per instruction).
pub const TEN_UPDATE_INSTRUCTIONS_EXECUTION_FEE: u128 = 10;
/// Per ingress message, paid by the canister it is sent to.
pub const INGRESS_MESSAGE_RECEPTION_FEE: u128 = 1_200_000;
/// Per byte of an ingress message (method name and argument).
pub const INGRESS_BYTE_RECEPTION_FEE: u128 = 2_000;
/// Per GiB of memory per second.
pub const GIB_STORAGE_PER_SECOND_FEE: u128 = 127_000;
/// Per percent of compute allocation per second.
pub const COMPUTE_PERCENT_ALLOCATED_PER_SECOND_FEE: u128 = 10_000_000;
/// Instructions reserved for executing the response callback (the limit of a message without
/// deterministic time slicing).
const MAX_RESPONSE_INSTRUCTIONS: u64 = 5_000_000_000;
/// The largest inter-canister response.
const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;
/// Instructions counted for taking or loading a canister snapshot, before one instruction
/// per byte of the snapshot (the IC's `canister_snapshot_baseline_instructions`).
const SNAPSHOT_BASELINE_INSTRUCTIONS: u64 = 2_000_000_000;
/// Per canister created, taken from the cycles it is created with.
pub const CANISTER_CREATION_FEE: u128 = 500_000_000_000;
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

const GIB: u128 = 1 << 30;
const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// An execution of `instructions` instructions: the base fee and one cycle per instruction.
/// Charged in advance for the instruction limit, and the unused part refunded.
pub fn execution(instructions: u64) -> u128 {
    scale(UPDATE_MESSAGE_EXECUTION_FEE.saturating_add(
        TEN_UPDATE_INSTRUCTIONS_EXECUTION_FEE.saturating_mul(u128::from(instructions)) / 10,
    ))
}

/// Taking a snapshot of `bytes` bytes: one execution of the baseline and a instruction per
/// byte.
pub fn take_snapshot(bytes: u64) -> u128 {
    execution(SNAPSHOT_BASELINE_INSTRUCTIONS.saturating_add(bytes))
}

/// Loading a snapshot of `bytes` bytes: the baseline, then an instruction per byte, charged
/// as two executions (as the IC's canister manager charges them).
pub fn load_snapshot(bytes: u64) -> u128 {
    execution(SNAPSHOT_BASELINE_INSTRUCTIONS).saturating_add(execution(bytes))
}

/// Receiving an ingress message of `bytes` bytes (method name and argument).
pub fn ingress_induction(bytes: usize) -> u128 {
    scale(
        INGRESS_MESSAGE_RECEPTION_FEE
            .saturating_add(INGRESS_BYTE_RECEPTION_FEE.saturating_mul(bytes as u128)),
    )
}

/// Sending an inter-canister request of `bytes` bytes (method name and argument).
pub fn xnet_call(bytes: usize) -> u128 {
    scale(XNET_CALL_FEE.saturating_add(xnet_bytes(bytes)))
}

/// Transmitting `bytes` bytes of an inter-canister message (a response's, paid by the
/// caller when it arrives).
pub fn xnet_bytes(bytes: usize) -> u128 {
    scale(XNET_BYTE_TRANSMISSION_FEE.saturating_mul(bytes as u128))
}

/// Holding `bytes` of memory (and `compute_allocation` percent) for `nanos` nanoseconds.
pub fn resources(bytes: u64, compute_allocation: u64, nanos: u64) -> u128 {
    let nanos = u128::from(nanos);
    let storage = u128::from(bytes)
        .saturating_mul(GIB_STORAGE_PER_SECOND_FEE)
        .saturating_mul(nanos)
        / (GIB * NANOS_PER_SECOND);
    let compute = u128::from(compute_allocation)
        .saturating_mul(COMPUTE_PERCENT_ALLOCATED_PER_SECOND_FEE)
        .saturating_mul(nanos)
        / NANOS_PER_SECOND;
    scale(storage.saturating_add(compute))
}

/// `ic0.cost_call`, and what `call_perform` takes in advance: the request, the reservation
/// for the largest response, and the execution of its callback.
pub fn call(method_name_size: u64, payload_size: u64) -> u128 {
    let bytes =
        usize::try_from(method_name_size.saturating_add(payload_size)).unwrap_or(usize::MAX);
    xnet_call(bytes)
        .saturating_add(xnet_bytes(MAX_RESPONSE_BYTES))
        .saturating_add(callback_execution())
}

/// The part of [`call`] reserved for the callback's execution, given back when the response
/// arrives (the callback then pays for what it executes).
pub fn callback_execution() -> u128 {
    execution(MAX_RESPONSE_INSTRUCTIONS)
}

/// The part of [`call`] reserved for the response's bytes that a response of `bytes` bytes
/// did not use, given back when it arrives.
pub fn unused_response_bytes(bytes: usize) -> u128 {
    xnet_bytes(MAX_RESPONSE_BYTES.saturating_sub(bytes))
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
