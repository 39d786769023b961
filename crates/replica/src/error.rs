//! Errors: [`UserError`] is what a caller of a canister sees (the IC's reject codes and error
//! codes); [`ReplicaError`] is a failure of drydock itself (the state directory, the engine).

use std::fmt;

/// The IC's reject codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RejectCode {
    SysFatal = 1,
    SysTransient = 2,
    DestinationInvalid = 3,
    CanisterReject = 4,
    CanisterError = 5,
    SysUnknown = 6,
}

/// The IC's error codes (`IC0xxx`) that drydock produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorCode {
    IngressMessageTimeout = 202,
    CanisterOutOfCycles = 207,
    CanisterNotFound = 301,
    CanisterSnapshotNotFound = 305,
    InsufficientCyclesForCreateCanister = 403,
    CanisterRejectedMessage = 406,
    UnknownManagementMessage = 407,
    InvalidManagementPayload = 408,
    CanisterSnapshotImmutable = 409,
    CanisterTrapped = 502,
    CanisterCalledTrap = 503,
    CanisterContractViolation = 504,
    CanisterInvalidWasm = 505,
    CanisterDidNotReply = 506,
    CanisterOutOfMemory = 507,
    CanisterStopped = 508,
    CanisterStopping = 509,
    CanisterNotStopped = 510,
    CanisterStoppingCancelled = 511,
    CanisterInvalidController = 512,
    CanisterNonEmpty = 514,
    QueryCallGraphLoopDetected = 517,
    CanisterInstructionLimitExceeded = 522,
    CanisterMemoryAccessLimitExceeded = 524,
    QueryCallGraphTooDeep = 525,
    CompositeQueryCalledInReplicatedMode = 527,
    CanisterMethodNotFound = 536,
    CanisterWasmModuleNotFound = 537,
    CanisterAlreadyInstalled = 538,
    InsufficientCyclesInMemoryGrow = 532,
    CanisterWasmMemoryLimitExceeded = 539,
}

impl ErrorCode {
    /// The reject code the IC pairs with this error code (its first digit).
    pub fn reject_code(self) -> RejectCode {
        match self as u32 / 100 {
            1 => RejectCode::SysFatal,
            2 => RejectCode::SysTransient,
            3 => RejectCode::DestinationInvalid,
            4 => RejectCode::CanisterReject,
            5 => RejectCode::CanisterError,
            _ => RejectCode::SysUnknown,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IC{:04}", *self as u32)
    }
}

/// A rejection of a message, as the IC reports it to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserError {
    pub code: ErrorCode,
    pub message: String,
}

impl UserError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        UserError {
            code,
            message: message.into(),
        }
    }

    /// The reject code.
    pub fn reject_code(&self) -> RejectCode {
        self.code.reject_code()
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for UserError {}

/// A failure of drydock itself, not of the canister or the request.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    State(#[from] drydock_state::StateError),
    #[error(transparent)]
    Exec(#[from] drydock_exec::ExecError),
    #[error("the state directory holds a corrupt record `{key}`: {cause}")]
    CorruptRecord { key: String, cause: String },
    #[error("drydock failed: {0}")]
    Internal(String),
}

/// What a request may fail with: the canister's or request's fault ([`UserError`]) or
/// drydock's ([`ReplicaError`]).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
}

impl From<drydock_state::StateError> for CallError {
    fn from(e: drydock_state::StateError) -> Self {
        CallError::Replica(e.into())
    }
}

impl From<drydock_exec::ExecError> for CallError {
    /// A module the engine refuses or cannot instantiate by its own fault is the canister's
    /// error (IC0505, reject code 5); every other engine failure is drydock's.
    fn from(e: drydock_exec::ExecError) -> Self {
        use drydock_exec::ExecError as E;
        match e {
            E::Module(_)
            | E::UnknownImport { .. }
            | E::ImportSignature { .. }
            | E::Instantiation { .. } => UserError::new(
                ErrorCode::CanisterInvalidWasm,
                format!("Canister's Wasm module is not valid: {e}"),
            )
            .into(),
            other => CallError::Replica(other.into()),
        }
    }
}
