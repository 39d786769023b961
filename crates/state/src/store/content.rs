//! The content store: `content/<hex sha256>`, one immutable file per value.
//! Written to `<hex>.tmp`, fsync'd, renamed into place, then `content/` is
//! fsync'd, so a content file that exists is complete.

use std::io;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{exists, read_whole, write_file_durably, Store, CONTENT_DIR, TMP_SUFFIX};
use crate::backend::OpenMode;
use crate::StateError;

impl Store {
    /// Store `bytes` in the content store; returns their sha256. Durable on
    /// return; storing the same bytes again does nothing.
    pub fn put_content(&mut self, bytes: &[u8]) -> Result<[u8; 32], StateError> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        let b = &*self.backend;
        let path = self.content_path(&hash);
        if exists(b, &path)? {
            let file = b
                .open(&path, OpenMode::Read)
                .map_err(|e| StateError::io("open", &path, e))?;
            if b.len(&file).map_err(|e| StateError::io("stat", &path, e))? == bytes.len() as u64 {
                return Ok(hash);
            }
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);
        write_file_durably(b, &tmp, bytes)?;
        b.rename(&tmp, &path)
            .map_err(|e| StateError::io("rename", &tmp, e))?;
        let dir = self.dir.join(CONTENT_DIR);
        b.sync_dir(&dir)
            .map_err(|e| StateError::io("fsync directory", &dir, e))?;
        Ok(hash)
    }

    /// The size in bytes of a stored content value, without reading it.
    ///
    /// # Errors
    /// [`StateError::ContentNotFound`] if it was never stored; `Io` when it cannot be read.
    pub fn content_len(&self, hash: &[u8; 32]) -> Result<u64, StateError> {
        let b = &*self.backend;
        let path = self.content_path(hash);
        if !exists(b, &path)? {
            return Err(StateError::ContentNotFound {
                hash: hex::encode(hash),
                path,
            });
        }
        let file = b
            .open(&path, OpenMode::Read)
            .map_err(|e| StateError::io("open", &path, e))?;
        b.len(&file).map_err(|e| StateError::io("stat", &path, e))
    }

    /// Read a content value back, verifying its hash.
    ///
    /// # Errors
    /// [`StateError::ContentNotFound`] if it was never stored,
    /// [`StateError::ContentCorrupt`] if the file does not hash to its name.
    pub fn content(&self, hash: &[u8; 32]) -> Result<Vec<u8>, StateError> {
        let path = self.content_path(hash);
        let bytes = match read_whole(&*self.backend, &path) {
            Err(StateError::Io { error, .. }) if error.kind() == io::ErrorKind::NotFound => {
                return Err(StateError::ContentNotFound {
                    hash: hex::encode(hash),
                    path,
                })
            }
            other => other?,
        };
        let found: [u8; 32] = Sha256::digest(&bytes).into();
        if &found != hash {
            return Err(StateError::ContentCorrupt {
                path,
                expected: hex::encode(hash),
                found: hex::encode(found),
            });
        }
        Ok(bytes)
    }

    /// Whether a content value is stored (without reading or verifying it).
    pub fn has_content(&self, hash: &[u8; 32]) -> Result<bool, StateError> {
        exists(&*self.backend, &self.content_path(hash))
    }

    fn content_path(&self, hash: &[u8; 32]) -> PathBuf {
        self.dir.join(CONTENT_DIR).join(hex::encode(hash))
    }
}
