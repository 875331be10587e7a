//! `webrtc-client`: a thin CLI on the client library — accounts, rooms, chat
//! and file transfer over WebRTC data channels, in `wsc-app/1`
//! (`docs/DATA-CHANNELS.md`, implemented in the library's `transfer`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use webrtc_signaling_client::peer_manager::framing::MAX_TEXT;
use webrtc_signaling_client::signaling::SignalingError;
use webrtc_signaling_client::transfer::{
    self, AppMessage, Downloads, FileAck, Outcome, PIECE, Target,
};
use webrtc_signaling_client::{
    AuthClient, Client, ClientConfig, ClientError, Credential, MdnsMode, PeerEvent, PeerId,
    PeerMessage, SignalingEvent, Subscription,
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
    /// Join a room and chat: each stdin line goes to every peer; EOF leaves.
    Join(RoomArgs),
    /// Join a room and send a file to the first peer(s) whose channel opens.
    Send {
        #[command(flatten)]
        room: RoomArgs,
        file: PathBuf,
        /// How many peers to send to.
        #[arg(long, default_value_t = 1)]
        peers: usize,
    },
    /// Join a room and receive files (chat lines are printed too).
    Receive {
        #[command(flatten)]
        room: RoomArgs,
        /// Write the (single) file here.
        #[arg(long, short, conflicts_with = "dir")]
        output: Option<PathBuf>,
        /// Write each file into this directory under the sender's file name
        /// (default: the current directory).
        #[arg(long, short)]
        dir: Option<PathBuf>,
        /// How many files to receive before leaving; 0: until stdin closes.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Refuse files larger than this (bytes).
        #[arg(long, default_value_t = 4 << 30)]
        max_size: u64,
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
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                // webrtc-rs warns about every DTLS extension Chromium offers
                // and it skips: noise for a CLI user.
                tracing_subscriber::EnvFilter::new("warn,rtc_dtls=error,rtc_ice=error")
            }),
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
        Command::Receive {
            room,
            output,
            dir,
            count,
            max_size,
        } => {
            if output.is_some() && *count != 1 {
                return Err(CliError::Usage("-o takes one file: use --dir".into()));
            }
            let target = match output {
                Some(path) => Target::File(path.clone()),
                None => Target::Dir(dir.clone().unwrap_or_else(|| PathBuf::from("."))),
            };
            let client = connect(&cli).await?;
            let result = receive_files(&client, room, target, *count, *max_size, out).await;
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
    // wsc-app/1 never sends a binary message over 256 KiB.
    config.peers.max_message_size = 1 << 20;
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

/// One room session: who is who, and the receiving side of every channel.
struct Session<'a> {
    client: &'a Client,
    out: &'a Output,
    names: HashMap<PeerId, String>,
    downloads: Downloads,
    /// Progress bars of files arriving, by sender.
    bars: HashMap<PeerId, ProgressBar>,
}

impl<'a> Session<'a> {
    async fn enter(
        client: &'a Client,
        room: &RoomArgs,
        out: &'a Output,
        downloads: Downloads,
    ) -> Result<Session<'a>, CliError> {
        Ok(Session {
            names: enter(client, room, out).await?,
            client,
            out,
            downloads,
            bars: HashMap::new(),
        })
    }

    fn name_of(&self, id: &str) -> String {
        match self.names.get(id) {
            Some(n) if !n.is_empty() => n.clone(),
            _ => id.to_owned(),
        }
    }

    /// Tracks names from peer events; prints joins and departures.
    async fn on_event(&mut self, event: PeerEvent) {
        let out = self.out;
        match event {
            PeerEvent::ChannelOpen(id) => {
                let name = self.name_of(&id);
                out.say(
                    json!({ "event": "peer_open", "peer": id, "username": name }),
                    || format!("* connected to {name}"),
                );
            }
            PeerEvent::PeerGone(id) => {
                if let Some(outcome) = self.downloads.peer_gone(&id).await {
                    self.report(&id, outcome);
                }
                let name = self.name_of(&id);
                out.say(
                    json!({ "event": "peer_gone", "peer": id, "username": name }),
                    || format!("* {name} left"),
                );
            }
            PeerEvent::Signaling(SignalingEvent::PeerJoined { peer_id, user_info }) => {
                self.names.insert(peer_id, user_info.username);
            }
            PeerEvent::Signaling(SignalingEvent::Error(e)) => out.say(
                json!({ "event": "server_error", "code": e.code, "message": e.message }),
                || format!("! {}: {}", e.code, e.message),
            ),
            PeerEvent::Signaling(SignalingEvent::Disconnected { reason }) => out
                .say(json!({ "event": "disconnected", "reason": reason }), || {
                    format!("! disconnected from the gateway: {reason}")
                }),
            PeerEvent::Signaling(SignalingEvent::Reconnected { peer_id }) => out
                .say(json!({ "event": "reconnected", "peerId": peer_id }), || {
                    format!("* reconnected to the gateway as {peer_id}")
                }),
            PeerEvent::Signaling(_) => {}
        }
    }

    /// Handles one peer message: prints what happened, sends the acks it
    /// calls for, and returns the verdicts on files we sent.
    async fn on_message(&mut self, msg: PeerMessage) -> Result<Vec<(PeerId, FileAck)>, CliError> {
        let mut verdicts = Vec::new();
        for outcome in self.downloads.on_message(&msg).await {
            if let Some(ack) = outcome.reply() {
                let reply = AppMessage::FileAck(ack.clone()).to_text();
                self.client.send_text_to_peer(&msg.from, &reply).await?;
            }
            if let Outcome::Ack(ack) = outcome {
                verdicts.push((msg.from.clone(), ack));
            } else {
                self.report(&msg.from, outcome);
            }
        }
        Ok(verdicts)
    }

    fn report(&mut self, from: &str, outcome: Outcome) {
        let (out, who) = (self.out, self.name_of(from));
        match outcome {
            Outcome::Chat(text) => out.say(
                json!({ "event": "message", "from": from, "username": who, "text": text }),
                || format!("[{who}] {text}"),
            ),
            Outcome::Started { id, name, size, .. } => {
                self.bars.insert(from.to_owned(), progress(size, out));
                out.say(
                    json!({ "event": "file_incoming", "from": from, "id": id, "name": name, "size": size }),
                    || format!("receiving {name} ({size} bytes) from {who}"),
                );
            }
            Outcome::Progress { got, .. } => {
                if let Some(bar) = self.bars.get(from) {
                    bar.set_position(got);
                }
            }
            Outcome::Received {
                name,
                path,
                ack,
                seconds,
            } => {
                self.finish_bar(from);
                let digest = ack.sha256.clone().unwrap_or_default();
                out.say(
                    json!({ "event": "file_received", "from": from, "id": ack.id, "name": name,
                            "path": path.display().to_string(), "size": ack.size,
                            "sha256": digest, "ok": ack.ok, "seconds": seconds }),
                    || {
                        format!(
                            "received {name} ({} bytes) from {who} in {seconds:.2}s -> {}, sha256 {digest} {}",
                            ack.size,
                            path.display(),
                            if ack.ok { "verified" } else { "MISMATCH (deleted)" }
                        )
                    },
                );
            }
            Outcome::Failed(ack) => {
                self.finish_bar(from);
                out.say(
                    json!({ "event": "file_failed", "from": from, "id": ack.id, "error": ack.error }),
                    || format!("! a file from {who} failed: {:?}", ack.error),
                );
            }
            Outcome::Refused(ack) => out.say(
                json!({ "event": "file_refused", "from": from, "id": ack.id, "error": ack.error }),
                || format!("! refused a file from {who}: {:?}", ack.error),
            ),
            Outcome::Discarded { id } => {
                self.finish_bar(from);
                out.say(
                    json!({ "event": "file_failed", "from": from, "id": id,
                            "error": { "code": "ABORTED", "message": "the sender gave up or left" } }),
                    || format!("! {who} gave up on a file"),
                );
            }
            Outcome::Bad(reason) => out.say(
                json!({ "event": "bad_message", "from": from, "reason": reason }),
                || format!("! ignored a message from {who}: {reason}"),
            ),
            Outcome::Ack(_) => {}
        }
    }

    fn finish_bar(&mut self, from: &str) {
        if let Some(bar) = self.bars.remove(from) {
            bar.finish_and_clear();
        }
    }
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

async fn chat(client: &Client, room: &RoomArgs, out: &Output) -> Result<(), CliError> {
    let mut events = client.events().await?;
    let mut inbox = client.peer_messages().await?;
    let mut session =
        Session::enter(client, room, out, Downloads::new(None, None, u64::MAX)).await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) => {
                    let text = AppMessage::Chat { text: line.clone() }.to_text();
                    if text.len() > MAX_TEXT {
                        out.say(
                            json!({ "event": "not_sent", "reason": format!("line too long (a chat message is at most {MAX_TEXT} bytes)") }),
                            || format!("(line too long: a chat message is at most {MAX_TEXT} bytes; not sent)"),
                        );
                        continue;
                    }
                    let sent = client.broadcast_text(&text).await?;
                    if sent == 0 && !out.json {
                        eprintln!("(no peer connected yet; not sent)");
                    }
                    if out.json {
                        out.event(json!({ "event": "sent", "text": line, "peers": sent }));
                    }
                }
                None => break,
            },
            Some(event) = events.recv() => session.on_event(event).await,
            Some(msg) = inbox.recv() => {
                session.on_message(msg).await?;
            }
        }
    }
    client.leave_room().await?;
    Ok(())
}

/// Waits for `want` open channels.
async fn wait_for_peers(
    session: &mut Session<'_>,
    events: &mut Subscription<PeerEvent>,
    want: usize,
) -> Result<Vec<PeerId>, CliError> {
    let mut targets = Vec::new();
    while targets.len() < want {
        match events.recv().await {
            Some(PeerEvent::ChannelOpen(id)) => {
                session.on_event(PeerEvent::ChannelOpen(id.clone())).await;
                targets.push(id);
            }
            Some(other) => session.on_event(other).await,
            None => return Err(CliError::Transfer("connection closed".into())),
        }
    }
    Ok(targets)
}

async fn send_file(
    client: &Client,
    room: &RoomArgs,
    path: &Path,
    want: usize,
    out: &Output,
) -> Result<(), CliError> {
    let offer = transfer::offer_for(path).await?;
    let mut events = client.events().await?;
    let mut inbox = client.peer_messages().await?;
    let mut session =
        Session::enter(client, room, out, Downloads::new(None, None, u64::MAX)).await?;
    let targets = wait_for_peers(&mut session, &mut events, want).await?;

    // Acks that came back, by peer.
    let mut verdicts: HashMap<PeerId, FileAck> = HashMap::new();
    let take_ack = |verdicts: &mut HashMap<PeerId, FileAck>, got: Vec<(PeerId, FileAck)>| {
        for (from, ack) in got {
            if ack.id == offer.id && targets.contains(&from) {
                verdicts.insert(from, ack);
            }
        }
    };
    let offer_text = AppMessage::File(offer.clone()).to_text();
    for t in &targets {
        client.send_text_to_peer(t, &offer_text).await?;
    }
    let bar = progress(offer.size, out);
    let started = Instant::now();
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        // A receiver that refused or failed gets no more data.
        while let Some(msg) = inbox.try_recv() {
            let got = session.on_message(msg).await?;
            take_ack(&mut verdicts, got);
        }
        let piece = bytes::Bytes::copy_from_slice(&buf[..n]);
        for t in targets.iter().filter(|t| !verdicts.contains_key(*t)) {
            client.send_to_peer(t, piece.clone()).await?;
        }
        bar.inc(n as u64);
    }
    bar.finish_and_clear();

    // Wait for every receiver's verdict.
    let deadline = tokio::time::sleep(Duration::from_secs(120));
    tokio::pin!(deadline);
    while verdicts.len() < targets.len() {
        tokio::select! {
            msg = inbox.recv() => {
                let Some(msg) = msg else { break };
                let got = session.on_message(msg).await?;
                take_ack(&mut verdicts, got);
            }
            Some(event) = events.recv() => {
                if let PeerEvent::PeerGone(id) = &event
                    && targets.contains(id)
                    && !verdicts.contains_key(id)
                {
                    return Err(CliError::Transfer(format!("{} left before confirming", session.name_of(id))));
                }
                session.on_event(event).await;
            }
            _ = &mut deadline => return Err(CliError::Transfer("no confirmation from the receiver".into())),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let mut all_ok = true;
    for t in &targets {
        let Some(ack) = verdicts.get(t) else { continue };
        let ok = ack.ok
            && ack
                .sha256
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(&offer.sha256));
        all_ok &= ok;
        let who = session.name_of(t);
        out.say(
            json!({ "event": "file_sent", "to": t, "id": offer.id, "name": offer.name, "size": offer.size,
                    "sha256": offer.sha256, "ok": ok, "error": ack.error, "seconds": secs }),
            || match &ack.error {
                None => format!("sent {} ({} bytes) to {who} in {secs:.2}s, sha256 {} {}", offer.name, offer.size,
                               offer.sha256, if ok { "verified" } else { "MISMATCH" }),
                Some(e) => format!("{who} did not take {}: {:?} {}", offer.name, e.code, e.message),
            },
        );
    }
    client.leave_room().await?;
    if all_ok {
        Ok(())
    } else {
        Err(CliError::Transfer(
            "not every receiver verified the file".into(),
        ))
    }
}

async fn receive_files(
    client: &Client,
    room: &RoomArgs,
    target: Target,
    count: usize,
    max_size: u64,
    out: &Output,
) -> Result<(), CliError> {
    let mut events = client.events().await?;
    let mut inbox = client.peer_messages().await?;
    let wanted = (count > 0).then_some(count);
    let downloads = Downloads::new(Some(target), wanted, max_size);
    let mut session = Session::enter(client, room, out, downloads).await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // With no count, the session lasts until stdin closes.
    let stdin_open = count == 0;
    while !session.downloads.done() {
        tokio::select! {
            Some(event) = events.recv() => session.on_event(event).await,
            msg = inbox.recv() => {
                let Some(msg) = msg else {
                    return Err(CliError::Transfer("connection closed".into()));
                };
                session.on_message(msg).await?;
            }
            line = lines.next_line(), if stdin_open => {
                if line?.is_none() {
                    break;
                }
            }
        }
    }
    // Let the last acknowledgement leave before closing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.leave_room().await?;
    let d = &session.downloads;
    if d.verified < d.completed {
        return Err(CliError::Transfer(format!(
            "{} of {} file(s) failed the checksum",
            d.completed - d.verified,
            d.completed
        )));
    }
    if d.completed == 0 && count > 0 {
        return Err(CliError::Transfer("no file received".into()));
    }
    Ok(())
}
