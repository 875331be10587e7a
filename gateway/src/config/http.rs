//! Where and how the gateway serves (address, origins, HTTP time limits,
//! runtime, logs, the demo page).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

use super::parse::{parse_duration, parse_timeout};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where and how the gateway serves: address, origins, HTTP time limits, runtime, logs, the demo page.
#[derive(Clone, Args)]
#[command(next_help_heading = "HTTP and operations")]
pub struct HttpConfig {
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// Allowed browser origins (comma-separated); CORS with credentials.
    #[arg(
        long = "client-url",
        env = "CLIENT_URL",
        default_value = "http://localhost:5173",
        value_delimiter = ','
    )]
    pub client_urls: Vec<String>,

    /// Connections the kernel queues before the gateway accepts them (capped
    /// by net.core.somaxconn); a full queue drops SYNs, delaying clients ~1 s.
    #[arg(long, env = "LISTEN_BACKLOG", default_value_t = 1024)]
    pub listen_backlog: u32,

    /// Runtime worker threads (default: one per CPU core). Set it to the
    /// cores the gateway can count on: more runnable threads than cores only
    /// add scheduling delay to the latency tail.
    #[arg(long, env = "WORKER_THREADS")]
    pub worker_threads: Option<std::num::NonZeroUsize>,

    /// Longest wait for a request's head, from connecting or from the end of
    /// the previous response on a keep-alive connection (which it closes).
    #[arg(long, env = "HEADER_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub header_timeout: Duration,

    /// Longest pause while a request body is being received.
    #[arg(long, env = "BODY_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub body_timeout: Duration,

    /// How long shutdown waits for sockets to close and relays to drain.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// `text` or `json` logs (filter with RUST_LOG).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Serve the demo call page (`web/`) at `/demo/`; turn it off in production.
    #[arg(long, env = "DEMO", default_value_t = true, action = ArgAction::Set)]
    pub demo: bool,

    /// Where the built demo page is (`npm --prefix web run build` writes it).
    #[arg(long, env = "DEMO_DIR", default_value = "web/dist")]
    pub demo_dir: PathBuf,
}
