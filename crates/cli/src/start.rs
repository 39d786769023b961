//! `drydock start`: the IC HTTP interface (`drydock-http`) over the state directory, and the
//! icp-cli network launcher interface on top of it.
//!
//! As a launcher, icp-cli runs the binary in `ICP_CLI_NETWORK_LAUNCHER_PATH` with
//! `--interface-version 1.1.0 --state-dir D --bind A --gateway-port P --status-dir S ...`
//! (unknown flags are ignored), waits for `S/status.json`, and stops it with SIGINT.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::cli::{GlobalArgs, StartArgs};
use crate::context;
use crate::error::CliError;

/// Whether the process was started by icp-cli as its network launcher.
pub fn is_launcher_invocation(args: &[String]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| a == "--interface-version" || a.starts_with("--interface-version="))
}

/// The launcher's flags: the ones drydock uses, the rest ignored.
pub struct LauncherArgs {
    pub state_dir: Option<PathBuf>,
    pub start: StartArgs,
}

/// Parses icp-cli's launcher command line (`--flag value` or `--flag=value`).
pub fn parse_launcher_args(args: &[String]) -> Result<LauncherArgs, CliError> {
    let mut state_dir = None;
    let mut start = StartArgs {
        bind: IpAddr::from([127, 0, 0, 1]),
        port: 0,
        status_dir: None,
        max_connections: drydock_http::listener::DEFAULT_MAX_CONNECTIONS,
    };
    let mut i = 1;
    while i < args.len() {
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (args[i].clone(), None),
        };
        let takes_value = matches!(
            flag.as_str(),
            "--interface-version" | "--state-dir" | "--bind" | "--gateway-port" | "--status-dir"
        );
        let value = if inline.is_some() || !takes_value {
            inline
        } else {
            i += 1;
            args.get(i).cloned()
        };
        let need = |v: Option<String>| {
            v.ok_or_else(|| CliError::usage(format!("launcher flag {flag} needs a value")))
        };
        match flag.as_str() {
            "--interface-version" => {
                let v = need(value)?;
                if !v.starts_with("1.") {
                    return Err(CliError::usage(format!(
                        "icp-cli asked for launcher interface {v}; drydock speaks 1.x"
                    )));
                }
            }
            "--state-dir" => state_dir = Some(PathBuf::from(need(value)?)),
            "--bind" => {
                let v = need(value)?;
                start.bind = v
                    .parse()
                    .map_err(|e| CliError::usage(format!("--bind {v}: {e}")))?;
            }
            "--gateway-port" => {
                let v = need(value)?;
                start.port = v
                    .parse()
                    .map_err(|e| CliError::usage(format!("--gateway-port {v}: {e}")))?;
            }
            "--status-dir" => start.status_dir = Some(PathBuf::from(need(value)?)),
            _ => {}
        }
        i += 1;
    }
    Ok(LauncherArgs { state_dir, start })
}

/// Serves until SIGINT or SIGTERM.
pub fn run(args: &StartArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let dir = context::state_dir(global)?;
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::internal(format!(
            "cannot create the state directory {}: {e}",
            dir.display()
        ))
    })?;
    let replica = drydock_replica::Replica::open(&dir, context::config(global))
        .map_err(|e| CliError::internal(format!("cannot open {}: {e}", dir.display())))?;
    let service =
        drydock_http::service(replica, &dir).map_err(|e| CliError::internal(e.to_string()))?;
    let root_key = hex::encode(service.keys().root_key_der());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = drydock_http::Listener::bind(SocketAddr::new(args.bind, args.port))
            .await
            .map_err(|e| CliError::usage(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::internal(e.to_string()))?;
        if let Some(status_dir) = &args.status_dir {
            write_status(status_dir, addr.port(), &root_key)?;
        }
        crate::output::note(format!(
            "drydock is serving the IC HTTP interface at http://{addr} (state {}); root key {root_key}",
            dir.display()
        ));
        let config = drydock_http::ServeConfig {
            max_connections: args.max_connections,
            ..drydock_http::ServeConfig::default()
        };
        listener
            .serve_with(service, config, shutdown_signal())
            .await
            .map_err(|e| CliError::internal(e.to_string()))
    })
}

/// Writes `status.json` atomically, ending with a newline as icp-cli requires.
fn write_status(dir: &Path, port: u16, root_key_hex: &str) -> Result<(), CliError> {
    let io = |e: std::io::Error| {
        CliError::internal(format!("cannot write {}/status.json: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let body = serde_json::json!({
        "v": "1",
        "gateway_port": port,
        "root_key": root_key_hex,
    });
    let tmp = dir.join(".status.json.tmp");
    std::fs::write(&tmp, format!("{body}\n")).map_err(io)?;
    std::fs::rename(&tmp, dir.join("status.json")).map_err(io)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn launcher_flags_are_read_and_unknown_ones_ignored() {
        let a = args("drydock --interface-version 1.1.0 --state-dir /s --bind 0.0.0.0 --gateway-port 8080 --status-dir /st --domain=localhost --future-flag=1");
        assert!(is_launcher_invocation(&a));
        let l = parse_launcher_args(&a).unwrap();
        assert_eq!(l.state_dir, Some(PathBuf::from("/s")));
        assert_eq!(l.start.port, 8080);
        assert_eq!(l.start.bind.to_string(), "0.0.0.0");
        assert_eq!(l.start.status_dir, Some(PathBuf::from("/st")));
        assert!(!is_launcher_invocation(&args("drydock start --port 1")));
        assert!(parse_launcher_args(&args("drydock --interface-version 2.0.0")).is_err());
    }
}
