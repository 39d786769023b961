//! The HTTP routes of the IC interface (axum): status, call (v2 asynchronous, v3 and v4
//! synchronous), query and read_state, for canisters and for the subnet.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use candid::Principal;
use ic_transport_types::{EnvelopeContent, NodeSignature, QueryResponse, ReplyResponse};

use crate::service::{cbor, now_ns, outcome_of, Answer, CallOutcome, HttpReject, Service, Shared};

/// How long a synchronous call waits for its reply before answering 202.
pub const SYNC_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The router of the IC HTTP interface over `service`, with the default limits.
pub fn router(service: Shared) -> Router {
    router_with(service, &crate::ServeConfig::default())
}

/// The router of the IC HTTP interface over `service`, reading request bodies within
/// `config.body_read_timeout`.
pub fn router_with(service: Shared, config: &crate::ServeConfig) -> Router {
    let body_timeout = config.body_read_timeout;
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/canister/{id}/call", post(call_v2))
        .route("/api/v3/canister/{id}/call", post(call_sync))
        .route("/api/v4/canister/{id}/call", post(call_sync))
        .route("/api/v4/subnet/{id}/call", post(call_sync))
        .route("/api/v2/canister/{id}/query", post(query))
        .route("/api/v3/canister/{id}/query", post(query))
        .route("/api/v3/subnet/{id}/query", post(query))
        .route(
            "/api/v2/canister/{id}/read_state",
            post(read_state_canister),
        )
        .route(
            "/api/v3/canister/{id}/read_state",
            post(read_state_canister),
        )
        .route("/api/v2/subnet/{id}/read_state", post(read_state_subnet))
        .route("/api/v3/subnet/{id}/read_state", post(read_state_subnet))
        // Only the IC endpoints above (not the fallback): a request to an unknown path stays
        // a 404 whatever it carries.
        .route_layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                ic_request_body(req, next, body_timeout)
            },
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(crate::service::MAX_REQUEST_BYTES + 1))
        .with_state(service)
}

/// The media type of IC request bodies (interface spec, "HTTPS interface": bodies are CBOR).
pub const CBOR: &str = "application/cbor";

/// Checks and reads the body of a request to an IC endpoint before its handler runs:
/// - a POST must say `Content-Type: application/cbor`, as the IC requires (its replica answers
///   400 "Unexpected content-type, expected application/cbor."; ic-agent and agent-js send
///   exactly that), else 400 naming the type sent;
/// - the whole body must arrive within `timeout` of the head, else 408 and the connection is
///   closed (a client that declares 1000 bytes and sends 3 is answered, not waited for);
/// - a body over the limit is 413, as the envelope decoder would say.
async fn ic_request_body(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    timeout: Duration,
) -> Response {
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let types: Vec<String> = req
        .headers()
        .get_all(header::CONTENT_TYPE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if !types.iter().any(|t| t.eq_ignore_ascii_case(CBOR)) {
        let sent = if types.is_empty() {
            "no Content-Type".to_string()
        } else {
            format!("Content-Type: {}", types.join(", "))
        };
        return reject(HttpReject::bad_request(format!(
            "Unexpected content-type, expected {CBOR}: the request was sent with {sent}; IC requests are CBOR and must say `Content-Type: {CBOR}`"
        )));
    }
    let (parts, body) = req.into_parts();
    let limit = crate::service::MAX_REQUEST_BYTES;
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit + 1)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                reject(HttpReject {
                    status: 413,
                    message: format!("Request body is larger than the maximum of {limit} bytes"),
                })
            } else {
                reject(HttpReject::bad_request(format!(
                    "Could not read the request body: {e}"
                )))
            };
        }
        Err(_) => {
            let mut response = reject(HttpReject {
                status: 408,
                message: format!(
                    "Request body not received within {} s of its headers (a Content-Length larger than the body sent?)",
                    timeout.as_secs_f64()
                ),
            });
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return response;
        }
    };
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

fn reject(r: HttpReject) -> Response {
    let code = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    (code, [(header::CONTENT_TYPE, "text/plain")], r.message).into_response()
}

fn cbor_response(code: StatusCode, body: Vec<u8>) -> Response {
    (code, [(header::CONTENT_TYPE, "application/cbor")], body).into_response()
}

async fn not_found() -> Response {
    reject(HttpReject {
        status: 404,
        message: "Not found: drydock serves /api/v2/status and /api/v{2,3,4}/canister/<id>/{call,query,read_state}".into(),
    })
}

async fn status(State(s): State<Shared>) -> Response {
    cbor_response(StatusCode::OK, s.status())
}

fn parse_id(id: &str) -> Result<Principal, HttpReject> {
    Principal::from_text(id)
        .map_err(|e| HttpReject::bad_request(format!("Invalid effective id {id}: {e}")))
}

/// Runs blocking replica work off the async executor.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, HttpReject> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HttpReject::internal(format!("drydock failed while executing: {e}")))
}

/// A started update call.
struct Started {
    rid: ic_transport_types::RequestId,
    sender: Principal,
    /// Fires when the call is done; `None` when the same request was already submitted (it
    /// is not run again). The answer says whether the call was refused before it was
    /// accepted (an unknown canister or method, `canister_inspect_message` declining it, a
    /// method only canisters may call): such a refusal is not certified.
    done: Option<tokio::sync::oneshot::Receiver<Answer>>,
}

/// How a call's HTTP request waits.
#[derive(Clone, Copy)]
enum Wait {
    /// v2: answered 202 as soon as the request is known; the call starts on another thread.
    Accepted,
    /// v3/v4: the request waits for the answer anyway, so the call starts on this thread.
    Answer,
}

/// Decodes, authenticates and starts an update call, on a blocking thread: the decoding
/// (signatures) costs CPU, and the start takes the replica's lock, which must never stall the
/// async executor's few threads.
async fn start_call(
    s: &Shared,
    id: String,
    body: Bytes,
    wait: Wait,
) -> Result<Started, HttpReject> {
    let s = s.clone();
    blocking(move || start_call_now(&s, &id, &body, wait)).await?
}

fn start_call_now(s: &Shared, id: &str, body: &[u8], wait: Wait) -> Result<Started, HttpReject> {
    let effective = parse_id(id)?;
    let authed = s.decode(body, Some(effective))?;
    let EnvelopeContent::Call {
        canister_id,
        method_name,
        arg,
        ingress_expiry,
        sender_info,
        ..
    } = authed.content
    else {
        return Err(HttpReject::bad_request(
            "Expected a call request (request_type \"call\")",
        ));
    };
    s.check_effective(effective, canister_id, &method_name, &arg)?;
    let (rid, sender) = (authed.request_id, authed.sender);
    let caller_info = caller_info(sender_info);
    if !s.begin_call(rid, sender, effective, ingress_expiry) {
        return Ok(Started {
            rid,
            sender,
            done: None,
        });
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let service = s.clone();
    let run = move || {
        // The replica is held for one step at a time, so other requests are served while this
        // call waits for the calls it made.
        let mut refused = false;
        let mut tx = Some(tx);
        let result = loop {
            let seen = service.answers.count();
            // An accepted call is registered under the replica's lock, so the scheduler, which
            // hands out answers under it too, cannot miss it.
            let (started, here) = service.with_replica(|r| {
                let started = r.start_request(drydock_replica::IngressRequest {
                    id: *rid,
                    expiry: ingress_expiry,
                    sender,
                    canister: canister_id,
                    method: &method_name,
                    arg: &arg,
                    caller_info: caller_info.clone(),
                });
                let mut here = None;
                if let Ok(drydock_replica::Started::Pending(id)) = &started {
                    if let Some(tx) = tx.take() {
                        service.await_answer(*id, rid, tx);
                    }
                    here = Some(crate::scheduler::take_here(&service, r, canister_id));
                }
                (started, here)
            });
            match started {
                Err(e) => {
                    refused = matches!(e, drydock_replica::CallError::User(_));
                    break Err(e);
                }
                Ok(drydock_replica::Started::Done(result)) => break result,
                Ok(drydock_replica::Started::Pending(_)) => {
                    // Run here when the canister was idle, else by the scheduler, which
                    // records its outcome and answers `rx`.
                    if let Some(here) = here {
                        crate::scheduler::run_here(&service, here);
                    }
                    return;
                }
                // A canister it would change is executing: wait for that job to finish.
                Ok(drydock_replica::Started::Busy) => {
                    service
                        .answers
                        .wait(seen, std::time::Duration::from_millis(50));
                }
            }
        };
        let outcome = outcome_of(result);
        service.finish_call(rid, outcome.clone());
        if let Some(tx) = tx {
            let _ = tx.send(Answer {
                outcome,
                refused,
                certified: None,
            });
        }
    };
    match wait {
        Wait::Answer => run(),
        Wait::Accepted => drop(tokio::task::spawn_blocking(run)),
    }
    Ok(Started {
        rid,
        sender,
        done: Some(rx),
    })
}

/// A request's verified `sender_info` as the canister sees it (its signer is a principal: the
/// canister of the sender's key).
fn caller_info(
    info: Option<ic_transport_types::SenderInfo>,
) -> Option<drydock_replica::CallerInfo> {
    let info = info?;
    Some(drydock_replica::CallerInfo {
        data: info.info,
        signer: Principal::try_from_slice(&info.signer).ok()?,
    })
}

async fn call_v2(State(s): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    match start_call(&s, id, body, Wait::Accepted).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(r) => reject(r),
    }
}

async fn call_sync(State(s): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    // One deadline for the start (which waits while a canister the call changes is busy) and
    // the answer: past it the client gets 202 and reads the status later. The call goes on.
    let deadline = tokio::time::Instant::now() + SYNC_CALL_TIMEOUT;
    let started =
        match tokio::time::timeout_at(deadline, start_call(&s, id, body, Wait::Answer)).await {
            Ok(Ok(v)) => v,
            Ok(Err(r)) => return reject(r),
            Err(_) => return StatusCode::ACCEPTED.into_response(),
        };
    let (rid, sender) = (started.rid, started.sender);
    let mut certificate = None;
    if let Some(rx) = started.done {
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(answer)) if answer.refused => {
                return cbor_response(StatusCode::OK, Service::rejection_body(&answer.outcome));
            }
            // Answered by the scheduler with its batch certificate: the witness is made here.
            Ok(Ok(answer)) => {
                certificate = answer
                    .certified
                    .filter(|b| b.covers(&rid))
                    .map(|b| b.certificate(&rid));
            }
            Ok(Err(_)) => {}
            Err(_) => return StatusCode::ACCEPTED.into_response(),
        }
    } else if !s.is_done(&started.rid) {
        return StatusCode::ACCEPTED.into_response();
    }
    let certificate = match certificate {
        Some(cert) => Ok(Ok(cert)),
        None => {
            let s2 = s.clone();
            blocking(move || s2.call_certificate(&rid, sender)).await
        }
    };
    match certificate {
        Ok(Ok(cert)) => {
            #[derive(serde::Serialize)]
            struct Replied {
                status: &'static str,
                #[serde(with = "serde_bytes")]
                certificate: Vec<u8>,
            }
            cbor_response(
                StatusCode::OK,
                cbor(&Replied {
                    status: "replied",
                    certificate: cert,
                }),
            )
        }
        Ok(Err(r)) | Err(r) => reject(r),
    }
}

async fn query(State(s): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    let s2 = s.clone();
    let result = blocking(move || -> Result<Vec<u8>, HttpReject> {
        let effective = parse_id(&id)?;
        let authed = s2.decode(&body, Some(effective))?;
        let EnvelopeContent::Query {
            canister_id,
            method_name,
            arg,
            sender_info,
            ..
        } = authed.content
        else {
            return Err(HttpReject::bad_request(
                "Expected a query request (request_type \"query\")",
            ));
        };
        s2.check_effective(effective, canister_id, &method_name, &arg)?;
        // Interface spec, "Certified data": a query runs with a certificate of the canister's
        // certified data (`ic0.data_certificate_*`).
        let certificate = s2.data_certificate(canister_id).ok();
        let result = s2.with_replica(|r| {
            r.query_with_certificate(
                authed.sender,
                canister_id,
                &method_name,
                &arg,
                certificate,
                caller_info(sender_info),
            )
        });
        let response = match outcome_of(result) {
            CallOutcome::Replied(arg) => QueryResponse::Replied {
                reply: ReplyResponse { arg },
                signatures: Vec::new(),
            },
            CallOutcome::Rejected {
                reject_code,
                message,
                error_code,
            } => QueryResponse::Rejected {
                reject: ic_transport_types::RejectResponse {
                    reject_code: ic_transport_types::RejectCode::try_from(reject_code)
                        .unwrap_or(ic_transport_types::RejectCode::SysTransient),
                    reject_message: message,
                    error_code,
                },
                signatures: Vec::new(),
            },
        };
        let timestamp = now_ns();
        let signature = NodeSignature {
            timestamp,
            signature: s2
                .keys()
                .sign_query(&response.signable(authed.request_id, timestamp)),
            identity: s2.keys().node_id(),
        };
        let response = match response {
            QueryResponse::Replied { reply, .. } => QueryResponse::Replied {
                reply,
                signatures: vec![signature],
            },
            QueryResponse::Rejected { reject, .. } => QueryResponse::Rejected {
                reject,
                signatures: vec![signature],
            },
        };
        Ok(cbor(&response))
    })
    .await;
    match result {
        Ok(Ok(body)) => cbor_response(StatusCode::OK, body),
        Ok(Err(r)) | Err(r) => reject(r),
    }
}

async fn read_state_canister(
    State(s): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    read_state(s, id, body, false).await
}

async fn read_state_subnet(
    State(s): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    read_state(s, id, body, true).await
}

async fn read_state(s: Shared, id: String, body: Bytes, subnet: bool) -> Response {
    let s2 = s.clone();
    let result = blocking(move || -> Result<Vec<u8>, HttpReject> {
        let effective = parse_id(&id)?;
        if subnet && effective != s2.keys().subnet_id() {
            return Err(HttpReject {
                status: 404,
                message: format!(
                    "Subnet {effective} not found: drydock runs one subnet, {}",
                    s2.keys().subnet_id()
                ),
            });
        }
        let effective = (!subnet).then_some(effective);
        let authed = s2.decode(&body, effective)?;
        let EnvelopeContent::ReadState { paths, .. } = &authed.content else {
            return Err(HttpReject::bad_request(
                "Expected a read_state request (request_type \"read_state\")",
            ));
        };
        let paths: Vec<Vec<Vec<u8>>> = paths
            .iter()
            .map(|p| p.iter().map(|l| l.as_bytes().to_vec()).collect())
            .collect();
        let cert = s2.read_state(effective, authed.sender, &paths)?;
        #[derive(serde::Serialize)]
        struct Body {
            #[serde(with = "serde_bytes")]
            certificate: Vec<u8>,
        }
        Ok(cbor(&Body { certificate: cert }))
    })
    .await;
    match result {
        Ok(Ok(body)) => cbor_response(StatusCode::OK, body),
        Ok(Err(r)) | Err(r) => reject(r),
    }
}
