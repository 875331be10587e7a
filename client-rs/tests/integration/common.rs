//! A real gateway in-process, JWTs for it, and clients bound to loopback.

use std::time::Duration;

use tokio::sync::oneshot;
use webrtc_signaling_client::{
    Client, ClientConfig, Credential, MdnsMode, PeerConfig, PeerId, Subscription,
};

pub const SECRET: &str = "test-secret";
/// Upper bound for anything that should happen "soon" on loopback.
pub const SOON: Duration = Duration::from_secs(20);

pub struct TestGateway {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
    addr: std::net::SocketAddr,
    cfg: gateway::Config,
    _dir: tempfile::TempDir,
}

impl TestGateway {
    /// Stops the gateway (its rooms, kept in memory, go with it) and starts
    /// a new one with the same configuration on the same port, as a
    /// restarted process would be.
    pub async fn restart(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            tokio::time::timeout(SOON, served)
                .await
                .expect("the gateway stops in time")
                .expect("the gateway's task");
        }
        let (stop, served) = serve(&self.cfg, self.addr).await;
        self.stop = Some(stop);
        self.served = Some(served);
    }
}

async fn serve(
    cfg: &gateway::Config,
    addr: std::net::SocketAddr,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let gw = gateway::Gateway::build(cfg).await.expect("gateway builds");
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let (stop, stop_rx) = oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let _ = gw
            .serve(listener, async move {
                let _ = stop_rx.await;
            })
            .await;
    });
    (stop, served)
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn gateway() -> TestGateway {
    gateway_with(|_| {}).await
}

/// A gateway with `tweak` applied to the test configuration.
pub async fn gateway_with(tweak: impl FnOnce(&mut gateway::Config)) -> TestGateway {
    init_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = gateway::Config::defaults();
    tweak(&mut cfg);
    cfg.auth.jwt_secret = Some(SECRET.into());
    cfg.auth.data_dir = dir.path().into();
    cfg.http.shutdown_grace = Duration::from_millis(200);
    // A free port, kept across restarts.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let (stop, served) = serve(&cfg, addr).await;
    TestGateway {
        url: format!("http://{addr}"),
        stop: Some(stop),
        served: Some(served),
        addr,
        cfg,
        _dir: dir,
    }
}

/// A JWT for user `sub` (also its username), signed as the gateway's own
/// `POST /token` signs them.
pub fn jwt(sub: &str) -> String {
    gateway::auth::jwt::TokenIssuer::new(SECRET.as_bytes(), Duration::from_secs(3600))
        .issue(&gateway::auth::Identity {
            user_id: sub.into(),
            username: sub.into(),
        })
        .expect("jwt")
}

pub fn peer_config() -> PeerConfig {
    PeerConfig {
        udp_addrs: vec!["127.0.0.1:0".into()],
        mdns: MdnsMode::Disabled,
        ..PeerConfig::default()
    }
}

pub async fn client(gw: &TestGateway, name: &str) -> Client {
    client_at(&gw.url, name).await
}

/// A client of the gateway at `url` (the gateway itself, or a proxy).
pub async fn client_at(url: &str, name: &str) -> Client {
    let mut cfg = ClientConfig::new(url, Credential::Token(jwt(name)));
    cfg.peers = peer_config();
    Client::connect_with(cfg).await.expect("client connects")
}

/// A TCP proxy in front of a gateway whose connections can be cut (the
/// transport dropping under a client), while new ones still get through.
pub struct Proxy {
    pub url: String,
    cut: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

impl Proxy {
    pub async fn to(gw: &TestGateway) -> Proxy {
        let target = gw.url.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let cuts = cut.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { url, cut, task }
    }

    /// Drops every connection open now.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

/// Waits for the first event `pick` accepts, returning what it returns.
pub async fn next_event<T>(
    events: &mut Subscription<webrtc_signaling_client::PeerEvent>,
    what: &str,
    mut pick: impl FnMut(&webrtc_signaling_client::PeerEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(SOON, async {
        loop {
            match events.recv().await {
                Some(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                None => panic!("events closed before {what}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} in time"))
}

/// Waits until `n` distinct peers are reported open.
pub async fn opened(sub: &mut Subscription<PeerId>, n: usize) -> Vec<PeerId> {
    let mut seen = std::collections::BTreeSet::new();
    tokio::time::timeout(SOON, async {
        while seen.len() < n {
            match sub.recv().await {
                Some(p) => {
                    seen.insert(p);
                }
                None => panic!("subscription closed"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {n} channels opened: {seen:?}", seen.len()));
    seen.into_iter().collect()
}

/// Polls `f` until it holds or `SOON` passes.
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + SOON;
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next peer message, which must come from `from`.
pub async fn next_message(
    inbox: &mut Subscription<webrtc_signaling_client::PeerMessage>,
    from: &str,
) -> webrtc_signaling_client::PeerMessage {
    let msg = tokio::time::timeout(SOON, inbox.recv())
        .await
        .expect("a message in time")
        .expect("inbox");
    assert_eq!(msg.from, from);
    msg
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
