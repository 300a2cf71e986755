//! What the HTTP listeners share (the Telegram webhook, the SMS webhook, the metrics
//! endpoint): bounded connections and reads, and quiet refusals.
//!
//! `axum::serve` sets no timer, so hyper never times out a client that opens a connection
//! and sends nothing, and it accepts without limit. [`serve`] is its accept loop with
//! three bounds: the request head must arrive within [`Bounds::header_read`] (hyper's
//! own timeout, which also closes idle keep-alive connections), the body within
//! [`Bounds::body_read`] and [`Bounds::max_body`], and at most
//! [`Bounds::max_connections`] are open at once (the rest wait in the kernel's backlog).
//! Shutdown: no new connections; those open finish their request in hand, and are awaited.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// One listener's limits.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The whole request head (line and headers) must arrive within this.
    pub header_read: Duration,
    /// The whole body must arrive within this.
    pub body_read: Duration,
    /// Bodies larger than this get 413 (Telegram updates and Twilio texts are a few KiB).
    pub max_body: usize,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Bounds {
    /// For a webhook that Telegram or Twilio calls (Telegram opens at most 100
    /// connections, 40 by default).
    pub const WEBHOOK: Bounds = Bounds {
        header_read: Duration::from_secs(10),
        body_read: Duration::from_secs(10),
        max_body: 1024 * 1024,
        max_connections: 128,
    };

    /// For the operator's metrics and health endpoint (a scraper or two).
    pub const OPS: Bounds = Bounds {
        header_read: Duration::from_secs(10),
        body_read: Duration::from_secs(10),
        max_body: 64 * 1024,
        max_connections: 16,
    };
}

/// Serves `router` on `listener` within `bounds` until `shutdown`, then lets the
/// connections open finish what they are doing.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    bounds: Bounds,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let router = router.layer(axum::middleware::from_fn_with_state(bounds, read_body));
    let permits = Arc::new(Semaphore::new(bounds.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A permit first: at the cap, nothing more is accepted until a connection ends.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            _ = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let stream = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        // Finished connections leave the set as new ones come.
        while connections.try_join_next().is_some() {}
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(bounds.header_read);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopping.wait_for(|stop| *stop) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// Reads the whole body within the bounds before the handler sees the request, so no
/// handler (nor teloxide's) waits on a slow or endless body.
async fn read_body(State(bounds): State<Bounds>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        bounds.body_read,
        axum::body::to_bytes(body, bounds.max_body),
    )
    .await;
    match read {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        // Over the limit (or the client went away, when nobody reads the answer).
        Ok(Err(_)) => StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}
