//! `webrtc-client`: a thin CLI on the client library — accounts, rooms, chat
//! and file transfer over WebRTC data channels.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use webrtc_signaling_client::signaling::SignalingError;
use webrtc_signaling_client::{
    AuthClient, Client, ClientConfig, ClientError, Credential, MdnsMode, PeerEvent, PeerId,
    SignalingEvent,
};

#[derive(Parser)]
#[command(
    name = "webrtc-client",
    version,
    about = "Native client of the signaling gateway"
)]
struct Cli {
    /// The gateway.
    #[arg(
        long,
        env = "WEBRTC_URL",
        default_value = "http://localhost:3000",
        global = true
    )]
    url: String,
    /// A JWT for the handshake.
    #[arg(long, env = "WEBRTC_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// An API key for the handshake (used when no token is given).
    #[arg(long, env = "WEBRTC_API_KEY", hide_env_values = true, global = true)]
    api_key: Option<String>,
    /// One JSON object per line on stdout, for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// Local UDP address(es) for WebRTC, e.g. 127.0.0.1:0 (default: chosen
    /// from the host's interfaces).
    #[arg(long, env = "WEBRTC_BIND", value_delimiter = ',', global = true)]
    bind: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account; prints its API key (shown once).
    Register(UserPass),
    /// Issue a new API key (the old one stops working).
    Regenerate(UserPass),
    /// Change the password.
    Newpassword {
        #[arg(long)]
        username: String,
        #[arg(long)]
        old_password: String,
        #[arg(long)]
        new_password: String,
    },
    /// Get a JWT, with --api-key or with --username/--password.
    Token {
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: Option<String>,
    },
    /// Who the credential names.
    Me,
    /// Create a room and print its code.
    Create {
        /// The code (default: the gateway picks one).
        #[arg(long)]
        code: Option<String>,
        #[arg(long)]
        max_peers: Option<u32>,
    },
    /// Join a room and chat: each stdin line goes to every peer.
    Join(RoomArgs),
    /// Join a room and send a file to the first peer(s) that connect.
    Send {
        #[command(flatten)]
        room: RoomArgs,
        file: PathBuf,
        /// How many peers to send to.
        #[arg(long, default_value_t = 1)]
        peers: usize,
    },
    /// Join a room and receive one file.
    Receive {
        #[command(flatten)]
        room: RoomArgs,
        /// Where to write it (default: the sender's file name, here).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Args)]
struct UserPass {
    #[arg(long)]
    username: String,
    #[arg(long)]
    password: String,
}

#[derive(Args)]
struct RoomArgs {
    /// The room code.
    code: String,
    /// Create the room first if it does not exist.
    #[arg(long)]
    create: bool,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Auth(#[from] webrtc_signaling_client::AuthError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Transfer(String),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    match run(cli, &out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if out.json {
                out.event(json!({ "event": "error", "message": e.to_string() }));
            }
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Output {
    json: bool,
}

impl Output {
    fn event(&self, value: Value) {
        println!("{value}");
    }

    /// A JSON line in `--json` mode, else `human`.
    fn say(&self, value: Value, human: impl FnOnce() -> String) {
        if self.json {
            self.event(value);
        } else {
            println!("{}", human());
        }
    }
}

async fn run(cli: Cli, out: &Output) -> Result<(), CliError> {
    let auth = || AuthClient::new(&cli.url);
    match &cli.command {
        Command::Register(u) => {
            let r = auth()?.register(&u.username, &u.password).await?;
            out.say(serde_json::to_value(&r).unwrap_or_default(), || {
                format!(
                    "registered {} ({})\napi key (shown once): {}",
                    r.username, r.user_id, r.api_key
                )
            });
        }
        Command::Regenerate(u) => {
            let key = auth()?.regenerate(&u.username, &u.password).await?;
            out.say(json!({ "api_key": key }), || format!("new api key: {key}"));
        }
        Command::Newpassword {
            username,
            old_password,
            new_password,
        } => {
            auth()?
                .new_password(username, old_password, new_password)
                .await?;
            out.say(json!({ "ok": true }), || "password changed".into());
        }
        Command::Token { username, password } => {
            let t = match (username, password, &cli.api_key) {
                (Some(u), Some(p), _) => auth()?.token_with_password(u, p).await?,
                (None, None, Some(key)) => auth()?.token_with_api_key(key).await?,
                _ => {
                    return Err(CliError::Usage(
                        "token needs --username and --password, or --api-key".into(),
                    ));
                }
            };
            out.say(serde_json::to_value(&t).unwrap_or_default(), || {
                t.token.clone()
            });
        }
        Command::Me => {
            let me = auth()?.me(&credential(&cli)?).await?;
            out.say(serde_json::to_value(&me).unwrap_or_default(), || {
                format!("{} ({})", me.username, me.user_id)
            });
        }
        Command::Create { code, max_peers } => {
            let client = connect(&cli).await?;
            let room = client
                .signaling()
                .create_room(code.as_deref(), *max_peers)
                .await
                .map_err(ClientError::from)?;
            out.say(
                json!({ "event": "created", "roomId": room.room_id, "roomCode": room.room_code }),
                || room.room_code.clone(),
            );
            client.close().await?;
        }
        Command::Join(room) => {
            let client = connect(&cli).await?;
            let result = chat(&client, room, out).await;
            let _ = client.close().await;
            result?;
        }
        Command::Send { room, file, peers } => {
            let client = connect(&cli).await?;
            let result = send_file(&client, room, file, *peers, out).await;
            let _ = client.close().await;
            result?;
        }
        Command::Receive { room, output } => {
            let client = connect(&cli).await?;
            let result = receive_file(&client, room, output.as_deref(), out).await;
            let _ = client.close().await;
            result?;
        }
    }
    Ok(())
}

fn credential(cli: &Cli) -> Result<Credential, CliError> {
    match (&cli.token, &cli.api_key) {
        (Some(t), _) => Ok(Credential::Token(t.clone())),
        (None, Some(k)) => Ok(Credential::ApiKey(k.clone())),
        (None, None) => Err(CliError::Usage(
            "a credential is needed: --token / WEBRTC_TOKEN or --api-key / WEBRTC_API_KEY".into(),
        )),
    }
}

async fn connect(cli: &Cli) -> Result<Client, CliError> {
    let mut config = ClientConfig::new(cli.url.clone(), credential(cli)?);
    if !cli.bind.is_empty() {
        config.peers.udp_addrs = cli.bind.clone();
        if cli.bind.iter().all(|a| a.starts_with("127.")) {
            config.peers.mdns = MdnsMode::Disabled;
        }
    }
    Ok(Client::connect_with(config).await?)
}

/// Joins (creating first with `--create`) and returns peer names by id.
async fn enter(
    client: &Client,
    room: &RoomArgs,
    out: &Output,
) -> Result<HashMap<PeerId, String>, CliError> {
    if room.create {
        match client.create_room(Some(&room.code)).await {
            Ok(_) => {}
            Err(ClientError::Signaling(SignalingError::Server { code, .. }))
                if code == "ROOM_EXISTS" => {}
            Err(e) => return Err(e.into()),
        }
    }
    let joined = client.join_room(&room.code).await?;
    let names: HashMap<PeerId, String> = joined
        .peers
        .iter()
        .map(|p| (p.id.clone(), p.user_info.username.clone()))
        .collect();
    out.say(
        json!({ "event": "joined", "roomCode": joined.room_code, "peerId": joined.peer_id,
                "peers": joined.peers.iter().map(|p| &p.id).collect::<Vec<_>>() }),
        || {
            format!(
                "joined {} as {} ({} peer(s) here)",
                joined.room_code,
                joined.peer_id,
                joined.peers.len()
            )
        },
    );
    Ok(names)
}

fn name_of(names: &HashMap<PeerId, String>, id: &str) -> String {
    match names.get(id) {
        Some(n) if !n.is_empty() => n.clone(),
        _ => id.to_owned(),
    }
}

/// Tracks names from peer events; prints joins and departures.
fn on_peer_event(event: PeerEvent, names: &mut HashMap<PeerId, String>, out: &Output) {
    match event {
        PeerEvent::ChannelOpen(id) => {
            let name = name_of(names, &id);
            out.say(
                json!({ "event": "peer_open", "peer": id, "username": name }),
                || format!("* connected to {name}"),
            );
        }
        PeerEvent::PeerGone(id) => {
            let name = name_of(names, &id);
            out.say(
                json!({ "event": "peer_gone", "peer": id, "username": name }),
                || format!("* {name} left"),
            );
        }
        PeerEvent::Signaling(SignalingEvent::PeerJoined { peer_id, user_info }) => {
            names.insert(peer_id, user_info.username);
        }
        PeerEvent::Signaling(SignalingEvent::Error(e)) => {
            out.say(
                json!({ "event": "server_error", "code": e.code, "message": e.message }),
                || format!("! {}: {}", e.code, e.message),
            );
        }
        PeerEvent::Signaling(SignalingEvent::Disconnected { reason }) => {
            out.say(json!({ "event": "disconnected", "reason": reason }), || {
                format!("! disconnected from the gateway: {reason}")
            });
        }
        PeerEvent::Signaling(_) => {}
    }
}

async fn chat(client: &Client, room: &RoomArgs, out: &Output) -> Result<(), CliError> {
    let mut events = client.events().await?;
    let mut inbox = client.peer_messages().await?;
    let mut names = enter(client, room, out).await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) => {
                    let sent = client.broadcast(line.clone().into_bytes()).await?;
                    if sent == 0 && !out.json {
                        eprintln!("(no peer connected yet; not sent)");
                    }
                    if out.json {
                        out.event(json!({ "event": "sent", "text": line, "peers": sent }));
                    }
                }
                None => break,
            },
            Some(event) = events.recv() => on_peer_event(event, &mut names, out),
            Some(msg) = inbox.recv() => {
                let text = String::from_utf8_lossy(&msg.data);
                let name = name_of(&names, &msg.from);
                out.say(
                    json!({ "event": "message", "from": msg.from, "username": name, "text": text }),
                    || format!("[{name}] {text}"),
                );
            }
        }
    }
    client.leave_room().await?;
    Ok(())
}

// File transfer over the data channel: a header, chunks, an end marker; the
// receiver answers with its checksum.
const MAGIC: &[u8; 4] = b"WSCF";
const HEADER: u8 = b'H';
const CHUNK: u8 = b'C';
const END: u8 = b'E';
const ACK: u8 = b'A';
const CHUNK_SIZE: usize = 256 * 1024;

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 5);
    v.extend_from_slice(MAGIC);
    v.push(kind);
    v.extend_from_slice(body);
    v
}

fn unframe(data: &[u8]) -> Option<(u8, &[u8])> {
    let rest = data.strip_prefix(MAGIC)?;
    let (&kind, body) = rest.split_first()?;
    Some((kind, body))
}

fn progress(total: u64, out: &Output) -> ProgressBar {
    if out.json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

async fn send_file(
    client: &Client,
    room: &RoomArgs,
    path: &Path,
    want: usize,
    out: &Output,
) -> Result<(), CliError> {
    let mut file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    let digest = {
        let mut hasher = Sha256::new();
        let mut f = tokio::fs::File::open(path).await?;
        let mut buf = vec![0u8; CHUNK_SIZE];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        hex::encode(hasher.finalize())
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());

    let mut events = client.events().await?;
    let mut inbox = client.peer_messages().await?;
    let mut names = enter(client, room, out).await?;
    let mut targets: Vec<PeerId> = Vec::new();
    while targets.len() < want {
        match events.recv().await {
            Some(PeerEvent::ChannelOpen(id)) => {
                on_peer_event(PeerEvent::ChannelOpen(id.clone()), &mut names, out);
                targets.push(id);
            }
            Some(other) => on_peer_event(other, &mut names, out),
            None => return Err(CliError::Transfer("connection closed".into())),
        }
    }

    let header = json!({ "name": name, "size": size, "sha256": digest }).to_string();
    for t in &targets {
        client
            .send_to_peer(t, frame(HEADER, header.as_bytes()))
            .await?;
    }
    let bar = progress(size, out);
    let started = Instant::now();
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        for t in &targets {
            client.send_to_peer(t, frame(CHUNK, &buf[..n])).await?;
        }
        bar.inc(n as u64);
    }
    for t in &targets {
        client.send_to_peer(t, frame(END, &[])).await?;
    }
    bar.finish_and_clear();

    // Wait for every receiver's checksum.
    let mut pending: Vec<PeerId> = targets.clone();
    let mut all_ok = true;
    let deadline = tokio::time::sleep(Duration::from_secs(120));
    tokio::pin!(deadline);
    while !pending.is_empty() {
        tokio::select! {
            msg = inbox.recv() => {
                let Some(msg) = msg else { break };
                let Some((ACK, body)) = unframe(&msg.data) else { continue };
                let ack: Value = serde_json::from_slice(body).unwrap_or_default();
                let theirs = ack.get("sha256").and_then(Value::as_str).unwrap_or_default().to_owned();
                let ok = theirs == digest;
                all_ok &= ok;
                pending.retain(|p| *p != msg.from);
                let secs = started.elapsed().as_secs_f64();
                let who = name_of(&names, &msg.from);
                out.say(
                    json!({ "event": "file_sent", "to": msg.from, "name": name, "size": size,
                            "sha256": digest, "ok": ok, "seconds": secs }),
                    || format!("sent {name} ({size} bytes) to {who} in {secs:.2}s, sha256 {digest} {}",
                               if ok { "verified" } else { "MISMATCH" }),
                );
            }
            Some(event) = events.recv() => {
                if let PeerEvent::PeerGone(id) = &event
                    && pending.contains(id)
                {
                    return Err(CliError::Transfer(format!("{} left before confirming", name_of(&names, id))));
                }
                on_peer_event(event, &mut names, out);
            }
            _ = &mut deadline => return Err(CliError::Transfer("no confirmation from the receiver".into())),
        }
    }
    client.leave_room().await?;
    if all_ok {
        Ok(())
    } else {
        Err(CliError::Transfer("checksum mismatch".into()))
    }
}

async fn receive_file(
    client: &Client,
    room: &RoomArgs,
    output: Option<&Path>,
    out: &Output,
) -> Result<(), CliError> {
    let mut events = client.events().await?;
    let mut inbox = client.peer_messages().await?;
    let mut names = enter(client, room, out).await?;

    struct Incoming {
        from: PeerId,
        name: String,
        path: PathBuf,
        size: u64,
        expected: String,
        file: tokio::fs::File,
        hasher: Sha256,
        got: u64,
        bar: ProgressBar,
        started: Instant,
    }
    let mut current: Option<Incoming> = None;
    loop {
        tokio::select! {
            Some(event) = events.recv() => {
                if let (PeerEvent::PeerGone(id), Some(c)) = (&event, &current)
                    && *id == c.from
                {
                    return Err(CliError::Transfer("the sender left before the end".into()));
                }
                on_peer_event(event, &mut names, out);
            }
            msg = inbox.recv() => {
                let Some(msg) = msg else {
                    return Err(CliError::Transfer("connection closed".into()));
                };
                let Some((kind, body)) = unframe(&msg.data) else { continue };
                match kind {
                    HEADER => {
                        let h: Value = serde_json::from_slice(body)
                            .map_err(|e| CliError::Transfer(format!("bad header: {e}")))?;
                        let name = h.get("name").and_then(Value::as_str).unwrap_or("file");
                        // Only the base name: never write outside the target.
                        let safe = Path::new(name)
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "file".into());
                        let size = h.get("size").and_then(Value::as_u64).unwrap_or(0);
                        let path = output.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(&safe));
                        current = Some(Incoming {
                            from: msg.from.clone(),
                            name: safe,
                            file: tokio::fs::File::create(&path).await?,
                            path,
                            size,
                            expected: h.get("sha256").and_then(Value::as_str).unwrap_or_default().to_owned(),
                            hasher: Sha256::new(),
                            got: 0,
                            bar: progress(size, out),
                            started: Instant::now(),
                        });
                    }
                    CHUNK => {
                        if let Some(c) = current.as_mut().filter(|c| c.from == msg.from) {
                            c.file.write_all(body).await?;
                            c.hasher.update(body);
                            c.got += body.len() as u64;
                            c.bar.set_position(c.got);
                        }
                    }
                    END => {
                        let Some(mut c) = current.take().filter(|c| c.from == msg.from) else { continue };
                        c.file.flush().await?;
                        c.bar.finish_and_clear();
                        let digest = hex::encode(c.hasher.finalize());
                        let ok = digest == c.expected && c.got == c.size;
                        client
                            .send_to_peer(&c.from, frame(ACK, json!({ "sha256": digest }).to_string().as_bytes()))
                            .await?;
                        let secs = c.started.elapsed().as_secs_f64();
                        let who = name_of(&names, &c.from);
                        out.say(
                            json!({ "event": "file_received", "from": c.from, "name": c.name,
                                    "path": c.path.display().to_string(), "size": c.got,
                                    "sha256": digest, "ok": ok, "seconds": secs }),
                            || format!("received {} ({} bytes) from {who} in {secs:.2}s -> {}, sha256 {digest} {}",
                                       c.name, c.got, c.path.display(), if ok { "verified" } else { "MISMATCH" }),
                        );
                        // Let the acknowledgement leave before closing.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        client.leave_room().await?;
                        return if ok { Ok(()) } else { Err(CliError::Transfer("checksum mismatch".into())) };
                    }
                    _ => {}
                }
            }
        }
    }
}
