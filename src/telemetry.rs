//! Logs and traces. `RUST_LOG` filters, `LOG_FORMAT` picks human-readable
//! lines or one JSON object per line (fields flattened into the object,
//! values as plain JSON); colour codes only when stdout is a terminal, so
//! files and log pipelines get plain text. With `OTEL_EXPORTER_OTLP_ENDPOINT`
//! set, spans are exported over OTLP/HTTP (one per request, named after the
//! GraphQL operation, with the service's own spans as children), and an
//! incoming W3C `traceparent` is continued; without it nothing of
//! OpenTelemetry runs.

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

static TRACING_EXPORT: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (so request spans look for a `traceparent`).
pub fn exporting() -> bool {
    TRACING_EXPORT.load(Ordering::Relaxed)
}

/// Installs the global subscriber; a second call is a no-op, so tests may
/// call it. Returns the trace exporter's provider when one runs, to be shut
/// down (flushed) at exit. `to_stderr` keeps standard output for a
/// command's own output (`usergraph export`).
pub fn init(format: LogFormat, export_traces: bool, to_stderr: bool) -> Option<SdkTracerProvider> {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let writer = || {
        if to_stderr {
            BoxMakeWriter::new(std::io::stderr)
        } else {
            BoxMakeWriter::new(std::io::stdout)
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(
            // webauthn-rs logs every malformed answer a stranger sends as an
            // ERROR; the refusal is logged (at info) where it is handled.
            "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,webauthn_rs_core=off,webauthn_rs=off",
        ));
    let ansi = std::io::stdout().is_terminal();
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(writer())
            .json()
            .flatten_event(true)
            // The spans a line was logged in (`spans`, outermost first: the
            // request's, with its method, path and request_id, then the
            // service's), so every line of a request carries its id, the
            // cause of an internal error included.
            .with_current_span(false)
            .with_span_list(true)
            .with_ansi(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer())
            .with_ansi(ansi && !to_stderr)
            .boxed(),
    };
    let provider = export_traces.then(tracer_provider).flatten();
    let traces = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("usergraph")));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    if installed && provider.is_some() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        TRACING_EXPORT.store(true, Ordering::Relaxed);
    }
    provider
}

/// An OTLP/HTTP (JSON) exporter to `OTEL_EXPORTER_OTLP_ENDPOINT` (the
/// exporter reads it, and the other standard `OTEL_EXPORTER_OTLP_*`
/// variables, itself), batching spans on a thread of its own.
fn tracer_provider() -> Option<SdkTracerProvider> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .build();
    match exporter {
        Ok(exporter) => Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("usergraph")
                        .with_attribute(opentelemetry::KeyValue::new(
                            "service.version",
                            env!("CARGO_PKG_VERSION"),
                        ))
                        .build(),
                )
                .build(),
        ),
        Err(err) => {
            eprintln!("usergraph: traces are not exported: {err}");
            None
        }
    }
}

/// Continues the trace of an incoming W3C `traceparent` in `span`.
pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    struct Headers<'a>(&'a axum::http::HeaderMap);
    impl opentelemetry::propagation::Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(|k| k.as_str()).collect()
        }
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    let _ = span.set_parent(parent);
}

/// Says something on standard output that a person (or a script) reads at
/// start, whatever `RUST_LOG` filters: a plain line in pretty mode, one JSON
/// object shaped like a log event in JSON mode, so every line of a JSON-mode
/// run parses.
pub fn announce(format: LogFormat, line: &str) {
    match format {
        LogFormat::Pretty => println!("{line}"),
        LogFormat::Json => println!(
            "{}",
            serde_json::json!({
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "level": "INFO",
                "target": "usergraph",
                "message": line,
            })
        ),
    }
}
