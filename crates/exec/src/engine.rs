//! The shared wasmtime engine: its configuration (fuel metering, memory64, our paged heap
//! memories), the System API linkers, and the compiled-module cache.
//!
//! # Metering
//! Instructions are counted with wasmtime *fuel*, each operator at the IC's cost
//! ([`crate::metering`]), and the System API charges the IC's overheads. Fuel is deterministic
//! and needs no rewriting of the module. A loaded or stored byte costs twice as much in a
//! wasm64 module, so there are two wasmtime engines, one per memory width, each with its
//! linker.
//!
//! # Compiled-module cache
//! Modules are compiled once per content: in memory by module hash, and on disk under the
//! cache directory as `<sha256 of the instrumented module>.cwasm`. A cache file that does not
//! match the running engine (another drydock or wasmtime version) is recompiled and replaced.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::{Config, ExternType, LinearMemory, Linker, MemoryCreator, MemoryType, Module};

use crate::context::{StoreData, GIB};
use crate::error::ExecError;
use crate::memory::{MemoryBacking, PageMemory};
use crate::module::{prepare, ModuleError, PreparedModule};

/// Address space reserved for each heap: room for a 6 GiB wasm64 heap without moving, and for
/// wasm32 bounds checks to be elided (4 GiB plus the guard).
const HEAP_RESERVATION: u64 = 8 * GIB;
const HEAP_GUARD: u64 = 2 * GIB;

/// A module that passed intake and is compiled for this engine.
pub struct CanisterModule {
    /// What intake learnt of the module (hash, exports, metadata, ...).
    pub prepared: PreparedModule,
    pub(crate) module: Module,
}

impl std::fmt::Debug for CanisterModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CanisterModule")
            .field("module_hash", &hex::encode(self.prepared.module_hash))
            .finish()
    }
}

/// The wasmtime engine with drydock's configuration.
pub struct Engine {
    pub(crate) engine32: wasmtime::Engine,
    pub(crate) engine64: wasmtime::Engine,
    pub(crate) linker32: Linker<StoreData>,
    pub(crate) linker64: Linker<StoreData>,
    cache_dir: Option<PathBuf>,
    modules: Mutex<HashMap<[u8; 32], Arc<CanisterModule>>>,
}

impl Engine {
    /// An engine whose compiled modules are cached in `cache_dir` (if given).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, ExecError> {
        let engine32 = wasmtime_engine(false)?;
        let engine64 = wasmtime_engine(true)?;
        let mut linker32 = Linker::new(&engine32);
        crate::system_api::link(&mut linker32, false)
            .map_err(|e| ExecError::Wasmtime(format!("{e:#}")))?;
        let mut linker64 = Linker::new(&engine64);
        crate::system_api::link(&mut linker64, true)
            .map_err(|e| ExecError::Wasmtime(format!("{e:#}")))?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).map_err(|source| ExecError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        Ok(Engine {
            engine32,
            engine64,
            linker32,
            linker64,
            cache_dir,
            modules: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a module through intake (decompression, validation, the IC's structural rules,
    /// import check, instrumentation) and compiles it, or returns the cached compilation.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<CanisterModule>, ExecError> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(m) = self
            .modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
        {
            return Ok(m.clone());
        }
        let prepared = prepare(bytes)?;
        let module = self.compile(&prepared.wasm, prepared.is_memory64)?;
        self.check_imports(&module, prepared.is_memory64)?;
        let loaded = Arc::new(CanisterModule { prepared, module });
        self.modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, loaded.clone());
        Ok(loaded)
    }

    /// The wasmtime engine for modules of this memory width.
    pub(crate) fn wasmtime(&self, is_memory64: bool) -> &wasmtime::Engine {
        if is_memory64 {
            &self.engine64
        } else {
            &self.engine32
        }
    }

    fn compile(&self, wasm: &[u8], is_memory64: bool) -> Result<Module, ExecError> {
        let engine = self.wasmtime(is_memory64);
        let key = hex::encode(Sha256::digest(wasm));
        let path = self
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{key}.cwasm")));
        if let Some(path) = &path {
            if path.exists() {
                // SAFETY: the cache directory is drydock's own; wasmtime checks that the
                // artifact was produced by a compatible engine and refuses it otherwise.
                if let Ok(m) = unsafe { Module::deserialize_file(engine, path) } {
                    return Ok(m);
                }
            }
        }
        let module =
            Module::new(engine, wasm).map_err(|e| ModuleError::Invalid(format!("{e:#}")))?;
        if let Some(path) = &path {
            if let Ok(bytes) = module.serialize() {
                // Unique per process and per compilation: engines of one process may share
                // the cache directory (PocketIC instances do).
                static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
                if std::fs::write(&tmp, bytes).is_ok() {
                    let _ = std::fs::rename(&tmp, path);
                }
            }
        }
        Ok(module)
    }

    fn check_imports(&self, module: &Module, memory64: bool) -> Result<(), ExecError> {
        let linker = if memory64 {
            &self.linker64
        } else {
            &self.linker32
        };
        let mut store = wasmtime::Store::new(self.wasmtime(memory64), StoreData::empty());
        for import in module.imports() {
            let (m, name) = (import.module(), import.name());
            let ExternType::Func(wanted) = import.ty() else {
                return Err(ExecError::UnknownImport {
                    module: m.to_string(),
                    name: name.to_string(),
                });
            };
            let Some(wasmtime::Extern::Func(f)) = (if m == "ic0" {
                linker.get(&mut store, m, name).ok()
            } else {
                None
            }) else {
                return Err(ExecError::UnknownImport {
                    module: m.to_string(),
                    name: name.to_string(),
                });
            };
            let have = f.ty(&store);
            if !wasmtime::FuncType::eq(&have, &wanted) {
                return Err(ExecError::ImportSignature {
                    name: name.to_string(),
                    expected: format!("{have}"),
                    found: format!("{wanted}"),
                });
            }
        }
        Ok(())
    }
}

/// A wasmtime engine with drydock's configuration, metering at the IC's costs for modules of
/// this memory width.
fn wasmtime_engine(is_memory64: bool) -> Result<wasmtime::Engine, ExecError> {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .operator_cost(crate::metering::operator_costs(is_memory64))
        .wasm_memory64(true)
        .wasm_multi_memory(false)
        .wasm_relaxed_simd(false)
        .cranelift_nan_canonicalization(true)
        .memory_reservation(HEAP_RESERVATION)
        .memory_guard_size(HEAP_GUARD)
        .memory_reservation_for_growth(0)
        .memory_may_move(false)
        .memory_init_cow(false)
        .with_host_memory(Arc::new(HeapCreator));
    wasmtime::Engine::new(&config).map_err(|e| ExecError::Wasmtime(format!("{e:#}")))
}

/// What the next heap created on this thread maps: set by [`crate::Instance`] right before it
/// instantiates, taken by [`HeapCreator`].
pub(crate) struct HeapSpec {
    pub backing: MemoryBacking,
    pub max: u64,
}

thread_local! {
    pub(crate) static PENDING_HEAP: RefCell<Option<HeapSpec>> = const { RefCell::new(None) };
    pub(crate) static CREATED_HEAP: RefCell<Option<Arc<PageMemory>>> = const { RefCell::new(None) };
}

/// Gives wasmtime heaps that are [`PageMemory`] mappings.
struct HeapCreator;

struct Heap(Arc<PageMemory>);

// SAFETY: the memory is a reservation of `byte_capacity` bytes plus the guard wasmtime asked
// for, never moves, keeps every byte past the accessible size inaccessible, and is zero-filled
// where nothing was committed.
unsafe impl LinearMemory for Heap {
    fn byte_size(&self) -> usize {
        self.0.size()
    }
    fn byte_capacity(&self) -> usize {
        self.0.max()
    }
    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        self.0.grow_to(new_size).map_err(wasmtime::Error::new)
    }
    fn as_ptr(&self) -> *mut u8 {
        self.0.base()
    }
}

// SAFETY: see `Heap`; each memory is a fresh reservation.
unsafe impl MemoryCreator for HeapCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let spec = PENDING_HEAP
            .with(|p| p.borrow_mut().take())
            .unwrap_or(HeapSpec {
                backing: MemoryBacking::default(),
                max: 4 * GIB,
            });
        let mut max = usize::try_from(spec.max).unwrap_or(usize::MAX);
        if let Some(m) = maximum {
            max = max.min(m);
        }
        let reserved = reserved_size_in_bytes
            .unwrap_or(HEAP_RESERVATION as usize)
            .max(max);
        let mem = PageMemory::new(&spec.backing, max, reserved + guard_size_in_bytes, true)
            .map_err(|e| e.to_string())?;
        if mem.size() < minimum {
            mem.grow_to(minimum).map_err(|e| e.to_string())?;
        }
        let mem = Arc::new(mem);
        CREATED_HEAP.with(|c| *c.borrow_mut() = Some(mem.clone()));
        Ok(Box::new(Heap(mem)))
    }
}
