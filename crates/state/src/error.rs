//! The one error enum of `drydock-state`.
//!
//! Every variant names the file or directory involved and the cause, so a
//! message read on its own tells the user where to look.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another `Store` (in this or another process) holds `<dir>/LOCK`.
    #[error(
        "state directory {} is locked by another drydock process — stop that process, \
         or use another state directory",
        dir.display()
    )]
    Locked { dir: PathBuf },

    /// An operating-system call failed.
    #[error("{op} {}: {error}", path.display())]
    Io {
        /// What was being done: "open", "write", "fsync", "rename", ….
        op: &'static str,
        path: PathBuf,
        error: io::Error,
    },

    /// A file of the state directory does not decode. The directory was not
    /// modified; restore it from a backup or move the file away to start over.
    #[error("corrupt state file {} at byte offset {offset}: {cause}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        cause: String,
    },

    /// A file was written by a format version this build does not know.
    #[error(
        "state file {} has format version {found}, but this drydock supports version {supported} — \
         use the drydock release that wrote it",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// The manifest names a memory whose backing file is missing or short.
    #[error("memory {name:?}: backing file {} {cause}", path.display())]
    MemoryFile {
        name: String,
        path: PathBuf,
        cause: String,
    },

    /// A memory or snapshot that does not exist, or a read past its size.
    #[error("memory {name:?}: {cause}")]
    NotFound { name: String, cause: String },

    /// `content(hash)` for a hash that was never stored.
    #[error("content {hash} is not in the content store (no file {})", path.display())]
    ContentNotFound { hash: String, path: PathBuf },

    /// A content file does not hash to its name.
    #[error(
        "content file {} is corrupt: its sha256 is {found}, expected {expected} — delete it \
         and store the content again",
        path.display()
    )]
    ContentCorrupt {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// The batch given to `commit` breaks a rule; nothing was written.
    #[error("invalid batch: {reason}; nothing was committed")]
    InvalidBatch { reason: String },

    /// The file system of the state directory has no room for a commit. Checked before
    /// anything is written, so nothing was committed and the store stays writable.
    #[error(
        "no space left for this change in {}: it needs about {needed} bytes and {available} \
         are free — nothing was changed; free some space and try again",
        dir.display()
    )]
    NoSpace {
        dir: PathBuf,
        needed: u64,
        available: u64,
    },

    /// An earlier `commit` or `checkpoint` failed part-way; the in-memory view
    /// may differ from the disk, so the store refuses further writes.
    #[error(
        "state directory {} stopped accepting writes after an earlier failure ({cause}) — \
         drop the Store and open it again to recover from the write-ahead log",
        dir.display()
    )]
    Poisoned { dir: PathBuf, cause: String },
}

impl StateError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, error: io::Error) -> Self {
        StateError::Io {
            op,
            path: path.into(),
            error,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, cause: impl Into<String>) -> Self {
        StateError::Corrupt {
            path: path.into(),
            offset,
            cause: cause.into(),
        }
    }

    pub(crate) fn not_found(name: &str, cause: impl Into<String>) -> Self {
        StateError::NotFound {
            name: name.to_string(),
            cause: cause.into(),
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        StateError::InvalidBatch {
            reason: reason.into(),
        }
    }
}
