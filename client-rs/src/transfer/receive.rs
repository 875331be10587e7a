//! The receiving side of `wsc-app/1`, as a state machine without I/O: it
//! turns each peer's messages into [`Received`] steps that the caller carries
//! out (store, send an ack, print).

use std::collections::HashMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::messages::{
    AckCode, AckError, AppMessage, FileAck, FileOffer, Parsed, parse, safe_name,
};
use crate::peer_manager::{MessageKind, PeerMessage};
use crate::signaling::PeerId;

/// One step for the caller, from one peer's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Chat(String),
    /// A verdict on a file we sent.
    Ack(FileAck),
    /// Start storing a file under `name` (already made safe).
    Open {
        id: String,
        name: String,
        size: u64,
    },
    /// Append to the file being stored.
    Write(Bytes),
    /// Every byte is in: finish the file, then send `ack` (`ok` true, or a
    /// checksum mismatch).
    Complete(FileAck),
    /// Drop the partial file (if any), then send `ack`.
    Fail(FileAck),
    /// Send `ack`; nothing was stored (a refused offer).
    Reply(FileAck),
    /// Drop the partial file; nothing to send (the sender aborted, or left).
    Discard {
        id: String,
    },
    /// Not understood; ignored and never answered.
    Bad(String),
}

enum State {
    Idle,
    Receiving {
        offer: FileOffer,
        got: u64,
        hasher: Sha256,
    },
    /// A refused or failed transfer's data may still come: drop it quietly.
    Discarding,
}

/// What one peer is sending us.
struct FromPeer {
    state: State,
}

/// The receiving side of every peer's channel.
pub struct Inbound {
    peers: HashMap<PeerId, FromPeer>,
    max_size: u64,
}

impl Inbound {
    /// Files over `max_size` bytes are refused (`TOO_LARGE`).
    pub fn new(max_size: u64) -> Self {
        Self {
            peers: HashMap::new(),
            max_size,
        }
    }

    /// Handles one message; `accept` decides on a valid offer within the
    /// size limit (`false`: `REFUSED`).
    pub fn on_message(
        &mut self,
        message: &PeerMessage,
        accept: impl FnOnce(&FileOffer) -> bool,
    ) -> Vec<Received> {
        let peer = self
            .peers
            .entry(message.from.clone())
            .or_insert(FromPeer { state: State::Idle });
        match message.kind {
            MessageKind::Binary => peer.on_data(&message.data),
            MessageKind::Text => {
                let Ok(text) = std::str::from_utf8(&message.data) else {
                    return vec![Received::Bad("text message is not UTF-8".into())];
                };
                match parse(text) {
                    Parsed::Message(AppMessage::Chat { text }) => vec![Received::Chat(text)],
                    Parsed::Message(AppMessage::FileAck(ack)) => vec![Received::Ack(ack)],
                    Parsed::Message(AppMessage::FileAbort { id, .. }) => peer.on_abort(&id),
                    Parsed::Message(AppMessage::File(offer)) => {
                        let max = self.max_size;
                        peer.on_offer(offer, max, accept)
                    }
                    Parsed::BadOffer { id, message } => {
                        let mut steps = peer.abort_current();
                        peer.state = State::Discarding;
                        steps.push(Received::Reply(FileAck::failed(
                            &id,
                            0,
                            AckCode::BadOffer,
                            message,
                        )));
                        steps
                    }
                    Parsed::Ignored(why) => vec![Received::Bad(why)],
                }
            }
        }
    }

    /// Storing `peer`'s file failed: the transfer ends, and the returned ack
    /// (`WRITE_FAILED`) is for the sender.
    pub fn write_failed(&mut self, peer: &str, message: &str) -> Option<FileAck> {
        let from = self.peers.get_mut(peer)?;
        match std::mem::replace(&mut from.state, State::Discarding) {
            State::Receiving { offer, got, .. } => Some(FileAck::failed(
                &offer.id,
                got,
                AckCode::WriteFailed,
                message,
            )),
            other => {
                from.state = other;
                None
            }
        }
    }

    /// The peer left: its transfer in progress, if any, is dropped.
    pub fn peer_gone(&mut self, peer: &str) -> Option<Received> {
        match self.peers.remove(peer)?.state {
            State::Receiving { offer, .. } => Some(Received::Discard { id: offer.id }),
            _ => None,
        }
    }
}

impl FromPeer {
    fn on_offer(
        &mut self,
        offer: FileOffer,
        max_size: u64,
        accept: impl FnOnce(&FileOffer) -> bool,
    ) -> Vec<Received> {
        let mut steps = self.abort_current();
        self.state = State::Discarding;
        if offer.size > max_size {
            steps.push(Received::Reply(FileAck::failed(
                &offer.id,
                0,
                AckCode::TooLarge,
                format!(
                    "file of {} bytes is over the {max_size}-byte limit",
                    offer.size
                ),
            )));
            return steps;
        }
        if !accept(&offer) {
            steps.push(Received::Reply(FileAck::failed(
                &offer.id,
                0,
                AckCode::Refused,
                "not taking files now",
            )));
            return steps;
        }
        steps.push(Received::Open {
            id: offer.id.clone(),
            name: safe_name(&offer.name),
            size: offer.size,
        });
        self.state = State::Receiving {
            offer,
            got: 0,
            hasher: Sha256::new(),
        };
        // An empty file is complete at once.
        steps.extend(self.on_data(&Bytes::new()));
        steps
    }

    /// A transfer in progress ends as `ABORTED` (a new offer came).
    fn abort_current(&mut self) -> Vec<Received> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Receiving { offer, got, .. } => vec![Received::Fail(FileAck::failed(
                &offer.id,
                got,
                AckCode::Aborted,
                "a new file came before this one was complete",
            ))],
            _ => Vec::new(),
        }
    }

    fn on_abort(&mut self, id: &str) -> Vec<Received> {
        match &self.state {
            State::Receiving { offer, .. } if offer.id == id => {
                self.state = State::Discarding;
                vec![Received::Discard { id: id.to_owned() }]
            }
            _ => Vec::new(),
        }
    }

    fn on_data(&mut self, data: &Bytes) -> Vec<Received> {
        let State::Receiving { offer, got, hasher } = &mut self.state else {
            return match self.state {
                State::Discarding => Vec::new(),
                _ if data.is_empty() => Vec::new(),
                _ => vec![Received::Bad("binary data outside a transfer".into())],
            };
        };
        if *got + data.len() as u64 > offer.size {
            let ack = FileAck::failed(
                &offer.id,
                *got,
                AckCode::SizeMismatch,
                format!("more than the announced {} bytes", offer.size),
            );
            self.state = State::Discarding;
            return vec![Received::Fail(ack)];
        }
        let mut steps = Vec::new();
        if !data.is_empty() {
            hasher.update(data);
            *got += data.len() as u64;
            steps.push(Received::Write(data.clone()));
        }
        if *got == offer.size {
            let digest = hex::encode(std::mem::take(hasher).finalize());
            let ok = digest.eq_ignore_ascii_case(&offer.sha256);
            let ack = FileAck {
                id: offer.id.clone(),
                ok,
                size: *got,
                sha256: Some(digest),
                error: (!ok).then(|| AckError {
                    code: AckCode::ChecksumMismatch,
                    message: "the SHA-256 of the data is not the offer's".into(),
                }),
            };
            self.state = State::Idle;
            steps.push(Received::Complete(ack));
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

    fn text(m: &AppMessage) -> PeerMessage {
        PeerMessage {
            from: "a".into(),
            data: m.to_text().into(),
            kind: MessageKind::Text,
        }
    }

    fn data(bytes: &[u8]) -> PeerMessage {
        PeerMessage {
            from: "a".into(),
            data: Bytes::copy_from_slice(bytes),
            kind: MessageKind::Binary,
        }
    }

    fn offer(id: &str, size: u64, sha256: &str) -> AppMessage {
        AppMessage::File(FileOffer {
            id: id.into(),
            name: "../notes.txt".into(),
            size,
            sha256: sha256.into(),
        })
    }

    fn yes(_: &FileOffer) -> bool {
        true
    }

    #[test]
    fn a_file_arrives_in_pieces_and_is_verified() {
        let mut rx = Inbound::new(100);
        assert_eq!(
            rx.on_message(&text(&offer("t1", 6, HELLO_SHA)), yes),
            [Received::Open {
                id: "t1".into(),
                name: "notes.txt".into(),
                size: 6
            }]
        );
        assert_eq!(
            rx.on_message(&data(b"hel"), yes),
            [Received::Write(Bytes::from_static(b"hel"))]
        );
        let steps = rx.on_message(&data(b"lo\n"), yes);
        assert_eq!(
            steps,
            [
                Received::Write(Bytes::from_static(b"lo\n")),
                Received::Complete(FileAck {
                    id: "t1".into(),
                    ok: true,
                    size: 6,
                    sha256: Some(HELLO_SHA.into()),
                    error: None
                })
            ]
        );
        // Done: more data is stray.
        assert!(matches!(
            rx.on_message(&data(b"x"), yes)[..],
            [Received::Bad(_)]
        ));
        // Chat is not file data, even mid-transfer.
        rx.on_message(&text(&offer("t2", 6, HELLO_SHA)), yes);
        assert_eq!(
            rx.on_message(&text(&AppMessage::Chat { text: "hi".into() }), yes),
            [Received::Chat("hi".into())]
        );
    }

    #[test]
    fn wrong_checksum_too_many_bytes_and_empty_files() {
        let mut rx = Inbound::new(100);
        rx.on_message(&text(&offer("t1", 2, &"0".repeat(64))), yes);
        let steps = rx.on_message(&data(b"ab"), yes);
        let Received::Complete(ack) = &steps[1] else {
            panic!("{steps:?}")
        };
        assert!(!ack.ok);
        assert_eq!(
            ack.error.as_ref().map(|e| e.code),
            Some(AckCode::ChecksumMismatch)
        );

        rx.on_message(&text(&offer("t2", 2, HELLO_SHA)), yes);
        let steps = rx.on_message(&data(b"abc"), yes);
        let [Received::Fail(ack)] = &steps[..] else {
            panic!("{steps:?}")
        };
        assert_eq!(
            (
                ack.id.as_str(),
                ack.size,
                ack.error.as_ref().map(|e| e.code)
            ),
            ("t2", 0, Some(AckCode::SizeMismatch))
        );
        // The rest of a failed transfer is dropped quietly.
        assert_eq!(rx.on_message(&data(b"d"), yes), []);

        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let steps = rx.on_message(&text(&offer("t3", 0, empty)), yes);
        assert!(matches!(&steps[..], [Received::Open { .. }, Received::Complete(a)] if a.ok));
    }

    #[test]
    fn refusals_aborts_and_departures() {
        let mut rx = Inbound::new(10);
        let steps = rx.on_message(&text(&offer("big", 11, HELLO_SHA)), yes);
        assert!(
            matches!(&steps[..], [Received::Reply(a)] if a.error.as_ref().map(|e| e.code) == Some(AckCode::TooLarge))
        );
        assert_eq!(rx.on_message(&data(b"dropped"), yes), []);
        let steps = rx.on_message(&text(&offer("no", 6, HELLO_SHA)), |_| false);
        assert!(
            matches!(&steps[..], [Received::Reply(a)] if a.error.as_ref().map(|e| e.code) == Some(AckCode::Refused))
        );
        let bad = PeerMessage {
            from: "a".into(),
            data: r#"{"type":"file","id":"b!","name":"x","size":1,"sha256":"x"}"#.into(),
            kind: MessageKind::Text,
        };
        let steps = rx.on_message(&bad, yes);
        assert!(
            matches!(&steps[..], [Received::Reply(a)] if a.id == "b!" && a.error.as_ref().map(|e| e.code) == Some(AckCode::BadOffer))
        );

        // A new offer aborts the one in progress.
        rx.on_message(&text(&offer("t1", 6, HELLO_SHA)), yes);
        rx.on_message(&data(b"he"), yes);
        let steps = rx.on_message(&text(&offer("t2", 6, HELLO_SHA)), yes);
        assert!(
            matches!(&steps[..], [Received::Fail(a), Received::Open { .. }] if a.id == "t1" && a.size == 2 && a.error.as_ref().map(|e| e.code) == Some(AckCode::Aborted))
        );
        // The sender aborts: dropped, no ack.
        let abort = AppMessage::FileAbort {
            id: "t2".into(),
            reason: "cancelled".into(),
        };
        assert_eq!(
            rx.on_message(&text(&abort), yes),
            [Received::Discard { id: "t2".into() }]
        );
        assert_eq!(rx.on_message(&data(b"llo\n"), yes), []);
        // The sender leaves mid-transfer.
        rx.on_message(&text(&offer("t3", 6, HELLO_SHA)), yes);
        assert_eq!(
            rx.peer_gone("a"),
            Some(Received::Discard { id: "t3".into() })
        );
        assert_eq!(rx.peer_gone("a"), None);
        // Storage fails mid-file.
        rx.on_message(&text(&offer("t4", 6, HELLO_SHA)), yes);
        rx.on_message(&data(b"he"), yes);
        let ack = rx.write_failed("a", "disk full").expect("an ack");
        assert_eq!(
            (ack.id.as_str(), ack.size, ack.error.map(|e| e.code)),
            ("t4", 2, Some(AckCode::WriteFailed))
        );
        assert_eq!(rx.on_message(&data(b"llo\n"), yes), []);
        assert_eq!(rx.write_failed("a", "again"), None);
    }
}
