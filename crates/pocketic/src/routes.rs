//! The protocol's routes: each decodes its request ([`crate::request`]), runs it on its
//! instance, and answers JSON. Every request that touches an instance runs on a blocking
//! thread with that instance locked, so instances run in parallel and one instance runs one
//! request at a time. All answers are immediate (HTTP 200): drydock never answers "started"
//! or "busy".

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use sha2::Digest;

use crate::error::PocketIcError;
use crate::instance::Instance;
use crate::live::{start_gateway, start_live, stop_gateway, stop_gateways_of, stop_live};
use crate::registry::{lock, Event, Shared, Slot};
use crate::request::{self, Read, Update};
use crate::wire::{
    ApiError, CreateHttpGatewayResponse, CreateInstanceResponse, InitialTime, RawCycles,
    RawPrincipalId, RawStableMemory, RawSubnetId, RawTime,
};

/// The largest request body: a module and its argument, or a stable memory, in base64. A
/// gzipped blob may not gunzip to more either.
const MAX_BODY_BYTES: usize = 1 << 30;

pub(crate) fn router(server: Shared) -> Router {
    Router::new()
        .route("/status", get(|| async { StatusCode::OK }))
        .route("/instances", post(create).get(list))
        .route("/blobstore", post(upload_blob))
        .route("/blobstore/", post(upload_blob))
        // The `pocket-ic` crate deletes `/instances/<id>/`, with the slash.
        .route("/drydock/instances/{id}/clone", post(clone_instance))
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
        .route("/http_gateway", post(http_gateway))
        .route("/http_gateway/{id}/stop", post(stop_http_gateway))
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

/// A refused instance. The `pocket-ic` crate and pic-js read `{"Error": {"message"}}`; the
/// Python client reads only a top-level `{"message"}`, and names itself in its User-Agent.
fn refused(headers: &HeaderMap, message: String) -> Response {
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

async fn create(State(server): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let config = match request::instance_config(&body) {
        Ok(c) => c,
        Err(e) => return error_response(e),
    };
    if let Some(message) = request::refusal(&config) {
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
        Ok::<_, PocketIcError>(register(&server, instance, |slot| {
            if let Some(InitialTime::AutoProgress(p)) = &config.initial_time {
                start_live(slot, p);
            }
        }))
    })
    .await;
    match result {
        Ok(Ok(created)) => (StatusCode::CREATED, Json(created)).into_response(),
        Ok(Err(e)) => refused(&headers, e.to_string()),
        Err(e) => error_response(PocketIcError::Internal(e.to_string())),
    }
}

/// Gives `instance` the next id, once `first` has run on its slot (live mode may start
/// there), and answers as `POST /instances` answers.
fn register(
    server: &Shared,
    instance: Instance,
    first: impl FnOnce(&Arc<Slot>),
) -> CreateInstanceResponse {
    let topology = instance.topology();
    let slot = Arc::new(Slot {
        instance: Mutex::new(instance),
        live: Mutex::new(None),
    });
    first(&slot);
    let mut instances = lock(&server.instances);
    instances.push(Some(slot));
    CreateInstanceResponse::Created {
        instance_id: instances.len() - 1,
        topology,
        http_gateway_info: None,
    }
}

/// `POST /drydock/instances/{id}/clone`, drydock's extension: a new instance over a copy of
/// instance `id`'s state (see [`Instance::clone_instance`]), answered as `POST /instances`
/// answers, so a client attaches to it by its id (the `pocket-ic` crate's
/// `PocketIc::new_from_existing_instance`).
async fn clone_instance(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        let slot = server.slot(id)?;
        let instance = lock(&slot.instance).clone_instance(server.compiled.path())?;
        Ok::<_, PocketIcError>(register(&server, instance, |_| {}))
    })
    .await;
    match result {
        Ok(Ok(created)) => (StatusCode::CREATED, Json(created)).into_response(),
        Ok(Err(e)) => error_response(e),
        Err(e) => error_response(PocketIcError::Internal(e.to_string())),
    }
}

/// `POST /blobstore/`: keeps the body (gunzipped with `Content-Encoding: gzip`) and answers
/// its SHA-256 in hex, by which `set_stable_memory` names it.
async fn upload_blob(State(server): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let gzip = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let result = tokio::task::spawn_blocking(move || {
        let blob = request::blob(&body, gzip, MAX_BODY_BYTES as u64)?;
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

async fn delete_instance(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    blocking(move || {
        let slot = lock(&server.instances)
            .get_mut(id)
            .and_then(Option::take)
            .ok_or(PocketIcError::NoInstance(id))?;
        stop_live(&slot);
        stop_gateways_of(&server, id);
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
        let slot = server.slot(id)?;
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
    // The instance is looked up first: a request to a deleted one is a 404 whatever its body.
    on_instance(server, id, move |instance| {
        match request::read(&op, &body)? {
            Read::Topology => json(instance.topology()),
            Read::GetTime => json(RawTime {
                nanos_since_epoch: instance.with_replica(|r| r.time()),
            }),
            Read::Query(call) => json(instance.query(call)?),
            Read::IngressStatus { message, caller } => {
                json(instance.ingress_status(&message, caller)?)
            }
            Read::GetCycles(id) => json(RawCycles {
                cycles: instance.cycles(id)?,
            }),
            Read::GetControllers(id) => {
                let controllers: Vec<RawPrincipalId> = instance
                    .controllers(id)?
                    .into_iter()
                    .map(|p| RawPrincipalId {
                        principal_id: p.as_slice().to_vec(),
                    })
                    .collect();
                json(controllers)
            }
            Read::GetStableMemory(id) => json(RawStableMemory {
                blob: instance.stable_memory(id)?,
            }),
            Read::GetSubnet(id) => json(instance.has_canister(id).then(|| RawSubnetId {
                subnet_id: instance.subnet_id().as_slice().to_vec(),
            })),
            Read::PubKey(subnet) => {
                if subnet != instance.subnet_id() {
                    return Err(PocketIcError::BadRequest(format!(
                        "subnet {subnet} is not this instance's subnet ({})",
                        instance.subnet_id()
                    )));
                }
                json(instance.root_key().to_vec())
            }
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
    on_instance(server, id, move |instance| match request::update(&op, &body)? {
        Update::Submit(call) => json(instance.submit(call)?),
        Update::Await(message) => json(instance.await_message(&message)?),
        Update::Execute(call) => json(instance.execute(call)?),
        Update::Tick => {
            instance.with_replica(|r| r.run_round())?;
            json(())
        }
        Update::SetTime(nanos) => {
            instance
                .with_replica(|r| r.set_time(Some(nanos)))
                .map_err(|now| {
                    PocketIcError::BadRequest(format!(
                        "the IC's time cannot go back: the instance's time is {now} ns since the epoch, later than {nanos}"
                    ))
                })?;
            json(())
        }
        Update::SetStableMemory { canister, blob_id } => {
            let blob = lock(&blobs.blobs).get(&blob_id).cloned().ok_or_else(|| {
                PocketIcError::BadRequest(format!(
                    "no blob {} was uploaded to /blobstore",
                    hex::encode(&blob_id)
                ))
            })?;
            instance.set_stable_memory(canister, &blob)?;
            json(())
        }
        Update::AddCycles { canister, amount } => json(RawCycles {
            cycles: instance.add_cycles(canister, amount)?,
        }),
    })
    .await
}

fn json<T: serde::Serialize>(value: T) -> Result<serde_json::Value, PocketIcError> {
    serde_json::to_value(value).map_err(|e| PocketIcError::Internal(e.to_string()))
}

async fn auto_progress(
    State(server): State<Shared>,
    UrlPath(id): UrlPath<usize>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let config = request::auto_progress(&body)?;
        start_live(&server.slot(id)?, &config);
        Ok(())
    })
    .await
}

async fn live_enabled(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    blocking(move || Ok(lock(&server.slot(id)?.live).is_some())).await
}

async fn stop_progress(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    blocking(move || {
        stop_live(&*server.slot(id)?);
        Ok(())
    })
    .await
}

/// `POST /http_gateway`: serves the IC HTTP interface of an instance on a port of its own.
async fn http_gateway(State(server): State<Shared>, body: Bytes) -> Response {
    let started = match request::gateway(&body) {
        Ok(request) => start_gateway(&server, request).await,
        Err(message) => Err(message),
    };
    match started {
        Ok(info) => (
            StatusCode::OK,
            Json(CreateHttpGatewayResponse::Created(info)),
        )
            .into_response(),
        Err(message) => (
            StatusCode::BAD_REQUEST,
            Json(CreateHttpGatewayResponse::Error { message }),
        )
            .into_response(),
    }
}

/// `POST /http_gateway/<id>/stop`.
async fn stop_http_gateway(State(server): State<Shared>, UrlPath(id): UrlPath<usize>) -> Response {
    if stop_gateway(&server, id).await {
        (StatusCode::OK, Json(())).into_response()
    } else {
        error_response(PocketIcError::BadRequest(format!(
            "no HTTP gateway {id} is running"
        )))
    }
}
