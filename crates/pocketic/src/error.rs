//! What a request or the server can fail with (each variant says its HTTP status).

/// What a request or the server can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PocketIcError {
    /// The request is malformed or names what does not exist (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The request asks for what drydock does not support (HTTP 501).
    #[error("{0}")]
    Unsupported(String),
    /// The caller may not see this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// No such instance, or it was deleted (HTTP 404).
    #[error("instance {0} does not exist (or was deleted)")]
    NoInstance(usize),
    #[cfg(feature = "server")]
    #[error(transparent)]
    Replica(#[from] drydock_replica::ReplicaError),
    #[cfg(feature = "server")]
    #[error(transparent)]
    Http(#[from] drydock_http::HttpError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("drydock failed: {0}")]
    Internal(String),
}
