//! What a room session tells its caller, and how each notice is shown: one
//! JSON object per line with `--json` (the lines scripts and the web tests
//! read), else a line for a person.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::peer_manager::framing::MAX_TEXT;
use crate::signaling::PeerId;
use crate::transfer::{AckError, FileAck, FileOffer};

/// What happened. `who` is the peer's username, or its id when it has none.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// We are in the room, with these peers.
    Joined {
        room_code: String,
        peer_id: PeerId,
        peers: Vec<PeerId>,
    },
    /// The data channel with a peer is open.
    PeerOpen {
        peer: PeerId,
        username: String,
    },
    PeerGone {
        peer: PeerId,
        username: String,
    },
    /// The gateway's `error` event.
    ServerError {
        code: String,
        message: String,
    },
    Disconnected {
        reason: String,
    },
    /// `peer_id`: our new id in the rejoined room.
    Reconnected {
        peer_id: Option<PeerId>,
    },
    /// A chat line from a peer.
    Chat {
        from: PeerId,
        username: String,
        text: String,
    },
    /// Our line went to `peers` peers.
    ChatSent {
        text: String,
        peers: usize,
    },
    /// Our line is over a chat message's size: not sent.
    LineTooLong,
    FileIncoming {
        from: PeerId,
        who: String,
        id: String,
        name: String,
        size: u64,
    },
    /// `got` bytes of the file from `from` are stored (no line).
    FileProgress {
        from: PeerId,
        got: u64,
    },
    /// A file is complete: verified when `ack.ok`, else deleted.
    FileReceived {
        from: PeerId,
        who: String,
        name: String,
        path: PathBuf,
        ack: FileAck,
        seconds: f64,
    },
    FileFailed {
        from: PeerId,
        who: String,
        ack: FileAck,
    },
    FileRefused {
        from: PeerId,
        who: String,
        ack: FileAck,
    },
    /// The sender gave up on a file or left; the partial file is gone.
    FileAbandoned {
        from: PeerId,
        who: String,
        id: String,
    },
    /// A message that is not `wsc-app/1`, ignored.
    BadMessage {
        from: PeerId,
        who: String,
        reason: String,
    },
    /// We start sending `size` bytes (no line).
    Sending {
        size: u64,
    },
    /// `bytes` more are queued to every receiver (no line).
    SendingProgress {
        bytes: u64,
    },
    /// Every byte is queued (no line).
    SendingQueued,
    /// A receiver's verdict on the file we sent.
    FileSent {
        to: PeerId,
        who: String,
        offer: FileOffer,
        ok: bool,
        error: Option<AckError>,
        seconds: f64,
    },
}

/// A notice's human line, on stdout or stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Human {
    Stdout(String),
    Stderr(String),
}

impl Notice {
    /// The `--json` line, if the notice has one.
    pub fn json(&self) -> Option<Value> {
        Some(match self {
            Notice::Joined {
                room_code,
                peer_id,
                peers,
            } => {
                json!({ "event": "joined", "roomCode": room_code, "peerId": peer_id, "peers": peers })
            }
            Notice::PeerOpen { peer, username } => {
                json!({ "event": "peer_open", "peer": peer, "username": username })
            }
            Notice::PeerGone { peer, username } => {
                json!({ "event": "peer_gone", "peer": peer, "username": username })
            }
            Notice::ServerError { code, message } => {
                json!({ "event": "server_error", "code": code, "message": message })
            }
            Notice::Disconnected { reason } => json!({ "event": "disconnected", "reason": reason }),
            Notice::Reconnected { peer_id } => json!({ "event": "reconnected", "peerId": peer_id }),
            Notice::Chat {
                from,
                username,
                text,
            } => json!({ "event": "message", "from": from, "username": username, "text": text }),
            Notice::ChatSent { text, peers } => {
                json!({ "event": "sent", "text": text, "peers": peers })
            }
            Notice::LineTooLong => json!({ "event": "not_sent",
                "reason": format!("line too long (a chat message is at most {MAX_TEXT} bytes)") }),
            Notice::FileIncoming {
                from,
                id,
                name,
                size,
                ..
            } => {
                json!({ "event": "file_incoming", "from": from, "id": id, "name": name, "size": size })
            }
            Notice::FileReceived {
                from,
                name,
                path,
                ack,
                seconds,
                ..
            } => json!({ "event": "file_received", "from": from, "id": ack.id, "name": name,
                         "path": path.display().to_string(), "size": ack.size,
                         "sha256": ack.sha256.clone().unwrap_or_default(), "ok": ack.ok,
                         "seconds": seconds }),
            Notice::FileFailed { from, ack, .. } => {
                json!({ "event": "file_failed", "from": from, "id": ack.id, "error": ack.error })
            }
            Notice::FileRefused { from, ack, .. } => {
                json!({ "event": "file_refused", "from": from, "id": ack.id, "error": ack.error })
            }
            Notice::FileAbandoned { from, id, .. } => json!({ "event": "file_failed", "from": from,
                "id": id, "error": { "code": "ABORTED", "message": "the sender gave up or left" } }),
            Notice::BadMessage { from, reason, .. } => {
                json!({ "event": "bad_message", "from": from, "reason": reason })
            }
            Notice::FileSent {
                to,
                offer,
                ok,
                error,
                seconds,
                ..
            } => json!({ "event": "file_sent", "to": to, "id": offer.id, "name": offer.name,
                         "size": offer.size, "sha256": offer.sha256, "ok": ok, "error": error,
                         "seconds": seconds }),
            Notice::FileProgress { .. }
            | Notice::Sending { .. }
            | Notice::SendingProgress { .. }
            | Notice::SendingQueued => return None,
        })
    }

    /// The line for a person, if the notice has one.
    pub fn human(&self) -> Option<Human> {
        Some(Human::Stdout(match self {
            Notice::Joined {
                room_code,
                peer_id,
                peers,
            } => format!(
                "joined {room_code} as {peer_id} ({} peer(s) here)",
                peers.len()
            ),
            Notice::PeerOpen { username, .. } => format!("* connected to {username}"),
            Notice::PeerGone { username, .. } => format!("* {username} left"),
            Notice::ServerError { code, message } => format!("! {code}: {message}"),
            Notice::Disconnected { reason } => {
                format!("! disconnected from the gateway: {reason}")
            }
            Notice::Reconnected {
                peer_id: Some(peer_id),
            } => format!("* reconnected to the gateway as {peer_id}"),
            Notice::Reconnected { peer_id: None } => "* reconnected to the gateway".into(),
            Notice::Chat { username, text, .. } => format!("[{username}] {text}"),
            Notice::ChatSent { peers: 0, .. } => {
                return Some(Human::Stderr("(no peer connected yet; not sent)".into()));
            }
            Notice::LineTooLong => {
                format!("(line too long: a chat message is at most {MAX_TEXT} bytes; not sent)")
            }
            Notice::FileIncoming {
                who, name, size, ..
            } => format!("receiving {name} ({size} bytes) from {who}"),
            Notice::FileReceived {
                who,
                name,
                path,
                ack,
                seconds,
                ..
            } => format!(
                "received {name} ({} bytes) from {who} in {seconds:.2}s -> {}, sha256 {} {}",
                ack.size,
                path.display(),
                ack.sha256.as_deref().unwrap_or_default(),
                if ack.ok {
                    "verified"
                } else {
                    "MISMATCH (deleted)"
                }
            ),
            Notice::FileFailed { who, ack, .. } => {
                format!("! a file from {who} failed: {:?}", ack.error)
            }
            Notice::FileRefused { who, ack, .. } => {
                format!("! refused a file from {who}: {:?}", ack.error)
            }
            Notice::FileAbandoned { who, .. } => format!("! {who} gave up on a file"),
            Notice::BadMessage { who, reason, .. } => {
                format!("! ignored a message from {who}: {reason}")
            }
            Notice::FileSent {
                who,
                offer,
                ok,
                error,
                seconds,
                ..
            } => match error {
                None => format!(
                    "sent {} ({} bytes) to {who} in {seconds:.2}s, sha256 {} {}",
                    offer.name,
                    offer.size,
                    offer.sha256,
                    if *ok { "verified" } else { "MISMATCH" }
                ),
                Some(e) => format!(
                    "{who} did not take {}: {:?} {}",
                    offer.name, e.code, e.message
                ),
            },
            Notice::ChatSent { .. }
            | Notice::FileProgress { .. }
            | Notice::Sending { .. }
            | Notice::SendingProgress { .. }
            | Notice::SendingQueued => return None,
        }))
    }
}

#[cfg(test)]
mod tests {
    //! The lines are the CLI's contract (`web/test/lib/cli.js`,
    //! `tests/integration/cli.rs` parse them): these are byte for byte what
    //! `webrtc-client` printed before the sessions moved into the library.

    use super::*;
    use crate::transfer::AckCode;

    fn lines(n: &Notice) -> (Option<String>, Option<Human>) {
        (n.json().map(|v| v.to_string()), n.human())
    }

    fn out(s: &str) -> Option<Human> {
        Some(Human::Stdout(s.into()))
    }

    fn offer() -> FileOffer {
        FileOffer {
            id: "f1".into(),
            name: "a.bin".into(),
            size: 6,
            sha256: "ab".repeat(32),
        }
    }

    fn ack(ok: bool, error: Option<AckError>) -> FileAck {
        FileAck {
            id: "f1".into(),
            ok,
            size: 6,
            sha256: ok.then(|| "ab".repeat(32)),
            error,
        }
    }

    #[test]
    fn room_and_peer_notices() {
        let joined = Notice::Joined {
            room_code: "R".into(),
            peer_id: "me".into(),
            peers: vec!["p1".into(), "p2".into()],
        };
        assert_eq!(
            lines(&joined),
            (
                Some(
                    r#"{"event":"joined","roomCode":"R","peerId":"me","peers":["p1","p2"]}"#.into()
                ),
                out("joined R as me (2 peer(s) here)")
            )
        );
        let open = Notice::PeerOpen {
            peer: "p1".into(),
            username: "bob".into(),
        };
        assert_eq!(
            lines(&open),
            (
                Some(r#"{"event":"peer_open","peer":"p1","username":"bob"}"#.into()),
                out("* connected to bob")
            )
        );
        let gone = Notice::PeerGone {
            peer: "p1".into(),
            username: "bob".into(),
        };
        assert_eq!(
            lines(&gone),
            (
                Some(r#"{"event":"peer_gone","peer":"p1","username":"bob"}"#.into()),
                out("* bob left")
            )
        );
        let error = Notice::ServerError {
            code: "RATE_LIMITED".into(),
            message: "slow down".into(),
        };
        assert_eq!(
            lines(&error),
            (
                Some(
                    r#"{"event":"server_error","code":"RATE_LIMITED","message":"slow down"}"#
                        .into()
                ),
                out("! RATE_LIMITED: slow down")
            )
        );
        let lost = Notice::Disconnected {
            reason: "transport close".into(),
        };
        assert_eq!(
            lines(&lost),
            (
                Some(r#"{"event":"disconnected","reason":"transport close"}"#.into()),
                out("! disconnected from the gateway: transport close")
            )
        );
        let back = Notice::Reconnected {
            peer_id: Some("me2".into()),
        };
        assert_eq!(
            lines(&back),
            (
                Some(r#"{"event":"reconnected","peerId":"me2"}"#.into()),
                out("* reconnected to the gateway as me2")
            )
        );
    }

    #[test]
    fn chat_notices() {
        let chat = Notice::Chat {
            from: "p1".into(),
            username: "bob".into(),
            text: "hi \"all\"".into(),
        };
        assert_eq!(
            lines(&chat),
            (
                Some(
                    r#"{"event":"message","from":"p1","username":"bob","text":"hi \"all\""}"#
                        .into()
                ),
                out(r#"[bob] hi "all""#)
            )
        );
        let sent = Notice::ChatSent {
            text: "yo".into(),
            peers: 2,
        };
        assert_eq!(
            lines(&sent),
            (
                Some(r#"{"event":"sent","text":"yo","peers":2}"#.into()),
                None
            )
        );
        let nobody = Notice::ChatSent {
            text: "yo".into(),
            peers: 0,
        };
        assert_eq!(
            nobody.human(),
            Some(Human::Stderr("(no peer connected yet; not sent)".into()))
        );
        assert_eq!(
            lines(&Notice::LineTooLong),
            (
                Some(
                    r#"{"event":"not_sent","reason":"line too long (a chat message is at most 16384 bytes)"}"#
                        .into()
                ),
                out("(line too long: a chat message is at most 16384 bytes; not sent)")
            )
        );
    }

    #[test]
    fn receiving_notices() {
        let incoming = Notice::FileIncoming {
            from: "p1".into(),
            who: "bob".into(),
            id: "f1".into(),
            name: "a.bin".into(),
            size: 6,
        };
        assert_eq!(
            lines(&incoming),
            (
                Some(
                    r#"{"event":"file_incoming","from":"p1","id":"f1","name":"a.bin","size":6}"#
                        .into()
                ),
                out("receiving a.bin (6 bytes) from bob")
            )
        );
        let digest = "ab".repeat(32);
        let received = |ok| Notice::FileReceived {
            from: "p1".into(),
            who: "bob".into(),
            name: "a.bin".into(),
            path: "/tmp/x/a.bin".into(),
            ack: FileAck {
                sha256: Some(digest.clone()),
                ..ack(ok, None)
            },
            seconds: 1.5,
        };
        assert_eq!(
            lines(&received(true)),
            (
                Some(format!(
                    r#"{{"event":"file_received","from":"p1","id":"f1","name":"a.bin","path":"/tmp/x/a.bin","size":6,"sha256":"{digest}","ok":true,"seconds":1.5}}"#
                )),
                out(&format!(
                    "received a.bin (6 bytes) from bob in 1.50s -> /tmp/x/a.bin, sha256 {digest} verified"
                ))
            )
        );
        assert_eq!(
            received(false).human(),
            out(&format!(
                "received a.bin (6 bytes) from bob in 1.50s -> /tmp/x/a.bin, sha256 {digest} MISMATCH (deleted)"
            ))
        );
        let refused = Notice::FileRefused {
            from: "p1".into(),
            who: "bob".into(),
            ack: FileAck::failed("f1", 0, AckCode::TooLarge, "over 1 bytes"),
        };
        assert_eq!(
            lines(&refused),
            (
                Some(r#"{"event":"file_refused","from":"p1","id":"f1","error":{"code":"TOO_LARGE","message":"over 1 bytes"}}"#.into()),
                out(r#"! refused a file from bob: Some(AckError { code: TooLarge, message: "over 1 bytes" })"#)
            )
        );
        let failed = Notice::FileFailed {
            from: "p1".into(),
            who: "bob".into(),
            ack: FileAck::failed("f1", 0, AckCode::TooLarge, "over 1 bytes"),
        };
        assert_eq!(
            lines(&failed),
            (
                Some(r#"{"event":"file_failed","from":"p1","id":"f1","error":{"code":"TOO_LARGE","message":"over 1 bytes"}}"#.into()),
                out(r#"! a file from bob failed: Some(AckError { code: TooLarge, message: "over 1 bytes" })"#)
            )
        );
        let abandoned = Notice::FileAbandoned {
            from: "p1".into(),
            who: "bob".into(),
            id: "f1".into(),
        };
        assert_eq!(
            lines(&abandoned),
            (
                Some(r#"{"event":"file_failed","from":"p1","id":"f1","error":{"code":"ABORTED","message":"the sender gave up or left"}}"#.into()),
                out("! bob gave up on a file")
            )
        );
        let bad = Notice::BadMessage {
            from: "p1".into(),
            who: "bob".into(),
            reason: "not JSON".into(),
        };
        assert_eq!(
            lines(&bad),
            (
                Some(r#"{"event":"bad_message","from":"p1","reason":"not JSON"}"#.into()),
                out("! ignored a message from bob: not JSON")
            )
        );
    }

    #[test]
    fn sending_notices() {
        let digest = "ab".repeat(32);
        let sent = |ok, error| Notice::FileSent {
            to: "p2".into(),
            who: "carol".into(),
            offer: offer(),
            ok,
            error,
            seconds: 0.25,
        };
        assert_eq!(
            lines(&sent(true, None)),
            (
                Some(format!(
                    r#"{{"event":"file_sent","to":"p2","id":"f1","name":"a.bin","size":6,"sha256":"{digest}","ok":true,"error":null,"seconds":0.25}}"#
                )),
                out(&format!(
                    "sent a.bin (6 bytes) to carol in 0.25s, sha256 {digest} verified"
                ))
            )
        );
        assert_eq!(
            sent(false, None).human(),
            out(&format!(
                "sent a.bin (6 bytes) to carol in 0.25s, sha256 {digest} MISMATCH"
            ))
        );
        let refused = AckError {
            code: AckCode::Refused,
            message: "not taking files".into(),
        };
        assert_eq!(
            sent(false, Some(refused)).human(),
            out("carol did not take a.bin: Refused not taking files")
        );
        for quiet in [
            Notice::FileProgress {
                from: "p1".into(),
                got: 3,
            },
            Notice::Sending { size: 6 },
            Notice::SendingProgress { bytes: 3 },
            Notice::SendingQueued,
        ] {
            assert_eq!(lines(&quiet), (None, None), "{quiet:?}");
        }
    }
}
