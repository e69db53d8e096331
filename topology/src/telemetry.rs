//! Logging: `tracing` to stderr, text or JSON, filtered by `TICKFLOW_LOG` (or `RUST_LOG`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_env("TICKFLOW_LOG").or_else(|_| EnvFilter::try_from_default_env()).unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let _ = if json { b.json().try_init() } else { b.try_init() };
}
