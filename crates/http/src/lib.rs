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
pub mod server;
#[cfg(feature = "server")]
pub mod service;
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

/// How many messages of one canister a job runs in a row before the scheduler looks again.
#[cfg(feature = "server")]
const MESSAGES_PER_JOB: usize = 64;

/// The scheduler, on its own thread: every [`ROUND_INTERVAL`] a round starts (due timers and
/// heartbeats, passed deadlines); whenever messages or ingress wait, it hands each canister
/// that is not busy a job, run on a thread of its own without the replica's lock (so a long
/// execution holds up only its canister); and it makes finished executions durable with one
/// `fdatasync` for all of them (group commit), without the lock, before their callers get
/// their responses.
#[cfg(feature = "server")]
fn run_scheduler(service: Shared) {
    use std::sync::atomic::Ordering;
    let cutoff = drydock_replica::Cutoff::running(MESSAGES_PER_JOB);
    let mut last_round: Option<std::time::Instant> = None;
    while !service.stopping.load(Ordering::Relaxed) {
        let seen = service.events();
        let round_due = last_round.is_none_or(|t| t.elapsed() >= ROUND_INTERVAL);
        if round_due {
            last_round = Some(std::time::Instant::now());
        }
        let jobs = service.with_replica(|r| {
            let mut jobs = if round_due {
                r.round_start()?
            } else {
                r.complete_stops_now()?;
                Vec::new()
            };
            jobs.extend(r.take_work(None, cutoff)?);
            Ok::<_, drydock_replica::ReplicaError>(jobs)
        });
        match jobs {
            Ok(jobs) => {
                for job in jobs {
                    let s = service.clone();
                    std::thread::spawn(move || {
                        let with = |f: &mut dyn FnMut(&mut drydock_replica::Replica)| {
                            s.with_replica(|r| f(r));
                            s.notify();
                        };
                        if let Err(e) = drydock_replica::drain(&with, job, cutoff) {
                            tracing::error!("an execution failed: {e}");
                        }
                        s.notify();
                    });
                }
            }
            Err(e) => tracing::error!("the scheduler failed: {e}"),
        }
        match service.with_replica(|r| r.begin_sync()) {
            Ok(Some(sync)) => match sync.run() {
                Ok(()) => {
                    service.with_replica(|r| r.published(sync));
                    service.notify();
                }
                Err(e) => tracing::error!("making executions durable failed: {e}"),
            },
            Ok(None) => {}
            Err(e) => tracing::error!("making executions durable failed: {e}"),
        }
        service.wait_event(seen, ROUND_INTERVAL);
    }
}

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
            std::thread::spawn(move || run_scheduler(s))
        };
        let served = axum::serve(listener, server::router(service.clone()))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(HttpError::Serve);
        service
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        service.notify();
        let _ = tokio::task::spawn_blocking(move || scheduler.join()).await;
        served
    }
}
