//! A canister instance: a wasmtime store and instance over paged memories. It runs one
//! message at a time and reports what the message changed; the caller then either commits
//! (writes the [`StateDelta`] durably, then calls [`Instance::after_commit`]) or rolls back.
//!
//! # Invariants
//! - Between messages the instance equals the committed state: heap and stable pages, their
//!   sizes and the mutable globals.
//! - A rolled-back message that changed the heap size leaves the instance *stale*
//!   ([`Instance::is_stale`]): wasmtime cannot shrink a memory, so the caller drops the instance
//!   and instantiates a new one from the committed state.

use std::sync::Arc;

use wasmtime::{Store, Trap, Val};

use crate::context::HeapLimiter;
use crate::context::{
    Closure, EntryKind, ExecLimits, MessageEnv, Outcome, StoreData, SystemApiState,
};
use crate::engine::{CanisterModule, Engine, HeapSpec, CREATED_HEAP, PENDING_HEAP};
use crate::error::{ExecError, HostTrap};
use crate::memory::{MemoryBacking, PageMemory};
use crate::module::TABLE_EXPORT;
use crate::stable::StableMemory;

/// The value of a mutable global, as saved between processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalValue {
    I32(i32),
    I64(i64),
    /// The bits of an f32.
    F32(u32),
    /// The bits of an f64.
    F64(u64),
    V128(u128),
}

/// Why a message failed. `Display` gives the IC's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CanisterTrap {
    /// A trap raised by the System API or a limit.
    Host(HostTrap),
    /// A Wasm trap (`unreachable`, out-of-bounds access, division by zero, ...).
    Wasm(String),
    /// The instruction budget ran out.
    OutOfInstructions { limit: u64 },
    /// The entry point does not exist.
    MissingExport(String),
}

impl std::fmt::Display for CanisterTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CanisterTrap::Host(HostTrap::InstructionLimit { limit })
            | CanisterTrap::OutOfInstructions { limit } => {
                write!(f, "Canister exceeded the limit of {limit} instructions for single message execution.")
            }
            CanisterTrap::Host(h) => write!(f, "{h}"),
            CanisterTrap::Wasm(w) => write!(f, "Canister trapped: {w}"),
            CanisterTrap::MissingExport(name) => {
                write!(f, "Canister has no exported function `{name}`")
            }
        }
    }
}

/// The result of running one entry point.
#[derive(Debug)]
pub struct Execution {
    /// The response (or none), or the trap.
    pub result: Result<Outcome, CanisterTrap>,
    /// Instructions used.
    pub instructions: u64,
    /// The System API's state at the end: certified data, timer, debug log, ...
    pub api: SystemApiState,
    /// The largest heap size during the message, in bytes.
    pub peak_heap: u64,
}

/// The changes of one memory since the last commit.
#[derive(Debug, Default, Clone)]
pub struct MemoryDelta {
    /// The size in bytes now.
    pub size: u64,
    /// Changed pages: (index, 4096 bytes).
    pub pages: Vec<(u64, Vec<u8>)>,
}

/// Everything a committed message changed in the instance.
#[derive(Debug, Default, Clone)]
pub struct StateDelta {
    pub heap: MemoryDelta,
    pub stable: MemoryDelta,
    /// All mutable globals (by index), whether or not they changed.
    pub globals: Vec<(u32, GlobalValue)>,
}

/// What an execution calls: an export by name, or a callback through the table.
#[derive(Clone, Copy)]
enum Target<'a> {
    Export(&'a str),
    Table(Closure),
}

/// A live instance of a canister module.
pub struct Instance {
    store: Store<StoreData>,
    instance: wasmtime::Instance,
    heap: Option<Arc<PageMemory>>,
    module: Arc<CanisterModule>,
    committed_heap_size: usize,
    committed_stable_size: usize,
    committed_globals: Vec<(u32, GlobalValue)>,
    stale: bool,
    /// The heap holds no uncommitted change (so the pages an execution dirties are exactly
    /// the heap's dirty pages after it).
    clean: bool,
    /// The heap's dirty pages, scanned after the last execution for its dirty-page charge, as
    /// long as nothing has written to the heap since (for [`Instance::delta`]).
    scan: Option<Vec<u64>>,
}

/// Sorts an instantiation failure: a trap (a data or element segment out of bounds) or a
/// memory or table the limits refuse is the module's fault ([`ExecError::Instantiation`]);
/// anything else is drydock's ([`ExecError::Wasmtime`]).
fn instantiation_error(e: wasmtime::Error, refused: Option<String>) -> ExecError {
    if let Some(t) = e.downcast_ref::<Trap>() {
        return ExecError::Instantiation {
            reason: format!("instantiation trapped: {t}"),
        };
    }
    match (refused, e.downcast_ref::<HostTrap>()) {
        (Some(why), _) => ExecError::Instantiation { reason: why },
        (None, Some(t)) => ExecError::Instantiation {
            reason: t.to_string(),
        },
        (None, None) => wasmtime_err(format!("{e:#}")),
    }
}

fn wasmtime_err(e: impl std::fmt::Display) -> ExecError {
    ExecError::Wasmtime(e.to_string())
}

impl Instance {
    /// Instantiates `module` over the given memories.
    ///
    /// With `restore` set (an existing canister, or an upgrade that keeps the heap), the heap is
    /// the committed one: the data segments wasmtime writes while instantiating are discarded
    /// and the saved globals are set. Without it (install, reinstall, an upgrade that replaces
    /// the heap), the heap starts from the data segments and nothing is committed yet.
    pub fn new(
        engine: &Engine,
        module: Arc<CanisterModule>,
        heap: MemoryBacking,
        stable: StableMemory,
        restore: Option<&[(u32, GlobalValue)]>,
        limits: ExecLimits,
    ) -> Result<Self, ExecError> {
        let is_memory64 = module.prepared.is_memory64;
        let heap_max = if is_memory64 {
            limits.heap64_max
        } else {
            limits.heap32_max
        };
        let stable_size = stable.size_bytes() as usize;
        let data = StoreData {
            api: None,
            stable,
            limiter: HeapLimiter {
                limits,
                is_memory64,
                peak: 0,
                refused: None,
            },
        };
        let mut store = Store::new(engine.wasmtime(is_memory64), data);
        store.limiter(|d| &mut d.limiter);
        store.set_fuel(u64::MAX).map_err(wasmtime_err)?;
        let restoring = restore.is_some();
        PENDING_HEAP.with(|p| {
            *p.borrow_mut() = Some(HeapSpec {
                backing: heap,
                max: heap_max,
            })
        });
        CREATED_HEAP.with(|c| *c.borrow_mut() = None);
        let linker = if is_memory64 {
            &engine.linker64
        } else {
            &engine.linker32
        };
        let instance = linker.instantiate(&mut store, &module.module);
        PENDING_HEAP.with(|p| *p.borrow_mut() = None);
        let heap = CREATED_HEAP.with(|c| c.borrow_mut().take());
        let instance = match instance {
            Ok(i) => i,
            Err(e) => return Err(instantiation_error(e, store.data().limiter.refused.clone())),
        };
        let committed_heap_size = heap.as_ref().map(|h| h.size()).unwrap_or(0);
        let mut inst = Instance {
            store,
            instance,
            heap,
            module,
            committed_heap_size,
            committed_stable_size: stable_size,
            committed_globals: Vec::new(),
            stale: false,
            clean: restore.is_some(),
            scan: None,
        };
        if let Some(globals) = restore {
            if let Some(h) = &inst.heap {
                h.rollback(committed_heap_size)?;
            }
            inst.set_globals(globals)?;
            inst.committed_globals = globals.to_vec();
        } else {
            inst.committed_globals = inst.globals();
        }
        let _ = restoring;
        Ok(inst)
    }

    /// The module this instance runs.
    pub fn module(&self) -> &Arc<CanisterModule> {
        &self.module
    }

    /// Whether the instance no longer matches the committed state and must be replaced.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Heap size in bytes.
    pub fn heap_size(&self) -> u64 {
        self.heap.as_ref().map(|h| h.size() as u64).unwrap_or(0)
    }

    /// Stable memory size in bytes.
    pub fn stable_size(&self) -> u64 {
        self.store.data().stable.size_bytes()
    }

    /// Whether the module exports a function of this name.
    pub fn has_export(&mut self, name: &str) -> bool {
        self.instance.get_func(&mut self.store, name).is_some()
    }

    /// The current values of the mutable globals.
    pub fn globals(&mut self) -> Vec<(u32, GlobalValue)> {
        let mut out = Vec::new();
        for &index in &self.module.prepared.mutable_globals {
            let Some(g) = self
                .instance
                .get_global(&mut self.store, &format!("__drydock_global_{index}"))
            else {
                continue;
            };
            let v = match g.get(&mut self.store) {
                Val::I32(v) => GlobalValue::I32(v),
                Val::I64(v) => GlobalValue::I64(v),
                Val::F32(v) => GlobalValue::F32(v),
                Val::F64(v) => GlobalValue::F64(v),
                Val::V128(v) => GlobalValue::V128(v.as_u128()),
                _ => continue,
            };
            out.push((index, v));
        }
        out
    }

    fn set_globals(&mut self, globals: &[(u32, GlobalValue)]) -> Result<(), ExecError> {
        for &(index, value) in globals {
            let Some(g) = self
                .instance
                .get_global(&mut self.store, &format!("__drydock_global_{index}"))
            else {
                return Err(ExecError::Wasmtime(format!(
                    "saved global {index} does not exist in the module"
                )));
            };
            let v = match value {
                GlobalValue::I32(v) => Val::I32(v),
                GlobalValue::I64(v) => Val::I64(v),
                GlobalValue::F32(v) => Val::F32(v),
                GlobalValue::F64(v) => Val::F64(v),
                GlobalValue::V128(v) => Val::V128(v.into()),
            };
            g.set(&mut self.store, v)
                .map_err(|e| ExecError::Wasmtime(format!("restoring global {index}: {e:#}")))?;
        }
        Ok(())
    }

    /// Runs the exported function `export` (e.g. `canister_update put`) as an entry point of
    /// `kind`. Nothing is committed or rolled back: see the module docs.
    pub fn run(
        &mut self,
        export: &str,
        kind: EntryKind,
        env: MessageEnv,
        certified_data: Vec<u8>,
        global_timer: u64,
        limits: ExecLimits,
    ) -> Execution {
        let api = SystemApiState::new(kind, env, certified_data, global_timer, limits);
        self.execute(Target::Export(export), api, limits)
    }

    /// Runs a callback of a call (reply, reject or cleanup): the function at index
    /// `closure.fun` of the module's table, with `closure.env` as its argument, as the IC runs
    /// callbacks. A table index that does not exist (the module changed since the call was
    /// made, say) traps.
    pub fn run_callback(
        &mut self,
        closure: Closure,
        kind: EntryKind,
        env: MessageEnv,
        certified_data: Vec<u8>,
        global_timer: u64,
        limits: ExecLimits,
    ) -> Execution {
        let api = SystemApiState::new(kind, env, certified_data, global_timer, limits);
        self.execute(Target::Table(closure), api, limits)
    }

    fn execute(
        &mut self,
        target: Target<'_>,
        api: SystemApiState,
        limits: ExecLimits,
    ) -> Execution {
        let kind = api.kind;
        let data = self.store.data_mut();
        data.api = Some(api);
        data.limiter.limits = limits;
        data.limiter.peak = self.heap.as_ref().map(|h| h.size() as u64).unwrap_or(0);
        self.scan = None;
        // The pages dirtied before this execution and not committed (install: the data
        // segments, the start function) are not this execution's.
        let before = match (&self.heap, self.clean) {
            (Some(h), false) => h.dirty_pages().ok(),
            _ => Some(Vec::new()),
        };
        self.clean = false;
        let fuel_ok = self.store.set_fuel(limits.instructions).is_ok();
        let result = if fuel_ok {
            self.call_target(target)
        } else {
            Err(CanisterTrap::Wasm("fuel could not be set".into()))
        };
        let result = result.map_err(|t| match t {
            CanisterTrap::Host(HostTrap::InstructionLimit { .. }) => {
                CanisterTrap::Host(HostTrap::InstructionLimit {
                    limit: limits.instructions,
                })
            }
            other => other,
        });
        let fuel_left = self.store.get_fuel().unwrap_or(0);
        let mut instructions = limits.instructions.saturating_sub(fuel_left);
        let mut result = result;
        if result.is_ok() {
            // Each heap page the execution dirtied is charged after it, as on the IC.
            if let (Some(h), Some(before)) = (&self.heap, before) {
                if let Ok(after) = h.dirty_pages() {
                    let new = count_new(&before, &after);
                    let cost =
                        crate::metering::heap_dirty_page_cost(self.module.prepared.is_memory64);
                    instructions = instructions.saturating_add(new.saturating_mul(cost));
                    if instructions > limits.instructions {
                        result = Err(CanisterTrap::Host(HostTrap::InstructionLimit {
                            limit: limits.instructions,
                        }));
                    }
                    self.scan = Some(after);
                }
            }
        }
        let data = self.store.data_mut();
        let peak_heap = data.limiter.peak;
        let mut api = data.api.take().unwrap_or_else(|| {
            SystemApiState::new(kind, MessageEnv::default(), Vec::new(), 0, limits)
        });
        // A call assembled but never performed is dropped, as on the IC.
        api.building = None;
        if result.is_err() {
            api.calls.clear();
            api.cycles_sent = 0;
        }
        let result = result.map(|()| api.response.take().unwrap_or(Outcome::NoResponse));
        Execution {
            result,
            instructions,
            api,
            peak_heap,
        }
    }

    fn call_target(&mut self, target: Target<'_>) -> Result<(), CanisterTrap> {
        match target {
            Target::Export(export) => {
                let f = self
                    .instance
                    .get_typed_func::<(), ()>(&mut self.store, export)
                    .map_err(|_| CanisterTrap::MissingExport(export.to_string()))?;
                f.call(&mut self.store, ()).map_err(classify)
            }
            Target::Table(closure) => {
                let table = self
                    .instance
                    .get_table(&mut self.store, TABLE_EXPORT)
                    .ok_or_else(|| {
                        CanisterTrap::Host(HostTrap::ContractViolation("table not found".into()))
                    })?;
                let missing = || {
                    CanisterTrap::Wasm(format!(
                        "function invocation does not match its signature: table index {} holds no callback",
                        closure.fun
                    ))
                };
                let func = table
                    .get(&mut self.store, closure.fun)
                    .and_then(|r| r.as_func().flatten().copied())
                    .ok_or_else(missing)?;
                if self.module.prepared.is_memory64 {
                    let f = func.typed::<u64, ()>(&self.store).map_err(|_| missing())?;
                    f.call(&mut self.store, closure.env).map_err(classify)
                } else {
                    let env = u32::try_from(closure.env).map_err(|_| missing())?;
                    let f = func.typed::<u32, ()>(&self.store).map_err(|_| missing())?;
                    f.call(&mut self.store, env).map_err(classify)
                }
            }
        }
    }

    /// Calls the module's start function (moved to an export by intake), if it has one.
    pub fn run_start(&mut self, limits: ExecLimits) -> Option<Execution> {
        if !self.module.prepared.has_start {
            return None;
        }
        Some(self.run(
            "__drydock_start",
            EntryKind::Start,
            MessageEnv::default(),
            Vec::new(),
            0,
            limits,
        ))
    }

    /// What changed since the last commit (or since instantiation, for a fresh instance).
    pub fn delta(&mut self) -> Result<StateDelta, ExecError> {
        let scanned = self.scan.take();
        let heap = match &self.heap {
            Some(h) => MemoryDelta {
                size: h.size() as u64,
                pages: match scanned {
                    Some(pages) => pages,
                    None => h.dirty_pages()?,
                }
                .into_iter()
                .map(|p| (p, h.page(p)))
                .collect(),
            },
            None => MemoryDelta::default(),
        };
        let s = self.store.data().stable.pages();
        let stable = MemoryDelta {
            size: s.size() as u64,
            pages: s
                .dirty_pages()?
                .into_iter()
                .map(|p| (p, s.page(p)))
                .collect(),
        };
        Ok(StateDelta {
            heap,
            stable,
            globals: self.globals(),
        })
    }

    /// Marks `delta` committed: the caller has written its pages into the memory files, which
    /// `heap` and `stable` now name.
    pub fn after_commit(
        &mut self,
        delta: &StateDelta,
        heap: &MemoryBacking,
        stable: &MemoryBacking,
    ) -> Result<(), ExecError> {
        if let Some(h) = &self.heap {
            let pages: Vec<u64> = delta.heap.pages.iter().map(|p| p.0).collect();
            h.after_commit(&pages, heap)?;
            self.committed_heap_size = h.size();
        }
        self.clean = true;
        self.scan = None;
        let pages: Vec<u64> = delta.stable.pages.iter().map(|p| p.0).collect();
        let s = self.store.data().stable.pages();
        s.after_commit(&pages, stable)?;
        self.committed_stable_size = s.size();
        self.committed_globals = delta.globals.clone();
        Ok(())
    }

    /// Takes the stable memory out (for an upgrade, which hands it to the new instance),
    /// leaving an empty one in its place.
    pub fn take_stable(&mut self) -> Result<StableMemory, ExecError> {
        let empty = StableMemory::new(&MemoryBacking::default(), 0)?;
        Ok(std::mem::replace(&mut self.store.data_mut().stable, empty))
    }

    /// Puts back a stable memory taken with [`Self::take_stable`].
    pub fn put_stable(&mut self, stable: StableMemory) {
        self.store.data_mut().stable = stable;
    }

    /// Makes the heap `size` bytes (growing it as `memory.grow` would) and writes `pages`
    /// into it: how an upgrade that keeps the heap carries over what `pre_upgrade` changed.
    pub fn write_heap(&mut self, size: u64, pages: &[(u64, Vec<u8>)]) -> Result<(), ExecError> {
        self.clean = false;
        self.scan = None;
        let Some(mem) = self
            .instance
            .get_memory(&mut self.store, "__drydock_memory")
        else {
            return Err(ExecError::Memory("the module has no memory to keep".into()));
        };
        let page = mem.page_size(&self.store);
        let have = mem.data_size(&self.store) as u64;
        if size > have {
            let delta = (size - have).div_ceil(page);
            mem.grow(&mut self.store, delta)
                .map_err(|e| ExecError::Memory(format!("growing the kept heap: {e:#}")))?;
        }
        let data = mem.data_mut(&mut self.store);
        for (index, bytes) in pages {
            let off = (*index as usize).saturating_mul(crate::memory::PAGE_SIZE);
            let Some(dst) = data.get_mut(off..off + bytes.len()) else {
                return Err(ExecError::Memory(format!(
                    "kept heap page {index} lies outside the heap"
                )));
            };
            dst.copy_from_slice(bytes);
        }
        Ok(())
    }

    /// Discards every change since the last commit.
    pub fn rollback(&mut self) -> Result<(), ExecError> {
        let scanned = self.scan.take();
        self.clean = true;
        if let Some(h) = &self.heap {
            if h.size() != self.committed_heap_size {
                self.stale = true;
            }
            match scanned {
                Some(dirty) => h.rollback_pages(&dirty, self.committed_heap_size)?,
                None => h.rollback(self.committed_heap_size)?,
            }
        }
        self.store
            .data()
            .stable
            .pages()
            .rollback(self.committed_stable_size)?;
        let globals = self.committed_globals.clone();
        self.set_globals(&globals)
    }
}

/// How many of the ascending pages `after` are not in the ascending pages `before`.
fn count_new(before: &[u64], after: &[u64]) -> u64 {
    let mut i = 0;
    let mut new = 0;
    for p in after {
        while i < before.len() && before[i] < *p {
            i += 1;
        }
        if before.get(i) != Some(p) {
            new += 1;
        }
    }
    new
}

fn classify(e: wasmtime::Error) -> CanisterTrap {
    if let Some(h) = e.downcast_ref::<HostTrap>() {
        return CanisterTrap::Host(h.clone());
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        let text = match t {
            Trap::OutOfFuel => return CanisterTrap::Host(HostTrap::InstructionLimit { limit: 0 }),
            Trap::UnreachableCodeReached => "unreachable".to_string(),
            Trap::MemoryOutOfBounds => "heap out of bounds".to_string(),
            Trap::TableOutOfBounds => "table out of bounds".to_string(),
            Trap::IntegerDivisionByZero => "integer division by 0".to_string(),
            Trap::IntegerOverflow => "integer overflow".to_string(),
            Trap::BadConversionToInteger => "invalid conversion to integer".to_string(),
            Trap::StackOverflow => "stack overflow".to_string(),
            Trap::IndirectCallToNull => "indirect call to null".to_string(),
            Trap::BadSignature => "indirect call signature mismatch".to_string(),
            other => other.to_string(),
        };
        return CanisterTrap::Wasm(text);
    }
    CanisterTrap::Wasm(format!("{e:#}"))
}
