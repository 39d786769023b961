//! [`WalSync`]: the durable write of group commit, taken off the [`crate::Store`] so it can run
//! while the store commits more batches.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::{Backend, StateError};

/// Makes every batch committed before [`crate::Store::wal_sync`] was called durable: one
/// `fdatasync` of the write-ahead log, on a duplicate of its descriptor.
///
/// Batches committed after the handle was taken may or may not be covered; callers
/// acknowledge only what was committed before. A checkpoint in between makes everything
/// durable by itself (it syncs the memory files and the manifest before truncating the log).
pub struct WalSync {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) backend: Arc<dyn Backend>,
    /// The store's commit sequence number when the handle was taken.
    pub(crate) seq: u64,
}

impl WalSync {
    /// Runs the `fdatasync`.
    ///
    /// # Errors
    /// `Io` when it fails; nothing committed since the last successful sync may be
    /// acknowledged then.
    pub fn sync(&self) -> Result<(), StateError> {
        self.backend
            .sync(&self.file)
            .map_err(|e| StateError::io("fsync", &self.path, e))
    }
}

impl std::fmt::Debug for WalSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalSync").field("path", &self.path).finish()
    }
}
