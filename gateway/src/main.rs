use std::net::SocketAddr;
use std::process::ExitCode;

use gateway::config::LogFormat;
use gateway::{Config, Gateway};
use tracing_subscriber::EnvFilter;

/// Per-message allocations dominate the relay path; mimalloc makes them cheap,
/// and returns freed memory to the system with the options set below.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's options, set before anything is served (its `MIMALLOC_*`
/// environment variables still win: they were read at process start).
///
/// Memory freed after a load is given back at once (purge delay 0 instead of
/// 1 s: mimalloc purges only when it allocates again, so an idle node kept
/// what its last burst freed), and without transparent huge pages, whose
/// 2 MiB pages a purge of 64 KiB cannot return. Measured in bench/ANALYSIS.md
/// ("Memory after load"): slow-reader test +45 MiB kept before, +6 after.
#[cfg(feature = "mimalloc")]
fn return_freed_memory() {
    use std::ffi::{c_int, c_long};
    // Indices in mimalloc 3's `mi_option_t` (libmimalloc-sys 0.1.49); the
    // crate exposes these functions only with its `extended` feature.
    const PURGE_DELAY: c_int = 15;
    const ALLOW_THP: c_int = 43;
    unsafe extern "C" {
        fn mi_option_set_default(option: c_int, value: c_long);
        fn mi_option_get(option: c_int) -> c_long;
    }
    // SAFETY: plain setters/getters of mimalloc's option table, called once
    // from the main thread before the runtime starts.
    unsafe {
        mi_option_set_default(PURGE_DELAY, 0);
        mi_option_set_default(ALLOW_THP, 0);
        if mi_option_get(ALLOW_THP) == 0 {
            // mimalloc applies the option itself only at process start.
            let (on, none): (libc::c_ulong, libc::c_ulong) = (1, 0);
            libc::prctl(libc::PR_SET_THP_DISABLE, on, none, none, none);
        }
    }
}

fn main() -> ExitCode {
    #[cfg(feature = "mimalloc")]
    return_freed_memory();
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
