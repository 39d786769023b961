//! [`CliError`]: every failure of a command, sorted by whose fault it is, which decides the
//! exit code.
//!
//! | exit | variant | meaning |
//! |---|---|---|
//! | 1 | [`CliError::Rejected`] | the canister or the management canister rejected or trapped |
//! | 1 | [`CliError::NetworkRejected`] | the same, from an IC endpoint reached with `--network` |
//! | 1 | [`CliError::Refused`] | drydock refused or rolled back an unsafe change (breaking upgrade, failed health check) |
//! | 2 | [`CliError::Usage`] | the command line or an input (file, Candid text, identity) is wrong |
//! | 3 | [`CliError::Internal`] | drydock itself failed (state directory, engine, a bad reply), or the network did (unreachable, an HTTP error, a reply that does not verify) |
//!
//! Clap's own usage errors exit with 2 as well. [`CliError::with_hint`] adds drydock's advice
//! after any of them, keeping the IC's own text as it is.

use std::fmt;

use drydock_replica::{CallError, ErrorCode, ReplicaError, UserError};

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// The IC-style rejection the replica returned.
    Rejected(UserError),
    /// A reject from an IC endpoint reached with `--network`: its reject code, its IC error
    /// code (`IC0503`) when it gave one, and its message.
    NetworkRejected {
        reject_code: u64,
        error_code: Option<String>,
        message: String,
    },
    /// drydock refused or undid an operation to keep a canister safe (a breaking change, a
    /// failed health check, a layout difference); the message says what and what to do.
    Refused(String),
    /// A usage or input error; the message names the cause.
    Usage(anyhow::Error),
    /// A failure of drydock itself; printed with its whole cause chain.
    Internal(anyhow::Error),
    /// Any of the above, followed by drydock's advice (a command line to type). The error's
    /// own text, the IC's when it comes from the IC, is printed first and unchanged.
    Hinted(Box<CliError>, String),
}

impl CliError {
    /// A usage or input error with this message.
    pub fn usage(msg: impl fmt::Display) -> Self {
        CliError::Usage(anyhow::anyhow!("{msg}"))
    }

    /// A failure of drydock with this message.
    pub fn internal(msg: impl fmt::Display) -> Self {
        CliError::Internal(anyhow::anyhow!("{msg}"))
    }

    /// This error, then `hint` on a line of its own (`hint: ...`).
    pub fn with_hint(self, hint: impl fmt::Display) -> Self {
        CliError::Hinted(Box::new(self), hint.to_string())
    }

    /// The IC error code of a rejection (with or without a hint), if this is one.
    pub fn ic_error_code(&self) -> Option<ErrorCode> {
        match self {
            CliError::Rejected(e) => Some(e.code),
            CliError::Hinted(e, _) => e.ic_error_code(),
            _ => None,
        }
    }

    /// Whether this is a rejection with the IC error code `code`, from the embedded replica
    /// or from a network (whose codes arrive as text, "IC0514").
    pub fn has_ic_error_code(&self, code: ErrorCode) -> bool {
        match self {
            CliError::NetworkRejected {
                error_code: Some(text),
                ..
            } => *text == code.to_string(),
            CliError::Hinted(e, _) => e.has_ic_error_code(code),
            other => other.ic_error_code() == Some(code),
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Rejected(_) | CliError::NetworkRejected { .. } | CliError::Refused(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Internal(_) => 3,
            CliError::Hinted(e, _) => e.exit_code(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Rejected(e) => write!(f, "{e}"),
            CliError::NetworkRejected {
                reject_code,
                error_code: Some(code),
                message,
            } => write!(f, "{code}: {message} (reject code {reject_code})"),
            CliError::NetworkRejected {
                reject_code,
                error_code: None,
                message,
            } => write!(f, "reject code {reject_code}: {message}"),
            CliError::Refused(msg) => write!(f, "{msg}"),
            // `{:#}` prints the whole chain: "outer: inner: root".
            CliError::Usage(e) | CliError::Internal(e) => write!(f, "{e:#}"),
            CliError::Hinted(e, hint) => write!(f, "{e}\nhint: {hint}"),
        }
    }
}

impl From<CallError> for CliError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::User(u) => CliError::Rejected(u),
            CallError::Replica(r) => r.into(),
        }
    }
}

impl From<ReplicaError> for CliError {
    fn from(e: ReplicaError) -> Self {
        CliError::Internal(anyhow::Error::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_prints_the_ic_error_code_and_exits_with_1() {
        let e: CliError =
            CallError::User(UserError::new(ErrorCode::CanisterCalledTrap, "boom")).into();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "IC0503: boom");
    }

    #[test]
    fn a_hint_follows_the_ic_text_and_keeps_the_exit_code() {
        let e: CliError = CallError::User(UserError::new(
            ErrorCode::CanisterNonEmpty,
            "Try mode='reinstall'.",
        ))
        .into();
        let e = e.with_hint("--mode reinstall");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.ic_error_code(), Some(ErrorCode::CanisterNonEmpty));
        assert_eq!(
            e.to_string(),
            "IC0514: Try mode='reinstall'.\nhint: --mode reinstall"
        );
    }

    #[test]
    fn usage_errors_print_their_context_chain() {
        let e = CliError::Usage(anyhow::anyhow!("root").context("outer"));
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.to_string(), "outer: root");
    }
}
