//! The baseline of `benches/update_call.rs`: a canister module in bare wasmtime.
//!
//! A plain [`wasmtime::Engine`] with the default configuration (no fuel, wasmtime's own
//! memories), the module exactly as built (no drydock intake or instrumentation), and a
//! [`Linker`] that gives each `ic0` import the least host function that lets the canister run:
//! the argument served from a `Vec`, the reply collected into one, stable memory over a `Vec`,
//! and nothing persisted. Any import this file does not implement is linked to a function
//! that traps naming it, so a module that calls it fails loudly instead of being mismeasured.
//!
//! This is deliberately *outside* drydock's embedding (`drydock-exec`): it is what the same
//! Wasm code costs with no System API bookkeeping, no metering and no durable commit.

use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Engine, Extern, Instance, Linker, Memory, Module, Store};

/// Wasm pages of stable memory the baseline allows (4 GiB: far more than the benches use).
const STABLE_MAX_PAGES: u64 = 1 << 16;
const WASM_PAGE: u64 = 65536;

/// The host side of one instance.
struct Host {
    memory: Option<Memory>,
    arg: Vec<u8>,
    caller: Vec<u8>,
    reply: Vec<u8>,
    replied: bool,
    stable: Vec<u8>,
    certified_data: Vec<u8>,
    global_timer: u64,
}

/// One instance of a canister module in bare wasmtime.
pub struct BareCanister {
    store: Store<Host>,
    instance: Instance,
}

fn trap(msg: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::msg(msg.into())
}

/// The canister's exported memory and the host state, borrowed together.
fn parts<'a>(caller: &'a mut Caller<'_, Host>) -> wasmtime::Result<(&'a mut [u8], &'a mut Host)> {
    let memory = caller
        .data()
        .memory
        .ok_or_else(|| trap("the module exports no memory"))?;
    Ok(memory.data_and_store_mut(caller))
}

fn range(offset: u64, len: u64, size: usize) -> wasmtime::Result<std::ops::Range<usize>> {
    let end = offset
        .checked_add(len)
        .filter(|e| *e <= size as u64)
        .ok_or_else(|| trap("access out of bounds"))?;
    Ok(offset as usize..end as usize)
}

/// Links the `ic0` functions the baseline implements (wasm32 signatures).
fn link_ic0(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    linker.func_wrap("ic0", "msg_arg_data_size", |c: Caller<'_, Host>| -> i32 {
        c.data().arg.len() as i32
    })?;
    linker.func_wrap(
        "ic0",
        "msg_arg_data_copy",
        |mut c: Caller<'_, Host>, dst: i32, off: i32, size: i32| {
            let (mem, host) = parts(&mut c)?;
            let src = range(off as u32 as u64, size as u32 as u64, host.arg.len())?;
            let dst = range(dst as u32 as u64, size as u32 as u64, mem.len())?;
            mem[dst].copy_from_slice(&host.arg[src]);
            Ok(())
        },
    )?;
    linker.func_wrap("ic0", "msg_caller_size", |c: Caller<'_, Host>| -> i32 {
        c.data().caller.len() as i32
    })?;
    linker.func_wrap(
        "ic0",
        "msg_caller_copy",
        |mut c: Caller<'_, Host>, dst: i32, off: i32, size: i32| {
            let (mem, host) = parts(&mut c)?;
            let src = range(off as u32 as u64, size as u32 as u64, host.caller.len())?;
            let dst = range(dst as u32 as u64, size as u32 as u64, mem.len())?;
            mem[dst].copy_from_slice(&host.caller[src]);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "msg_reply_data_append",
        |mut c: Caller<'_, Host>, src: i32, size: i32| {
            let (mem, host) = parts(&mut c)?;
            host.reply
                .extend_from_slice(&mem[range(src as u32 as u64, size as u32 as u64, mem.len())?]);
            Ok(())
        },
    )?;
    linker.func_wrap("ic0", "msg_reply", |mut c: Caller<'_, Host>| {
        c.data_mut().replied = true;
    })?;
    linker.func_wrap(
        "ic0",
        "debug_print",
        |_: Caller<'_, Host>, _src: i32, _size: i32| {},
    )?;
    linker.func_wrap(
        "ic0",
        "trap",
        |mut c: Caller<'_, Host>, src: i32, size: i32| -> wasmtime::Result<()> {
            let (mem, _) = parts(&mut c)?;
            let text = String::from_utf8_lossy(
                &mem[range(src as u32 as u64, size as u32 as u64, mem.len())?],
            )
            .into_owned();
            Err(trap(format!("canister called trap: {text}")))
        },
    )?;
    linker.func_wrap("ic0", "time", |_: Caller<'_, Host>| -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    })?;
    linker.func_wrap(
        "ic0",
        "performance_counter",
        |_: Caller<'_, Host>, _kind: i32| -> i64 { 0 },
    )?;
    linker.func_wrap(
        "ic0",
        "global_timer_set",
        |mut c: Caller<'_, Host>, t: i64| -> i64 {
            std::mem::replace(&mut c.data_mut().global_timer, t as u64) as i64
        },
    )?;
    linker.func_wrap(
        "ic0",
        "certified_data_set",
        |mut c: Caller<'_, Host>, src: i32, size: i32| {
            let (mem, host) = parts(&mut c)?;
            host.certified_data =
                mem[range(src as u32 as u64, size as u32 as u64, mem.len())?].to_vec();
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "data_certificate_present",
        |_: Caller<'_, Host>| -> i32 { 0 },
    )?;
    linker.func_wrap(
        "ic0",
        "data_certificate_size",
        |_: Caller<'_, Host>| -> wasmtime::Result<i32> {
            Err(trap("no data certificate in the bare baseline"))
        },
    )?;
    linker.func_wrap(
        "ic0",
        "data_certificate_copy",
        |_: Caller<'_, Host>, _: i32, _: i32, _: i32| -> wasmtime::Result<()> {
            Err(trap("no data certificate in the bare baseline"))
        },
    )?;
    linker.func_wrap("ic0", "stable64_size", |c: Caller<'_, Host>| -> i64 {
        (c.data().stable.len() as u64 / WASM_PAGE) as i64
    })?;
    linker.func_wrap(
        "ic0",
        "stable64_grow",
        |mut c: Caller<'_, Host>, pages: i64| -> i64 {
            let stable = &mut c.data_mut().stable;
            let old = stable.len() as u64 / WASM_PAGE;
            match old
                .checked_add(pages as u64)
                .filter(|n| *n <= STABLE_MAX_PAGES)
            {
                Some(new) => {
                    stable.resize((new * WASM_PAGE) as usize, 0);
                    old as i64
                }
                None => -1,
            }
        },
    )?;
    linker.func_wrap(
        "ic0",
        "stable64_read",
        |mut c: Caller<'_, Host>, dst: i64, off: i64, size: i64| {
            let (mem, host) = parts(&mut c)?;
            let src = range(off as u64, size as u64, host.stable.len())?;
            let dst = range(dst as u64, size as u64, mem.len())?;
            mem[dst].copy_from_slice(&host.stable[src]);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "ic0",
        "stable64_write",
        |mut c: Caller<'_, Host>, off: i64, src: i64, size: i64| {
            let (mem, host) = parts(&mut c)?;
            let dst = range(off as u64, size as u64, host.stable.len())?;
            let src = range(src as u64, size as u64, mem.len())?;
            host.stable[dst].copy_from_slice(&mem[src]);
            Ok(())
        },
    )?;
    Ok(())
}

impl BareCanister {
    /// Compiles and instantiates `wasm` in a default-configured engine; `caller` is what
    /// `msg_caller_*` report.
    ///
    /// # Errors
    /// When the module does not compile or instantiate, or imports something other than
    /// functions.
    pub fn new(wasm: &[u8], caller: &[u8]) -> wasmtime::Result<Self> {
        let engine = Engine::default();
        let module = Module::new(&engine, wasm)?;
        let mut linker = Linker::new(&engine);
        link_ic0(&mut linker)?;
        let host = Host {
            memory: None,
            arg: Vec::new(),
            caller: caller.to_vec(),
            reply: Vec::new(),
            replied: false,
            stable: Vec::new(),
            certified_data: Vec::new(),
            global_timer: 0,
        };
        let mut store = Store::new(&engine, host);
        for import in module.imports() {
            if linker.get_by_import(&mut store, &import).is_some() {
                continue;
            }
            let Some(ty) = import.ty().func().cloned() else {
                return Err(trap(format!(
                    "import {}.{} is not a function",
                    import.module(),
                    import.name()
                )));
            };
            let name = format!("{}.{}", import.module(), import.name());
            linker.func_new(import.module(), import.name(), ty, move |_, _, _| {
                Err(trap(format!(
                    "{name} is not implemented by the bare-wasmtime baseline"
                )))
            })?;
        }
        let instance = linker.instantiate(&mut store, &module)?;
        let memory = module
            .exports()
            .find_map(|e| e.ty().memory().map(|_| e.name().to_string()));
        store.data_mut().memory =
            match memory.and_then(|name| instance.get_export(&mut store, &name)) {
                Some(Extern::Memory(m)) => Some(m),
                _ => None,
            };
        Ok(BareCanister { store, instance })
    }

    /// Calls the exported function `export` (e.g. `canister_update noop`) with `arg` as the
    /// message argument, and returns the reply.
    ///
    /// # Errors
    /// When the call traps, the export is missing, or the canister did not reply.
    pub fn call(&mut self, export: &str, arg: &[u8]) -> wasmtime::Result<Vec<u8>> {
        let host = self.store.data_mut();
        host.arg.clear();
        host.arg.extend_from_slice(arg);
        host.reply.clear();
        host.replied = false;
        let func = self
            .instance
            .get_typed_func::<(), ()>(&mut self.store, export)?;
        func.call(&mut self.store, ())?;
        let host = self.store.data_mut();
        if !host.replied {
            return Err(trap(format!("{export} did not reply")));
        }
        Ok(std::mem::take(&mut host.reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes its argument; calls `ic0.call_new` (not implemented here) from `canister_update call`.
    const ECHO: &str = r#"(module
        (import "ic0" "msg_arg_data_size" (func $size (result i32)))
        (import "ic0" "msg_arg_data_copy" (func $copy (param i32 i32 i32)))
        (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
        (import "ic0" "msg_reply" (func $reply))
        (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
        (memory (export "memory") 1)
        (func (export "canister_update echo")
            (call $copy (i32.const 0) (i32.const 0) (call $size))
            (call $append (i32.const 0) (call $size))
            (call $reply))
        (func (export "canister_update call")
            (call $call_new (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                            (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))"#;

    #[test]
    fn serves_the_argument_and_collects_the_reply() {
        let mut c = BareCanister::new(ECHO.as_bytes(), b"caller").unwrap();
        assert_eq!(
            c.call("canister_update echo", b"DIDL\x00\x00").unwrap(),
            b"DIDL\x00\x00"
        );
        assert_eq!(
            c.call("canister_update echo", b"second").unwrap(),
            b"second"
        );
    }

    #[test]
    fn an_import_it_does_not_implement_traps_naming_it() {
        let mut c = BareCanister::new(ECHO.as_bytes(), b"caller").unwrap();
        let err = format!("{:#}", c.call("canister_update call", b"").unwrap_err());
        assert!(err.contains("ic0.call_new is not implemented"), "{err}");
    }
}
