//! A TCP proxy in front of a real server that a test can cut and restore:
//! the way to take a database away from the gateway without stopping the
//! shared server other tests use.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const OPEN: u8 = 0;
const REFUSE: u8 = 1;
const BLACKHOLE: u8 = 2;

pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    mode: Arc<AtomicU8>,
    /// Cancelled (and replaced) on every cut: connections accepted before it close.
    cut: Arc<Mutex<CancellationToken>>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let mut proxy = Self {
            addr: listener.local_addr().expect("addr"),
            upstream,
            mode: Arc::new(AtomicU8::new(OPEN)),
            cut: Arc::new(Mutex::new(CancellationToken::new())),
            accept: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let (upstream, mode, cut) = (self.upstream, self.mode.clone(), self.cut.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let cut = cut.lock().expect("lock").clone();
                let blackhole = mode.load(Ordering::SeqCst) == BLACKHOLE;
                tokio::spawn(async move {
                    if blackhole {
                        // Accept and never answer: the peer waits until it gives up.
                        let _keep = client;
                        cut.cancelled().await;
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.cancelled() => {}
                    }
                });
            }
        }));
    }

    /// Closes the port and every connection: new connections are refused,
    /// as when the database is down.
    pub fn refuse(&mut self) {
        self.mode.store(REFUSE, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        self.drop_connections();
    }

    fn drop_connections(&self) {
        let mut cut = self.cut.lock().expect("lock");
        cut.cancel();
        *cut = CancellationToken::new();
    }

    /// Drops every connection, then accepts new ones without ever answering,
    /// as a database behind a dead network link.
    pub async fn blackhole(&mut self) {
        self.mode.store(BLACKHOLE, Ordering::SeqCst);
        self.drop_connections();
        self.listen_again().await;
    }

    /// Forwards again.
    pub async fn restore(&mut self) {
        self.mode.store(OPEN, Ordering::SeqCst);
        self.drop_connections();
        self.listen_again().await;
    }

    async fn listen_again(&mut self) {
        if self.accept.is_some() {
            return;
        }
        // The port was released by `refuse`; take the same one again.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tries < 50 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// A `postgres://` URL whose host and port are this proxy's.
    pub fn postgres_url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("url");
        let (auth, rest) = rest.split_once('@').unwrap_or(("", rest));
        let path = rest.split_once('/').map_or("", |(_, p)| p);
        let auth = if auth.is_empty() {
            String::new()
        } else {
            format!("{auth}@")
        };
        format!("{scheme}://{auth}{}/{path}", self.addr)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        self.drop_connections();
    }
}
