//! The operator's endpoint on a local address (`[metrics] listen`): `/metrics` in
//! Prometheus text, and `/healthz` — the store (a small write) and each channel's sending
//! state, 200 when all is well and 503 otherwise. Nothing here names a person.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::store::Store;
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("cannot start the metrics recorder: {0}")]
    Recorder(String),
    #[error("cannot listen on {addr} for metrics: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct Ops {
    store: Store,
    prometheus: PrometheusHandle,
    clock: Arc<dyn Clock>,
}

/// A bound metrics endpoint with the recorder installed.
pub struct Endpoint {
    listener: TcpListener,
    ops: Ops,
}

impl Endpoint {
    /// Installs the Prometheus recorder (once per process) and binds `listen`.
    pub async fn start(
        listen: SocketAddr,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpsError> {
        let prometheus = PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| OpsError::Recorder(e.to_string()))?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| OpsError::Bind {
                addr: listen,
                source,
            })?;
        Ok(Self {
            listener,
            ops: Ops {
                store,
                prometheus,
                clock,
            },
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub async fn serve(self, mut shutdown: watch::Receiver<bool>) -> Result<(), OpsError> {
        // The recorder's histograms keep raw samples until upkeep folds them: without it
        // they would grow for as long as nobody scrapes.
        let prometheus = self.ops.prometheus.clone();
        let mut stop = shutdown.clone();
        let upkeep = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => prometheus.run_upkeep(),
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        });
        let router = axum::Router::new()
            .route("/metrics", axum::routing::get(metrics))
            .route("/healthz", axum::routing::get(healthz))
            .with_state(self.ops);
        super::http::serve(
            self.listener,
            router,
            super::http::Bounds::OPS,
            async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            },
        )
        .await;
        let _ = upkeep.await;
        Ok(())
    }
}

async fn metrics(State(ops): State<Ops>) -> Response {
    let store = ops.store.clone();
    if let Ok(depth) = tokio::task::spawn_blocking(move || store.outbox_len()).await {
        telemetry::outbox_depth(depth);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ops.prometheus.render(),
    )
        .into_response()
}

async fn healthz(State(ops): State<Ops>) -> Response {
    let store = ops.store.clone();
    let now = ops.clock.now().timestamp();
    // A stuck disk must not pile up probes: the check gives up after two seconds.
    let written = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        tokio::task::spawn_blocking(move || store.meta_put("healthz", &now.to_be_bytes())),
    )
    .await;
    let store_state = match written {
        Ok(Ok(Ok(()))) => "ok".to_string(),
        Ok(Ok(Err(e))) => format!("failing: {e}"),
        Ok(Err(_)) => "failing: the check did not finish".to_string(),
        Err(_) => "failing: the check took over 2 s".to_string(),
    };
    let (channels, channels_ok) = telemetry::channels_health();
    let healthy = store_state == "ok" && channels_ok;
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "store": store_state,
        "channels": channels,
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
