//! `drydock pocket-ic`: the PocketIC server (`drydock-pocketic`). PocketIC's clients start
//! the binary that `POCKET_IC_BIN` names with PocketIC's own flags and no subcommand, after
//! checking its `--version`; both are recognised here.

use std::time::Duration;

use crate::cli::PocketIcArgs;
use crate::error::CliError;

/// The flags PocketIC's clients start a server with.
const SERVER_FLAGS: [&str; 5] = ["--port-file", "--ttl", "--hard-ttl", "--port", "--ip-addr"];

/// `args` with `pocket-ic` inserted when they are PocketIC's server flags without a
/// subcommand (`drydock --port-file F --ttl 60`); otherwise unchanged.
pub fn with_subcommand(mut args: Vec<String>) -> Vec<String> {
    let first = args.get(1).map(|a| a.split('=').next().unwrap_or(a));
    if first.is_some_and(|f| SERVER_FLAGS.contains(&f)) {
        args.insert(1, "pocket-ic".into());
    }
    args
}

/// Whether this is a PocketIC client checking the server's version: `--version` alone, with
/// `POCKET_IC_BIN` naming this very binary. Anyone else gets drydock's own version.
pub fn asks_version(args: &[String]) -> bool {
    if args.len() != 2 || args[1] != "--version" {
        return false;
    }
    let (Some(bin), Ok(me)) = (std::env::var_os("POCKET_IC_BIN"), std::env::current_exe()) else {
        return false;
    };
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    canonical(std::path::Path::new(&bin)).is_some_and(|b| Some(b) == canonical(&me))
}

/// Prints the version line PocketIC's clients accept, with drydock's version in it.
pub fn print_version() {
    let line = drydock_pocketic::version_line(env!("CARGO_PKG_VERSION"));
    crate::output::Output { json: false }.data(|| line.clone(), || line.clone().into());
}

pub fn run(args: &PocketIcArgs) -> Result<(), CliError> {
    let server = drydock_pocketic::ServerArgs {
        ip_addr: args.ip_addr,
        port: args.port,
        port_file: args.port_file.clone(),
        ttl: Duration::from_secs(args.ttl),
        hard_ttl: args.hard_ttl.map(Duration::from_secs),
        check_upgrades: args.check_upgrades,
    };
    let port_file = args.port_file.is_some();
    let ttl = args.ttl;
    drydock_pocketic::serve(server, move |event| match event {
        drydock_pocketic::Event::Listening(addr) => {
            // Without a port file, the port goes to stdout, for a script to read.
            if !port_file {
                let out = crate::output::Output { json: false };
                out.data(
                    || addr.port().to_string(),
                    || serde_json::json!({ "port": addr.port() }),
                );
            }
            crate::output::note(format!(
                "serving the PocketIC protocol (server {}) on http://{addr}/; it stops after {ttl} s without a request",
                drydock_pocketic::SERVER_VERSION
            ));
        }
        drydock_pocketic::Event::Warning(w) => crate::output::warn(w),
    })
    .map_err(|e| CliError::internal(format!("the PocketIC server: {e}")))
}
