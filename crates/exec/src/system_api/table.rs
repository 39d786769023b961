//! The spec's table of `ic0` functions: where each may be called (the "Overview of imports"
//! availability comments), what a call costs in instructions, and which functions exist only
//! for wasm32 modules.
//!
//! Source: dfinity/developer-docs `docs/references/ic-interface-spec/canister-interface.md`,
//! section "Overview of imports". Overheads follow the IC's
//! `rs/embedders/src/wasmtime_embedder/system_api_complexity.rs` (`overhead` module; for stable
//! memory the `overhead_native` one: size 0, grow 100, read and write 20, as the IC replaces
//! these functions with Wasm code of its own). `mint_cycles*` are not charged by the IC.

use crate::context::EntryKind;

/// A set of entry point kinds, one bit per letter of the spec's availability comments.
pub(crate) type Avail = u16;

/// `(start)`.
pub(crate) const S: Avail = 1 << 0;
/// `canister_init` or `canister_post_upgrade`.
pub(crate) const I: Avail = 1 << 1;
/// `canister_pre_upgrade`.
pub(crate) const G: Avail = 1 << 2;
/// `canister_update`.
pub(crate) const U: Avail = 1 << 3;
/// `canister_query` in replicated mode.
pub(crate) const RQ: Avail = 1 << 4;
/// `canister_query` in non-replicated mode.
pub(crate) const NRQ: Avail = 1 << 5;
/// `canister_composite_query`.
pub(crate) const CQ: Avail = 1 << 6;
/// A reply callback.
pub(crate) const RY: Avail = 1 << 7;
/// A reject callback.
pub(crate) const RT: Avail = 1 << 8;
/// A cleanup callback.
pub(crate) const C: Avail = 1 << 9;
/// A system task (heartbeat, global timer, low-memory hook).
pub(crate) const T: Avail = 1 << 10;
/// `canister_inspect_message`.
pub(crate) const F: Avail = 1 << 11;
/// The spec's `*`: everything but `(start)`. (TQ, CRy, CRt and CC have no [`EntryKind`] of
/// their own: composite-query callbacks run as Ry/Rt/C here.)
pub(crate) const STAR: Avail = I | G | U | RQ | NRQ | CQ | RY | RT | C | T | F;

/// The bit of an entry point kind.
pub(crate) fn bit(kind: EntryKind) -> Avail {
    match kind {
        EntryKind::Start => S,
        EntryKind::Init | EntryKind::PostUpgrade => I,
        EntryKind::PreUpgrade => G,
        EntryKind::Update => U,
        EntryKind::ReplicatedQuery => RQ,
        EntryKind::Query => NRQ,
        EntryKind::CompositeQuery => CQ,
        EntryKind::ReplyCallback => RY,
        EntryKind::RejectCallback => RT,
        EntryKind::Cleanup => C,
        EntryKind::SystemTask => T,
        EntryKind::InspectMessage => F,
    }
}

/// The name the IC uses for an entry point kind in "cannot be executed in ... mode"
/// (`ApiType::as_str` in dfinity/ic `rs/embedders/src/wasmtime_embedder/system_api.rs`).
pub(crate) fn mode_name(kind: EntryKind, method_name: &str) -> &'static str {
    match kind {
        EntryKind::Start => "start",
        // The IC runs canister_post_upgrade with ApiType::Init.
        EntryKind::Init | EntryKind::PostUpgrade => "init",
        EntryKind::PreUpgrade => "pre upgrade",
        EntryKind::Update => "update",
        EntryKind::ReplicatedQuery => "replicated query",
        EntryKind::Query => "non replicated query",
        EntryKind::CompositeQuery => "composite query",
        EntryKind::ReplyCallback => "reply callback",
        EntryKind::RejectCallback => "reject callback",
        EntryKind::Cleanup => "cleanup",
        EntryKind::InspectMessage => "inspect message",
        EntryKind::SystemTask => {
            if method_name.contains("heartbeat") {
                "heartbeat"
            } else if method_name.contains("global_timer") {
                "global timer"
            } else if method_name.contains("low_wasm_memory") {
                "on low Wasm memory"
            } else {
                "system task"
            }
        }
    }
}

/// Which linkers define a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    /// Both; pointers and sizes (`I` in the spec) are i32 or i64 after the memory.
    Both,
    /// Only for wasm32 modules (or modules without memory): the spec's second list.
    Only32,
}

/// One `ic0` function.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sys {
    /// The name in module `ic0`.
    pub name: &'static str,
    /// Where it may be called.
    pub avail: Avail,
    /// The fixed instruction cost of a call (per-byte costs are added by the caller).
    pub overhead: u64,
    pub width: Width,
}

macro_rules! sys_table {
    ($($id:ident = $name:literal, $avail:expr, $overhead:expr, $width:ident;)*) => {
        $(pub(crate) const $id: Sys = Sys { name: $name, avail: $avail, overhead: $overhead, width: Width::$width };)*
        /// Every function, in the spec's order.
        pub(crate) const ALL: &[Sys] = &[$($id),*];
    };
}

sys_table! {
    MSG_ARG_DATA_SIZE = "msg_arg_data_size", I | U | RQ | NRQ | CQ | RY | F, 500, Both;
    MSG_ARG_DATA_COPY = "msg_arg_data_copy", I | U | RQ | NRQ | CQ | RY | F, 500, Both;
    MSG_CALLER_SIZE = "msg_caller_size", STAR, 500, Both;
    MSG_CALLER_COPY = "msg_caller_copy", STAR, 500, Both;
    MSG_CALLER_INFO_DATA_SIZE = "msg_caller_info_data_size", U | RQ | NRQ | CQ | RY | RT | C | F, 500, Both;
    MSG_CALLER_INFO_DATA_COPY = "msg_caller_info_data_copy", U | RQ | NRQ | CQ | RY | RT | C | F, 500, Both;
    MSG_CALLER_INFO_SIGNER_SIZE = "msg_caller_info_signer_size", U | RQ | NRQ | CQ | RY | RT | C | F, 500, Both;
    MSG_CALLER_INFO_SIGNER_COPY = "msg_caller_info_signer_copy", U | RQ | NRQ | CQ | RY | RT | C | F, 500, Both;
    MSG_REJECT_CODE = "msg_reject_code", RY | RT | C, 500, Both;
    MSG_REJECT_MSG_SIZE = "msg_reject_msg_size", RT, 500, Both;
    MSG_REJECT_MSG_COPY = "msg_reject_msg_copy", RT, 500, Both;
    // The spec writes "U Q CQ Ry Rt CRy CRt"; Q is read as RQ and NRQ.
    MSG_DEADLINE = "msg_deadline", U | RQ | NRQ | CQ | RY | RT, 500, Both;
    MSG_REPLY_DATA_APPEND = "msg_reply_data_append", U | RQ | NRQ | CQ | RY | RT, 500, Both;
    MSG_REPLY = "msg_reply", U | RQ | NRQ | CQ | RY | RT, 500, Both;
    MSG_REJECT = "msg_reject", U | RQ | NRQ | CQ | RY | RT, 500, Both;
    MSG_CYCLES_AVAILABLE128 = "msg_cycles_available128", U | RQ | RT | RY, 500, Both;
    MSG_CYCLES_REFUNDED128 = "msg_cycles_refunded128", RT | RY, 500, Both;
    MSG_CYCLES_ACCEPT128 = "msg_cycles_accept128", U | RQ | RT | RY, 500, Both;
    CYCLES_BURN128 = "cycles_burn128", I | G | U | RQ | RY | RT | C | T, 500, Both;
    CANISTER_SELF_SIZE = "canister_self_size", STAR, 500, Both;
    CANISTER_SELF_COPY = "canister_self_copy", STAR, 500, Both;
    CANISTER_CYCLE_BALANCE128 = "canister_cycle_balance128", STAR, 500, Both;
    CANISTER_LIQUID_CYCLE_BALANCE128 = "canister_liquid_cycle_balance128", STAR, 500, Both;
    CANISTER_STATUS = "canister_status", STAR, 500, Both;
    CANISTER_VERSION = "canister_version", STAR, 500, Both;
    SUBNET_SELF_SIZE = "subnet_self_size", STAR, 500, Both;
    SUBNET_SELF_COPY = "subnet_self_copy", STAR, 500, Both;
    MSG_METHOD_NAME_SIZE = "msg_method_name_size", F, 500, Both;
    MSG_METHOD_NAME_COPY = "msg_method_name_copy", F, 500, Both;
    ACCEPT_MESSAGE = "accept_message", F, 500, Both;
    CALL_NEW = "call_new", U | CQ | RY | RT | T, 1_500, Both;
    CALL_ON_CLEANUP = "call_on_cleanup", U | CQ | RY | RT | T, 500, Both;
    CALL_DATA_APPEND = "call_data_append", U | CQ | RY | RT | T, 500, Both;
    CALL_WITH_BEST_EFFORT_RESPONSE = "call_with_best_effort_response", U | CQ | RY | RT | T, 500, Both;
    CALL_CYCLES_ADD128 = "call_cycles_add128", U | RY | RT | T, 500, Both;
    CALL_PERFORM = "call_perform", U | CQ | RY | RT | T, 5_000, Both;
    STABLE64_SIZE = "stable64_size", STAR | S, 0, Both;
    STABLE64_GROW = "stable64_grow", STAR | S, 100, Both;
    STABLE64_WRITE = "stable64_write", STAR | S, 20, Both;
    STABLE64_READ = "stable64_read", STAR | S, 20, Both;
    ROOT_KEY_SIZE = "root_key_size", I | G | U | RQ | RY | RT | C | T, 500, Both;
    ROOT_KEY_COPY = "root_key_copy", I | G | U | RQ | RY | RT | C | T, 500, Both;
    CERTIFIED_DATA_SET = "certified_data_set", I | G | U | RY | RT | T, 500, Both;
    DATA_CERTIFICATE_PRESENT = "data_certificate_present", STAR, 500, Both;
    DATA_CERTIFICATE_SIZE = "data_certificate_size", NRQ | CQ, 500, Both;
    DATA_CERTIFICATE_COPY = "data_certificate_copy", NRQ | CQ, 500, Both;
    TIME = "time", STAR, 500, Both;
    GLOBAL_TIMER_SET = "global_timer_set", I | G | U | RY | RT | C | T, 500, Both;
    PERFORMANCE_COUNTER = "performance_counter", STAR | S, 200, Both;
    IS_CONTROLLER = "is_controller", STAR | S, 1_000, Both;
    IN_REPLICATED_EXECUTION = "in_replicated_execution", STAR | S, 500, Both;
    COST_CALL = "cost_call", STAR | S, 500, Both;
    COST_CREATE_CANISTER = "cost_create_canister", STAR | S, 500, Both;
    COST_HTTP_REQUEST = "cost_http_request", STAR | S, 500, Both;
    COST_SIGN_WITH_ECDSA = "cost_sign_with_ecdsa", STAR | S, 500, Both;
    COST_SIGN_WITH_SCHNORR = "cost_sign_with_schnorr", STAR | S, 500, Both;
    COST_VETKD_DERIVE_KEY = "cost_vetkd_derive_key", STAR | S, 500, Both;
    ENV_VAR_COUNT = "env_var_count", STAR, 500, Both;
    ENV_VAR_NAME_SIZE = "env_var_name_size", STAR, 500, Both;
    ENV_VAR_NAME_COPY = "env_var_name_copy", STAR, 500, Both;
    ENV_VAR_NAME_EXISTS = "env_var_name_exists", STAR, 500, Both;
    ENV_VAR_VALUE_SIZE = "env_var_value_size", STAR, 500, Both;
    ENV_VAR_VALUE_COPY = "env_var_value_copy", STAR, 500, Both;
    DEBUG_PRINT = "debug_print", STAR | S, 100, Both;
    TRAP = "trap", STAR | S, 500, Both;
    // Not in the spec: the IC's Cycles Minting Canister function (availability as the IC's).
    MINT_CYCLES128 = "mint_cycles128", U | RY | RT | T, 0, Both;
    // The IC's older CMC function; its validation lists it for both widths.
    MINT_CYCLES = "mint_cycles", U | RY | RT | T, 0, Both;
    // The spec's "only available if I = i32" list.
    MSG_CYCLES_AVAILABLE = "msg_cycles_available", U | RQ | RT | RY, 500, Only32;
    MSG_CYCLES_REFUNDED = "msg_cycles_refunded", RT | RY, 500, Only32;
    MSG_CYCLES_ACCEPT = "msg_cycles_accept", U | RQ | RT | RY, 500, Only32;
    CANISTER_CYCLE_BALANCE = "canister_cycle_balance", STAR, 500, Only32;
    CALL_CYCLES_ADD = "call_cycles_add", U | RY | RT | T, 500, Only32;
    STABLE_SIZE = "stable_size", STAR | S, 0, Only32;
    STABLE_GROW = "stable_grow", STAR | S, 100, Only32;
    STABLE_WRITE = "stable_write", STAR | S, 20, Only32;
    STABLE_READ = "stable_read", STAR | S, 20, Only32;
}
