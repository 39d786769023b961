//! A canister that asks drydock's upgrader canister for its own upgrade. Its one value lives
//! in stable memory (a `StableCell`), so an upgrade keeps it with no `pre_upgrade`.
//! Features build the next versions: `v2`, `unhealthy` (health check fails) and `post_trap`
//! (`post_upgrade` traps).

use std::cell::RefCell;

use candid::{CandidType, Principal};
use ic_cdk::call::Call;
use ic_stable_structures::{DefaultMemoryImpl, StableCell};
use serde::Deserialize;
use serde_bytes::ByteBuf;

/// The Candid interface, as the custom section `icp:public candid:service`.
const CANDID_LEN: usize = include_bytes!("../selfup.did").len();
#[used]
#[unsafe(link_section = "icp:public candid:service")]
static CANDID_SERVICE: [u8; CANDID_LEN] = *include_bytes!("../selfup.did");

thread_local! {
    static VALUE: RefCell<StableCell<u64, DefaultMemoryImpl>> =
        RefCell::new(StableCell::init(DefaultMemoryImpl::default(), 0));
}

#[derive(CandidType, Deserialize, Clone)]
struct HealthCheck {
    method: String,
    arg: ByteBuf,
    expected_reply: Option<ByteBuf>,
}

#[derive(CandidType)]
struct UpgradeRequest {
    canister_id: Principal,
    wasm_module: ByteBuf,
    arg: ByteBuf,
    health_check: Option<HealthCheck>,
}

#[ic_cdk::update]
fn set(v: u64) {
    VALUE.with(|c| c.borrow_mut().set(v));
}

#[ic_cdk::query]
fn get() -> u64 {
    VALUE.with(|c| *c.borrow().get())
}

#[ic_cdk::query]
fn version() -> String {
    if cfg!(feature = "unhealthy") {
        "v2-unhealthy".into()
    } else if cfg!(feature = "post_trap") {
        "v2-post-trap".into()
    } else if cfg!(feature = "v2") {
        "v2".into()
    } else {
        "v1".into()
    }
}

#[ic_cdk::query]
fn health() -> String {
    if cfg!(feature = "unhealthy") {
        "sick".into()
    } else {
        "ok".into()
    }
}

#[ic_cdk::post_upgrade]
fn post_upgrade() {
    if cfg!(feature = "post_trap") {
        ic_cdk::trap("selfup post_upgrade: this version always traps");
    }
}

/// Seed 001: upgrades itself through the management canister (it must be its own controller).
/// The response to this call comes back to the new module, as on the IC.
#[ic_cdk::update]
async fn install_self(wasm_module: ByteBuf) {
    let args = ic_cdk_management_canister::InstallCodeArgs {
        mode: ic_cdk_management_canister::CanisterInstallMode::Upgrade(None),
        canister_id: ic_cdk::api::canister_self(),
        wasm_module: wasm_module.into_vec(),
        arg: candid::encode_args(()).unwrap(),
    };
    if let Err(e) = ic_cdk_management_canister::install_code(&args).await {
        ic_cdk::trap(format!("install_code on itself: {e}"));
    }
}

#[ic_cdk::update]
async fn upgrade_me(
    upgrader: Principal,
    wasm_module: ByteBuf,
    health_check: Option<HealthCheck>,
) -> u64 {
    let req = UpgradeRequest {
        canister_id: ic_cdk::api::canister_self(),
        wasm_module,
        arg: ByteBuf::from(candid::encode_args(()).unwrap()),
        health_check,
    };
    match Call::unbounded_wait(upgrader, "request_upgrade")
        .with_arg(req)
        .await
    {
        Ok(reply) => reply
            .candid::<u64>()
            .unwrap_or_else(|e| ic_cdk::trap(format!("request_upgrade replied: {e}"))),
        Err(e) => ic_cdk::trap(format!("request_upgrade: {e}")),
    }
}
