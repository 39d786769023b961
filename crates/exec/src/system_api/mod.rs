//! The `ic0` System API: the host functions a canister imports, as the IC interface spec
//! defines them (dfinity/developer-docs `docs/references/ic-interface-spec/canister-interface.md`,
//! "Overview of imports"), with the IC's error texts where we found them (dfinity/ic
//! `rs/embedders/src/wasmtime_embedder/system_api.rs`).
//!
//! # Shape
//! [`link`] defines every function of the spec in one linker: the embedder builds one linker
//! for wasm32 modules and one for memory64 modules. The spec's rule for the width:
//! - Parameters and results written `I` in the spec (heap pointers, offsets and sizes of blobs)
//!   are i32 for wasm32 modules and i64 for memory64 modules.
//! - Everything else keeps its fixed type (`stable64_*` are i64 throughout, cycle amounts are
//!   i64 pairs, `msg_reject_code`, `canister_status`, `performance_counter`'s type,
//!   `call_with_best_effort_response`'s timeout and the `cost_*` curve are i32, `time`,
//!   `global_timer_set`, `msg_deadline` and `canister_version` are i64).
//! - The spec's second list (`msg_cycles_available`, `msg_cycles_refunded`,
//!   `msg_cycles_accept`, `canister_cycle_balance`, `call_cycles_add`, `stable_size`,
//!   `stable_grow`, `stable_read`, `stable_write`) exists only for wasm32 modules, as the IC's
//!   validation (`get_valid_system_apis_32_only`) also has it.
//!
//! # Every call
//! 1. No message ([`StoreData::api`] is `None`): traps (`debug_print` does nothing instead).
//! 2. Charges its instructions (the IC's overhead plus per-byte costs) from the store's fuel;
//!    too little fuel traps with [`HostTrap::InstructionLimit`].
//! 3. Checks the spec's availability for the running [`EntryKind`] and traps with the IC's
//!    `"ic0_<name>" cannot be executed in <mode> mode` otherwise.
//! 4. Does its work. Heap ranges are checked ([`HostTrap::HeapOutOfBounds`]); nothing the
//!    canister passes can make this code panic.
//!
//! The heap is the memory instrumentation exports as [`HEAP_EXPORT`]; a module without memory
//! has an empty heap.

use std::ops::Range;

use wasmtime::{Caller, Extern, Linker};

use crate::context::{Closure, EntryKind, Outcome, OutgoingCall, StoreData, SystemApiState};
use crate::error::HostTrap;
use crate::memory::checked_range;
use crate::metering::DIRTY_PAGE_COST;
use crate::stable::StableMemory;

pub mod fees;
mod link;
mod principal;
mod table;

use link::{link_common, link_wasm32_only};

use table::*;

/// The name under which instrumentation exports the canister's memory.
pub const HEAP_EXPORT: &str = "__drydock_memory";

/// Instructions charged per byte sent out of the canister (replies, rejects, call payloads):
/// the IC's `BYTE_TRANSMISSION_COST_FACTOR`.
const BYTE_TRANSMISSION_COST: u64 = 50;
/// The largest reply in replicated execution (`MAX_INTER_CANISTER_PAYLOAD_IN_BYTES`).
const MAX_REPLY_REPLICATED: u64 = 2 * 1024 * 1024;
/// The largest reply of a query run as a query.
const MAX_REPLY_NON_REPLICATED: u64 = 3 * 1024 * 1024;
/// The most bytes of certified data.
const CERTIFIED_DATA_MAX: u64 = 32;
/// `debug_print` and `trap` messages are cut to this many bytes, as on the IC.
const MAX_MESSAGE: u64 = 32 * 1024;
/// The canister log capacity the IC's logging charge is bounded by.
const LOG_CAPACITY: u64 = 4 * 1024;
/// 4 GiB in 64 KiB pages: the most the 32-bit stable memory API can address.
const MAX_32_BIT_STABLE_PAGES: u64 = 65536;
/// The longest environment variable name.
const MAX_ENV_VAR_NAME: u64 = 100;

type Res<T> = wasmtime::Result<T>;

/// A Wasm pointer or size: `u32` for wasm32 modules, `u64` for memory64 modules.
pub(crate) trait Ptr: wasmtime::WasmTy + Copy + Send + Sync + 'static {
    fn get(self) -> u64;
    /// A size for a `*_size` result; traps if it does not fit.
    fn from_size(n: usize, sys: &Sys) -> Result<Self, HostTrap>;
}

impl Ptr for u32 {
    fn get(self) -> u64 {
        u64::from(self)
    }
    fn from_size(n: usize, sys: &Sys) -> Result<Self, HostTrap> {
        u32::try_from(n).map_err(|_| {
            contract(format!(
                "ic0.{}: the size {n} does not fit in an i32",
                sys.name
            ))
        })
    }
}

impl Ptr for u64 {
    fn get(self) -> u64 {
        self
    }
    fn from_size(n: usize, sys: &Sys) -> Result<Self, HostTrap> {
        u64::try_from(n).map_err(|_| {
            contract(format!(
                "ic0.{}: the size {n} does not fit in an i64",
                sys.name
            ))
        })
    }
}

/// Defines every `ic0` function of the spec in `linker`, with `I = i64` when `memory64`.
pub fn link(linker: &mut Linker<StoreData>, memory64: bool) -> wasmtime::Result<()> {
    if memory64 {
        link_common::<u64>(linker)
    } else {
        link_common::<u32>(linker)?;
        link_wasm32_only(linker)
    }
}

/// The names (in module `ic0`) of every function [`link`] may define, wasm32-only ones included.
pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|s| s.name).collect()
}

/// The names [`link`] defines for one kind of module.
pub fn names_for(memory64: bool) -> Vec<&'static str> {
    ALL.iter()
        .filter(|s| !memory64 || s.width == Width::Both)
        .map(|s| s.name)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The common steps of every call.

fn contract(msg: impl Into<String>) -> HostTrap {
    HostTrap::ContractViolation(msg.into())
}

fn outside(sys: &Sys) -> HostTrap {
    contract(format!("\"ic0_{}\" called outside of a message", sys.name))
}

fn not_available(api: &SystemApiState, sys: &Sys) -> HostTrap {
    contract(format!(
        "\"ic0_{}\" cannot be executed in {} mode",
        sys.name,
        mode_name(api.kind, &api.env.method_name)
    ))
}

/// Takes `cost` instructions from the store's fuel. Without fuel metering this does nothing.
fn charge(caller: &mut Caller<'_, StoreData>, cost: u64, limit: u64) -> Result<(), HostTrap> {
    let Ok(fuel) = caller.get_fuel() else {
        return Ok(());
    };
    match fuel.checked_sub(cost) {
        Some(left) => {
            let _ = caller.set_fuel(left);
            Ok(())
        }
        None => {
            let _ = caller.set_fuel(0);
            Err(HostTrap::InstructionLimit { limit })
        }
    }
}

/// Steps 1 to 3 of the module docs.
fn enter(caller: &mut Caller<'_, StoreData>, sys: &Sys, bytes_cost: u64) -> Result<(), HostTrap> {
    let limit = caller
        .data()
        .api
        .as_ref()
        .ok_or_else(|| outside(sys))?
        .instruction_limit;
    charge(caller, sys.overhead.saturating_add(bytes_cost), limit)?;
    let api = caller.data().api.as_ref().ok_or_else(|| outside(sys))?;
    if sys.avail & bit(api.kind) == 0 {
        return Err(not_available(api, sys));
    }
    Ok(())
}

fn parts<'a>(
    data: &'a mut StoreData,
    sys: &Sys,
) -> Result<(&'a mut SystemApiState, &'a mut StableMemory), HostTrap> {
    let StoreData { api, stable, .. } = data;
    match api {
        Some(api) => Ok((api, stable)),
        None => Err(outside(sys)),
    }
}

fn with_heap<R>(
    caller: &mut Caller<'_, StoreData>,
    f: impl FnOnce(&mut [u8], &mut StoreData) -> Result<R, HostTrap>,
) -> Result<R, HostTrap> {
    match caller.get_export(HEAP_EXPORT) {
        Some(Extern::Memory(mem)) => {
            let (heap, data) = mem.data_and_store_mut(&mut *caller);
            f(heap, data)
        }
        _ => f(&mut [], caller.data_mut()),
    }
}

/// Runs a function that does not touch the heap.
fn run<R>(
    caller: &mut Caller<'_, StoreData>,
    sys: &Sys,
    bytes_cost: u64,
    f: impl FnOnce(&mut SystemApiState, &mut StableMemory) -> Result<R, HostTrap>,
) -> Res<R> {
    enter(caller, sys, bytes_cost)
        .and_then(|()| {
            let (api, stable) = parts(caller.data_mut(), sys)?;
            f(api, stable)
        })
        .map_err(wasmtime::Error::new)
}

/// Runs a function with the heap.
fn run_heap<R>(
    caller: &mut Caller<'_, StoreData>,
    sys: &Sys,
    bytes_cost: u64,
    f: impl FnOnce(&mut [u8], &mut SystemApiState, &mut StableMemory) -> Result<R, HostTrap>,
) -> Res<R> {
    enter(caller, sys, bytes_cost)
        .and_then(|()| {
            with_heap(caller, |heap, data| {
                let (api, stable) = parts(data, sys)?;
                f(heap, api, stable)
            })
        })
        .map_err(wasmtime::Error::new)
}

/// The longest timeout of a best-effort call, in seconds (the IC caps it at 300).
const MAX_CALL_TIMEOUT_SECONDS: u32 = 300;

/// The call under assembly, or the IC's trap when there is none.
fn building<'a>(api: &'a mut SystemApiState, name: &str) -> Result<&'a mut OutgoingCall, HostTrap> {
    api.building.as_mut().ok_or_else(|| {
        contract(format!(
            "ic0.{name}: no call is being assembled (call ic0.call_new first)"
        ))
    })
}

/// Moves `amount` cycles from the balance to the call under assembly.
fn add_call_cycles(api: &mut SystemApiState, amount: u128, name: &str) -> Result<(), HostTrap> {
    let have = balance(api);
    let threshold = api.env.freezing_threshold;
    if amount > have.saturating_sub(threshold) {
        return Err(contract(format!(
            "ic0.{name}: Canister {} is out of cycles: requested {amount} cycles but the available balance is {have} cycles and the freezing threshold {threshold} cycles",
            principal::to_text(&api.env.canister_id)
        )));
    }
    let call = building(api, name)?;
    call.cycles = call.cycles.saturating_add(amount);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Heap access.

fn heap_range(heap: &[u8], ptr: u64, len: u64) -> Result<Range<usize>, HostTrap> {
    checked_range(ptr, len, heap.len() as u64).ok_or(HostTrap::HeapOutOfBounds)
}

fn read_heap(heap: &[u8], ptr: u64, len: u64) -> Result<&[u8], HostTrap> {
    let range = heap_range(heap, ptr, len)?;
    heap.get(range).ok_or(HostTrap::HeapOutOfBounds)
}

fn write_heap(heap: &mut [u8], ptr: u64, bytes: &[u8]) -> Result<(), HostTrap> {
    let range = heap_range(heap, ptr, bytes.len() as u64)?;
    heap.get_mut(range)
        .ok_or(HostTrap::HeapOutOfBounds)?
        .copy_from_slice(bytes);
    Ok(())
}

fn write_u128(heap: &mut [u8], ptr: u64, value: u128) -> Result<(), HostTrap> {
    write_heap(heap, ptr, &value.to_le_bytes())
}

/// The `*_copy` idiom: `size` bytes of `src` from `offset` to the heap at `dst`.
fn copy_out(
    heap: &mut [u8],
    dst: u64,
    src: &[u8],
    offset: u64,
    size: u64,
    sys: &Sys,
) -> Result<(), HostTrap> {
    let to = heap_range(heap, dst, size)?;
    let from = checked_range(offset, size, src.len() as u64).ok_or_else(|| {
        contract(format!(
            "ic0.{}: src={offset} + length={size} exceeds the slice size={}",
            sys.name,
            src.len()
        ))
    })?;
    let (Some(to), Some(from)) = (heap.get_mut(to), src.get(from)) else {
        return Err(HostTrap::HeapOutOfBounds);
    };
    to.copy_from_slice(from);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Blobs read with the `*_size` / `*_copy` idiom.

type Source = for<'a, 'b> fn(&'a SystemApiState, &'b Sys) -> Result<&'a [u8], HostTrap>;

fn src_arg<'a>(api: &'a SystemApiState, _: &Sys) -> Result<&'a [u8], HostTrap> {
    Ok(&api.env.arg)
}

fn src_caller<'a>(api: &'a SystemApiState, _: &Sys) -> Result<&'a [u8], HostTrap> {
    Ok(&api.env.caller)
}

/// Caller info: what a request's canister-signed `sender_info` attested (empty for every other
/// caller, as the spec says).
fn src_caller_info_data<'a>(api: &'a SystemApiState, _: &Sys) -> Result<&'a [u8], HostTrap> {
    Ok(&api.env.caller_info_data)
}

/// The canister that signed the caller info (empty without caller info).
fn src_caller_info_signer<'a>(api: &'a SystemApiState, _: &Sys) -> Result<&'a [u8], HostTrap> {
    Ok(&api.env.caller_info_signer)
}

fn src_reject_msg<'a>(api: &'a SystemApiState, sys: &Sys) -> Result<&'a [u8], HostTrap> {
    match &api.env.reject {
        Some((code, msg)) if *code != 0 => Ok(msg.as_bytes()),
        _ => Err(contract(format!(
            "ic0.{}: there is no reject message",
            sys.name
        ))),
    }
}

fn src_self<'a>(api: &'a SystemApiState, _: &Sys) -> Result<&'a [u8], HostTrap> {
    Ok(&api.env.canister_id)
}

fn src_subnet<'a>(api: &'a SystemApiState, _: &Sys) -> Result<&'a [u8], HostTrap> {
    Ok(&api.env.subnet_id)
}

fn src_method_name<'a>(api: &'a SystemApiState, _: &Sys) -> Result<&'a [u8], HostTrap> {
    Ok(api.env.method_name.as_bytes())
}

fn src_root_key<'a>(api: &'a SystemApiState, _: &Sys) -> Result<&'a [u8], HostTrap> {
    Ok(&api.env.root_key)
}

fn src_certificate<'a>(api: &'a SystemApiState, sys: &Sys) -> Result<&'a [u8], HostTrap> {
    api.env
        .data_certificate
        .as_deref()
        .ok_or_else(|| not_available(api, sys))
}

fn blob<P: Ptr>(linker: &mut Linker<StoreData>, size: Sys, copy: Sys, source: Source) -> Res<()> {
    linker.func_wrap(
        "ic0",
        size.name,
        move |mut c: Caller<'_, StoreData>| -> Res<P> {
            run(&mut c, &size, 0, |api, _| {
                P::from_size(source(api, &size)?.len(), &size)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        copy.name,
        move |mut c: Caller<'_, StoreData>, dst: P, offset: P, n: P| -> Res<()> {
            run_heap(&mut c, &copy, n.get(), |heap, api, _| {
                copy_out(
                    heap,
                    dst.get(),
                    source(api, &copy)?,
                    offset.get(),
                    n.get(),
                    &copy,
                )
            })
        },
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cycles.

fn cycles(high: u64, low: u64) -> u128 {
    (u128::from(high) << 64) | u128::from(low)
}

/// Cycles still available in this call: none once it has been responded to.
fn available(api: &SystemApiState) -> u128 {
    if api.response.is_some() {
        return 0;
    }
    api.env.cycles_available.saturating_sub(api.cycles_accepted)
}

fn accept(api: &mut SystemApiState, max: u128) -> u128 {
    let amount = available(api).min(max);
    api.cycles_accepted = api.cycles_accepted.saturating_add(amount);
    amount
}

/// The balance as the canister sees it: what it had, plus what it accepted in this message,
/// less what it attached to calls (performed, or under assembly).
fn balance(api: &SystemApiState) -> u128 {
    let attached = api.building.as_ref().map_or(0, |c| c.cycles);
    api.env
        .cycles_balance
        .saturating_add(api.cycles_accepted)
        .saturating_sub(api.cycles_sent)
        .saturating_sub(api.call_fees_prepaid)
        .saturating_sub(attached)
}

/// What `call_perform` returns when the call is not made (SYS_TRANSIENT).
const CALL_PERFORM_FAILED: i32 = 2;

fn to_u64(amount: u128) -> Result<u64, HostTrap> {
    u64::try_from(amount).map_err(|_| contract("cycles amount exceeds 64-bit representation"))
}

fn mint_trap(api: &SystemApiState, name: &str) -> HostTrap {
    let cmc = principal::to_text(&principal::CYCLES_MINTING_CANISTER);
    if api.env.canister_id == principal::CYCLES_MINTING_CANISTER {
        contract(format!("ic0.{name} is not supported by drydock"))
    } else {
        contract(format!(
            "ic0.{name} cannot be executed on non Cycles Minting Canister: {} != {cmc}",
            principal::to_text(&api.env.canister_id)
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Responses.

fn max_reply(kind: EntryKind) -> u64 {
    match kind {
        EntryKind::Query | EntryKind::CompositeQuery => MAX_REPLY_NON_REPLICATED,
        _ => MAX_REPLY_REPLICATED,
    }
}

// ---------------------------------------------------------------------------------------------
// Stable memory.

/// Writes `size` bytes from the heap at `src` into stable memory at `offset`; returns the
/// pages it wrote for the first time in this execution (each costs [`DIRTY_PAGE_COST`]).
fn stable_write(
    heap: &[u8],
    api: &mut SystemApiState,
    stable: &mut StableMemory,
    offset: u64,
    src: u64,
    size: u64,
) -> Result<u64, HostTrap> {
    checked_range(offset, size, stable.size_bytes()).ok_or(HostTrap::StableOutOfBounds)?;
    let data = read_heap(heap, src, size)?;
    let dirtied = api.stable_pages.touch(offset, size, true)?;
    stable.write(offset, data)?;
    Ok(dirtied)
}

fn stable_read(
    heap: &mut [u8],
    api: &mut SystemApiState,
    stable: &StableMemory,
    dst: u64,
    offset: u64,
    size: u64,
) -> Result<(), HostTrap> {
    checked_range(offset, size, stable.size_bytes()).ok_or(HostTrap::StableOutOfBounds)?;
    let range = heap_range(heap, dst, size)?;
    api.stable_pages.touch(offset, size, false)?;
    stable.read(
        offset,
        heap.get_mut(range).ok_or(HostTrap::HeapOutOfBounds)?,
    )
}

/// `stable_write` or `stable64_write`: the write, then the charge for the pages it dirtied.
fn run_stable_write(
    caller: &mut Caller<'_, StoreData>,
    sys: &Sys,
    (offset, src, size): (u64, u64, u64),
    wasm32: bool,
) -> Res<()> {
    let dirtied = run_heap(caller, sys, size, |heap, api, stable| {
        if wasm32 {
            check_stable32(stable)?;
        }
        stable_write(heap, api, stable, offset, src, size)
    })?;
    let limit = caller
        .data()
        .api
        .as_ref()
        .map_or(0, |a| a.instruction_limit);
    charge(caller, dirtied.saturating_mul(DIRTY_PAGE_COST), limit).map_err(wasmtime::Error::new)
}

fn check_stable32(stable: &StableMemory) -> Result<u64, HostTrap> {
    let pages = stable.size_pages();
    if pages > MAX_32_BIT_STABLE_PAGES {
        return Err(contract(
            "32 bit stable memory api used on a memory larger than 4GB",
        ));
    }
    Ok(pages)
}

// ---------------------------------------------------------------------------------------------
// Environment variables.

/// The canister's environment variables, sorted by name (the settings'
/// `environment_variables`).
fn env_vars(api: &SystemApiState) -> &[(String, String)] {
    &api.env.env_vars
}

fn env_var_index<'a>(
    api: &'a SystemApiState,
    index: u64,
    sys: &Sys,
) -> Result<&'a (String, String), HostTrap> {
    let vars = env_vars(api);
    usize::try_from(index)
        .ok()
        .and_then(|i| vars.get(i))
        .ok_or_else(|| {
            contract(format!(
                "ic0.{}: index {index} is out of bounds: there are {} environment variables",
                sys.name,
                vars.len()
            ))
        })
}

fn env_var_name<'h>(heap: &'h [u8], src: u64, size: u64, sys: &Sys) -> Result<&'h str, HostTrap> {
    if size > MAX_ENV_VAR_NAME {
        return Err(contract(format!(
            "ic0.{}: Variable name is too large.",
            sys.name
        )));
    }
    let bytes = read_heap(heap, src, size)?;
    std::str::from_utf8(bytes).map_err(|_| {
        contract(format!(
            "ic0.{}: Variable name is not a valid UTF-8 string.",
            sys.name
        ))
    })
}

fn env_var_value<'a>(api: &'a SystemApiState, name: &str, sys: &Sys) -> Result<&'a str, HostTrap> {
    env_vars(api)
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| {
            contract(format!(
                "ic0.{}: environment variable \"{name}\" not found",
                sys.name
            ))
        })
}

// ---------------------------------------------------------------------------------------------
// Threshold key costs.

fn cost_threshold(
    heap: &mut [u8],
    src: u64,
    size: u64,
    curve: u32,
    dst: u64,
    scheme: fees::Scheme,
) -> Result<u32, HostTrap> {
    heap_range(heap, dst, 16)?;
    let bytes = read_heap(heap, src, size)?;
    let name = std::str::from_utf8(bytes).map_err(|_| {
        contract(format!(
            "Failed to decode key name {}",
            String::from_utf8_lossy(bytes)
        ))
    })?;
    match fees::threshold(scheme, curve, name) {
        Ok(fee) => {
            write_u128(heap, dst, fee)?;
            Ok(fees::COST_OK)
        }
        Err(code) => Ok(code),
    }
}

// ---------------------------------------------------------------------------------------------
// The functions.
