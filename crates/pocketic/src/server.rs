//! The PocketIC server process: the port file the clients read the port from, the TTL after
//! which an idle server stops (or SIGTERM/SIGINT), the hard TTL, and the async runtime the
//! routes ([`crate::routes`]) run on.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::PocketIcError;
use crate::registry::{lock, Event, Server, Shared};
use crate::routes::router;

/// How the server is started (PocketIC's own flags).
#[derive(Debug, Clone)]
pub struct ServerArgs {
    pub ip_addr: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// Where to write the port, once listening. If the file exists already, another server
    /// owns it, and this one exits at once, as PocketIC does.
    pub port_file: Option<PathBuf>,
    /// The server stops after this long without a request.
    pub ttl: Duration,
    /// The server stops this long after its start, whatever it is doing.
    pub hard_ttl: Option<Duration>,
    /// Run `drydock check` on every upgrade an instance performs (`DRYDOCK_POCKET_IC_CHECK`).
    pub check_upgrades: bool,
}

/// Serves the PocketIC protocol until the server has been idle for its TTL, telling `events`
/// what happens.
pub fn serve(
    args: ServerArgs,
    events: impl Fn(Event) + Send + Sync + 'static,
) -> Result<(), PocketIcError> {
    let port_file = match &args.port_file {
        None => None,
        Some(path) => match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(file) => Some((path.clone(), file)),
            // Another server owns this port file: its clients use that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => {
                return Err(PocketIcError::Io {
                    what: format!("cannot create the port file {}", path.display()),
                    source: e,
                })
            }
        },
    };
    let result = run(&args, port_file.as_ref().map(|(_, f)| f), Box::new(events));
    if let Some((path, _)) = &port_file {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn run(
    args: &ServerArgs,
    port_file: Option<&std::fs::File>,
    events: Box<dyn Fn(Event) + Send + Sync>,
) -> Result<(), PocketIcError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| PocketIcError::Io { what, source }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("cannot start the async runtime"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.ip_addr, args.port))
            .await
            .map_err(io(&format!(
                "cannot listen on {}:{}",
                args.ip_addr, args.port
            )))?;
        let addr = listener
            .local_addr()
            .map_err(io("cannot read the listening address"))?;
        if let Some(mut file) = port_file {
            file.write_all(format!("{}\n", addr.port()).as_bytes())
                .and_then(|()| file.flush())
                .map_err(io("cannot write the port file"))?;
        }
        events(Event::Listening(addr));
        let compiled = tempfile::Builder::new()
            .prefix("drydock-pocket-ic-compiled-")
            .tempdir()
            .map_err(io("cannot create the compiled-module cache"))?;
        let server: Shared = Arc::new(Server::new(compiled, events, args.check_upgrades));
        if let Some(hard) = args.hard_ttl {
            let path = args.port_file.clone();
            tokio::spawn(async move {
                tokio::time::sleep(hard).await;
                if let Some(path) = path {
                    let _ = std::fs::remove_file(path);
                }
                tracing::info!("the PocketIC server's hard TTL has passed; exiting");
                std::process::exit(0);
            });
        }
        let ttl = args.ttl;
        axum::serve(listener, router(server.clone()))
            .with_graceful_shutdown(async move {
                // Stopped by its TTL, or by the client (pic-js stops it with SIGTERM): either
                // way the port file goes.
                tokio::select! {
                    () = idle(server, ttl) => {}
                    () = stop_signal() => {}
                }
            })
            .await
            .map_err(io("the server failed"))
    })
}

/// Resolves on SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers, the TTL alone stops the server.
        _ => std::future::pending().await,
    }
}

/// Resolves once no request has been in flight for `ttl`.
async fn idle(server: Shared, ttl: Duration) {
    let start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let last = lock(&server.last_activity).unwrap_or(start);
        if server.in_flight.load(Ordering::SeqCst) == 0 && last.elapsed() >= ttl {
            return;
        }
    }
}
