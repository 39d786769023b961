//! What a running PocketIC server holds: its instances (each behind its own lock), its HTTP
//! gateways, the blobs uploaded to `/blobstore`, the compiled-module cache its instances
//! share, and what the TTL needs to know (requests in flight, the last one's end).

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::PocketIcError;
use crate::instance::Instance;

/// What the server tells the program that runs it.
#[derive(Debug, Clone)]
pub enum Event {
    /// It listens at this address (and has written the port file, if any).
    Listening(std::net::SocketAddr),
    /// A finding of an upgrade check, or another warning for the user.
    Warning(String),
}

/// One instance.
pub(crate) struct Slot {
    pub instance: Mutex<Instance>,
    /// Set while live mode runs rounds in the background; cleared to stop it.
    pub live: Mutex<Option<Arc<AtomicBool>>>,
}

/// An HTTP gateway: the IC HTTP interface of one instance on a port of its own.
pub(crate) struct Gateway {
    pub instance: usize,
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// The task that serves it: done once its scheduler has ended.
    pub task: tokio::task::JoinHandle<()>,
}

pub(crate) struct Server {
    /// The compiled-module cache of every instance: a module compiles once per server.
    pub compiled: tempfile::TempDir,
    /// By gateway id; `None` once stopped.
    pub gateways: Mutex<Vec<Option<Gateway>>>,
    pub events: Box<dyn Fn(Event) + Send + Sync>,
    pub check_upgrades: bool,
    /// Blobs uploaded to `/blobstore`, by SHA-256 (for `set_stable_memory`).
    pub blobs: Mutex<std::collections::HashMap<Vec<u8>, Arc<Vec<u8>>>>,
    /// By instance id; `None` once deleted (ids are never reused).
    pub instances: Mutex<Vec<Option<Arc<Slot>>>>,
    /// Requests being answered, and when the last one finished (for the TTL).
    pub in_flight: AtomicUsize,
    pub last_activity: Mutex<Option<Instant>>,
}

pub(crate) type Shared = Arc<Server>;

impl Server {
    pub fn new(
        compiled: tempfile::TempDir,
        events: Box<dyn Fn(Event) + Send + Sync>,
        check_upgrades: bool,
    ) -> Self {
        Server {
            compiled,
            events,
            check_upgrades,
            blobs: Mutex::default(),
            gateways: Mutex::default(),
            instances: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            last_activity: Mutex::new(None),
        }
    }

    /// Instance `id`, unless it was deleted or never existed.
    pub fn slot(&self, id: usize) -> Result<Arc<Slot>, PocketIcError> {
        lock(&self.instances)
            .get(id)
            .cloned()
            .flatten()
            .ok_or(PocketIcError::NoInstance(id))
    }
}

/// A lock that survives a panic of an earlier holder: the data under it is only changed by
/// code that does not panic, so it is consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
