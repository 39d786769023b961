//! The accept loop: how connections come in, how long they may dawdle, and how many there
//! may be.
//!
//! - **Connection limit.** At most [`ServeConfig::max_connections`] connections are served at
//!   once. One more gets a canned `503 Service Unavailable` (naming the limit) and is closed,
//!   so a flood of idle sockets never takes the descriptors the state directory and the
//!   clients that do talk need. The limit is lowered to what the process's descriptor limit
//!   allows (see [`raise_fd_limit`]); `drydock start --max-connections` sets it.
//! - **Header read timeout.** A connection must deliver a complete request head within
//!   [`ServeConfig::header_read_timeout`], counted from when the server starts waiting for it:
//!   after the connection opens, and again after each response (so an idle keep-alive
//!   connection is closed after the same time). hyper enforces it; a slow-header client
//!   (slowloris) is closed.
//! - **Body read timeout.** The whole body must arrive within
//!   [`ServeConfig::body_read_timeout`] of its head, else `408 Request Timeout` (enforced in
//!   [`crate::server`], where bodies are read).
//!
//! HTTP/1.1 only: IC clients (ic-agent, agent-js, icp-cli) speak HTTP/1.1 to an `http://`
//! endpoint, and HTTP/2 (which they use over TLS) needs no plain-text variant here.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::{HttpError, Shared};

/// Limits of the HTTP server. [`Default`] is what `drydock start` uses.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Connections served at once; past it a connection gets a 503 and is closed.
    pub max_connections: usize,
    /// The time a request head may take to arrive (also the idle keep-alive timeout).
    pub header_read_timeout: Duration,
    /// The time a request body may take to arrive after its head.
    pub body_read_timeout: Duration,
}

/// The default of [`ServeConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;

/// File descriptors drydock keeps for itself besides connections: the state directory's
/// files (WAL, manifest, memory files of loaded canisters), compiled modules, the listener,
/// the runtime's own descriptors. Generous on purpose.
pub const RESERVED_FDS: u64 = 512;

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(5),
        }
    }
}

/// The process's limit on open files (soft, hard), if it can be read.
pub fn fd_limit() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` through a valid, exclusive pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some((lim.rlim_cur, lim.rlim_max))
}

/// Raises the process's soft limit on open files to `wanted`, or as far as the hard limit
/// allows; never lowers it. Returns the soft limit in force afterwards (`None` if it cannot
/// be read). Servers commonly start with a soft limit of 1024 and a far higher hard limit.
pub fn raise_fd_limit(wanted: u64) -> Option<u64> {
    let (soft, hard) = fd_limit()?;
    if soft >= wanted {
        return Some(soft);
    }
    let lim = libc::rlimit {
        rlim_cur: wanted.min(hard),
        rlim_max: hard,
    };
    // SAFETY: `setrlimit` reads one `rlimit` through a valid pointer.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    if rc != 0 {
        return Some(soft);
    }
    fd_limit().map(|(soft, _)| soft)
}

/// The connection limit in force for `wanted`: raises the descriptor limit to fit it, or
/// lowers it to fit the descriptor limit (with a warning).
fn effective_max_connections(wanted: usize) -> usize {
    let need = wanted as u64 + RESERVED_FDS;
    match raise_fd_limit(need) {
        Some(soft) if soft < need => {
            let fit = soft.saturating_sub(RESERVED_FDS).max(1) as usize;
            tracing::warn!(
                "the open-file limit is {soft}: serving at most {fit} connections instead of {wanted} (raise the hard limit, `ulimit -Hn`, to at least {need})"
            );
            fit
        }
        _ => wanted,
    }
}

/// A bound listener, ready to serve.
pub struct Listener {
    inner: tokio::net::TcpListener,
}

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

    /// Serves with the default [`ServeConfig`] until `shutdown` completes.
    pub async fn serve(
        self,
        service: Shared,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HttpError> {
        self.serve_with(service, ServeConfig::default(), shutdown)
            .await
    }

    /// Serves until `shutdown` completes, then lets the connections finish their requests
    /// (for at most [`SHUTDOWN_GRACE`]).
    pub async fn serve_with(
        self,
        service: Shared,
        config: ServeConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HttpError> {
        // A service is served by one listener at a time; a stopped one may be served again.
        service
            .stopping
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let max = effective_max_connections(config.max_connections);
        let slots = Arc::new(Semaphore::new(max));
        let router = crate::server::router_with(service.clone(), &config);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        let http = Arc::new(http);
        let (closing, closed) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();

        // The scheduler runs on its own thread: rounds in real time (timers, heartbeats), and
        // every message as soon as it waits (see `scheduler.rs`).
        let scheduler = {
            let s = service.clone();
            std::thread::spawn(move || crate::scheduler::run(s))
        };
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.inner.accept() => accepted,
            };
            // Reap finished connection tasks so the set stays small.
            while tasks.try_join_next().is_some() {}
            let (tcp, _peer) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a connection reset before accept:
                    // keep serving the connections we have and try again shortly.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            // Replies go out at once (no Nagle delay between headers and body).
            let _ = tcp.set_nodelay(true);
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tasks.spawn(refuse(tcp, max));
                continue;
            };
            let http = http.clone();
            let service = TowerToHyperService::new(router.clone());
            let closed = closed.clone();
            tasks.spawn(async move {
                let conn = http.serve_connection(TokioIo::new(tcp), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = until_true(closed) => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
                drop(slot);
            });
        }
        let _ = closing.send(true);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tasks.abort_all();
        service
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        service.work.notify();
        let _ = tokio::task::spawn_blocking(move || scheduler.join()).await;
        Ok(())
    }
}

/// Returns once `rx` holds `true` (or its sender is gone).
async fn until_true(mut rx: tokio::sync::watch::Receiver<bool>) {
    loop {
        let done = *rx.borrow_and_update();
        if done || rx.changed().await.is_err() {
            return;
        }
    }
}

/// How long a shutdown waits for requests under way.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Answers a connection past the limit with a 503 and closes it. It reads what the client
/// sent first (briefly), so that closing does not reset the connection before the client
/// reads the answer.
async fn refuse(mut tcp: tokio::net::TcpStream, max: usize) {
    let body = format!(
        "drydock is serving its maximum of {max} connections; retry later, or start it with a higher --max-connections\n"
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut buf)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
    // Drain until the client closes, for a moment, so the 503 is not lost to a reset.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}
