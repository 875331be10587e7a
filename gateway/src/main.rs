use std::net::SocketAddr;
use std::process::ExitCode;

use gateway::config::LogFormat;
use gateway::{Config, Gateway};
use tracing_subscriber::EnvFilter;

/// Per-message allocations dominate the relay path; mimalloc makes them cheap
/// and returns freed handshake buffers to the system.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = Config::load();
    init_logging(config.http.log_format);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.http.worker_threads {
        runtime.worker_threads(n.get());
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), gateway::StartError> {
    let addr = SocketAddr::new(config.http.host, config.http.port);
    let gateway = Gateway::build(&config).await?;
    let listener = gateway::server::listen(addr, config.http.listen_backlog)?;
    tracing::info!(%addr, origins = ?config.http.client_urls, "gateway listening");
    gateway.serve(listener, gateway::shutdown::signal()).await
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
