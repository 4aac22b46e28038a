//! Logs: `RUST_LOG` filters, `LOG_FORMAT` picks human-readable lines or one
//! JSON object per line (fields flattened into the object, values as plain
//! JSON). Colour codes only when stdout is a terminal, so files and log
//! pipelines get plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; a second call is a no-op, so tests may call it.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Says something on standard output that a person (or a test) reads at
/// start: a plain line in pretty mode, a log event (one JSON object) in JSON
/// mode, so every line of a JSON-mode run parses.
pub fn announce(format: LogFormat, line: &str) {
    match format {
        LogFormat::Pretty => println!("{line}"),
        LogFormat::Json => tracing::info!(target: "usergraph", "{line}"),
    }
}
