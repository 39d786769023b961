//! The IC HTTP interface over a drydock replica, so icp-cli, ic-agent and agent-js work
//! against drydock as against the IC.
//!
//! - [`keys`]: the root (BLS12-381) and node (Ed25519) keys kept in the state directory.
//! - [`envelope`]: request bodies: CBOR, request ids, authentication.
//! - [`auth`]: envelope signatures, delegations and expiry.
//! - [`tree`]: the certified state tree and its witnesses.
//! - [`service`]: requests apart from HTTP: decoding, running, request statuses, certificates.
//! - [`server`]: the axum routes.
//!
//! It is the only crate that knows CBOR and the IC's wire types.

pub mod auth;
pub mod envelope;
pub mod keys;
#[cfg(feature = "server")]
mod scheduler;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod signal;
pub mod tree;

use std::net::SocketAddr;
#[cfg(feature = "server")]
use std::path::Path;
#[cfg(feature = "server")]
use std::sync::Arc;

pub use keys::Keys;
#[cfg(feature = "server")]
pub use service::{Service, Shared};

/// What can stop the server from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("the server keys: {0}")]
    Keys(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
    #[cfg(feature = "server")]
    #[error(transparent)]
    Replica(#[from] drydock_replica::ReplicaError),
}

#[cfg(feature = "server")]
/// Builds the service over an open replica whose state directory is `state_dir`.
pub fn service(replica: drydock_replica::Replica, state_dir: &Path) -> Result<Shared, HttpError> {
    let keys = Keys::load_or_create(state_dir)?;
    let mut replica = replica;
    // The CMC, the cycles ledger and `ic0.subnet_self` name the subnet the certificates name.
    replica.set_subnet_id(keys.subnet_id());
    // Interface spec, "Root key": `ic0.root_key_copy` gives the key certificates verify with.
    replica.set_root_key(keys.root_key_der().to_vec());
    Ok(Arc::new(Service::new(replica, keys)))
}

/// The interval between background rounds.
#[cfg(feature = "server")]
pub const ROUND_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// A bound listener, ready to serve.
#[cfg(feature = "server")]
pub struct Listener {
    inner: tokio::net::TcpListener,
}

#[cfg(feature = "server")]
impl Listener {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr) -> Result<Listener, HttpError> {
        let inner = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        Ok(Listener { inner })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, HttpError> {
        self.inner.local_addr().map_err(HttpError::Serve)
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        service: Shared,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), HttpError> {
        use axum::serve::ListenerExt;
        // Replies go out at once (no Nagle delay between headers and body).
        let listener = self.inner.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // Rounds run in the background in real time: timers, heartbeats and the messages
        // between canisters progress with nobody calling.
        let scheduler = {
            let s = service.clone();
            std::thread::spawn(move || scheduler::run(s))
        };
        let served = axum::serve(listener, server::router(service.clone()))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(HttpError::Serve);
        service
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        service.work.notify();
        let _ = tokio::task::spawn_blocking(move || scheduler.join()).await;
        served
    }
}
