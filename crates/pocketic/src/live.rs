//! Live mode: an instance whose rounds run in real time (`auto_progress`), and HTTP
//! gateways, which serve an instance's IC HTTP interface (drydock's own, as `drydock start`
//! serves it) on a port of their own, with their scheduler running the rounds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::registry::{lock, Gateway, Shared, Slot};
use crate::request::GatewayRequest;
use crate::wire::{AutoProgressConfig, HttpGatewayInfo};

/// The interval of rounds in live mode, unless the client asks for another.
const LIVE_ROUND: Duration = Duration::from_millis(100);

/// Live mode: a thread runs a round every interval, with the clock following real time.
pub(crate) fn start_live(slot: &Arc<Slot>, config: &AutoProgressConfig) {
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
            let instance = lock(&slot.instance);
            // Checked under the instance's lock, which `stop_live` takes after clearing the
            // flag: no round runs, and the clock is not unpinned, once it has returned.
            if !running.load(Ordering::SeqCst) {
                return;
            }
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
pub(crate) fn stop_live(slot: &Slot) {
    if let Some(running) = lock(&slot.live).take() {
        running.store(false, Ordering::SeqCst);
        lock(&slot.instance).with_replica(|r| {
            let now = r.time();
            let _ = r.set_time(Some(now));
        });
    }
}

/// Starts the HTTP gateway `request` asks for; the error is the message for the client.
pub(crate) async fn start_gateway(
    server: &Shared,
    request: GatewayRequest,
) -> Result<HttpGatewayInfo, String> {
    let id = request.instance;
    let (service, flag) = {
        let slot = server.slot(id).map_err(|e| e.to_string())?;
        let instance = lock(&slot.instance);
        instance.with_replica(|r| {
            let _ = r.set_time(None);
        });
        instance.gateway_parts()
    };
    if flag.swap(true, Ordering::SeqCst) {
        return Err(format!("instance {id} has an HTTP gateway already"));
    }
    let addr = std::net::SocketAddr::new(request.ip, request.port);
    let listener = match drydock_http::Listener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            flag.store(false, Ordering::SeqCst);
            return Err(e.to_string());
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
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
    gateways.push(Some(Gateway {
        instance: id,
        stop,
        task,
    }));
    Ok(HttpGatewayInfo {
        instance_id: gateways.len() - 1,
        port,
    })
}

/// Stops gateway `id` and returns once it has stopped: its scheduler has ended, so the
/// instance's calls run their rounds themselves again. False if it is not running.
pub(crate) async fn stop_gateway(server: &Shared, id: usize) -> bool {
    let gateway = lock(&server.gateways).get_mut(id).and_then(Option::take);
    let Some(gateway) = gateway else {
        return false;
    };
    let _ = gateway.stop.send(());
    if let Err(e) = gateway.task.await {
        tracing::warn!("the HTTP gateway {id} ended badly: {e}");
    }
    true
}

/// Stops the gateways of instance `id` (when it is deleted).
pub(crate) fn stop_gateways_of(server: &Shared, id: usize) {
    for gateway in lock(&server.gateways).iter_mut() {
        if gateway.as_ref().is_some_and(|g| g.instance == id) {
            if let Some(g) = gateway.take() {
                let _ = g.stop.send(());
            }
        }
    }
}
