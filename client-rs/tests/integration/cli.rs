//! The `webrtc-client` binary: two processes chat and move a file through a
//! real gateway.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

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
