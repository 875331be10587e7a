//! Benchmarks of the native client on loopback, against an in-process gateway:
//!
//! 1. mesh set-up: four clients join one room at once; time from the joins to
//!    every data channel open at both ends (12 channel ends), then a 64 KiB
//!    message over each of them, over several runs (a stall or a lost or
//!    damaged message stops it with an error);
//! 2. data-channel throughput: one peer sends N MiB to another in 256 KiB
//!    messages; time until the receiver has every byte.
//!
//! `cargo run --release -p webrtc-signaling-client --example mesh_bench -- [runs] [MiB]`

use std::time::{Duration, Instant};

use webrtc_signaling_client::{Client, ClientConfig, Credential, MdnsMode, PeerConfig};

const SECRET: &str = "bench-secret";

fn jwt(sub: &str) -> Result<String, Box<dyn std::error::Error>> {
    let issuer = gateway::auth::jwt::TokenIssuer::new(SECRET.as_bytes(), Duration::from_secs(3600));
    Ok(issuer.issue(&gateway::auth::Identity {
        user_id: sub.into(),
        username: sub.into(),
    })?)
}

async fn client(url: &str, name: &str) -> Result<Client, Box<dyn std::error::Error>> {
    let mut cfg = ClientConfig::new(url, Credential::Token(jwt(name)?));
    cfg.peers = PeerConfig {
        udp_addrs: vec!["127.0.0.1:0".into()],
        mdns: MdnsMode::Disabled,
        ..PeerConfig::default()
    };
    Ok(Client::connect_with(cfg).await?)
}

/// The nearest-rank percentile `p` (0-100) of sorted `v`.
fn percentile(v: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (v[0], median, v[v.len() - 1])
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `RUST_LOG=webrtc_signaling_client=debug` shows the negotiation of a slow run.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let mib: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);

    let dir = tempfile::tempdir()?;
    let mut cfg = gateway::Config::defaults();
    cfg.auth.jwt_secret = Some(SECRET.into());
    cfg.auth.data_dir = dir.path().into();
    // Every run creates a room as bench0 and empty rooms live until they
    // expire: the default 20 per user stopped a 200-run bench at run 20.
    cfg.rooms.max_rooms_per_user = 100_000;
    let gw = gateway::Gateway::build(&cfg).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    // The gateway runs until the process ends.
    tokio::spawn(gw.serve(listener, std::future::pending::<()>()));

    // 1. Four-peer mesh set-up.
    let mut times = Vec::new();
    for run in 0..runs {
        let mut clients = Vec::new();
        for i in 0..4 {
            clients.push(client(&url, &format!("bench{i}")).await?);
        }
        let room = clients[0].create_room(None).await?;
        let mut subs = Vec::new();
        let mut inboxes = Vec::new();
        for c in &clients {
            subs.push(c.data_channel_opened().await?);
            inboxes.push(c.peer_messages().await?);
        }
        let started = Instant::now();
        let joins = clients.iter().map(|c| c.join_room(&room.room_code));
        let mut ids = Vec::new();
        for joined in futures_util::future::join_all(joins).await {
            ids.push(joined?.peer_id);
        }
        for sub in &mut subs {
            let mut seen = std::collections::HashSet::new();
            while seen.len() < 3 {
                let peer = tokio::time::timeout(Duration::from_secs(30), sub.recv())
                    .await?
                    .ok_or("closed")?;
                seen.insert(peer);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        // A transfer over every channel end: each peer sends 64 KiB to each
        // other one, and each must receive all three, intact.
        let payload = vec![run as u8; 64 * 1024];
        for (i, c) in clients.iter().enumerate() {
            for (j, id) in ids.iter().enumerate() {
                if i != j {
                    c.send_to_peer(id, payload.clone()).await?;
                }
            }
        }
        for inbox in &mut inboxes {
            for _ in 0..3 {
                let m = tokio::time::timeout(Duration::from_secs(10), inbox.recv())
                    .await?
                    .ok_or("closed")?;
                if m.data[..] != payload[..] {
                    return Err(
                        format!("run {run}: a transfer from {} arrived damaged", m.from).into(),
                    );
                }
            }
        }
        println!("mesh run {run}: {:.0} ms, 12 transfers", secs * 1000.0);
        times.push(secs * 1000.0);
        for c in clients {
            c.close().await?;
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&sorted, 50.0), percentile(&sorted, 99.0));
    let (min, median, max) = stats(times);
    println!(
        "4-peer mesh, joins to all 12 channel ends open: min {min:.0} ms, median {median:.0} ms, p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms ({runs} runs, 0 stalls, {} transfers)",
        runs * 12
    );

    // 2. Throughput between two peers.
    let a = client(&url, "sender").await?;
    let b = client(&url, "receiver").await?;
    let room = a.create_room(None).await?;
    let mut a_open = a.data_channel_opened().await?;
    let mut inbox = b.peer_messages().await?;
    a.join_room(&room.room_code).await?;
    let b_id = b.join_room(&room.room_code).await?.peer_id;
    let _ = tokio::time::timeout(Duration::from_secs(30), a_open.recv()).await?;
    let chunk = vec![0x5au8; 256 * 1024];
    let total = mib * 1024 * 1024;
    let mut rates = Vec::new();
    for run in 0..3 {
        let started = Instant::now();
        let receive = async {
            let mut got = 0usize;
            while got < total {
                let m = inbox.recv().await.ok_or("closed")?;
                got += m.data.len();
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        };
        let send = async {
            for _ in 0..total / chunk.len() {
                a.send_to_peer(&b_id, chunk.clone()).await?;
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        };
        let (r, s) = tokio::join!(receive, send);
        r?;
        s?;
        let secs = started.elapsed().as_secs_f64();
        let rate = mib as f64 / secs;
        println!("throughput run {run}: {mib} MiB in {secs:.2} s = {rate:.1} MiB/s");
        rates.push(rate);
    }
    let (min, median, max) = stats(rates);
    println!(
        "data channel throughput, {mib} MiB in 256 KiB messages: min {min:.1}, median {median:.1}, max {max:.1} MiB/s"
    );
    a.close().await?;
    b.close().await?;
    Ok(())
}
