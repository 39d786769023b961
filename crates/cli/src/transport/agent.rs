//! `--network URL`: the commands' management calls to any IC endpoint (`drydock
//! start`, the IC itself) through ic-agent, with its verification on (certificates checked
//! against the root key).
//!
//! - Every call is an update call to `aaaaa-aa` with the canister as its effective canister id,
//!   as icp-cli makes them (`read_canister_snapshot_*` included: the IC has no query form).
//! - The identity is the CLI's (`context::selected_identity`: `--pem FILE`, drydock's own,
//!   icp-cli's or dfx's, or `--identity anonymous`); the state directory itself is never
//!   opened or locked.
//! - The root key: `--root-key fetch` asks the endpoint's `/api/v2/status` (unverified, with a
//!   warning), `--root-key HEX` pins one; by default the IC's own key for its domains
//!   (icp-api.io, ic0.app, icp0.io) and fetch for any other URL.
//! - Transient failures are retried [`RETRIES`] times with a growing pause: a `SYS_TRANSIENT`
//!   reject always (the call was not executed); unreachable endpoints, timeouts and HTTP
//!   429/5xx only for the calls that can be repeated without effect (reads, data uploads,
//!   list, load) — a second `take_canister_snapshot` or metadata upload would make a second
//!   snapshot.

use std::collections::VecDeque;
use std::time::Duration;

use candid::Principal;
use ic_agent::agent::RejectCode;
use ic_agent::{Agent, AgentError};
use ic_management_canister_types::{Snapshot, TakeCanisterSnapshotArgs};

use super::labels::SnapshotLabels;
use super::Transport;
use crate::error::CliError;
use crate::output::warn;

/// Retries of a call that failed transiently.
pub const RETRIES: u32 = 3;
/// The pause before the first retry; doubled before each next one.
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// The domains of the IC itself, whose root key ic-agent has built in.
const IC_DOMAINS: [&str; 3] = ["icp-api.io", "ic0.app", "icp0.io"];
/// The length of a BLS12-381 root key in DER.
const ROOT_KEY_BYTES: usize = 133;

/// Where the root key comes from.
#[derive(Debug, PartialEq, Eq)]
enum RootKey {
    /// ic-agent's built-in key of the IC.
    Ic,
    /// The endpoint's `/api/v2/status`.
    Fetch,
    /// Given on the command line.
    Given(Vec<u8>),
}

/// The host of a URL (`https://user@HOST:port/path`), lowercased.
fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    host.to_ascii_lowercase()
}

fn is_ic(url: &str) -> bool {
    let host = host(url);
    IC_DOMAINS
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

fn root_key(url: &str, flag: Option<&str>) -> Result<RootKey, CliError> {
    match flag {
        None if is_ic(url) => Ok(RootKey::Ic),
        None => Ok(RootKey::Fetch),
        Some(f) if f.eq_ignore_ascii_case("fetch") => Ok(RootKey::Fetch),
        Some(text) => {
            let key = hex::decode(text.trim()).map_err(|e| {
                CliError::usage(format!("--root-key: not \"fetch\" nor a key in hex ({e})"))
            })?;
            if key.len() != ROOT_KEY_BYTES {
                return Err(CliError::usage(format!(
                    "--root-key: a root key is {ROOT_KEY_BYTES} bytes of DER ({} hex digits), \
                     not {} bytes",
                    2 * ROOT_KEY_BYTES,
                    key.len()
                )));
            }
            Ok(RootKey::Given(key))
        }
    }
}

/// Whether a failure of `method` may be retried: `idempotent` says the call may run twice.
fn transient(e: &AgentError, idempotent: bool) -> bool {
    match e {
        AgentError::CertifiedReject { reject, .. }
        | AgentError::UncertifiedReject { reject, .. } => {
            reject.reject_code == RejectCode::SysTransient
        }
        AgentError::TransportError(_) | AgentError::TimeoutWaitingForResponse() => idempotent,
        AgentError::HttpError(p) => idempotent && (p.status == 429 || p.status >= 500),
        _ => false,
    }
}

/// The management methods a retry cannot do harm with.
fn idempotent(method: &str) -> bool {
    matches!(
        method,
        "read_canister_snapshot_metadata"
            | "read_canister_snapshot_data"
            | "upload_canister_snapshot_data"
            | "list_canister_snapshots"
            | "load_canister_snapshot"
            | "canister_status"
            | "start_canister"
            | "stop_canister"
    )
}

/// The management calls of the snapshot commands, over an ic-agent [`Agent`].
pub struct AgentTransport {
    agent: Agent,
    runtime: tokio::runtime::Runtime,
    url: String,
    /// drydock's record of its own snapshots on this network.
    labels: Option<SnapshotLabels>,
}

impl AgentTransport {
    /// An agent for `url` signing as `identity`, with its root key set from `--root-key`
    /// (`root_key_flag`).
    pub fn connect(
        url: &str,
        root_key_flag: Option<&str>,
        identity: Box<dyn ic_agent::Identity>,
    ) -> Result<AgentTransport, CliError> {
        let root = root_key(url, root_key_flag)?;
        // Two workers: a stream of calls verifies one answer's certificate while the caller
        // writes the one before (a 4 GiB snapshot download 11 % faster than with one thread).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| CliError::internal(format!("cannot start the async runtime: {e}")))?;
        let agent = {
            let _guard = runtime.enter();
            Agent::builder()
                .with_url(url)
                .with_boxed_identity(identity)
                .with_max_tcp_error_retries(RETRIES as usize)
                .build()
                .map_err(|e| CliError::usage(format!("--network {url}: {e}")))?
        };
        let transport = AgentTransport {
            agent,
            runtime,
            url: url.to_string(),
            labels: None,
        };
        match root {
            RootKey::Ic => {}
            RootKey::Given(key) => transport.agent.set_root_key(key),
            RootKey::Fetch => {
                transport.with_retries("the root key", true, |agent| async move {
                    agent.fetch_root_key().await
                })?;
                if is_ic(url) {
                    warn(format!(
                        "the root key was fetched from {url}, which is the IC: pass no \
                         --root-key to use the IC's own key instead"
                    ));
                }
            }
        }
        Ok(transport)
    }

    /// Keeps drydock's labels of the snapshots it takes on this network in the file `path`
    /// (see [`SnapshotLabels`]).
    pub fn with_labels(mut self, path: std::path::PathBuf) -> AgentTransport {
        self.labels = Some(SnapshotLabels::new(path, &self.agent.read_root_key()));
        self
    }

    /// Calls `method` of `callee` with `effective` as the effective canister id: a query, or
    /// an update waited for (v3 sync call, then polling). `idempotent` says whether a
    /// transport failure may be retried.
    fn call(
        &self,
        callee: Principal,
        effective: Principal,
        method: &str,
        arg: &[u8],
        query: bool,
        idempotent: bool,
    ) -> Result<Vec<u8>, CliError> {
        self.with_retries(method, idempotent, |agent| async move {
            if query {
                agent
                    .query(&callee, method)
                    .with_effective_canister_id(effective)
                    .with_arg(arg.to_vec())
                    .call()
                    .await
            } else {
                agent
                    .update(&callee, method)
                    .with_effective_canister_id(effective)
                    .with_arg(arg.to_vec())
                    .call_and_wait()
                    .await
            }
        })
    }

    /// Runs `f` on the runtime, retrying transient failures.
    fn with_retries<F, Fut, T>(&self, what: &str, idempotent: bool, f: F) -> Result<T, CliError>
    where
        F: Fn(Agent) -> Fut,
        Fut: std::future::Future<Output = Result<T, AgentError>>,
    {
        let mut pause = FIRST_PAUSE;
        let mut attempt = 0;
        loop {
            match self.runtime.block_on(f(self.agent.clone())) {
                Ok(v) => return Ok(v),
                Err(e) if attempt < RETRIES && transient(&e, idempotent) => {
                    attempt += 1;
                    warn(format!(
                        "{what} through {}: {} — retrying ({attempt}/{RETRIES})",
                        self.url,
                        describe(&e)
                    ));
                    std::thread::sleep(pause);
                    pause *= 2;
                }
                Err(e) => return Err(self.error(what, e)),
            }
        }
    }

    /// A network failure as the CLI reports it.
    fn error(&self, what: &str, e: AgentError) -> CliError {
        let url = &self.url;
        match e {
            AgentError::CertifiedReject { reject, .. }
            | AgentError::UncertifiedReject { reject, .. } => CliError::NetworkRejected {
                reject_code: reject.reject_code as u64,
                error_code: reject.error_code,
                message: reject.reject_message,
            },
            AgentError::CertificateVerificationFailed()
            | AgentError::DerKeyLengthMismatch { .. }
            | AgentError::DerPrefixMismatch { .. }
            | AgentError::CertificateNotAuthorized() => CliError::internal(format!(
                "{what}: the reply of {url} does not verify ({e}) — is the root key right? \
                 (--root-key fetch asks the endpoint for its key)"
            )),
            AgentError::CertificateOutdated(_) => {
                CliError::internal(format!("{what}: the reply of {url} is stale ({e})"))
            }
            other => CliError::internal(format!("{what} through {url}: {}", describe(&other))),
        }
    }
}

/// An agent error in a sentence: HTTP errors with their status and body text.
fn describe(e: &AgentError) -> String {
    match e {
        AgentError::HttpError(p) => {
            let body = String::from_utf8_lossy(&p.content);
            let body = body.trim();
            if body.is_empty() {
                format!("HTTP {}", p.status)
            } else {
                format!("HTTP {}: {body}", p.status)
            }
        }
        AgentError::TransportError(t) => format!("cannot reach the endpoint: {t}"),
        AgentError::TimeoutWaitingForResponse() => "no answer in time".to_string(),
        other => other.to_string(),
    }
}

impl Transport for AgentTransport {
    fn management_raw(
        &mut self,
        method: &str,
        canister: Principal,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        let idempotent = idempotent(method);
        self.call(
            Principal::management_canister(),
            canister,
            method,
            &arg,
            false,
            idempotent,
        )
    }

    /// The calls are spawned on the runtime in order, up to `in_flight`, and awaited in order;
    /// while one is awaited the others are under way, and each answer makes room for the next
    /// call, so the endpoint always has work. A call that failed in a way
    /// [`Transport::management_raw`] would retry is made again through it, with its retries.
    fn management_raw_stream(
        &mut self,
        method: &str,
        canister: Principal,
        args: &mut dyn Iterator<Item = Vec<u8>>,
        in_flight: usize,
        answer: &mut dyn FnMut(Result<Vec<u8>, CliError>) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let idempotent = idempotent(method);
        let mut flying = VecDeque::new();
        let mut args = args.fuse();
        let outcome = loop {
            while flying.len() < in_flight.max(1) {
                let Some(arg) = args.next() else { break };
                let (agent, name, sent) = (self.agent.clone(), method.to_string(), arg.clone());
                let task = self.runtime.spawn(async move {
                    agent
                        .update(&Principal::management_canister(), &name)
                        .with_effective_canister_id(canister)
                        .with_arg(sent)
                        .call_and_wait()
                        .await
                });
                flying.push_back((task, arg));
            }
            let Some((task, arg)) = flying.pop_front() else {
                break Ok(());
            };
            let reply = match self.runtime.block_on(task) {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(e)) if transient(&e, idempotent) => {
                    self.management_raw(method, canister, arg)
                }
                Ok(Err(e)) => Err(self.error(method, e)),
                Err(e) => Err(CliError::internal(format!(
                    "{method} through {}: the call's task ended: {e}",
                    self.url
                ))),
            };
            if let Err(e) = answer(reply) {
                break Err(e);
            }
        };
        for (task, _) in flying {
            task.abort();
        }
        outcome
    }

    fn management_query_raw(
        &mut self,
        method: &str,
        canister: Principal,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        self.call(
            Principal::management_canister(),
            canister,
            method,
            &arg,
            true,
            true,
        )
    }

    fn cli_flags(&self) -> String {
        format!(" --network {}", self.url)
    }

    fn metadata(&mut self, canister: Principal, name: &str) -> Result<Option<Vec<u8>>, CliError> {
        self.with_retries(&format!("metadata {name}"), true, |agent| async move {
            absent_as_none(agent.read_state_canister_metadata(canister, name).await)
        })
    }

    fn query(
        &mut self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        self.call(canister, canister, method, &arg, true, true)
    }

    fn update(
        &mut self,
        canister: Principal,
        method: &str,
        arg: Vec<u8>,
    ) -> Result<Vec<u8>, CliError> {
        // Retried only after a SYS_TRANSIENT reject: the update did not run.
        self.call(canister, canister, method, &arg, false, false)
    }

    fn take_labelled_snapshot(
        &mut self,
        args: TakeCanisterSnapshotArgs,
        label: String,
    ) -> Result<Snapshot, CliError> {
        let canister = args.canister_id;
        let snap: Snapshot = super::management(self, "take_canister_snapshot", canister, (args,))?;
        if let Some(labels) = &self.labels {
            if let Err(e) = labels.record(canister, &snap.id, &label) {
                warn(format!(
                    "{e}: drydock will take snapshot {} for a user's",
                    hex::encode(&snap.id)
                ));
            }
        }
        Ok(snap)
    }

    fn labels(&mut self, canister: Principal) -> std::collections::HashMap<Vec<u8>, String> {
        self.labels
            .as_ref()
            .map(|l| l.of(canister))
            .unwrap_or_default()
    }

    fn info(&mut self, canister: Principal) -> Result<super::CanisterInfo, CliError> {
        let controllers = self.with_retries("the controllers", true, |agent| async move {
            agent.read_state_canister_controllers(canister).await
        })?;
        // A canister without a module has no `module_hash` in the state tree.
        let module_hash = self.with_retries("the module hash", true, |agent| async move {
            absent_as_none(agent.read_state_canister_module_hash(canister).await)
        })?;
        Ok(super::CanisterInfo {
            controllers,
            module_hash,
            history: None,
        })
    }
}

/// A state-tree read whose path the certificate proves absent, as `None`.
fn absent_as_none<T>(read: Result<T, AgentError>) -> Result<Option<T>, AgentError> {
    match read {
        Ok(v) => Ok(Some(v)),
        Err(AgentError::LookupPathAbsent(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ic_agent::agent::RejectResponse;

    #[test]
    fn the_ic_s_domains_use_its_own_root_key_and_other_urls_fetch_one() {
        for url in [
            "https://icp-api.io",
            "https://ic0.app/",
            "https://ICP-API.IO:443/api",
            "https://raw.icp0.io",
        ] {
            assert_eq!(root_key(url, None).expect(url), RootKey::Ic, "{url}");
        }
        for url in [
            "http://127.0.0.1:4943",
            "http://localhost:8000",
            "http://[::1]:8000",
            "https://notic0.app",
        ] {
            assert_eq!(root_key(url, None).expect(url), RootKey::Fetch, "{url}");
        }
        assert_eq!(
            root_key("https://icp-api.io", Some("fetch")).expect("fetch"),
            RootKey::Fetch
        );
        let key = "ab".repeat(ROOT_KEY_BYTES);
        assert_eq!(
            root_key("http://x", Some(&key)).expect("hex"),
            RootKey::Given(vec![0xab; ROOT_KEY_BYTES])
        );
        for bad in ["abcd", "zz", ""] {
            let e = root_key("http://x", Some(bad)).expect_err(bad);
            assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn only_harmless_calls_are_retried_after_a_transport_failure() {
        let http = |status| {
            AgentError::HttpError(ic_agent::agent_error::HttpErrorPayload {
                status,
                content_type: None,
                content: Vec::new(),
            })
        };
        let reject = |code| AgentError::CertifiedReject {
            reject: RejectResponse {
                reject_code: code,
                reject_message: "m".into(),
                error_code: None,
            },
            operation: None,
        };
        assert!(transient(&http(503), true));
        assert!(!transient(&http(503), false));
        assert!(!transient(&http(400), true));
        assert!(transient(&reject(RejectCode::SysTransient), false));
        assert!(!transient(&reject(RejectCode::CanisterError), true));
        assert!(idempotent("read_canister_snapshot_data"));
        assert!(!idempotent("upload_canister_snapshot_metadata"));
        assert!(!idempotent("take_canister_snapshot"));
    }
}
