//! The PocketIC server: its routes, the port file the clients read the port from, the TTL
//! after which an idle server stops, and live mode (`auto_progress`: rounds in real time).
//!
//! Every request that touches an instance runs on a blocking thread with that instance
//! locked, so instances run in parallel and one instance runs one request at a time. All
//! answers are immediate (HTTP 200): drydock never answers "started" or "busy".

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use sha2::Digest;

use crate::instance::{principal, refusal, Instance};
use crate::wire::{
    ApiError, AutoProgressConfig, CreateHttpGatewayResponse, CreateInstanceResponse,
    HttpGatewayConfig, HttpGatewayInfo, InitialTime, InstanceConfig, RawAddCycles, RawCanisterCall,
    RawCanisterId, RawCycles, RawIngressStatusArgs, RawMessageId, RawPrincipalId,
    RawSetStableMemory, RawStableMemory, RawSubnetId, RawTime,
};
use crate::PocketIcError;

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

/// What the server tells the program that runs it.
#[derive(Debug, Clone)]
pub enum Event {
    /// It listens at this address (and has written the port file, if any).
    Listening(std::net::SocketAddr),
    /// A finding of an upgrade check, or another warning for the user.
    Warning(String),
}

/// The largest request body: a module and its argument, or a stable memory, in base64.
const MAX_BODY_BYTES: usize = 1 << 30;

/// The interval of rounds in live mode, unless the client asks for another.
const LIVE_ROUND: Duration = Duration::from_millis(100);

struct Slot {
    instance: Mutex<Instance>,
    /// Set while live mode runs rounds in the background; cleared to stop it.
    live: Mutex<Option<Arc<AtomicBool>>>,
}

/// An HTTP gateway: the IC HTTP interface of one instance on a port of its own.
struct Gateway {
    instance: usize,
    stop: tokio::sync::oneshot::Sender<()>,
}

struct Server {
    /// The compiled-module cache of every instance: a module compiles once per server.
    compiled: tempfile::TempDir,
    /// By gateway id; `None` once stopped.
    gateways: Mutex<Vec<Option<Gateway>>>,
    events: Box<dyn Fn(Event) + Send + Sync>,
    check_upgrades: bool,
    /// Blobs uploaded to `/blobstore`, by SHA-256 (for `set_stable_memory`).
    blobs: Mutex<std::collections::HashMap<Vec<u8>, Arc<Vec<u8>>>>,
    /// By instance id; `None` once deleted (ids are never reused).
    instances: Mutex<Vec<Option<Arc<Slot>>>>,
    /// Requests being answered, and when the last one finished (for the TTL).
    in_flight: AtomicUsize,
    last_activity: Mutex<Option<Instant>>,
}

type Shared = Arc<Server>;

/// A lock that survives a panic of an earlier holder: the data under it is only changed by
/// code that does not panic, so it is consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        let server: Shared = Arc::new(Server {
            compiled,
            events,
            check_upgrades: args.check_upgrades,
            blobs: Mutex::default(),
            gateways: Mutex::default(),
            instances: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            last_activity: Mutex::new(None),
        });
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

fn router(server: Shared) -> Router {
    Router::new()
        .route("/status", get(|| async { StatusCode::OK }))
        .route("/instances", post(create).get(list))
        .route("/blobstore", post(upload_blob))
        .route("/blobstore/", post(upload_blob))
        // The `pocket-ic` crate deletes `/instances/<id>/`, with the slash.
        .route("/instances/{id}", delete(delete_instance))
        .route("/instances/{id}/", delete(delete_instance))
        .route("/instances/{id}/read/{op}", get(read).post(read))
        // pic-js reads the topology here.
        .route("/instances/{id}/_/topology", get(topology))
        .route("/instances/{id}/update/{op}", post(update))
        .route(
            "/instances/{id}/auto_progress",
            post(auto_progress).get(live_enabled),
        )
        .route("/instances/{id}/stop_progress", post(stop_progress))
        .route("/http_gateway", post(start_gateway))
        .route("/http_gateway/{id}/stop", post(stop_gateway))
        .fallback(unsupported_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(server.clone(), track))
        .with_state(server)
}

/// Counts requests in flight and remembers when the last one finished (the TTL).
async fn track(State(server): State<Shared>, req: Request, next: Next) -> Response {
    server.in_flight.fetch_add(1, Ordering::SeqCst);
    let response = next.run(req).await;
    *lock(&server.last_activity) = Some(Instant::now());
    server.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn error_response(e: PocketIcError) -> Response {
    let status = match &e {
        PocketIcError::BadRequest(_) => StatusCode::BAD_REQUEST,
        PocketIcError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        PocketIcError::Forbidden(_) => StatusCode::FORBIDDEN,
        PocketIcError::NoInstance(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (
        status,
        Json(ApiError {
            message: e.to_string(),
        }),
    )
        .into_response()
}

/// Runs `f` on a blocking thread and answers its value as JSON.
async fn blocking<T, F>(f: F) -> Response
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce() -> Result<T, PocketIcError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => (StatusCode::OK, Json(value)).into_response(),
        Ok(Err(e)) => error_response(e),
        Err(e) => error_response(PocketIcError::Internal(format!(
            "the request's task failed: {e}"
        ))),
    }
}

async fn unsupported_route(method: Method, uri: Uri) -> Response {
    error_response(PocketIcError::Unsupported(format!(
        "drydock's PocketIC server does not support {method} {} (see drydock's README, \"Testing with PocketIC clients\", for what it supports)",
        uri.path()
    )))
}

fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, PocketIcError> {
    serde_json::from_slice(body)
        .map_err(|e| PocketIcError::BadRequest(format!("the body of {what} is not valid: {e}")))
}

/// A refused instance. The `pocket-ic` crate and pic-js read `{"Error": {"message"}}`; the
/// Python client reads only a top-level `{"message"}`, and names itself in its User-Agent.
fn refused(headers: &axum::http::HeaderMap, message: String) -> Response {
    let python = headers
        .get(axum::http::header::USER_AGENT)
        .is_some_and(|ua| ua.as_bytes().starts_with(b"python-requests"));
    if python {
        return error_response(PocketIcError::BadRequest(message));
    }
    (
        StatusCode::BAD_REQUEST,
        Json(CreateInstanceResponse::Error { message }),
    )
        .into_response()
}

async fn create(
    State(server): State<Shared>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let config: InstanceConfig = match parse(&body, "POST /instances") {
        Ok(c) => c,
        Err(e) => return error_response(e),
    };
    if let Some(message) = refusal(&config) {
        return refused(&headers, message);
    }
    let result = tokio::task::spawn_blocking(move || {
        let time = match &config.initial_time {
            Some(InitialTime::Timestamp(t)) => Some(t.nanos_since_epoch),
            _ => None,
        };
        let instance = Instance::open(
            config.state_dir.as_deref(),
            time,
            server.check_upgrades,
            server.compiled.path(),
        )?;
        let topology = instance.topology();
        let slot = Arc::new(Slot {
            instance: Mutex::new(instance),
            live: Mutex::new(None),
        });
        if let Some(InitialTime::AutoProgress(p)) = &config.initial_time {
            start_live(&slot, p);
        }
        let mut instances = lock(&server.instances);
        instances.push(Some(slot));
        Ok::<_, PocketIcError>(CreateInstanceResponse::Created {
            instance_id: instances.len() - 1,
            topology,
            http_gateway_info: None,
        })
    })
    .await;
    match result {
        Ok(Ok(created)) => (StatusCode::CREATED, Json(created)).into_response(),
        Ok(Err(e)) => refused(&headers, e.to_string()),
        Err(e) => error_response(PocketIcError::Internal(e.to_string())),
    }
}

/// `POST /blobstore/`: keeps the body (gunzipped with `Content-Encoding: gzip`) and answers
/// its SHA-256 in hex, by which `set_stable_memory` names it.
async fn upload_blob(
    State(server): State<Shared>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let gzip = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let result = tokio::task::spawn_blocking(move || {
        let blob = if gzip {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
                .map_err(|e| {
                    PocketIcError::BadRequest(format!("the blob is not valid gzip: {e}"))
                })?;
            out
        } else {
            body.to_vec()
        };
        let id = sha2::Sha256::digest(&blob).to_vec();
        lock(&server.blobs).insert(id.clone(), Arc::new(blob));
        Ok::<_, PocketIcError>(hex::encode(id))
    })
    .await;
    match result {
        Ok(Ok(id)) => (StatusCode::OK, id).into_response(),
        Ok(Err(e)) => error_response(e),
        Err(e) => error_response(PocketIcError::Internal(e.to_string())),
    }
}

async fn list(State(server): State<Shared>) -> Response {
    let states: Vec<&str> = lock(&server.instances)
        .iter()
        .map(|s| if s.is_some() { "Available" } else { "Deleted" })
        .collect();
    (StatusCode::OK, Json(states)).into_response()
}

fn slot(server: &Server, id: usize) -> Result<Arc<Slot>, PocketIcError> {
    lock(&server.instances)
        .get(id)
        .cloned()
        .flatten()
        .ok_or(PocketIcError::NoInstance(id))
}

async fn delete_instance(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    blocking(move || {
        let slot = lock(&server.instances)
            .get_mut(id)
            .and_then(Option::take)
            .ok_or(PocketIcError::NoInstance(id))?;
        stop_live(&slot);
        for gateway in lock(&server.gateways).iter_mut() {
            if gateway.as_ref().is_some_and(|g| g.instance == id) {
                if let Some(g) = gateway.take() {
                    let _ = g.stop.send(());
                }
            }
        }
        // The replica closes and a temporary state directory is deleted with the last
        // reference (a live-mode thread may hold one for the rest of its round).
        drop(slot);
        Ok(())
    })
    .await
}

/// Runs `f` on instance `id`, locked, on a blocking thread, and answers its value; then
/// reports the warnings of the upgrade checks it ran.
async fn on_instance<T, F>(server: Shared, id: usize, f: F) -> Response
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce(&mut Instance) -> Result<T, PocketIcError> + Send + 'static,
{
    blocking(move || {
        let slot = slot(&server, id)?;
        let mut instance = lock(&slot.instance);
        let result = f(&mut instance);
        for warning in instance.take_warnings() {
            (server.events)(Event::Warning(warning));
        }
        result
    })
    .await
}

async fn read(
    State(server): State<Shared>,
    UrlPath((id, op)): UrlPath<(usize, String)>,
    body: Bytes,
) -> Response {
    on_instance(server, id, move |instance| {
        let what = format!("read/{op}");
        match op.as_str() {
            "topology" => json(instance.topology()),
            "get_time" => json(RawTime {
                nanos_since_epoch: instance.with_replica(|r| r.time()),
            }),
            "query" => json(instance.query(parse::<RawCanisterCall>(&body, &what)?)?),
            "ingress_status" => {
                let args: RawIngressStatusArgs = parse(&body, &what)?;
                let caller = match &args.raw_caller {
                    Some(RawPrincipalId { principal_id }) => {
                        Some(principal(principal_id, "caller")?)
                    }
                    None => None,
                };
                json(instance.ingress_status(&args.raw_message_id, caller)?)
            }
            "get_cycles" => {
                let id = canister(&body, &what)?;
                json(RawCycles {
                    cycles: instance.cycles(id)?,
                })
            }
            "get_controllers" => {
                let id = canister(&body, &what)?;
                let controllers: Vec<RawPrincipalId> = instance
                    .controllers(id)?
                    .into_iter()
                    .map(|p| RawPrincipalId {
                        principal_id: p.as_slice().to_vec(),
                    })
                    .collect();
                json(controllers)
            }
            "get_stable_memory" => {
                let id = canister(&body, &what)?;
                json(RawStableMemory {
                    blob: instance.stable_memory(id)?,
                })
            }
            "get_subnet" => {
                let id = canister(&body, &what)?;
                json(instance.has_canister(id).then(|| RawSubnetId {
                    subnet_id: instance.subnet_id().as_slice().to_vec(),
                }))
            }
            "pub_key" => {
                let RawSubnetId { subnet_id } = parse(&body, &what)?;
                if subnet_id != instance.subnet_id().as_slice() {
                    return Err(PocketIcError::BadRequest(format!(
                        "subnet {} is not this instance's subnet ({})",
                        principal(&subnet_id, "subnet id")?,
                        instance.subnet_id()
                    )));
                }
                json(instance.root_key().to_vec())
            }
            _ => Err(unsupported_op(&what)),
        }
    })
    .await
}

async fn topology(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    on_instance(server, id, |instance| Ok(instance.topology())).await
}

async fn update(
    State(server): State<Shared>,
    UrlPath((id, op)): UrlPath<(usize, String)>,
    body: Bytes,
) -> Response {
    let blobs = server.clone();
    on_instance(server, id, move |instance| {
        let what = format!("update/{op}");
        match op.as_str() {
            "submit_ingress_message" => json(instance.submit(parse(&body, &what)?)?),
            "await_ingress_message" => {
                json(instance.await_message(&parse::<RawMessageId>(&body, &what)?)?)
            }
            "execute_ingress_message" => json(instance.execute(parse(&body, &what)?)?),
            "tick" => {
                instance.with_replica(|r| r.run_round())?;
                json(())
            }
            "set_time" | "set_certified_time" => {
                let RawTime { nanos_since_epoch } = parse(&body, &what)?;
                instance
                    .with_replica(|r| r.set_time(Some(nanos_since_epoch)))
                    .map_err(|now| {
                        PocketIcError::BadRequest(format!(
                            "the IC's time cannot go back: the instance's time is {now} ns since the epoch, later than {nanos_since_epoch}"
                        ))
                    })?;
                json(())
            }
            "set_stable_memory" => {
                let RawSetStableMemory {
                    canister_id,
                    blob_id,
                } = parse(&body, &what)?;
                let id = principal(&canister_id, "canister id")?;
                let blob = lock(&blobs.blobs).get(&blob_id).cloned().ok_or_else(|| {
                    PocketIcError::BadRequest(format!(
                        "no blob {} was uploaded to /blobstore",
                        hex::encode(&blob_id)
                    ))
                })?;
                instance.set_stable_memory(id, &blob)?;
                json(())
            }
            "add_cycles" => {
                let RawAddCycles {
                    canister_id,
                    amount,
                } = parse(&body, &what)?;
                let id = principal(&canister_id, "canister id")?;
                json(RawCycles {
                    cycles: instance.add_cycles(id, amount)?,
                })
            }
            _ => Err(unsupported_op(&what)),
        }
    })
    .await
}

fn unsupported_op(what: &str) -> PocketIcError {
    PocketIcError::Unsupported(format!(
        "drydock's PocketIC server does not support `{what}` (see drydock's README, \"Testing with PocketIC clients\", for what it supports)"
    ))
}

fn json<T: serde::Serialize>(value: T) -> Result<serde_json::Value, PocketIcError> {
    serde_json::to_value(value).map_err(|e| PocketIcError::Internal(e.to_string()))
}

fn canister(body: &[u8], what: &str) -> Result<candid::Principal, PocketIcError> {
    let RawCanisterId { canister_id } = parse(body, what)?;
    principal(&canister_id, "canister id")
}

async fn auto_progress(
    State(server): State<Shared>,
    UrlPath(id): UrlPath<usize>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let config: AutoProgressConfig = if body.is_empty() {
            AutoProgressConfig::default()
        } else {
            parse(&body, "auto_progress")?
        };
        start_live(&slot(&server, id)?, &config);
        Ok(())
    })
    .await
}

async fn live_enabled(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    blocking(move || Ok(lock(&slot(&server, id)?.live).is_some())).await
}

async fn stop_progress(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    blocking(move || {
        stop_live(&*slot(&server, id)?);
        Ok(())
    })
    .await
}

/// `POST /http_gateway`: serves the IC HTTP interface of an instance (drydock's own, as
/// `drydock start` serves it) on a port of its own, with its scheduler running the rounds,
/// so that agents talk to the instance.
async fn start_gateway(State(server): State<Shared>, body: Bytes) -> Response {
    let refuse = |message: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(CreateHttpGatewayResponse::Error { message }),
        )
            .into_response()
    };
    let config: HttpGatewayConfig = match parse(&body, "POST /http_gateway") {
        Ok(c) => c,
        Err(e) => return refuse(e.to_string()),
    };
    let Some(id) = config
        .forward_to
        .get("PocketIcInstance")
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
    else {
        return refuse(format!(
            "drydock's HTTP gateway forwards to a PocketIC instance of this server only, not to {}",
            config.forward_to
        ));
    };
    if config.https_config.is_some() {
        return refuse("drydock's HTTP gateway does not serve HTTPS".into());
    }
    let ip: IpAddr = match config.ip_addr.as_deref().unwrap_or("127.0.0.1").parse() {
        Ok(ip) => ip,
        Err(e) => return refuse(format!("ip_addr: {e}")),
    };
    let (service, flag) = match slot(&server, id) {
        Ok(slot) => {
            let instance = lock(&slot.instance);
            instance.with_replica(|r| {
                let _ = r.set_time(None);
            });
            instance.gateway_parts()
        }
        Err(e) => return refuse(e.to_string()),
    };
    if flag.swap(true, Ordering::SeqCst) {
        return refuse(format!("instance {id} has an HTTP gateway already"));
    }
    let addr = std::net::SocketAddr::new(ip, config.port.unwrap_or(0));
    let listener = match drydock_http::Listener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            flag.store(false, Ordering::SeqCst);
            return refuse(e.to_string());
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = listener
            .serve(service, async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!("the HTTP gateway of instance {id} failed: {e}");
        }
        flag.store(false, Ordering::SeqCst);
    });
    let mut gateways = lock(&server.gateways);
    gateways.push(Some(Gateway { instance: id, stop }));
    let info = HttpGatewayInfo {
        instance_id: gateways.len() - 1,
        port,
    };
    (
        StatusCode::OK,
        Json(CreateHttpGatewayResponse::Created(info)),
    )
        .into_response()
}

/// `POST /http_gateway/<id>/stop`.
async fn stop_gateway(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    let gateway = lock(&server.gateways).get_mut(id).and_then(Option::take);
    match gateway {
        Some(g) => {
            let _ = g.stop.send(());
            (StatusCode::OK, Json(())).into_response()
        }
        None => error_response(PocketIcError::BadRequest(format!(
            "no HTTP gateway {id} is running"
        ))),
    }
}

/// Live mode: a thread runs a round every interval, with the clock following real time.
fn start_live(slot: &Arc<Slot>, config: &AutoProgressConfig) {
    let mut live = lock(&slot.live);
    if live.is_some() {
        return;
    }
    let running = Arc::new(AtomicBool::new(true));
    *live = Some(running.clone());
    // An artificial delay lengthens the interval between rounds; none (or 0) is real time.
    let interval = LIVE_ROUND + Duration::from_millis(config.artificial_delay_ms.unwrap_or(0));
    let slot = Arc::downgrade(slot);
    std::thread::spawn(move || {
        while running.load(Ordering::SeqCst) {
            std::thread::sleep(interval);
            let Some(slot) = slot.upgrade() else { return };
            if !running.load(Ordering::SeqCst) {
                return;
            }
            let instance = lock(&slot.instance);
            // With an HTTP gateway, its scheduler runs the rounds.
            let gateway = instance.has_gateway();
            instance.with_replica(|r| {
                let _ = r.set_time(None);
                if gateway {
                    return;
                }
                if let Err(e) = r.run_round() {
                    tracing::warn!("a live-mode round failed: {e}");
                }
            });
        }
    });
}

/// Stops live mode and pins the clock where real time had taken it.
fn stop_live(slot: &Slot) {
    if let Some(running) = lock(&slot.live).take() {
        running.store(false, Ordering::SeqCst);
        lock(&slot.instance).with_replica(|r| {
            let now = r.time();
            let _ = r.set_time(Some(now));
        });
    }
}
