//! The errors of execution: [`ExecError`] for the embedder, [`HostTrap`] for traps raised by
//! the System API and limits while a canister runs.

use crate::module::ModuleError;

/// A trap raised by drydock (not by Wasm code) during execution. Its `Display` is the IC's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostTrap {
    /// `ic0.trap` was called.
    #[error("Canister called `ic0.trap` with message: '{0}'")]
    Explicit(String),
    /// A System API function was used against the spec's rules.
    #[error("Canister violated contract: {0}")]
    ContractViolation(String),
    /// The instruction budget ran out.
    #[error("Canister exceeded the limit of {limit} instructions for single message execution.")]
    InstructionLimit { limit: u64 },
    /// A heap access through the System API was out of bounds.
    #[error("Canister trapped: heap out of bounds")]
    HeapOutOfBounds,
    /// A stable memory access was out of bounds.
    #[error("Canister trapped: stable memory out of bounds")]
    StableOutOfBounds,
    /// Growing the heap would pass the `wasm_memory_limit` setting.
    #[error("Canister exceeded its current Wasm memory limit of {limit} bytes. The peak Wasm memory usage was {peak} bytes. If the canister reaches 4GiB, then it will stop functioning and will need to be reinstalled.")]
    WasmMemoryLimit { limit: u64, peak: u64 },
    /// An execution touched more distinct stable-memory pages than its limit allows (the
    /// texts give the IC's limits: 2 GiB, 8 GiB for upgrades, 1 GiB for queries).
    #[error("Canister exceeded memory access limits: Exceeded the limit for the number of accessed pages in the stable memory in a single message execution: limit 2097152 KB for regular messages and 1048576 KB for queries.")]
    /// (The IC's limit on pages *written* is the same, and a written page is also accessed, so
    /// this one is always reached first.)
    StableAccessedPages,
}

/// Errors of the execution engine.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The module was refused at intake.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// The module imports something the System API does not provide.
    #[error("Wasm module imports `{module}.{name}`, which drydock does not provide: only the `ic0` System API functions of the IC interface spec can be imported")]
    UnknownImport { module: String, name: String },
    /// The module imports an `ic0` function with the wrong type.
    #[error("Wasm module imports `ic0.{name}` with type {found}, but the System API defines it as {expected}")]
    ImportSignature {
        name: String,
        expected: String,
        found: String,
    },
    /// The module cannot be instantiated, by its own fault: a data or element segment out of
    /// bounds, or a memory or table larger than allowed.
    #[error("Wasm module cannot be instantiated: {reason}")]
    Instantiation { reason: String },
    /// Compiling or instantiating failed for a reason that is not the module's fault.
    #[error("wasmtime: {0}")]
    Wasmtime(String),
    /// Mapping or tracking memory failed.
    #[error("memory: {0}")]
    Memory(String),
    /// I/O on the compiled-module cache.
    #[error("i/o on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}
