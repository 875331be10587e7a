//! The `webrtc-client` binary: two processes chat and move a file through a
//! real gateway.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use webrtc_signaling_client::{MessageKind, PeerEvent, PeerMessage, Subscription};

use crate::common::*;

struct Proc {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

fn cli(gw: &TestGateway, user: &str, args: &[&str]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_webrtc-client"))
        .args(["--json", "--bind", "127.0.0.1:0"])
        .args(args)
        .env("WEBRTC_URL", &gw.url)
        .env("WEBRTC_TOKEN", jwt(user))
        .env_remove("WEBRTC_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn webrtc-client");
    let stdout = child.stdout.take().expect("stdout");
    Proc {
        child,
        lines: BufReader::new(stdout).lines(),
    }
}

impl Proc {
    /// Reads JSON lines until one has `"event": event`.
    async fn until(&mut self, event: &str) -> Value {
        tokio::time::timeout(SOON, async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .expect("read stdout")
                    .unwrap_or_else(|| panic!("stdout ended before {event}"));
                let v: Value = serde_json::from_str(&line).expect("a JSON line");
                if v["event"] == event {
                    return v;
                }
                assert_ne!(v["event"], "error", "{v}");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {event} in time"))
    }

    async fn exits_ok(mut self) {
        let status = tokio::time::timeout(SOON, self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait");
        assert!(status.success(), "{status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_chat_and_transfer_a_file() {
    let gw = gateway().await;

    // Chat.
    let mut create = cli(&gw, "alice", &["create", "--code", "CLICHAT"]);
    assert_eq!(create.until("created").await["roomCode"], "CLICHAT");
    create.exits_ok().await;
    let mut alice = cli(&gw, "alice", &["join", "CLICHAT"]);
    alice.until("joined").await;
    let mut bob = cli(&gw, "bob", &["join", "CLICHAT"]);
    bob.until("joined").await;
    assert_eq!(alice.until("peer_open").await["username"], "bob");
    bob.until("peer_open").await;
    let stdin = bob.child.stdin.as_mut().expect("stdin");
    stdin.write_all(b"hello from bob\n").await.expect("write");
    stdin.flush().await.expect("flush");
    let msg = alice.until("message").await;
    assert_eq!(msg["text"], "hello from bob");
    assert_eq!(msg["username"], "bob");
    drop(bob.child.stdin.take());
    drop(alice.child.stdin.take());
    bob.exits_ok().await;
    alice.exits_ok().await;

    // A file, with its checksum checked on both ends.
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("payload.bin");
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 123u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 7) as u8)
        .collect();
    std::fs::write(&src, &data).expect("write file");
    let dst = dir.path().join("received.bin");
    let dst_arg = dst.display().to_string();
    let mut receiver = cli(
        &gw,
        "carol",
        &["receive", "CLIFILE", "--create", "-o", &dst_arg],
    );
    receiver.until("joined").await;
    let src_arg = src.display().to_string();
    let mut sender = cli(&gw, "dave", &["send", "CLIFILE", "--create", &src_arg]);
    let sent = sender.until("file_sent").await;
    let received = receiver.until("file_received").await;
    assert_eq!(sent["ok"], true);
    assert_eq!(received["ok"], true);
    assert_eq!(sent["sha256"], sha256(&data));
    assert_eq!(received["sha256"], sha256(&data));
    assert_eq!(received["size"], data.len());
    sender.exits_ok().await;
    receiver.exits_ok().await;
    assert_eq!(std::fs::read(&dst).expect("received file"), data);
}

/// A peer that speaks `docs/DATA-CHANNELS.md` as a page would (raw JSON text
/// messages, file data in binary messages of one frame each), against the
/// CLI's `join`, `receive` and `send`, with either side joining first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_speaking_the_documented_protocol_chats_and_swaps_files_with_the_cli() {
    let gw = gateway().await;
    let page = client(&gw, "page").await;
    let mut events = page.events().await.expect("events");
    let mut inbox = page.peer_messages().await.expect("inbox");
    page.create_room(Some("MIX")).await.expect("create");
    page.join_room("MIX").await.expect("join");

    // Chat both ways; the page joined first, so it offered.
    let mut cli_chat = cli(&gw, "cli", &["join", "MIX"]);
    let cli_id = cli_chat.until("joined").await["peerId"]
        .as_str()
        .expect("peerId")
        .to_owned();
    channel_open(&mut events, &cli_id).await;
    assert_eq!(cli_chat.until("peer_open").await["username"], "page");
    page.send_text_to_peer(&cli_id, r#"{"type":"chat","text":"hello from the page"}"#)
        .await
        .expect("chat");
    let line = cli_chat.until("message").await;
    assert_eq!(
        (&line["text"], &line["from"]),
        (
            &json!("hello from the page"),
            &json!(page.client_id().expect("joined"))
        )
    );
    let stdin = cli_chat.child.stdin.as_mut().expect("stdin");
    stdin
        .write_all(b"hello from the cli\n")
        .await
        .expect("write");
    stdin.flush().await.expect("flush");
    assert_eq!(
        next_text(&mut inbox, &cli_id).await,
        json!({ "type": "chat", "text": "hello from the cli" })
    );
    // A file offered to a chatting CLI is refused.
    let offer = json!({ "type": "file", "id": "nope", "name": "x.bin", "size": 1,
                        "sha256": "4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a" });
    page.send_text_to_peer(&cli_id, &offer.to_string())
        .await
        .expect("offer");
    let ack = next_text(&mut inbox, &cli_id).await;
    assert_eq!(
        (&ack["type"], &ack["id"], &ack["ok"]),
        (&json!("file-ack"), &json!("nope"), &json!(false))
    );
    assert_eq!(ack["error"]["code"], "REFUSED");
    drop(cli_chat.child.stdin.take());
    cli_chat.exits_ok().await;

    // The page sends 1 MiB + 5 bytes to `receive --dir`.
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..(1 << 20) + 5u32).map(|i| (i * 7 % 251) as u8).collect();
    let digest = sha256(&data);
    let dir_arg = dir.path().display().to_string();
    let mut receiver = cli(&gw, "cli", &["receive", "MIX", "--dir", &dir_arg]);
    let cli_id = receiver.until("joined").await["peerId"]
        .as_str()
        .expect("peerId")
        .to_owned();
    channel_open(&mut events, &cli_id).await;
    let offer = json!({ "type": "file", "id": "page-1", "name": "../from-page.bin",
                        "size": data.len(), "sha256": digest });
    page.send_text_to_peer(&cli_id, &offer.to_string())
        .await
        .expect("offer");
    for piece in data.chunks(16_383) {
        page.send_to_peer(&cli_id, piece.to_vec())
            .await
            .expect("piece");
    }
    let ack = next_text(&mut inbox, &cli_id).await;
    assert_eq!(
        ack,
        json!({ "type": "file-ack", "id": "page-1", "ok": true, "size": data.len(), "sha256": digest })
    );
    let received = receiver.until("file_received").await;
    assert_eq!(
        (&received["ok"], &received["name"]),
        (&json!(true), &json!("from-page.bin"))
    );
    receiver.exits_ok().await;
    assert_eq!(
        std::fs::read(dir.path().join("from-page.bin")).expect("file"),
        data
    );

    // The CLI joins first and sends 1 MiB + 3 bytes; the page answers its
    // offer and checks the file as the page's own code would.
    page.leave_room().await.expect("leave");
    let src = dir.path().join("to-page.bin");
    let data: Vec<u8> = (0..(1 << 20) + 3u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 9) as u8)
        .collect();
    std::fs::write(&src, &data).expect("write");
    let src_arg = src.display().to_string();
    let mut sender = cli(&gw, "cli", &["send", "MIX", &src_arg]);
    let cli_id = sender.until("joined").await["peerId"]
        .as_str()
        .expect("peerId")
        .to_owned();
    let joined = page.join_room("MIX").await.expect("join");
    assert_eq!(
        joined.peers.iter().map(|p| &p.id).collect::<Vec<_>>(),
        [&cli_id]
    );
    channel_open(&mut events, &cli_id).await;
    let offer = next_text(&mut inbox, &cli_id).await;
    assert_eq!(
        (&offer["type"], &offer["name"], &offer["size"]),
        (&json!("file"), &json!("to-page.bin"), &json!(data.len()))
    );
    assert_eq!(offer["sha256"], sha256(&data));
    let mut got = Vec::new();
    while got.len() < data.len() {
        let msg = next_message(&mut inbox, &cli_id).await;
        assert_eq!(
            msg.kind,
            MessageKind::Binary,
            "only data until the file is complete"
        );
        assert!(msg.data.len() <= 256 * 1024);
        got.extend_from_slice(&msg.data);
    }
    assert_eq!(got, data);
    let ack = json!({ "type": "file-ack", "id": offer["id"], "ok": true, "size": got.len(),
                      "sha256": sha256(&got) });
    page.send_text_to_peer(&cli_id, &ack.to_string())
        .await
        .expect("ack");
    let sent = sender.until("file_sent").await;
    assert_eq!(
        (&sent["ok"], &sent["to"]),
        (&json!(true), &json!(page.client_id().expect("joined")))
    );
    sender.exits_ok().await;
    let _ = page.close().await;
}

async fn channel_open(events: &mut Subscription<PeerEvent>, peer: &str) {
    next_event(events, "ChannelOpen", |e| match e {
        PeerEvent::ChannelOpen(p) if p == peer => Some(()),
        _ => None,
    })
    .await
}

/// The next message, which must be a JSON text message.
async fn next_text(inbox: &mut Subscription<PeerMessage>, from: &str) -> Value {
    let msg = next_message(inbox, from).await;
    let text = msg.text().expect("a text message");
    serde_json::from_str(text).expect("JSON")
}
