//! The IC HTTP interface over a drydock replica, so icp-cli, ic-agent and agent-js work
//! against drydock as against the IC.
//!
//! - [`keys`]: the root (BLS12-381) and node (Ed25519) keys kept in the state directory.
//! - [`envelope`]: request bodies: CBOR, request ids, authentication.
//! - `raw_cbor`: a body parsed once, read both for its request id and as the typed envelope.
//! - [`auth`]: envelope signatures, delegations and expiry.
//! - [`tree`]: the certified state tree and its witnesses.
//! - `certified`: the batch certificates of finished calls and a status's leaves in a tree.
//! - [`service`]: requests apart from HTTP: decoding, running, certificates.
//! - `statuses`: the statuses of recent calls, their retention and the ingress history's
//!   capacity.
//! - [`server`]: the axum routes.
//! - [`listener`]: the accept loop: connection limit, header and body timeouts.
//!
//! It is the only crate that knows CBOR and the IC's wire types.

pub mod auth;
pub mod canister_sig;
#[cfg(feature = "server")]
mod certified;
pub mod envelope;
pub mod keys;
#[cfg(feature = "server")]
pub mod listener;
mod raw_cbor;
#[cfg(feature = "server")]
mod scheduler;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod signal;
#[cfg(feature = "server")]
mod statuses;
pub mod tree;

use std::net::SocketAddr;
#[cfg(feature = "server")]
use std::path::Path;
#[cfg(feature = "server")]
use std::sync::Arc;

pub use keys::Keys;
#[cfg(feature = "server")]
pub use listener::{raise_fd_limit, Listener, ServeConfig};
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
    let mut replica = replica;
    let keys = give_keys(&mut replica, state_dir)?;
    Ok(Arc::new(Service::new(replica, keys)))
}

#[cfg(feature = "server")]
/// Loads (or creates) the keys of the state directory `state_dir` and gives the replica the
/// subnet id and root key they make, which canisters then see.
pub fn give_keys(
    replica: &mut drydock_replica::Replica,
    state_dir: &Path,
) -> Result<Keys, HttpError> {
    let keys = Keys::load_or_create(state_dir)?;
    // The CMC, the cycles ledger and `ic0.subnet_self` name the subnet the certificates name.
    replica.set_subnet_id(keys.subnet_id());
    // Interface spec, "Root key": `ic0.root_key_copy` gives the key certificates verify with.
    replica.set_root_key(keys.root_key_der().to_vec());
    Ok(keys)
}

/// The interval between background rounds.
#[cfg(feature = "server")]
pub const ROUND_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
