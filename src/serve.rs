//! `tributary serve`: opens the stores, mounts every router on one port, and shuts down
//! cleanly on SIGTERM or Ctrl-C.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tributary_core::{Database, ErrorCode, Problem};
use tributary_eventlog::EventLog;
use tributary_registry::problem_response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cli::Failure;
use crate::config::Config;
use crate::telemetry::{self, names};

/// How long one readiness probe may wait for each dependency.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What every handler of the binary's own routes can reach.
#[derive(Debug, Clone)]
struct AppState {
    db: Database,
    log: Arc<dyn EventLog>,
    metrics: PrometheusHandle,
    /// Set once shutdown starts, so `/readyz` turns load balancers away.
    stopping: Arc<AtomicBool>,
}

pub(crate) async fn run(config: Config) -> Result<(), Failure> {
    telemetry::init_logging(config.log_format);
    config.check_exposure().map_err(Failure::usage)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener.local_addr().map_err(Failure::runtime)?;

    let uses_data_dir = config.database_url.starts_with("sqlite:")
        || matches!(
            config.event_log,
            crate::config::EventLogConfig::Embedded { .. }
        );
    if uses_data_dir {
        prepare_data_dir(&config.data_dir)?;
    }
    let metrics = telemetry::init_metrics().map_err(Failure::runtime)?;

    let db = crate::migrate::connect(&config).await?;
    db.migrate().await.map_err(|e| {
        Failure::runtime(format!(
            "cannot migrate the metadata database {}: {e}",
            config.database_url_redacted()
        ))
    })?;
    let log = crate::eventlog::open(&config).await?;
    tracing::info!(
        eventlog = log.backend(),
        database = db.backend().as_str(),
        data_dir = %config.data_dir.display(),
        "stores open"
    );

    let stopping = Arc::new(AtomicBool::new(false));
    let state = AppState {
        db: db.clone(),
        log: log.clone(),
        metrics: metrics.clone(),
        stopping: stopping.clone(),
    };
    let registry = tributary_registry::Registry::new(db.clone());
    let event_types = tributary_registry::EventTypes::new(
        db.clone(),
        registry.clone(),
        log.clone(),
        tributary_registry::EventTypeSettings {
            topic_prefix: config.topic_prefix.clone(),
            default_partitions: config.default_partitions,
            default_retention: Some(config.default_retention),
        },
    );
    let quality = Quality::start(&config, &db);
    let rules = tributary_quality::RuleService::new(db.clone(), event_types.clone());
    let hook = quality.aggregator.clone().map(|aggregator| {
        tributary_gateway::QualityHook::new(rules.clone(), aggregator, config.gateway.metadata_ttl)
    });
    let sink = tributary_quality::SampleSink::new();
    let gateway = start_gateway(
        &config,
        log.clone(),
        registry,
        event_types.clone(),
        hook,
        sink.clone(),
    )
    .await?;
    let samples = tributary_quality::spawn_samples(
        db.clone(),
        sink,
        event_types.clone(),
        Duration::from_secs(1),
    );
    let producers = Arc::new(tributary_gateway::Producers::new(
        db.clone(),
        tributary_gateway::ProducerOptions {
            admin_key: config.admin_key.as_ref().map(|k| k.0.trim().to_owned()),
            ..tributary_gateway::ProducerOptions::default()
        },
    ));
    let auth = match config.auth {
        tributary_core::AuthMode::Off => tributary_core::Authentication::from(config.auth),
        tributary_core::AuthMode::Keys => tributary_core::Authentication::keys(producers.clone()),
    };
    let index_dir = config.data_dir.join("catalog-index");
    let index = tributary_registry::CatalogIndex::open(&index_dir).map_err(|e| {
        Failure::runtime(format!(
            "cannot open the catalog index in {}: {e}",
            index_dir.display()
        ))
    })?;
    let catalog = tributary_web::spawn_catalog(
        tributary_web::CatalogFeed::new(
            db.clone(),
            event_types.clone(),
            rules.clone(),
            tributary_quality::History::with_options(db.clone(), &quality.history_options),
            index.clone(),
        ),
        tributary_web::CatalogOptions::default(),
    );
    let history_service = tributary_quality::HistoryService::new(
        db.clone(),
        event_types.clone(),
        &quality.history_options,
    );
    let replays = tributary_replay::ReplayService::new(
        tributary_replay::JobStore::new(db.clone()),
        log.clone(),
        event_types.clone(),
        tributary_replay::ReplayOptions {
            dead_letter_topic: gateway.dlq_topic().to_owned(),
            export_dir: config.data_dir.join("replay-exports"),
        },
        Some(Arc::new(crate::reingest::GatewayReingest {
            gateway: gateway.clone(),
        })),
    );
    let runner = tributary_replay::spawn_runner(replays.clone());
    let ui = tributary_web::ui_routes(tributary_web::UiState {
        event_types: event_types.clone(),
        rules: rules.clone(),
        history: tributary_quality::History::with_options(db.clone(), &quality.history_options),
        index: index.clone(),
        producers: producers.clone(),
        samples: tributary_quality::Samples::new(db.clone()),
        replays: replays.clone(),
    });
    let app = router(
        state,
        auth,
        Mounted {
            event_types,
            gateway,
            producers,
            rules,
            history: history_service,
            index,
            replays,
            ui,
        },
    );

    let upkeep = telemetry::spawn_upkeep(metrics)
        .map_err(|e| Failure::runtime(format!("cannot start the metrics upkeep thread: {e}")))?;

    // The handlers are installed before the address is announced: a supervisor (or a test)
    // that sends SIGTERM as soon as it sees the line must get a drain, not the default death.
    let signals = Signals::install()?;
    println!("Tributary listening on http://{addr}  (UI: http://{addr}/ui)");
    let _ = std::io::stdout().flush();

    let (signalled_tx, signalled_rx) = tokio::sync::watch::channel(false);
    let shutdown = {
        let stopping = stopping.clone();
        let mut rx = signalled_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
            stopping.store(true, Ordering::SeqCst);
        }
    };
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("shutdown requested: no new connections; finishing in-flight requests");
        let _ = signalled_tx.send(true);
    });

    let server = axum::serve(without_nagle(listener), app).with_graceful_shutdown(shutdown);
    let mut grace_rx = signalled_rx;
    let grace_over = async move {
        let _ = grace_rx.wait_for(|s| *s).await;
        tokio::time::sleep(config.shutdown_timeout).await;
    };
    let outcome = tokio::select! {
        served = server => served.map_err(|e| Failure::runtime(format!("server error: {e}"))),
        () = grace_over => {
            tracing::warn!(timeout = ?config.shutdown_timeout, "in-flight requests did not finish in time; stopping anyway");
            Ok(())
        }
    };
    drop(upkeep);
    // Running replays stop between batches and resume from their checkpoints at next start.
    runner.shutdown().await;

    // In-flight appends finish (or fail) before the log closes; the last verdicts are counted
    // in the quality history; then the database closes.
    let closed = log.close().await;
    quality.stop().await;
    samples.shutdown().await;
    catalog.shutdown().await;
    db.close().await;
    outcome?;
    closed.map_err(|e| Failure::runtime(format!("event log did not close cleanly: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// The quality history's flush, rollup and pruning loop, and the alert evaluator.
struct Quality {
    history_options: tributary_quality::HistoryOptions,
    aggregator: Option<tributary_quality::Aggregator>,
    history: Option<tributary_quality::HistoryTask>,
    alerts: tributary_quality::AlertTask,
}

impl Quality {
    /// Starts the background tasks; with `[quality] scoring = false` nothing is counted, so
    /// there is no aggregator and no flush loop (the history can still be read).
    fn start(config: &Config, db: &Database) -> Quality {
        let settings = &config.quality;
        let history_options = tributary_quality::HistoryOptions {
            flush_interval: settings.flush_interval,
            rollup_after: settings.rollup_after,
            retention: settings.retention,
            maintenance_interval: settings.maintenance_interval,
        };
        let (aggregator, history) = if settings.scoring {
            let aggregator = tributary_quality::Aggregator::new();
            let task = tributary_quality::spawn_history(
                db.clone(),
                aggregator.clone(),
                history_options.clone(),
            );
            (Some(aggregator), Some(task))
        } else {
            (None, None)
        };
        let alerts = tributary_quality::spawn_alerts(
            db.clone(),
            tributary_quality::AlertOptions {
                evaluate_interval: settings.alert_interval,
                webhook_timeout: settings.webhook_timeout,
                max_attempts: settings.webhook_attempts,
                ..tributary_quality::AlertOptions::default()
            },
        );
        Quality {
            history_options,
            aggregator,
            history,
            alerts,
        }
    }

    /// Stops the loops; the history task writes what it still holds.
    async fn stop(self) {
        if let Some(history) = self.history {
            history.shutdown().await;
        }
        self.alerts.shutdown().await;
    }
}

/// Starts the gateway: it publishes to the event types of the catalog; limits and the
/// dead-letter topic use [`tributary_gateway::GatewayOptions::default`], with the producer
/// rate limit, partitions and retention from the configuration.
async fn start_gateway(
    config: &Config,
    log: Arc<dyn EventLog>,
    registry: tributary_registry::Registry,
    event_types: tributary_registry::EventTypes,
    quality: Option<tributary_gateway::QualityHook>,
    samples: tributary_quality::SampleSink,
) -> Result<Arc<tributary_gateway::Gateway>, Failure> {
    let retention = tributary_eventlog::Retention {
        time: Some(config.default_retention),
        bytes: None,
    };
    let options = tributary_gateway::GatewayOptions {
        dlq_partitions: config.default_partitions,
        dlq_retention: retention,
        limits: config.gateway.clone(),
        quality,
        samples: Some(samples),
        ..tributary_gateway::GatewayOptions::default()
    };
    let gateway = tributary_gateway::Gateway::start(log, registry, Arc::new(event_types), options)
        .await
        .map_err(|e| Failure::runtime(format!("cannot start the gateway: {e}")))?;
    Ok(Arc::new(gateway))
}

/// Creates the data directory and proves it is writable, with one clear error if not.
pub(crate) fn prepare_data_dir(dir: &Path) -> Result<(), Failure> {
    let unwritable = |e: std::io::Error| {
        Failure::runtime(format!(
            "data directory {} is not writable: {e}",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"ok").map_err(unwritable)?;
    std::fs::remove_file(&probe).map_err(unwritable)?;
    Ok(())
}

/// SIGINT and SIGTERM, registered with the runtime when installed (not when first awaited).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> Result<Self, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| Failure::runtime(format!("cannot listen for {name}: {e}")))
        };
        Ok(Self {
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> Result<Self, Failure> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The services whose routes the server mounts.
struct Mounted {
    event_types: tributary_registry::EventTypes,
    gateway: Arc<tributary_gateway::Gateway>,
    producers: Arc<tributary_gateway::Producers>,
    rules: tributary_quality::RuleService,
    history: tributary_quality::HistoryService,
    index: tributary_registry::CatalogIndex,
    replays: tributary_replay::ReplayService,
    ui: Router,
}

/// The binary's own routes, the Confluent Schema Registry API at the root paths, the
/// event-type API under `/v1/event-types`, publishing under `/v1/events` and `/v1/validate`,
/// producers and their keys under `/v1/producers`, replay jobs under `/v1/replays`,
/// `/openapi.json` describing them, the web
/// UI under `/ui`, and one
/// fallback: problem+json under `/v1`, Confluent's 404 body everywhere else (the registry owns
/// the root, and Confluent clients probing optional endpoints expect its body). Every request
/// first gets its principal.
fn router(state: AppState, auth: tributary_core::Authentication, mounted: Mounted) -> Router {
    let api = OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
        .with_state(state)
        .merge(tributary_registry::api_routes(mounted.event_types))
        .merge(tributary_gateway::router(mounted.gateway))
        .merge(tributary_gateway::producer_routes(mounted.producers))
        .merge(tributary_quality::rule_routes(mounted.rules))
        .merge(tributary_quality::history_routes(mounted.history))
        .merge(tributary_web::search_routes(mounted.index))
        .merge(tributary_replay::replay_routes(mounted.replays));
    crate::openapi::serve(api)
        .merge(mounted.ui)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            auth,
            tributary_registry::authenticate,
        ))
        .layer(middleware::from_fn(track_http))
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz", security(()),
    responses((status = 200, description = "Up.", content_type = "application/json", body = Object,
        example = json!({"status": "ok"}))),
)]
async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Ready to take traffic: the event log and the database both answer.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", security(()),
    responses(
        (status = 200, description = "Ready: names the backends.", content_type = "application/json", body = Object,
            example = json!({"status": "ready", "eventlog": "embedded", "database": "sqlite"})),
        (status = 503, description = "Shutting down, or a dependency does not answer.",
            content_type = "application/problem+json", body = Problem),
    ),
)]
async fn readyz(State(state): State<AppState>) -> Response {
    if state.stopping.load(Ordering::SeqCst) {
        return problem_response(ErrorCode::Unavailable, "shutting down");
    }
    let (log, db) = tokio::join!(
        tokio::time::timeout(READY_CHECK_TIMEOUT, state.log.check_health()),
        tokio::time::timeout(READY_CHECK_TIMEOUT, state.db.ping()),
    );
    let log = match log {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(String::from("no answer within 2s")),
    };
    let db = match db {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(String::from("no answer within 2s")),
    };
    let failures: Vec<String> = [("eventlog", &log), ("database", &db)]
        .into_iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    if !failures.is_empty() {
        return problem_response(ErrorCode::Unavailable, failures.join("; "));
    }
    axum::Json(serde_json::json!({
        "status": "ready",
        "eventlog": state.log.backend(),
        "database": state.db.backend().as_str(),
    }))
    .into_response()
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text format.", content_type = "text/plain", body = String),
        (status = 401, description = "API keys are on and the request has no valid key (Confluent's error body)."),
    ),
)]
async fn metrics_text(State(state): State<AppState>) -> Response {
    // Rendering folds the histogram samples recorded since the last upkeep: off the runtime
    // workers, like the upkeep (see `telemetry::Upkeep`).
    let handle = state.metrics.clone();
    match tokio::task::spawn_blocking(move || handle.render()).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => problem_response(
            ErrorCode::Internal,
            format!("rendering the metrics failed: {err}"),
        ),
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path == "/v1" || path.starts_with("/v1/") {
        return problem_response(ErrorCode::NotFound, format!("no route for {path}"));
    }
    tributary_registry::not_found_response()
}

/// Counts requests and their latency by method, route template and status.
async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| String::from("unmatched"), |p| p.as_str().to_owned());
    // Only standard methods become label values: a client cannot mint new series.
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(names::HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(names::HTTP_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Accepts connections with Nagle's algorithm off (`TCP_NODELAY`), as HTTP servers do: an
/// answer hyper writes in more than one piece (one larger than its write buffer, such as a
/// big `/metrics` page or export) must not wait for the client's delayed acknowledgement of
/// the first.
fn without_nagle(
    listener: TcpListener,
) -> axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    fn nodelay(stream: &mut tokio::net::TcpStream) {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot turn Nagle's algorithm off for a connection");
        }
    }
    listener.tap_io(nodelay)
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = without_nagle(listener);
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, peer) = listener.accept().await;
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(accepted.nodelay().unwrap());
        // The client side is untouched: Nagle is on unless a socket turns it off.
        assert!(!client.nodelay().unwrap());
    }
}
