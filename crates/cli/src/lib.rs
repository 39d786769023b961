//! `drydock`: the command-line front end of a local Internet Computer replica, as a library
//! (`drydock-cli`) behind a thin `main.rs`: [`main`] is the whole program, and the safe-upgrade
//! orchestration (`network_upgrade::upgrade` returns a typed report) can be driven in process.
//!
//! # Code map
//! - `cli`: the command tree, flags and environment variables (clap).
//! - `context`: opening the state directory and the replica; management canister calls.
//! - `identity`: Ed25519 identities and the `identity` subcommands.
//! - `canister`: the `canister` subcommands; `install`, `call` and `snapshot` (the
//!   `canister snapshot` subcommands) have their own modules, and `snapshot_transfer` the
//!   snapshot download and upload (directory format, `manifest.json`, resume).
//! - `check`: `drydock check` and the upgrade report; `safe`: `canister upgrade`,
//!   `rehearse` and `hotfix`, the safe paths of an upgrade; `network_upgrade`: `canister
//!   upgrade` and `check` over `--network`, `network_rehearse` `canister rehearse` on a copy of
//!   a network's canister; `auto_snapshot` and `health`, what they share.
//! - `candid_io`: Candid text in, Candid replies out, typed by a canister's service.
//! - `transport`: the management canister through the embedded replica or, with
//!   `--network URL`, ic-agent (`transport::agent`).
//! - `pocket_ic`: `drydock pocket-ic`, the PocketIC server (`drydock-pocketic`), and the
//!   binary started as PocketIC's clients start a PocketIC server.
//! - `start`: `drydock start`, the IC HTTP interface (`drydock-http`), and the icp-cli
//!   network launcher interface (the binary run with `--interface-version ...`).
//! - `error`: failures and their exit codes; `output`: everything written to the terminal.
//!
//! # Invariants
//! - Data goes to stdout, messages to stderr; with `--json` stdout is one JSON object.
//! - The exit code says whose fault a failure is: 1 the canister's (an IC reject), 2 the
//!   user's input, 3 drydock's own (see `error`).
//! - The CLI talks to canisters only through `drydock-replica`'s public API, with the Candid
//!   requests a real IC client would send to the management canister — or, with
//!   `--network URL` (`canister create` through the cycles ledger, `status`, `start`, `stop`,
//!   `delete`, `info`, `metadata`, `logs`, `install`, `call`, `upgrade`, `rehearse`, the
//!   `canister snapshot` commands, and `check`), through ic-agent to that endpoint, without
//!   opening the state directory.

pub mod auto_snapshot;
pub mod call;
pub mod candid_io;
pub mod canister;
pub mod check;
pub mod cli;
pub mod context;
pub mod error;
pub mod foreign_identities;
pub mod health;
pub mod identity;
pub mod install;
pub mod network_rehearse;
pub mod network_upgrade;
pub mod output;
pub mod pocket_ic;
pub mod safe;
pub mod snapshot;
pub mod snapshot_transfer;
pub mod start;
pub mod transport;
pub mod units;
pub mod upgrader;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::CliError;

/// The stack of the thread that runs a command: deeply nested Candid text or values recurse.
const STACK_BYTES: usize = 64 << 20;

/// The `drydock` program: parses the process's arguments, runs the command on a thread with a
/// large stack, prints any error, and returns the exit code.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cli = if start::is_launcher_invocation(&args) {
        match start::parse_launcher_args(&args) {
            Ok(l) => Cli {
                global: cli::GlobalArgs::from_env(l.state_dir),
                command: Command::Start(l.start),
            },
            Err(e) => {
                output::error(&e);
                return ExitCode::from(e.exit_code() as u8);
            }
        }
    } else if pocket_ic::asks_version(&args) {
        pocket_ic::print_version();
        return ExitCode::SUCCESS;
    } else {
        cli::parse_from(pocket_ic::with_subcommand(args))
    };
    let worker = std::thread::Builder::new()
        .name("drydock".into())
        .stack_size(STACK_BYTES)
        .spawn(move || run(cli));
    let result = match worker {
        Ok(handle) => handle.join().unwrap_or_else(|_| {
            Err(CliError::internal(
                "drydock panicked (a bug; please report it)",
            ))
        }),
        Err(e) => Err(CliError::internal(format!(
            "cannot start the worker thread: {e}"
        ))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error(&e);
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Identity(cmd) => {
            let dir = context::state_dir(&cli.global)?;
            let out = output::Output {
                json: cli.global.json,
            };
            identity::run(
                cmd,
                &dir,
                &cli.global.identity,
                cli.global.pem.as_deref(),
                out,
            )
        }
        Command::Canister(cmd) => canister::run(cmd, &cli.global),
        Command::Check { old, new } => match &cli.global.network {
            // The IC keeps a module's hash and metadata, not its bytes: the interfaces are
            // read from the state tree.
            Some(url) => network_upgrade::check_command(url, &old, &new, &cli.global),
            None => check::run(&old, &new, &cli.global),
        },
        Command::Start(_) if cli.global.network.is_some() => Err(CliError::usage(
            "`drydock start` serves a network on the state directory; --network is for the \
             commands that talk to one",
        )),
        Command::Start(args) => start::run(&args, &cli.global),
        Command::Upgrader(cmd) => upgrader::run(
            cmd,
            output::Output {
                json: cli.global.json,
            },
        ),
        Command::PocketIc(args) => pocket_ic::run(&args),
        Command::Request(cli::RequestCommand::Status { id, wait, output }) => {
            let mut ctx = context::Ctx::open(&cli.global)?;
            call::status(&mut ctx, &id, wait, output)
        }
    }
}
