//! The command line: every subcommand, flag and environment variable of `drydock`, as clap
//! derive structs. Nothing here runs anything; `main.rs` dispatches on these types.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// The global options each subcommand's help shows: the state directory, the identity and
/// --json everywhere; --network and --root-key only where they work (`canister snapshot`,
/// `status`, `start`, `stop`, `delete`, `info`, `metadata`, `logs`, `install`, `call`,
/// `upgrade`, `rehearse`, and `check`).
/// The others (the instruction limits) are listed once, by `drydock --help`; every
/// subcommand still accepts them all.
const GLOBALS_SHOWN: [&str; 3] = ["state_dir", "identity", "json"];
const NETWORK_GLOBALS: [&str; 2] = ["network", "root_key"];

/// The command tree as `drydock --help` and each subcommand's help show it (see
/// [`GLOBALS_SHOWN`]).
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    with_help_globals(cmd, &globals, &[])
}

/// Gives every subcommand of `cmd` its own copy of each global option, hidden or shown. clap
/// propagates a global option only into subcommands that lack it, so the copies stand, and
/// since they keep their id and `global`, parsing is the same as without them.
fn with_help_globals(
    mut cmd: clap::Command,
    globals: &[clap::Arg],
    path: &[&str],
) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in &names {
        let mut sub_path = path.to_vec();
        sub_path.push(name);
        let networked = sub_path.starts_with(&["canister", "snapshot"])
            || matches!(
                sub_path.as_slice(),
                [
                    "canister",
                    "status"
                        | "start"
                        | "stop"
                        | "delete"
                        | "info"
                        | "metadata"
                        | "logs"
                        | "upgrade"
                        | "rehearse"
                        | "install"
                        | "call"
                ] | ["check"]
            );
        cmd = cmd.mut_subcommand(name, |mut sub| {
            for g in globals {
                let id = g.get_id().as_str();
                let shown =
                    GLOBALS_SHOWN.contains(&id) || (networked && NETWORK_GLOBALS.contains(&id));
                sub = sub.arg(g.clone().hide(!shown));
            }
            sub = sub.after_long_help(
                "Every command also takes the global options that `drydock --help` lists (the \
                 instruction limits among them).",
            );
            with_help_globals(sub, globals, &sub_path)
        });
    }
    cmd
}

/// Parses the command line as [`Parser::parse`] does (exiting with clap's message and code 2 on
/// a usage error, or printing help), with the help of [`command`].
pub fn parse_from(args: Vec<String>) -> Cli {
    let matches = command().get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command()).exit())
}

/// A local Internet Computer replica: create canisters, install Wasm modules and call them,
/// with the IC's limits and semantics, against a state directory on disk.
#[derive(Debug, Parser)]
#[command(name = "drydock", version)]
#[command(
    after_help = "Exit codes: 0 success; 1 the canister or the management canister rejected the \
request or trapped (the IC error code and message are printed); 2 usage or input error; \
3 drydock itself failed (e.g. the state directory is locked by another process)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags valid before or after any subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The state directory [default: <data dir>/drydock/state, e.g. ~/.local/share/drydock/state].
    #[arg(long, global = true, env = "DRYDOCK_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The identity that signs calls (created on first use when it is "default").
    #[arg(
        long,
        global = true,
        env = "DRYDOCK_IDENTITY",
        value_name = "NAME",
        default_value = "default"
    )]
    pub identity: String,

    /// Sign as the key in this PEM file (Ed25519, secp256k1 or P-256, unencrypted) instead of
    /// a named identity.
    #[arg(long, global = true, env = "DRYDOCK_PEM", value_name = "FILE")]
    pub pem: Option<PathBuf>,

    /// Print data as one JSON object with snake_case fields.
    #[arg(long, global = true)]
    pub json: bool,

    /// Talk to this IC endpoint through its HTTP interface instead of opening the state
    /// directory, e.g. http://127.0.0.1:4943 (`drydock start`) or https://icp-api.io (the IC).
    /// Supported by `canister create` (through the cycles ledger), `status`, `start`, `stop`,
    /// `delete`, `info`, `metadata`, `logs`, `install`, `call`, `upgrade`, `rehearse`, the
    /// `canister snapshot` commands and `check`; the identity is still read from
    /// <state-dir>/identities ("anonymous" for none).
    #[arg(long, global = true, value_name = "URL")]
    pub network: Option<String>,

    /// With --network: the root key that certifies replies, as "fetch" (ask the endpoint's
    /// /api/v2/status, unverified) or the DER key in hex [default: the IC's own key for
    /// icp-api.io, ic0.app and icp0.io, else fetch].
    #[arg(long, global = true, value_name = "fetch|HEX")]
    pub root_key: Option<String>,

    /// Instructions an update call, heartbeat or timer may use [IC: 40 billion].
    #[arg(
        long,
        global = true,
        env = "DRYDOCK_UPDATE_INSTRUCTION_LIMIT",
        value_name = "N"
    )]
    pub update_instruction_limit: Option<u64>,

    /// Instructions a query may use [IC: 5 billion].
    #[arg(
        long,
        global = true,
        env = "DRYDOCK_QUERY_INSTRUCTION_LIMIT",
        value_name = "N"
    )]
    pub query_instruction_limit: Option<u64>,

    /// Instructions an install or upgrade may use in all [IC: 300 billion].
    #[arg(
        long,
        global = true,
        env = "DRYDOCK_INSTALL_INSTRUCTION_LIMIT",
        value_name = "N"
    )]
    pub install_instruction_limit: Option<u64>,

    /// Instructions `canister_inspect_message` may use [IC: 200 million].
    #[arg(
        long,
        global = true,
        env = "DRYDOCK_INSPECT_INSTRUCTION_LIMIT",
        value_name = "N"
    )]
    pub inspect_instruction_limit: Option<u64>,
}

impl GlobalArgs {
    /// The global options from the environment alone (for the icp-cli launcher, whose command
    /// line is icp-cli's, not drydock's).
    pub fn from_env(state_dir: Option<PathBuf>) -> Self {
        let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
        GlobalArgs {
            state_dir: state_dir
                .or_else(|| std::env::var_os("DRYDOCK_STATE_DIR").map(PathBuf::from)),
            identity: std::env::var("DRYDOCK_IDENTITY").unwrap_or_else(|_| "default".into()),
            pem: std::env::var_os("DRYDOCK_PEM").map(PathBuf::from),
            json: false,
            network: None,
            root_key: None,
            update_instruction_limit: num("DRYDOCK_UPDATE_INSTRUCTION_LIMIT"),
            query_instruction_limit: num("DRYDOCK_QUERY_INSTRUCTION_LIMIT"),
            install_instruction_limit: num("DRYDOCK_INSTALL_INSTRUCTION_LIMIT"),
            inspect_instruction_limit: num("DRYDOCK_INSPECT_INSTRUCTION_LIMIT"),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the Ed25519 identities that sign calls.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Create, install, call and inspect canisters.
    #[command(subcommand)]
    Canister(CanisterCommand),
    /// Check whether NEW can safely replace OLD: Candid subtyping, Motoko stable variables,
    /// Wasm exports, hooks and imports. Exits with 1 on a breaking change.
    ///
    /// OLD is a Wasm file or the id of a canister (its deployed module is compared). The
    /// interfaces come from the modules' metadata sections (candid:service, candid:args,
    /// motoko:stable-types). With --network URL, OLD is a canister on that network: its
    /// interfaces are read from the state tree (private sections as a controller), and the
    /// Wasm structure check is skipped, since the IC does not give out a module's bytes.
    Check {
        /// The current module: a Wasm file, or a canister id.
        old: String,
        /// The module to upgrade to (a Wasm file, plain or gzipped).
        new: PathBuf,
    },
    /// Serve the IC HTTP interface on the state directory, so icp-cli, dfx, ic-agent and
    /// agent-js work against drydock (`icp ... -n http://127.0.0.1:4943 -k fetch`).
    ///
    /// The state directory is locked while the server runs (stop it with Ctrl-C): other
    /// drydock commands on the same directory are refused until then. drydock is also an icp-cli network launcher: set
    /// ICP_CLI_NETWORK_LAUNCHER_PATH to the drydock binary.
    Start(StartArgs),
    /// Requests submitted with `canister call --async`.
    #[command(subcommand)]
    Request(RequestCommand),
    /// The upgrader canister carried by this binary: it upgrades other canisters (or a
    /// canister that asks for its own upgrade) with stop, snapshot, install, start, health
    /// check, and rollback on failure, on drydock and on the IC. See README, "Upgrading a
    /// canister from itself".
    #[command(subcommand)]
    Upgrader(UpgraderCommand),
    /// Serve PocketIC's REST protocol, so that test suites written for the `pocket-ic` crate,
    /// `@dfinity/pic` or Python `pocket-ic` run on drydock unchanged: set POCKET_IC_BIN to the
    /// drydock binary. Started as the clients start a PocketIC server (`drydock --port-file
    /// FILE ...`, no subcommand), drydock runs this. See README, "Testing with PocketIC
    /// clients".
    #[command(name = "pocket-ic")]
    PocketIc(PocketIcArgs),
}

/// `drydock pocket-ic`: PocketIC's own flags.
#[derive(Debug, Clone, Args)]
pub struct PocketIcArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip_addr: std::net::IpAddr,
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Write the port to FILE once listening; if FILE exists, another server owns it and this
    /// one exits at once.
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// Stop after this many seconds without a request.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub ttl: u64,
    /// Stop this many seconds after the start, whatever is running.
    #[arg(long, value_name = "SECONDS")]
    pub hard_ttl: Option<u64>,
    /// Run `drydock check` on every upgrade an instance performs, and print its findings as
    /// warnings (the upgrade proceeds as PocketIC would run it).
    #[arg(long, env = "DRYDOCK_POCKET_IC_CHECK", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub check_upgrades: bool,
    /// PocketIC's log filter; drydock logs to stderr without one.
    #[arg(long, hide = true)]
    pub log_levels: Option<String>,
}

/// `drydock upgrader ...`.
#[derive(Debug, Subcommand)]
pub enum UpgraderCommand {
    /// Write the upgrader's Wasm module to FILE (deploy it with `drydock canister install` or
    /// icp-cli).
    Wasm {
        /// Where to write the module.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Print the upgrader's Candid interface (or write it to FILE).
    Did {
        /// Where to write the interface.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `drydock request ...`.
#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Print the reply of a request submitted with `canister call --async`, or that it is
    /// still processing (exit 0) — with --wait, wait for the reply.
    Status {
        /// The request id `canister call --async` printed.
        id: String,
        /// Run the replica until the reply is there.
        #[arg(long)]
        wait: bool,
        /// How to print the reply.
        #[arg(long, value_enum, default_value_t = OutputFormat::Candid)]
        output: OutputFormat,
    },
}

/// `drydock start`.
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// The port to listen on (0 picks a free one, printed at start).
    #[arg(long, default_value_t = 4943)]
    pub port: u16,
    /// Write `status.json` ({"v":"1","gateway_port":P,"root_key":"<hex DER>"}) here once
    /// the server is ready, as icp-cli's network launcher interface expects.
    #[arg(long, value_name = "DIR")]
    pub status_dir: Option<PathBuf>,
    /// Connections served at once; one more gets "503 Service Unavailable". Each takes a file
    /// descriptor: drydock raises its open-file limit to this plus 512 when the hard limit
    /// allows, else serves fewer (and says so).
    #[arg(long, value_name = "N", default_value_t = drydock_http::listener::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
}

/// How to tell that an upgraded canister is healthy.
#[derive(Clone, Debug, Default, Args)]
pub struct HealthArgs {
    /// A query and the reply it must give, as "METHOD ARGS => EXPECTED" in Candid text,
    /// e.g. 'count () => (3 : nat)' or 'version () => ("v2")'. Repeat for several.
    #[arg(long = "health-check", value_name = "\"METHOD ARGS => EXPECTED\"")]
    pub checks: Vec<String>,
    /// A shell command that must exit with 0 (run with DRYDOCK_CANISTER_ID set, and
    /// DRYDOCK_STATE_DIR, or with --network DRYDOCK_NETWORK, the URL).
    #[arg(long, value_name = "CMD")]
    pub health_check_cmd: Option<String>,
}

/// What `canister upgrade` and `canister rehearse` share.
#[derive(Clone, Debug, Args)]
pub struct UpgradeArgs {
    /// The canister id.
    pub canister: String,
    /// The new Wasm module (plain or gzipped).
    pub wasm: PathBuf,
    /// The post_upgrade argument as Candid text [default: ()].
    #[arg(long, value_name = "CANDID_TEXT")]
    pub arg: Option<String>,
    /// Do not run the old module's canister_pre_upgrade.
    #[arg(long)]
    pub skip_pre_upgrade: bool,
    /// Keep or replace the Wasm memory across the upgrade.
    #[arg(long, value_enum, value_name = "KEEP_OR_REPLACE")]
    pub wasm_memory_persistence: Option<Persistence>,
    /// How long `upgrade` waits, once the canister is stopping, for its open calls to finish
    /// before it gives up and starts the canister again.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub drain_timeout: u64,
    #[command(flatten)]
    pub health: HealthArgs,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create a new identity (an Ed25519 key in <state-dir>/identities/NAME.pem) and print
    /// its principal.
    New {
        /// Letters, digits, '.', '_' and '-', starting with a letter or digit.
        name: String,
    },
    /// List the identities, one name a line.
    List,
    /// Print the principal of an identity [default: the one selected by --identity].
    Principal { name: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum CanisterCommand {
    /// Create an empty canister and print its id.
    ///
    /// The canister's controllers are the calling identity plus every --controller given,
    /// so the creator can always manage what it created.
    Create {
        /// An additional controller (a principal); repeat for several.
        #[arg(long = "controller", value_name = "PRINCIPAL")]
        controllers: Vec<String>,
        /// The canister's starting cycles balance [default: 100 trillion]. With --network, the
        /// cycles paid from the caller's cycles-ledger balance [default: 2 trillion, as icp-cli].
        #[arg(long, value_name = "N")]
        cycles: Option<u128>,
    },
    /// Install a Wasm module (plain or gzipped) on a canister.
    Install {
        /// The canister id.
        canister: String,
        /// The Wasm module file.
        wasm: PathBuf,
        #[arg(long, short = 'm', value_enum, default_value_t = InstallMode::Install)]
        mode: InstallMode,
        /// Do not run the old module's canister_pre_upgrade (only with --mode upgrade).
        #[arg(long)]
        skip_pre_upgrade: bool,
        /// Keep or replace the Wasm memory across the upgrade (only with --mode upgrade).
        #[arg(long, value_enum, value_name = "KEEP_OR_REPLACE")]
        wasm_memory_persistence: Option<Persistence>,
        /// The init or post_upgrade argument as Candid text, e.g. '("hello", 42)'; typed by the
        /// module's candid:service (or candid:args) section when it has one [default: ()].
        #[arg(long, value_name = "CANDID_TEXT")]
        arg: Option<String>,
    },
    /// Call a method of a canister and print its reply.
    Call {
        /// The canister id.
        canister: String,
        /// The method name.
        method: String,
        /// The arguments as Candid text, e.g. '("key", "value")' [default: ()]; typed by the
        /// canister's candid:service metadata when it has one.
        #[arg(conflicts_with_all = ["raw", "args_file", "raw_file"])]
        args: Option<String>,
        /// Read the arguments as Candid text from FILE (for arguments too long for a command
        /// line, such as a Wasm module as a `blob`).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["raw", "raw_file"])]
        args_file: Option<PathBuf>,
        /// Send the bytes of FILE as they are (an argument already Candid-encoded).
        #[arg(long, value_name = "FILE", conflicts_with = "raw")]
        raw_file: Option<PathBuf>,
        /// Make a query call (the default for methods the canister's Candid marks `query`).
        #[arg(long, conflicts_with = "update")]
        query: bool,
        /// Make an update call even if the Candid says `query`.
        #[arg(long)]
        update: bool,
        /// The argument as hex-encoded bytes, sent as they are.
        #[arg(long, value_name = "HEX")]
        raw: Option<String>,
        /// How to print the reply.
        #[arg(long, value_enum, default_value_t = OutputFormat::Candid)]
        output: OutputFormat,
        /// Submit the update call and print its request id without waiting for the reply;
        /// `drydock request status ID [--wait]` reads it.
        #[arg(long = "async", conflicts_with = "query")]
        async_call: bool,
    },
    /// Print a canister's status, settings and memory use (controllers only).
    Status { canister: String },
    /// Print a canister's log: what it printed with `debug_print` and its traps, as the
    /// management canister's `fetch_canister_logs` returns them (controllers only, unless the
    /// log is public).
    Logs {
        canister: String,
        /// Keep running (timers and heartbeats included) and print new records as they come.
        #[arg(long)]
        follow: bool,
    },
    /// Stop a canister: it rejects new calls, finishes the calls it is executing, and is
    /// stopped once none is open. Waits for that unless --no-wait.
    Stop {
        canister: String,
        /// Return while the canister is still stopping.
        #[arg(long)]
        no_wait: bool,
    },
    /// Start a stopped canister.
    Start { canister: String },
    /// Add cycles to a canister (the management canister's `provisional_top_up_canister`, as
    /// on a local IC network): AMOUNT as digits (`_` allowed) or with a suffix, e.g. 500_000,
    /// 2B, 1.5T. A frozen canister is unfrozen once its balance is above its freezing limit.
    #[command(name = "top-up")]
    TopUp {
        canister: String,
        /// The cycles to add.
        amount: String,
    },
    /// Delete a stopped canister with its state.
    Delete { canister: String },
    /// List the ids of all canisters in the state directory.
    List,
    /// Print a canister's controllers, module hash and history (as `canister_info` does).
    Info { canister: String },
    /// List a canister's metadata sections, or print one (text if UTF-8, else hex).
    Metadata {
        canister: String,
        /// The section name without its `icp:public`/`icp:private` prefix, e.g. candid:service.
        name: Option<String>,
    },
    /// Create, list, restore and delete snapshots of a canister's state, download them to a
    /// directory and upload them from one (controllers only).
    ///
    /// With --network URL these commands talk to an IC endpoint (a running `drydock start`, or
    /// the IC itself) instead of the state directory, so a snapshot moves between the two.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Upgrade a canister safely: check, snapshot, upgrade, health check, and load the
    /// snapshot back if anything fails.
    ///
    /// Refuses a breaking change (see `drydock check`) unless --yes. The automatic snapshot
    /// is labelled; drydock keeps at most 5 of its own and never deletes one you took. An
    /// EOP (Motoko) canister keeps its Wasm memory unless --wasm-memory-persistence says
    /// otherwise.
    ///
    /// With --network URL the same steps run against that endpoint (the IC too): the checks
    /// against the deployed module's metadata, stop, snapshot, install (chunked over 2 MB),
    /// start, health checks as queries, and on failure stop, load the snapshot and start.
    /// drydock records which snapshots on a network are its own in
    /// <state-dir>/network-snapshots.json; the commands to roll back by hand are printed as
    /// soon as the snapshot exists.
    Upgrade {
        #[command(flatten)]
        upgrade: UpgradeArgs,
        /// Upgrade even when the checks find a breaking change.
        #[arg(long, short)]
        yes: bool,
        /// Take no snapshot first (a failed health check then cannot be rolled back).
        #[arg(long)]
        no_snapshot: bool,
    },
    /// Rehearse an upgrade on a clone of the canister: upgrade it to NEW, then again from
    /// NEW to NEW (so NEW's own pre_upgrade runs), health-check it, and report each hook's
    /// instructions and memory against the IC's limits. The canister itself is not touched.
    ///
    /// With --network URL the canister's state is copied from that endpoint first (a snapshot
    /// taken, downloaded and deleted there) into a local canister of the state directory,
    /// and the rehearsal runs on the copy.
    Rehearse {
        #[command(flatten)]
        upgrade: UpgradeArgs,
        /// Keep the clone afterwards (its id is printed).
        #[arg(long)]
        keep: bool,
        /// With --network: copy the canister's state from this existing snapshot (hex id)
        /// instead of taking one; it is left on the network.
        #[arg(long, value_name = "SNAPSHOT_ID")]
        snapshot: Option<String>,
        /// With --network: keep the snapshot taken to copy the canister's state (it is
        /// deleted otherwise).
        #[arg(long, conflicts_with = "snapshot")]
        keep_snapshot: bool,
    },
    /// Replace a canister's module while keeping its heap, globals and stable memory,
    /// running no hook: the way out for a canister whose pre_upgrade traps. Only when the
    /// two modules' memories, tables, globals, data and element segments are identical; a
    /// snapshot is taken first.
    Hotfix {
        /// The canister id.
        canister: String,
        /// The fixed Wasm module.
        wasm: PathBuf,
    },
}

/// The `canister snapshot` subcommands, named as icp-cli names them. Snapshot ids are the
/// snapshot's bytes in lowercase hex, as `create` and `list` print them.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Snapshot a canister's Wasm module, heap, stable memory and globals, and print its id.
    ///
    /// The canister may be running: drydock runs one message at a time, so a snapshot never
    /// sees a half-finished message.
    Create {
        /// The canister id.
        canister: String,
        /// Replace this snapshot (hex id): it is deleted once the new one is taken.
        #[arg(long, value_name = "SNAPSHOT_ID")]
        replace: Option<String>,
        /// Print only the new snapshot's id.
        #[arg(long, short, conflicts_with = "json")]
        quiet: bool,
    },
    /// List a canister's snapshots: id, size and when each was taken.
    List {
        /// The canister id.
        canister: String,
        /// Print only the snapshot ids, one a line.
        #[arg(long, short, conflicts_with = "json")]
        quiet: bool,
    },
    /// Restore a canister to a snapshot: its module, memories and globals become the
    /// snapshot's; the snapshot itself is kept.
    Restore {
        /// The canister id.
        canister: String,
        /// The snapshot id (hex).
        snapshot_id: String,
    },
    /// Delete a snapshot.
    Delete {
        /// The canister id.
        canister: String,
        /// The snapshot id (hex).
        snapshot_id: String,
    },
    /// Download a snapshot into a directory: icp-cli's layout (metadata.json, wasm_module.bin,
    /// wasm_memory.bin, stable_memory.bin, wasm_chunk_store/) plus drydock's manifest.json
    /// with the SHA-256 of every slice and a root hash.
    Download {
        /// The canister id.
        canister: String,
        /// The snapshot id (hex).
        snapshot_id: String,
        /// The directory to write (empty or new, unless --resume).
        #[arg(long, short = 'o', value_name = "DIR")]
        output: PathBuf,
        /// Continue an interrupted download: slices already in DIR that match the manifest
        /// are kept, the rest are downloaded.
        #[arg(long)]
        resume: bool,
    },
    /// Upload a snapshot directory as a new snapshot of the canister and print its id. Every
    /// file is verified against manifest.json before anything is sent (a directory without
    /// one, e.g. from icp-cli, is uploaded with a warning).
    Upload {
        /// The canister id.
        canister: String,
        /// The snapshot directory.
        #[arg(long, short = 'i', value_name = "DIR")]
        input: PathBuf,
        /// Continue an interrupted upload recorded in DIR/.upload_progress.json.
        #[arg(long)]
        resume: bool,
        /// Replace this snapshot (hex id): it is deleted when the new one is created.
        #[arg(long, value_name = "SNAPSHOT_ID")]
        replace: Option<String>,
        /// Print only the new snapshot's id.
        #[arg(long, short, conflicts_with = "json")]
        quiet: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InstallMode {
    /// The canister must be empty.
    Install,
    /// Wipe all state, stable memory included, then install.
    Reinstall,
    /// Run pre_upgrade, swap the module, run post_upgrade; stable memory is kept.
    Upgrade,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Persistence {
    Keep,
    Replace,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Candid text, typed by the canister's candid:service when known.
    Candid,
    /// The raw reply bytes in hex.
    Hex,
    /// The reply values as a JSON array.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
