//! Wasm execution for drydock: the wasmtime embedding, module intake, the `ic0` System API,
//! instruction metering and the paged memories a canister runs on.
//!
//! This crate knows how to run one message on one canister instance and to report what the
//! message changed. It knows nothing of canister ids as a registry, of controllers as a policy,
//! of the management canister, of persistence formats or of HTTP: the replica crate decides
//! which entry point to run and what to do with the result, and the state crate stores it.
//!
//! It is the only crate that imports wasmtime.

pub mod context;
pub mod engine;
pub mod error;
pub mod instance;
pub mod memory;
pub mod module;
pub mod stable;
pub mod system_api;

pub use context::{
    Closure, EntryKind, ExecLimits, MessageEnv, Outcome, OutgoingCall, SystemApiState,
};
pub use engine::CanisterModule;
pub use engine::Engine;
pub use error::{ExecError, HostTrap};
pub use instance::{CanisterTrap, Execution, GlobalValue, Instance, MemoryDelta, StateDelta};
pub use memory::{MemoryBacking, PageMemory, PAGE_SIZE};
pub use module::{ModuleError, PreparedModule};
pub use stable::StableMemory;
