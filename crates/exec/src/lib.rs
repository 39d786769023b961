//! Wasm execution for drydock: the wasmtime embedding, module intake, the `ic0` System API,
//! instruction metering and the paged memories a canister runs on.
//!
//! This crate knows how to run one message on one canister instance and to report what the
//! message changed. It knows nothing of canister ids as a registry, of controllers as a policy,
//! of the management canister, of persistence formats or of HTTP: the replica crate decides
//! which entry point to run and what to do with the result, and the state crate stores it.
//!
//! It is the only crate that imports wasmtime. Without the default feature `engine` it is
//! module intake alone ([`module::prepare`]), for the fuzz target `module_intake`.

#[cfg(feature = "engine")]
pub mod context;
#[cfg(feature = "engine")]
pub mod engine;
pub mod error;
#[cfg(feature = "engine")]
pub mod instance;
#[cfg(feature = "engine")]
pub mod memory;
#[cfg(feature = "engine")]
pub mod metering;
pub mod module;
#[cfg(feature = "engine")]
pub mod stable;
#[cfg(feature = "engine")]
pub mod system_api;

#[cfg(feature = "engine")]
pub use context::{
    Closure, EntryKind, ExecLimits, MessageEnv, Outcome, OutgoingCall, SystemApiState,
};
#[cfg(feature = "engine")]
pub use engine::CanisterModule;
#[cfg(feature = "engine")]
pub use engine::Engine;
pub use error::{ExecError, HostTrap};
#[cfg(feature = "engine")]
pub use instance::{CanisterTrap, Execution, GlobalValue, Instance, MemoryDelta, StateDelta};
#[cfg(feature = "engine")]
pub use memory::{MemoryBacking, PageMemory, PAGE_SIZE};
pub use module::{ModuleError, PreparedModule};
#[cfg(feature = "engine")]
pub use stable::StableMemory;
#[cfg(feature = "engine")]
pub use system_api::fees;
