//! Drydock as a PocketIC server: PocketIC's REST protocol over drydock replicas, so test
//! suites written for the `pocket-ic` crate (and the other PocketIC clients) run on drydock.
//!
//! - [`error`]: what a request or the server can fail with.
//! - [`wire`]: the protocol's JSON bodies.
//! - [`request`]: every request body decoded into a typed request, and checked (fuzzed).
//! - [`instance`]: one instance: a replica over its own state directory, one application
//!   subnet, PocketIC's clock, ingress messages by id.
//! - `registry`: what a running server holds (instances, gateways, blobs).
//! - `live`: live mode (`auto_progress`) and HTTP gateways.
//! - `routes`: the routes, each a request run on its instance.
//! - [`server`]: the process: port file, TTL, signals.
//! - `upgrade_check`: `drydock check` on each upgrade, with `DRYDOCK_POCKET_IC_CHECK=1`.
//!
//! Imports point one way: `server` → `routes` → `live` → `registry` → `instance` →
//! `request` → `wire`, and all of them to `error`.
//!
//! It knows PocketIC's protocol and nothing of the IC's HTTP interface, CBOR or command
//! lines. Every instance is a [`drydock_replica::Replica`]: what a canister sees is what it
//! sees under `drydock start`. Without the default feature `server`, the crate is only
//! [`wire`] and [`request`], with no replica: what the fuzz target `pocketic` builds.

pub mod error;
#[cfg(feature = "server")]
pub mod instance;
#[cfg(feature = "server")]
mod live;
#[cfg(feature = "server")]
mod registry;
pub mod request;
#[cfg(feature = "server")]
mod routes;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
mod upgrade_check;
pub mod wire;

pub use error::PocketIcError;
#[cfg(feature = "server")]
pub use registry::Event;
#[cfg(feature = "server")]
pub use server::{serve, ServerArgs};

/// The PocketIC server version drydock answers as: the newest the `pocket-ic` crate on the
/// registry (16.1.0) was made for.
pub const SERVER_VERSION: &str = "16.1.0";

/// The line `--version` prints for the PocketIC clients' version check
/// (`pocket-ic-server X.Y.Z`); drydock's own version rides along as semver build metadata.
pub fn version_line(drydock_version: &str) -> String {
    format!("pocket-ic-server {SERVER_VERSION}+drydock.{drydock_version}")
}
