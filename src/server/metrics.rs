//! The server's metrics, in one place: what `/metrics` shows (OpenMetrics
//! text, `serve --metrics ADDR`) and what the shutdown summary reads. Every
//! metric is an atomic shared with the registry (no lock when counting); the
//! per-delivery path counts nothing, the per-batch path one add.

use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::limits::Limit;

type Label = [(&'static str, &'static str); 1];

/// Counters and gauges of one server.
pub(crate) struct Metrics {
    registry: Registry,
    /// How often each limit fired, by its name in docs/LIMITS.md.
    limits: [Counter; Limit::ALL.len()],
    pub accepted: Counter,
    pub open: Gauge,
    pub members: Gauge,
    /// Rooms open (the default and declared ones included).
    pub rooms: Gauge,
    pub joins: Counter,
    pub leaves: Counter,
    /// Chat lines accepted from members.
    pub received: Counter,
    /// Bytes of lines read from clients / of lines written to them.
    pub bytes_in: Counter,
    pub bytes_out: Counter,
}

/// What a cluster node reports (shared with its tasks; `/metrics` shows
/// them in cluster mode).
#[derive(Clone, Default)]
pub(crate) struct ClusterMetrics {
    /// 1 while the link to Redis works.
    pub link_up: Gauge,
    /// Other nodes' runs with members in this node's rooms, beating.
    pub nodes_alive: Gauge,
    /// Entries waiting to be appended to the streams.
    pub queued: Gauge,
    /// How old the newest entry of the reader's last read was (ms; 0 when
    /// it found nothing new).
    pub read_lag_ms: Gauge,
    /// Entries from Redis skipped (malformed, unknown kind or version,
    /// refused).
    pub skipped: Counter,
    /// Chat lines refused because too many waited for Redis.
    pub refused: Counter,
}

/// What the history writer reports (shared with its thread).
#[derive(Clone)]
pub(crate) struct HistoryMetrics {
    /// Records waiting for the writer.
    pub queued: Gauge,
    /// Seconds per batch written.
    pub write_seconds: Histogram,
    /// Records not stored because the writer was behind.
    pub dropped: Counter,
}

impl Default for HistoryMetrics {
    fn default() -> Self {
        HistoryMetrics {
            queued: Gauge::default(),
            write_seconds: Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            dropped: Counter::default(),
        }
    }
}

impl Metrics {
    pub(crate) fn new(
        history: Option<&HistoryMetrics>,
        cluster: Option<&ClusterMetrics>,
    ) -> Metrics {
        let mut r = Registry::with_prefix("tcpplay");
        let limits_family = Family::<Label, Counter>::default();
        let limits =
            Limit::ALL.map(|l| limits_family.get_or_create(&[("limit", l.name())]).clone());
        r.register(
            "limit_fired",
            "Times each limit refused or dropped a client or a line (names as in docs/LIMITS.md)",
            limits_family,
        );
        let members = registered(&mut r, "members", "Members on the server");
        let rooms = registered(&mut r, "rooms", "Rooms open");
        let accepted = registered(&mut r, "connections_accepted", "TCP connections accepted");
        let open = registered(
            &mut r,
            "connections_open",
            "Connections open now (members and handshakes)",
        );
        let joins = registered(&mut r, "joins", "Members joined");
        let leaves = registered(&mut r, "leaves", "Members left (or dropped)");
        let received = registered(
            &mut r,
            "messages_received",
            "Chat lines accepted from members",
        );
        let bytes_in = registered(
            &mut r,
            "line_bytes_received",
            "Bytes of protocol lines read from clients",
        );
        let bytes_out = registered(
            &mut r,
            "line_bytes_sent",
            "Bytes of protocol lines written to clients",
        );
        if let Some(h) = history {
            let waiting = "History records waiting for the writer";
            r.register("history_queue", waiting, h.queued.clone());
            let batch = "Seconds to write one batch of history records";
            r.register("history_write_seconds", batch, h.write_seconds.clone());
            let dropped = "History records not stored: the disk did not keep up, or the file already held their id";
            r.register("history_dropped", dropped, h.dropped.clone());
        }
        if let Some(c) = cluster {
            let up = "1 while this node's link to the cluster's Redis works";
            r.register("cluster_link_up", up, c.link_up.clone());
            let alive = "Other nodes (runs) with members in this node's rooms, beating";
            r.register("cluster_nodes_alive", alive, c.nodes_alive.clone());
            let queued = "Entries waiting to be appended to the cluster's streams";
            r.register("cluster_publish_queue", queued, c.queued.clone());
            let lag = "Age in ms of the newest entry the cluster reader last got (0: caught up)";
            r.register("cluster_read_lag_ms", lag, c.read_lag_ms.clone());
            let skipped =
                "Entries in Redis skipped: malformed, of an unknown kind or version, or refused";
            r.register("cluster_entries_skipped", skipped, c.skipped.clone());
            let refused = "Chat lines refused because too many waited for Redis";
            r.register("cluster_lines_refused", refused, c.refused.clone());
        }
        let build = Info::new([("version", env!("CARGO_PKG_VERSION"))]);
        r.register("build", "The running build", build);
        Metrics {
            registry: r,
            limits,
            accepted,
            open,
            members,
            rooms,
            joins,
            leaves,
            received,
            bytes_in,
            bytes_out,
        }
    }

    /// Count a limit that fired.
    pub(crate) fn bump(&self, limit: Limit) {
        self.limits[limit as usize].inc();
    }

    pub(crate) fn fired(&self, limit: Limit) -> u64 {
        self.limits[limit as usize].get()
    }

    /// "messages_per_second=3 too_slow=1" for the limits that fired, or "none".
    pub(crate) fn summary(&self) -> String {
        let parts: Vec<String> = Limit::ALL
            .iter()
            .filter(|l| self.fired(**l) > 0)
            .map(|l| format!("{}={}", l.name(), self.fired(*l)))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(" ")
        }
    }

    /// The OpenMetrics text exposition.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// HTTP connections served at once at most.
const HTTP_AT_ONCE: usize = 32;

/// A new metric, registered under `name`.
fn registered<M>(r: &mut Registry, name: &str, help: &str) -> M
where
    M: prometheus_client::registry::Metric + Clone + Default,
{
    let m = M::default();
    r.register(name, help, m.clone());
    m
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `listener` until the
/// server stops, on the same HTTP stack as the web page (hyper, routed by
/// axum): no hand-written HTTP parsing.
pub(crate) async fn serve_http(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    ready: Arc<dyn Fn() -> Result<(), String> + Send + Sync>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    use axum::routing::get;
    // Scrapes are few: more at once than this are closed at once.
    let slots = Arc::new(tokio::sync::Semaphore::new(HTTP_AT_ONCE));
    let app = axum::Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readiness))
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                "not found: try /metrics, /healthz or /readyz\n",
            )
        })
        .layer(axum::Extension(metrics))
        .layer(axum::Extension(Ready(ready)));
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn).await;
        });
    }
}

/// How `/readyz` asks whether the server is ready.
#[derive(Clone)]
struct Ready(Arc<dyn Fn() -> Result<(), String> + Send + Sync>);

async fn scrape(axum::Extension(m): axum::Extension<Arc<Metrics>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.text(),
    )
        .into_response()
}

async fn readiness(
    axum::Extension(Ready(ready)): axum::Extension<Ready>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match ready() {
        Ok(()) => "ready\n".into_response(),
        Err(why) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}
