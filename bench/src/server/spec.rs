//! What a process is started with: the servers' shared environment, one
//! node's own port and settings, a helper's command line.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Gateway,
    Reference,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gateway => "gateway",
            Kind::Reference => "reference",
        }
    }
}

/// What every server is started with.
pub struct Setup {
    pub root: PathBuf,
    pub gateway_bin: PathBuf,
    /// The port of the one server a plain scenario runs against.
    pub port: u16,
    pub secret: String,
    pub log_dir: PathBuf,
}

impl Setup {
    /// The server of `kind` on the shared port, with the shared environment.
    pub fn server(&self, kind: Kind) -> Spec {
        self.server_on(kind, kind.name(), self.port)
    }

    /// The server of `kind` called `name` (its log file's name) on `port`: one
    /// node of several gets its own port and name, and its own settings with
    /// [`Spec::env`].
    pub fn server_on(&self, kind: Kind, name: &str, port: u16) -> Spec {
        let (program, args, dir) = match kind {
            Kind::Gateway => (self.gateway_bin.clone().into(), vec![], None),
            Kind::Reference => (
                "node".into(),
                vec!["dist/main.js".into()],
                Some(self.root.join("conformance/reference")),
            ),
        };
        let env = [
            ("JWT_SECRET", self.secret.as_str()),
            ("PORT", &port.to_string()),
            ("HOST", "127.0.0.1"),
            ("CLIENT_URL", "http://localhost:5173"),
            ("RATE_LIMIT_BURST", "100000000"),
            ("RATE_LIMIT_PER_SEC", "100000000"),
            ("MAX_ROOM_SIZE", "10"),
            // The load creates rooms far past the defaults' caps.
            ("MAX_ROOMS", "100000000"),
            ("MAX_ROOMS_PER_USER", "100000000"),
            // Thousands of sockets from a few loopback addresses.
            ("MAX_CONNECTIONS_PER_ADDRESS", "100000000"),
            ("MAX_SOCKETS_PER_ADDRESS", "100000000"),
            ("NODE_ENV", "production"),
            // The generator takes one of the two cores; the gateway's runtime
            // gets the other (node runs JavaScript on one thread anyway).
            ("WORKER_THREADS", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Spec {
            name: name.to_owned(),
            kind: Some(kind),
            program,
            args,
            dir,
            env,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

/// One process to start.
pub struct Spec {
    /// For logs and messages: `gateway`, `gateway-2`, `redis`.
    pub name: String,
    /// A server under test (its CPU and memory are the run's figures), or
    /// `None` for a helper.
    pub kind: Option<Kind>,
    pub program: OsString,
    pub args: Vec<OsString>,
    pub dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Where it accepts connections once ready.
    pub addr: SocketAddr,
}

impl Spec {
    /// Leaves an environment variable unset (the server's default applies).
    pub fn without(mut self, key: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Sets (or replaces) an environment variable.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.into()));
        self
    }
}

/// A free port on 127.0.0.1 (for a second node or a helper).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Setup {
        Setup {
            root: PathBuf::from("/r"),
            gateway_bin: PathBuf::from("/r/gw"),
            port: 4000,
            secret: "s".into(),
            log_dir: std::env::temp_dir(),
        }
    }

    #[test]
    fn a_node_gets_its_own_port_and_settings_on_top_of_the_shared_ones() {
        let spec = setup()
            .server_on(Kind::Gateway, "gateway-2", 4001)
            .env("REDIS_URL", "redis://127.0.0.1:7000")
            .env("WORKER_THREADS", "2");
        let get = |k: &str| {
            let v: Vec<&str> = spec
                .env
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect();
            v
        };
        assert_eq!(spec.name, "gateway-2");
        assert_eq!(spec.addr.port(), 4001);
        assert_eq!(get("PORT"), ["4001"]);
        assert_eq!(get("REDIS_URL"), ["redis://127.0.0.1:7000"]);
        assert_eq!(get("WORKER_THREADS"), ["2"]);
        assert_eq!(get("JWT_SECRET"), ["s"]);
    }
}
