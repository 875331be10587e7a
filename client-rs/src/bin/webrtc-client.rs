//! `webrtc-client`: a thin CLI on the client library — accounts, rooms, chat
//! and file transfer over WebRTC data channels, in `wsc-app/1`
//! (`docs/DATA-CHANNELS.md`). The sessions are the library's `app`; this
//! file parses the arguments, wires them and shows the notices.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::io::BufReader;
use webrtc_signaling_client::app::{self, Human, Notice, Room};
use webrtc_signaling_client::transfer::Target;
use webrtc_signaling_client::{
    AuthClient, Client, ClientConfig, ClientError, Credential, MdnsMode, PeerId,
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
    #[error(transparent)]
    App(#[from] app::AppError),
    #[error("{0}")]
    Usage(String),
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

/// Shows a room session's notices, with progress bars for files in flight.
struct Screen {
    json: bool,
    /// Files arriving, by sender.
    receiving: HashMap<PeerId, ProgressBar>,
    /// The file being sent.
    sending: Option<ProgressBar>,
}

impl Screen {
    fn new(out: &Output) -> Self {
        Self {
            json: out.json,
            receiving: HashMap::new(),
            sending: None,
        }
    }

    fn show(&mut self, notice: Notice) {
        match &notice {
            Notice::FileIncoming { from, size, .. } => {
                let bar = self.bar(*size);
                self.receiving.insert(from.clone(), bar);
            }
            Notice::FileProgress { from, got } => {
                if let Some(bar) = self.receiving.get(from) {
                    bar.set_position(*got);
                }
            }
            Notice::FileReceived { from, .. }
            | Notice::FileFailed { from, .. }
            | Notice::FileAbandoned { from, .. } => {
                if let Some(bar) = self.receiving.remove(from) {
                    bar.finish_and_clear();
                }
            }
            Notice::Sending { size } => self.sending = Some(self.bar(*size)),
            Notice::SendingProgress { bytes } => {
                if let Some(bar) = &self.sending {
                    bar.inc(*bytes);
                }
            }
            Notice::SendingQueued => {
                if let Some(bar) = self.sending.take() {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
        if self.json {
            if let Some(line) = notice.json() {
                println!("{line}");
            }
        } else {
            match notice.human() {
                Some(Human::Stdout(line)) => println!("{line}"),
                Some(Human::Stderr(line)) => eprintln!("{line}"),
                None => {}
            }
        }
    }

    fn bar(&self, total: u64) -> ProgressBar {
        if self.json {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
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
            let stdin = BufReader::new(tokio::io::stdin());
            let mut screen = Screen::new(out);
            let result = app::chat(&client, &room.into(), stdin, &mut |n| screen.show(n)).await;
            let _ = client.close().await;
            result?;
        }
        Command::Send { room, file, peers } => {
            let client = connect(&cli).await?;
            let mut screen = Screen::new(out);
            let notify = &mut |n| screen.show(n);
            let result = app::send_file(&client, &room.into(), file, *peers, notify).await;
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
            let stdin = BufReader::new(tokio::io::stdin());
            let mut screen = Screen::new(out);
            let notify = &mut |n| screen.show(n);
            let room = room.into();
            let result =
                app::receive_files(&client, &room, target, *count, *max_size, stdin, notify).await;
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

impl From<&RoomArgs> for Room {
    fn from(args: &RoomArgs) -> Self {
        Room {
            code: args.code.clone(),
            create: args.create,
        }
    }
}
