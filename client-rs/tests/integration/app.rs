//! The library's room sessions (`app`): chat and a file between real clients
//! through a real gateway, with the exact payloads each peer gets and the
//! notices each session tells.

use std::path::Path;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc_signaling_client::app::{self, AppError, Notice, Room};
use webrtc_signaling_client::peer_manager::framing::MAX_TEXT;
use webrtc_signaling_client::transfer::{AckCode, Target};
use webrtc_signaling_client::{Client, PeerId, PeerMessage, Subscription};

use crate::common::*;

/// What a session running in its own task tells.
struct Notices(mpsc::UnboundedReceiver<Notice>);

impl Notices {
    /// The first notice `pick` takes, skipping the others.
    /// Our peer id, from the session's own `joined` notice.
    async fn joined_as(&mut self) -> PeerId {
        self.until("joined", |n| match n {
            Notice::Joined { peer_id, .. } => Some(peer_id.clone()),
            _ => None,
        })
        .await
    }

    async fn until<T>(&mut self, what: &str, mut pick: impl FnMut(&Notice) -> Option<T>) -> T {
        tokio::time::timeout(SOON, async {
            loop {
                let notice = self.0.recv().await;
                let notice = notice.unwrap_or_else(|| panic!("the session ended before {what}"));
                if let Some(t) = pick(&notice) {
                    return t;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {what} in time"))
    }

    /// The next notice, which must be `want`.
    async fn next_is(&mut self, want: Notice) {
        let got = tokio::time::timeout(SOON, self.0.recv()).await;
        assert_eq!(got.expect("a notice in time"), Some(want));
    }
}

type Session = JoinHandle<(Client, Result<(), AppError>)>;

/// Runs `run` on `client` in a task, its notices to the returned stream.
fn session<F, Fut>(client: Client, run: F) -> (Session, Notices)
where
    F: FnOnce(Client, mpsc::UnboundedSender<Notice>) -> Fut,
    Fut: std::future::Future<Output = (Client, Result<(), AppError>)> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    (tokio::spawn(run(client, tx)), Notices(rx))
}

fn room(code: &str) -> Room {
    Room {
        code: code.into(),
        create: false,
    }
}

async fn ends_ok(task: Session) -> Client {
    let (client, result) = tokio::time::timeout(SOON, task)
        .await
        .expect("the session ends in time")
        .expect("the session task");
    result.expect("the session succeeds");
    client
}

/// Each inbox's next message is the text `text` from `from`.
async fn each_gets(inboxes: [&mut Subscription<PeerMessage>; 2], from: &str, text: &str) {
    for inbox in inboxes {
        let msg = next_message(inbox, from).await;
        assert_eq!(msg.text(), Some(text));
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_lines_go_to_every_open_peer_and_theirs_come_back() {
    let gw = gateway().await;
    let (bob, carol) = (client(&gw, "bob").await, client(&gw, "carol").await);
    let mut bob_inbox = bob.peer_messages().await.expect("inbox");
    let mut carol_inbox = carol.peer_messages().await.expect("inbox");
    bob.create_room(Some("CHAT")).await.expect("create");
    let bob_id = bob.join_room("CHAT").await.expect("join").peer_id;
    let carol_id = carol.join_room("CHAT").await.expect("join").peer_id;

    let alice = client(&gw, "alice").await;
    let (input, mut typing) = tokio::io::duplex(64 * 1024);
    let (task, mut notices) = session(alice, |alice, tx| async move {
        let mut notify = move |n| {
            let _ = tx.send(n);
        };
        let input = BufReader::new(input);
        let result = app::chat(&alice, &room("CHAT"), input, &mut notify).await;
        (alice, result)
    });
    let (alice_id, peers) = notices
        .until("joined", |n| match n {
            Notice::Joined { peer_id, peers, .. } => Some((peer_id.clone(), peers.clone())),
            _ => None,
        })
        .await;
    assert_eq!(
        sorted(peers),
        sorted(vec![bob_id.clone(), carol_id.clone()])
    );
    let mut open = Vec::new();
    while open.len() < 2 {
        open.push(
            notices
                .until("peer_open", |n| match n {
                    Notice::PeerOpen { peer, username } => Some((peer.clone(), username.clone())),
                    _ => None,
                })
                .await,
        );
    }
    assert_eq!(
        sorted(open),
        sorted(vec![
            (bob_id.clone(), "bob".into()),
            (carol_id.clone(), "carol".into())
        ])
    );

    // A line goes to both, as one `chat` text message each.
    typing.write_all(b"hello all\n").await.expect("type");
    notices
        .next_is(Notice::ChatSent {
            text: "hello all".into(),
            peers: 2,
        })
        .await;
    each_gets(
        [&mut bob_inbox, &mut carol_inbox],
        &alice_id,
        r#"{"type":"chat","text":"hello all"}"#,
    )
    .await;
    // A line too long for one message goes nowhere: the next line is the
    // next message the peers get.
    let long = format!("{}\nafter\n", "x".repeat(MAX_TEXT));
    typing.write_all(long.as_bytes()).await.expect("type");
    notices.next_is(Notice::LineTooLong).await;
    notices
        .next_is(Notice::ChatSent {
            text: "after".into(),
            peers: 2,
        })
        .await;
    each_gets(
        [&mut bob_inbox, &mut carol_inbox],
        &alice_id,
        r#"{"type":"chat","text":"after"}"#,
    )
    .await;

    // A peer's line comes back with its name.
    bob.send_text_to_peer(&alice_id, r#"{"type":"chat","text":"hi alice"}"#)
        .await
        .expect("send");
    notices
        .next_is(Notice::Chat {
            from: bob_id.clone(),
            username: "bob".into(),
            text: "hi alice".into(),
        })
        .await;
    // The end of the input leaves the room.
    drop(typing);
    let alice = ends_ok(task).await;
    assert!(bob_inbox.try_recv().is_none() && carol_inbox.try_recv().is_none());
    for c in [alice, bob, carol] {
        let _ = c.close().await;
    }
}

fn receiving(client: Client, dir: &Path) -> (Session, Notices) {
    let target = Target::Dir(dir.to_owned());
    session(client, |client, tx| async move {
        let mut notify = move |n| {
            let _ = tx.send(n);
        };
        let no_input = tokio::io::empty();
        let result = app::receive_files(
            &client,
            &room("FILES"),
            target,
            1,
            u64::MAX,
            no_input,
            &mut notify,
        )
        .await;
        (client, result)
    })
}

/// What a receiving session told of the one file it got.
async fn received(notices: &mut Notices, from: &PeerId, dir: &Path, size: u64, digest: &str) {
    let incoming = notices
        .until("file_incoming", |n| match n {
            Notice::FileIncoming { .. } => Some(n.clone()),
            _ => None,
        })
        .await;
    let Notice::FileIncoming {
        from: sender,
        who,
        name,
        size: announced,
        ..
    } = incoming
    else {
        unreachable!()
    };
    assert_eq!(
        (&sender, who.as_str(), name.as_str(), announced),
        (from, "alice", "report.bin", size)
    );
    let (path, ack) = notices
        .until("file_received", |n| match n {
            Notice::FileReceived { path, ack, .. } => Some((path.clone(), ack.clone())),
            _ => None,
        })
        .await;
    assert_eq!(path, dir.join("report.bin"));
    assert_eq!(
        (ack.ok, ack.size, ack.sha256.as_deref(), ack.error),
        (true, size, Some(digest), None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_goes_to_the_first_two_peers_and_the_sender_hears_both_verdicts() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..300 * 1024 + 7u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let digest = sha256(&data);
    let src = dir.path().join("report.bin");
    std::fs::write(&src, &data).expect("write");
    let (bob_dir, carol_dir) = (dir.path().join("bob"), dir.path().join("carol"));
    for d in [&bob_dir, &carol_dir] {
        std::fs::create_dir(d).expect("mkdir");
    }

    // The receivers are in the room first (they offer to the sender).
    let (bob, carol) = (client(&gw, "bob").await, client(&gw, "carol").await);
    bob.create_room(Some("FILES")).await.expect("create");
    let (bob_task, mut bob_notices) = receiving(bob, &bob_dir);
    let (carol_task, mut carol_notices) = receiving(carol, &carol_dir);
    let bob_id = bob_notices.joined_as().await;
    let carol_id = carol_notices.joined_as().await;

    let alice = client(&gw, "alice").await;
    let path = src.clone();
    let (alice_task, mut alice_notices) = session(alice, |alice, tx| async move {
        let mut notify = move |n| {
            let _ = tx.send(n);
        };
        let result = app::send_file(&alice, &room("FILES"), &path, 2, &mut notify).await;
        (alice, result)
    });
    let alice_id = alice_notices.joined_as().await;
    let size = data.len() as u64;
    received(&mut bob_notices, &alice_id, &bob_dir, size, &digest).await;
    received(&mut carol_notices, &alice_id, &carol_dir, size, &digest).await;
    let mut verdicts = Vec::new();
    while verdicts.len() < 2 {
        verdicts.push(
            alice_notices
                .until("file_sent", |n| match n {
                    Notice::FileSent {
                        to,
                        who,
                        offer,
                        ok,
                        error,
                        ..
                    } => Some((
                        to.clone(),
                        who.clone(),
                        (offer.name.clone(), offer.size, offer.sha256.clone()),
                        *ok,
                        error.is_none(),
                    )),
                    _ => None,
                })
                .await,
        );
    }
    let file = ("report.bin".to_owned(), size, digest.clone());
    assert_eq!(
        sorted(verdicts),
        sorted(vec![
            (bob_id, "bob".into(), file.clone(), true, true),
            (carol_id, "carol".into(), file, true, true),
        ])
    );
    let mut clients = vec![ends_ok(alice_task).await];
    clients.push(ends_ok(bob_task).await);
    clients.push(ends_ok(carol_task).await);
    for d in [&bob_dir, &carol_dir] {
        assert_eq!(std::fs::read(d.join("report.bin")).expect("received"), data);
    }
    for c in clients {
        let _ = c.close().await;
    }
}

/// A chatting peer refuses a file: the sender hears the refusal, stops
/// sending, and fails with the CLI's error line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_file_is_told_on_both_sides_and_the_send_fails() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("report.bin");
    std::fs::write(&src, vec![7u8; 200 * 1024]).expect("write");

    let bob = client(&gw, "bob").await;
    bob.create_room(Some("FILES")).await.expect("create");
    let (input, typing) = tokio::io::duplex(1024);
    let (bob_task, mut bob_notices) = session(bob, |bob, tx| async move {
        let mut notify = move |n| {
            let _ = tx.send(n);
        };
        let result = app::chat(&bob, &room("FILES"), BufReader::new(input), &mut notify).await;
        (bob, result)
    });
    bob_notices
        .until("joined", |n| {
            matches!(n, Notice::Joined { .. }).then_some(())
        })
        .await;

    let alice = client(&gw, "alice").await;
    let (alice_task, mut alice_notices) = session(alice, |alice, tx| async move {
        let mut notify = move |n| {
            let _ = tx.send(n);
        };
        let result = app::send_file(&alice, &room("FILES"), &src, 1, &mut notify).await;
        (alice, result)
    });
    let alice_id = alice_notices.joined_as().await;
    let (from, who, code) = bob_notices
        .until("file_refused", |n| match n {
            Notice::FileRefused { from, who, ack } => Some((
                from.clone(),
                who.clone(),
                ack.error.as_ref().map(|e| e.code),
            )),
            _ => None,
        })
        .await;
    assert_eq!(
        (from.as_str(), who.as_str(), code),
        (alice_id.as_str(), "alice", Some(AckCode::Refused))
    );
    let (ok, code) = alice_notices
        .until("file_sent", |n| match n {
            Notice::FileSent { ok, error, .. } => Some((*ok, error.as_ref().map(|e| e.code))),
            _ => None,
        })
        .await;
    assert_eq!((ok, code), (false, Some(AckCode::Refused)));
    let (alice, result) = tokio::time::timeout(SOON, alice_task)
        .await
        .expect("the send ends in time")
        .expect("the send task");
    let error = result.expect_err("a refused file fails the send");
    assert_eq!(error.to_string(), "not every receiver verified the file");
    drop(typing);
    let bob = ends_ok(bob_task).await;
    for c in [alice, bob] {
        let _ = c.close().await;
    }
}

/// With a count of 0 the receiver lasts until its input ends; a file over
/// its size limit is refused `TOO_LARGE` and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_refuses_a_file_over_its_limit_and_lasts_until_its_input_ends() {
    let gw = gateway().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bob = client(&gw, "bob").await;
    bob.create_room(Some("FILES")).await.expect("create");
    let (input, typing) = tokio::io::duplex(1024);
    let target = Target::Dir(dir.path().to_owned());
    let (bob_task, mut bob_notices) = session(bob, |bob, tx| async move {
        let mut notify = move |n| {
            let _ = tx.send(n);
        };
        let input = BufReader::new(input);
        let result =
            app::receive_files(&bob, &room("FILES"), target, 0, 10, input, &mut notify).await;
        (bob, result)
    });
    let bob_id = bob_notices.joined_as().await;

    let page = client(&gw, "page").await;
    let mut inbox = page.peer_messages().await.expect("inbox");
    let mut page_open = page.data_channel_opened().await.expect("opened");
    page.join_room("FILES").await.expect("join");
    assert_eq!(opened(&mut page_open, 1).await, [bob_id.as_str()]);
    let offer = r#"{"type":"file","id":"big","name":"big.bin","size":11,"sha256":"4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a"}"#;
    page.send_text_to_peer(&bob_id, offer).await.expect("offer");
    let ack = next_message(&mut inbox, &bob_id).await;
    let ack: serde_json::Value = serde_json::from_str(ack.text().expect("text")).expect("JSON");
    assert_eq!(
        (&ack["type"], &ack["id"], &ack["ok"], &ack["error"]["code"]),
        (
            &serde_json::json!("file-ack"),
            &serde_json::json!("big"),
            &serde_json::json!(false),
            &serde_json::json!("TOO_LARGE")
        )
    );
    let (from, code) = bob_notices
        .until("file_refused", |n| match n {
            Notice::FileRefused { from, ack, .. } => {
                Some((from.clone(), ack.error.as_ref().map(|e| e.code)))
            }
            _ => None,
        })
        .await;
    assert_eq!(
        (from, code),
        (page.client_id().expect("joined"), Some(AckCode::TooLarge))
    );
    // Still receiving until the input ends.
    assert!(!bob_task.is_finished());
    drop(typing);
    let bob = ends_ok(bob_task).await;
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    for c in [bob, page] {
        let _ = c.close().await;
    }
}
