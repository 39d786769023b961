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

use crate::context::{EntryKind, Outcome, StoreData, SystemApiState};
use crate::error::HostTrap;
use crate::memory::checked_range;
use crate::stable::StableMemory;

mod fees;
mod principal;
mod table;

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

fn unsupported<R>(name: &'static str) -> Result<R, HostTrap> {
    Err(HostTrap::CallsUnsupported(name))
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

/// Caller info is only set for callers authenticated by canister signatures; drydock has no
/// such callers, so it is always empty (as the spec says for every other caller).
fn src_empty<'a>(_: &'a SystemApiState, _: &Sys) -> Result<&'a [u8], HostTrap> {
    Ok(&[])
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

/// The balance as the canister sees it: what it had, plus what it accepted in this message.
fn balance(api: &SystemApiState) -> u128 {
    api.env.cycles_balance.saturating_add(api.cycles_accepted)
}

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

/// Counts `size` bytes against the per-message stable memory access limit.
fn stable_access(api: &mut SystemApiState, size: u64) -> Result<(), HostTrap> {
    let accessed = api.stable_accessed.saturating_add(size);
    if accessed > api.limits.stable_access_max {
        return Err(HostTrap::StableAccessLimit {
            limit: api.limits.stable_access_max,
        });
    }
    api.stable_accessed = accessed;
    Ok(())
}

fn stable_write(
    heap: &[u8],
    api: &mut SystemApiState,
    stable: &mut StableMemory,
    offset: u64,
    src: u64,
    size: u64,
) -> Result<(), HostTrap> {
    checked_range(offset, size, stable.size_bytes()).ok_or(HostTrap::StableOutOfBounds)?;
    let data = read_heap(heap, src, size)?;
    stable_access(api, size)?;
    stable.write(offset, data)
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
    stable_access(api, size)?;
    stable.read(
        offset,
        heap.get_mut(range).ok_or(HostTrap::HeapOutOfBounds)?,
    )
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

/// The canister's environment variables, sorted by name. `MessageEnv` does not carry them
/// yet, so a canister sees none.
fn env_vars(_api: &SystemApiState) -> &[(String, String)] {
    &[]
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

fn link_common<P: Ptr>(linker: &mut Linker<StoreData>) -> Res<()> {
    // Method arguments and caller.
    blob::<P>(linker, MSG_ARG_DATA_SIZE, MSG_ARG_DATA_COPY, src_arg)?;
    blob::<P>(linker, MSG_CALLER_SIZE, MSG_CALLER_COPY, src_caller)?;
    blob::<P>(
        linker,
        MSG_CALLER_INFO_DATA_SIZE,
        MSG_CALLER_INFO_DATA_COPY,
        src_empty,
    )?;
    blob::<P>(
        linker,
        MSG_CALLER_INFO_SIGNER_SIZE,
        MSG_CALLER_INFO_SIGNER_COPY,
        src_empty,
    )?;
    linker.func_wrap(
        "ic0",
        MSG_REJECT_CODE.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &MSG_REJECT_CODE, 0, |api, _| {
                Ok(match api.kind {
                    EntryKind::RejectCallback | EntryKind::Cleanup => {
                        api.env.reject.as_ref().map_or(0, |(code, _)| *code as i32)
                    }
                    _ => 0,
                })
            })
        },
    )?;
    blob::<P>(
        linker,
        MSG_REJECT_MSG_SIZE,
        MSG_REJECT_MSG_COPY,
        src_reject_msg,
    )?;
    linker.func_wrap(
        "ic0",
        MSG_DEADLINE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            // Bounded-wait calls do not exist (yet), so every call has the deadline 0.
            run(&mut c, &MSG_DEADLINE, 0, |_, _| Ok(0))
        },
    )?;

    // Responding.
    linker.func_wrap(
        "ic0",
        MSG_REPLY_DATA_APPEND.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            run_heap(&mut c, &MSG_REPLY_DATA_APPEND, size.saturating_mul(BYTE_TRANSMISSION_COST), |heap, api, _| {
                if api.response.is_some() {
                    return Err(contract("ic0.msg_reply_data_append: the call is already replied."));
                }
                let max = max_reply(api.kind);
                let total = (api.reply_buf.len() as u64).saturating_add(size);
                if total > max {
                    return Err(contract(format!(
                        "ic0.msg_reply_data_append: application payload size ({total}) cannot be larger than {max}."
                    )));
                }
                api.reply_buf.extend_from_slice(read_heap(heap, src, size)?);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_REPLY.name,
        |mut c: Caller<'_, StoreData>| -> Res<()> {
            run(&mut c, &MSG_REPLY, 0, |api, _| {
                if api.response.is_some() {
                    return Err(contract("ic0.msg_reply: the call is already replied"));
                }
                api.response = Some(Outcome::Reply(std::mem::take(&mut api.reply_buf)));
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_REJECT.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            run_heap(
                &mut c,
                &MSG_REJECT,
                size.saturating_mul(BYTE_TRANSMISSION_COST),
                |heap, api, _| {
                    if api.response.is_some() {
                        return Err(contract("ic0.msg_reject: the call is already replied"));
                    }
                    let max = max_reply(api.kind);
                    if size > max {
                        return Err(contract(format!(
                    "ic0.msg_reject: application payload size ({size}) cannot be larger than {max}."
                )));
                    }
                    let msg = std::str::from_utf8(read_heap(heap, src, size)?)
                        .map_err(|_| contract("ic0.msg_reject: invalid UTF-8 string provided"))?
                        .to_string();
                    api.reply_buf.clear();
                    api.response = Some(Outcome::Reject(msg));
                    Ok(())
                },
            )
        },
    )?;

    // Cycles of the call.
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_AVAILABLE128.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            run_heap(&mut c, &MSG_CYCLES_AVAILABLE128, 0, |heap, api, _| {
                write_u128(heap, dst.get(), available(api))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_REFUNDED128.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            run_heap(&mut c, &MSG_CYCLES_REFUNDED128, 0, |heap, api, _| {
                write_u128(heap, dst.get(), api.env.cycles_refunded)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_ACCEPT128.name,
        |mut c: Caller<'_, StoreData>, high: u64, low: u64, dst: P| -> Res<()> {
            run_heap(&mut c, &MSG_CYCLES_ACCEPT128, 0, |heap, api, _| {
                heap_range(heap, dst.get(), 16)?;
                let amount = accept(api, cycles(high, low));
                write_u128(heap, dst.get(), amount)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CYCLES_BURN128.name,
        |mut c: Caller<'_, StoreData>, high: u64, low: u64, dst: P| -> Res<()> {
            run_heap(&mut c, &CYCLES_BURN128, 0, |heap, api, _| {
                heap_range(heap, dst.get(), 16)?;
                // Burned cycles leave the balance the message started with; the embedder
                // reads the new balance back from `api.env.cycles_balance`.
                let burned = cycles(high, low).min(api.env.cycles_balance);
                api.env.cycles_balance -= burned;
                write_u128(heap, dst.get(), burned)
            })
        },
    )?;

    // The canister itself.
    blob::<P>(linker, CANISTER_SELF_SIZE, CANISTER_SELF_COPY, src_self)?;
    linker.func_wrap(
        "ic0",
        CANISTER_CYCLE_BALANCE128.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            run_heap(&mut c, &CANISTER_CYCLE_BALANCE128, 0, |heap, api, _| {
                write_u128(heap, dst.get(), balance(api))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CANISTER_LIQUID_CYCLE_BALANCE128.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            // No freezing threshold or reservations are modelled: all of the balance is liquid.
            run_heap(
                &mut c,
                &CANISTER_LIQUID_CYCLE_BALANCE128,
                0,
                |heap, api, _| write_u128(heap, dst.get(), balance(api)),
            )
        },
    )?;
    linker.func_wrap(
        "ic0",
        CANISTER_STATUS.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &CANISTER_STATUS, 0, |api, _| {
                // 0 is no status; an unset field means running.
                Ok(match api.env.canister_status {
                    0 => 1,
                    s => i32::try_from(s).unwrap_or(1),
                })
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CANISTER_VERSION.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &CANISTER_VERSION, 0, |api, _| {
                Ok(api.env.canister_version)
            })
        },
    )?;
    blob::<P>(linker, SUBNET_SELF_SIZE, SUBNET_SELF_COPY, src_subnet)?;

    // Ingress message inspection.
    blob::<P>(
        linker,
        MSG_METHOD_NAME_SIZE,
        MSG_METHOD_NAME_COPY,
        src_method_name,
    )?;
    linker.func_wrap(
        "ic0",
        ACCEPT_MESSAGE.name,
        |mut c: Caller<'_, StoreData>| -> Res<()> {
            run(&mut c, &ACCEPT_MESSAGE, 0, |api, _| {
                if api.accepted {
                    return Err(contract(
                        "ic0.accept_message: the function was already called.",
                    ));
                }
                api.accepted = true;
                Ok(())
            })
        },
    )?;

    // Inter-canister calls: available where the spec says, then unsupported.
    linker.func_wrap(
        "ic0",
        CALL_NEW.name,
        |mut c: Caller<'_, StoreData>,
         _callee_src: P,
         callee_size: P,
         _name_src: P,
         name_size: P,
         _reply_fun: P,
         _reply_env: P,
         _reject_fun: P,
         _reject_env: P|
         -> Res<()> {
            let bytes = callee_size.get().saturating_add(name_size.get());
            run(&mut c, &CALL_NEW, bytes, |_, _| unsupported("call_new"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_ON_CLEANUP.name,
        |mut c: Caller<'_, StoreData>, _fun: P, _env: P| -> Res<()> {
            run(&mut c, &CALL_ON_CLEANUP, 0, |_, _| {
                unsupported("call_on_cleanup")
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_DATA_APPEND.name,
        |mut c: Caller<'_, StoreData>, _src: P, size: P| -> Res<()> {
            let cost = size.get().saturating_mul(BYTE_TRANSMISSION_COST);
            run(&mut c, &CALL_DATA_APPEND, cost, |_, _| {
                unsupported("call_data_append")
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_WITH_BEST_EFFORT_RESPONSE.name,
        |mut c: Caller<'_, StoreData>, _timeout_seconds: u32| -> Res<()> {
            run(&mut c, &CALL_WITH_BEST_EFFORT_RESPONSE, 0, |_, _| {
                unsupported("call_with_best_effort_response")
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_CYCLES_ADD128.name,
        |mut c: Caller<'_, StoreData>, _high: u64, _low: u64| -> Res<()> {
            run(&mut c, &CALL_CYCLES_ADD128, 0, |_, _| {
                unsupported("call_cycles_add128")
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_PERFORM.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &CALL_PERFORM, 0, |_, _| unsupported("call_perform"))
        },
    )?;

    // 64-bit stable memory.
    linker.func_wrap(
        "ic0",
        STABLE64_SIZE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &STABLE64_SIZE, 0, |_, stable| {
                Ok(stable.size_pages())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE64_GROW.name,
        |mut c: Caller<'_, StoreData>, pages: u64| -> Res<u64> {
            run(&mut c, &STABLE64_GROW, 0, |api, stable| {
                Ok(stable
                    .grow(pages, api.limits.stable_max)
                    .unwrap_or(u64::MAX))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE64_WRITE.name,
        |mut c: Caller<'_, StoreData>, offset: u64, src: u64, size: u64| -> Res<()> {
            run_heap(&mut c, &STABLE64_WRITE, size, |heap, api, stable| {
                stable_write(heap, api, stable, offset, src, size)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE64_READ.name,
        |mut c: Caller<'_, StoreData>, dst: u64, offset: u64, size: u64| -> Res<()> {
            run_heap(&mut c, &STABLE64_READ, size, |heap, api, stable| {
                stable_read(heap, api, stable, dst, offset, size)
            })
        },
    )?;

    // Certification.
    blob::<P>(linker, ROOT_KEY_SIZE, ROOT_KEY_COPY, src_root_key)?;
    linker.func_wrap(
        "ic0",
        CERTIFIED_DATA_SET.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            run_heap(&mut c, &CERTIFIED_DATA_SET, size, |heap, api, _| {
                if size > CERTIFIED_DATA_MAX {
                    return Err(contract(format!(
                    "ic0_certified_data_set failed because the passed data must be no larger than \
                     {CERTIFIED_DATA_MAX} bytes. Found {size} bytes."
                )));
                }
                api.certified_data = read_heap(heap, src, size)?.to_vec();
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        DATA_CERTIFICATE_PRESENT.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &DATA_CERTIFICATE_PRESENT, 0, |api, _| {
                let queried = matches!(api.kind, EntryKind::Query | EntryKind::CompositeQuery);
                Ok(i32::from(queried && api.env.data_certificate.is_some()))
            })
        },
    )?;
    blob::<P>(
        linker,
        DATA_CERTIFICATE_SIZE,
        DATA_CERTIFICATE_COPY,
        src_certificate,
    )?;

    // Time, timer, counters.
    linker.func_wrap(
        "ic0",
        TIME.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &TIME, 0, |api, _| Ok(api.env.time_nanos))
        },
    )?;
    linker.func_wrap(
        "ic0",
        GLOBAL_TIMER_SET.name,
        |mut c: Caller<'_, StoreData>, timestamp: u64| -> Res<u64> {
            run(&mut c, &GLOBAL_TIMER_SET, 0, |api, _| {
                Ok(std::mem::replace(&mut api.global_timer, timestamp))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        PERFORMANCE_COUNTER.name,
        |mut c: Caller<'_, StoreData>, kind: u32| -> Res<u64> {
            let sys = &PERFORMANCE_COUNTER;
            enter(&mut c, sys, 0).map_err(wasmtime::Error::new)?;
            let fuel = c.get_fuel().ok();
            let (api, _) = parts(c.data_mut(), sys).map_err(wasmtime::Error::new)?;
            match kind {
                // Type 1 (the call context) equals type 0 while calls are unsupported: every call
                // context lives for one message.
                0 | 1 => Ok(fuel.map_or(0, |f| api.instruction_limit.saturating_sub(f))),
                _ => Err(wasmtime::Error::new(contract(format!(
                    "Error getting performance counter type {kind}"
                )))),
            }
        },
    )?;
    linker.func_wrap(
        "ic0",
        IS_CONTROLLER.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<i32> {
            let (src, size) = (src.get(), size.get());
            run_heap(&mut c, &IS_CONTROLLER, size, |heap, api, _| {
                let bytes = read_heap(heap, src, size)?;
                if bytes.len() > principal::MAX_PRINCIPAL_BYTES {
                    return Err(contract(format!(
                    "ic0.is_controller: invalid principal id of {} bytes (at most {} are allowed)",
                    bytes.len(),
                    principal::MAX_PRINCIPAL_BYTES
                )));
                }
                Ok(i32::from(
                    api.env.controllers.iter().any(|c| c.as_slice() == bytes),
                ))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        IN_REPLICATED_EXECUTION.name,
        |mut c: Caller<'_, StoreData>| -> Res<i32> {
            run(&mut c, &IN_REPLICATED_EXECUTION, 0, |api, _| {
                Ok(i32::from(api.kind.is_replicated()))
            })
        },
    )?;

    // Cycle costs.
    linker.func_wrap(
        "ic0",
        COST_CALL.name,
        |mut c: Caller<'_, StoreData>,
         method_name_size: u64,
         payload_size: u64,
         dst: P|
         -> Res<()> {
            run_heap(&mut c, &COST_CALL, 0, |heap, _, _| {
                write_u128(heap, dst.get(), fees::call(method_name_size, payload_size))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        COST_CREATE_CANISTER.name,
        |mut c: Caller<'_, StoreData>, dst: P| -> Res<()> {
            run_heap(&mut c, &COST_CREATE_CANISTER, 0, |heap, _, _| {
                write_u128(heap, dst.get(), fees::create_canister())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        COST_HTTP_REQUEST.name,
        |mut c: Caller<'_, StoreData>, request_size: u64, max_res_bytes: u64, dst: P| -> Res<()> {
            run_heap(&mut c, &COST_HTTP_REQUEST, 0, |heap, _, _| {
                write_u128(
                    heap,
                    dst.get(),
                    fees::http_request(request_size, max_res_bytes),
                )
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        COST_SIGN_WITH_ECDSA.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P, curve: u32, dst: P| -> Res<u32> {
            run_heap(&mut c, &COST_SIGN_WITH_ECDSA, size.get(), |heap, _, _| {
                cost_threshold(
                    heap,
                    src.get(),
                    size.get(),
                    curve,
                    dst.get(),
                    fees::Scheme::Ecdsa,
                )
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        COST_SIGN_WITH_SCHNORR.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P, algorithm: u32, dst: P| -> Res<u32> {
            run_heap(&mut c, &COST_SIGN_WITH_SCHNORR, size.get(), |heap, _, _| {
                cost_threshold(
                    heap,
                    src.get(),
                    size.get(),
                    algorithm,
                    dst.get(),
                    fees::Scheme::Schnorr,
                )
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        COST_VETKD_DERIVE_KEY.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P, curve: u32, dst: P| -> Res<u32> {
            run_heap(&mut c, &COST_VETKD_DERIVE_KEY, size.get(), |heap, _, _| {
                cost_threshold(
                    heap,
                    src.get(),
                    size.get(),
                    curve,
                    dst.get(),
                    fees::Scheme::VetKd,
                )
            })
        },
    )?;

    // Environment variables.
    linker.func_wrap(
        "ic0",
        ENV_VAR_COUNT.name,
        |mut c: Caller<'_, StoreData>| -> Res<P> {
            run(&mut c, &ENV_VAR_COUNT, 0, |api, _| {
                P::from_size(env_vars(api).len(), &ENV_VAR_COUNT)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_NAME_SIZE.name,
        |mut c: Caller<'_, StoreData>, index: P| -> Res<P> {
            let sys = &ENV_VAR_NAME_SIZE;
            run(&mut c, sys, 0, |api, _| {
                P::from_size(env_var_index(api, index.get(), sys)?.0.len(), sys)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_NAME_COPY.name,
        |mut c: Caller<'_, StoreData>, index: P, dst: P, offset: P, size: P| -> Res<()> {
            let sys = &ENV_VAR_NAME_COPY;
            run_heap(&mut c, sys, size.get(), |heap, api, _| {
                let name = env_var_index(api, index.get(), sys)?.0.as_bytes();
                copy_out(heap, dst.get(), name, offset.get(), size.get(), sys)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_NAME_EXISTS.name,
        |mut c: Caller<'_, StoreData>, name_src: P, name_size: P| -> Res<i32> {
            let sys = &ENV_VAR_NAME_EXISTS;
            run_heap(&mut c, sys, name_size.get(), |heap, api, _| {
                let name = env_var_name(heap, name_src.get(), name_size.get(), sys)?;
                Ok(i32::from(env_vars(api).iter().any(|(n, _)| n == name)))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_VALUE_SIZE.name,
        |mut c: Caller<'_, StoreData>, name_src: P, name_size: P| -> Res<P> {
            let sys = &ENV_VAR_VALUE_SIZE;
            run_heap(&mut c, sys, name_size.get(), |heap, api, _| {
                let name = env_var_name(heap, name_src.get(), name_size.get(), sys)?;
                P::from_size(env_var_value(api, name, sys)?.len(), sys)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        ENV_VAR_VALUE_COPY.name,
        |mut c: Caller<'_, StoreData>,
         name_src: P,
         name_size: P,
         dst: P,
         offset: P,
         size: P|
         -> Res<()> {
            let sys = &ENV_VAR_VALUE_COPY;
            run_heap(
                &mut c,
                sys,
                name_size.get().saturating_add(size.get()),
                |heap, api, _| {
                    let name =
                        env_var_name(heap, name_src.get(), name_size.get(), sys)?.to_string();
                    let value = env_var_value(api, &name, sys)?;
                    copy_out(
                        heap,
                        dst.get(),
                        value.as_bytes(),
                        offset.get(),
                        size.get(),
                        sys,
                    )
                },
            )
        },
    )?;

    // Debugging aids.
    linker.func_wrap(
        "ic0",
        DEBUG_PRINT.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            if c.data().api.is_none() {
                return Ok(());
            }
            // The IC's logging charge (2 bytes stored, 50 transmitted per logged byte, bounded by
            // the log capacity) plus the bytes printed.
            let logged = size.min(LOG_CAPACITY);
            let len = size.min(MAX_MESSAGE);
            let cost = logged
                .saturating_mul(2 + BYTE_TRANSMISSION_COST)
                .saturating_add(len);
            run_heap(&mut c, &DEBUG_PRINT, cost, |heap, api, _| {
                // Never traps: an out-of-bounds message is replaced, as on the IC.
                let line = match read_heap(heap, src, len) {
                    Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    Err(_) => "(debug message out of memory bounds)".to_string(),
                };
                api.debug_log.push(line);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        TRAP.name,
        |mut c: Caller<'_, StoreData>, src: P, size: P| -> Res<()> {
            let (src, size) = (src.get(), size.get());
            let len = size.min(MAX_MESSAGE);
            if c.data().api.is_some() {
                enter(&mut c, &TRAP, len).map_err(wasmtime::Error::new)?;
            }
            let message = with_heap(&mut c, |heap, _| {
                Ok(match read_heap(heap, src, len) {
                    Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    Err(_) => "(trap message out of memory bounds)".to_string(),
                })
            })
            .map_err(wasmtime::Error::new)?;
            Err(wasmtime::Error::new(HostTrap::Explicit(message)))
        },
    )?;

    // The Cycles Minting Canister's functions (not in the spec).
    linker.func_wrap(
        "ic0",
        MINT_CYCLES128.name,
        |mut c: Caller<'_, StoreData>, _high: u64, _low: u64, _dst: P| -> Res<()> {
            run(&mut c, &MINT_CYCLES128, 0, |api, _| {
                Err(mint_trap(api, MINT_CYCLES128.name))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MINT_CYCLES.name,
        |mut c: Caller<'_, StoreData>, _amount: u64| -> Res<u64> {
            run(&mut c, &MINT_CYCLES, 0, |api, _| {
                Err(mint_trap(api, MINT_CYCLES.name))
            })
        },
    )?;
    Ok(())
}

/// The spec's functions that exist only when `I = i32`.
fn link_wasm32_only(linker: &mut Linker<StoreData>) -> Res<()> {
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_AVAILABLE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &MSG_CYCLES_AVAILABLE, 0, |api, _| {
                to_u64(available(api))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_REFUNDED.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &MSG_CYCLES_REFUNDED, 0, |api, _| {
                to_u64(api.env.cycles_refunded)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        MSG_CYCLES_ACCEPT.name,
        |mut c: Caller<'_, StoreData>, max: u64| -> Res<u64> {
            // Accepts at most `max`, so the amount always fits.
            run(&mut c, &MSG_CYCLES_ACCEPT, 0, |api, _| {
                to_u64(accept(api, u128::from(max)))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CANISTER_CYCLE_BALANCE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u64> {
            run(&mut c, &CANISTER_CYCLE_BALANCE, 0, |api, _| {
                to_u64(balance(api))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        CALL_CYCLES_ADD.name,
        |mut c: Caller<'_, StoreData>, _amount: u64| -> Res<()> {
            run(&mut c, &CALL_CYCLES_ADD, 0, |_, _| {
                unsupported("call_cycles_add")
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE_SIZE.name,
        |mut c: Caller<'_, StoreData>| -> Res<u32> {
            run(&mut c, &STABLE_SIZE, 0, |_, stable| {
                let pages = check_stable32(stable)?;
                Ok(u32::try_from(pages).unwrap_or(u32::MAX))
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE_GROW.name,
        |mut c: Caller<'_, StoreData>, pages: u32| -> Res<i32> {
            run(&mut c, &STABLE_GROW, 0, |api, stable| {
                let old = check_stable32(stable)?;
                if old.saturating_add(u64::from(pages)) > MAX_32_BIT_STABLE_PAGES {
                    return Ok(-1);
                }
                // `old` is at most 65536, so it fits in an i32.
                Ok(match stable.grow(u64::from(pages), api.limits.stable_max) {
                    Some(old) => i32::try_from(old).unwrap_or(-1),
                    None => -1,
                })
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE_WRITE.name,
        |mut c: Caller<'_, StoreData>, offset: u32, src: u32, size: u32| -> Res<()> {
            let (offset, src, size) = (u64::from(offset), u64::from(src), u64::from(size));
            run_heap(&mut c, &STABLE_WRITE, size, |heap, api, stable| {
                check_stable32(stable)?;
                stable_write(heap, api, stable, offset, src, size)
            })
        },
    )?;
    linker.func_wrap(
        "ic0",
        STABLE_READ.name,
        |mut c: Caller<'_, StoreData>, dst: u32, offset: u32, size: u32| -> Res<()> {
            let (dst, offset, size) = (u64::from(dst), u64::from(offset), u64::from(size));
            run_heap(&mut c, &STABLE_READ, size, |heap, api, stable| {
                check_stable32(stable)?;
                stable_read(heap, api, stable, dst, offset, size)
            })
        },
    )?;
    Ok(())
}
