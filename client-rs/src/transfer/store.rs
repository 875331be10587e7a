//! Received files on disk: carries out the receiving steps ([`Received`]) of
//! every peer's channel and says what happened ([`Outcome`]), including the
//! acks the caller must send back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::messages::{AckCode, FileAck};
use super::receive::{Inbound, Received};
use crate::peer_manager::PeerMessage;
use crate::signaling::PeerId;

/// Where received files go.
#[derive(Debug, Clone)]
pub enum Target {
    /// One file, to this path.
    File(PathBuf),
    /// Each file into this directory, under the sender's (safe) base name.
    Dir(PathBuf),
}

/// What a message did, for the caller to report. Those carrying an ack
/// ([`Outcome::reply`]) must be answered with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Chat(String),
    /// A verdict on a file we sent.
    Ack(FileAck),
    Started {
        id: String,
        name: String,
        path: PathBuf,
        size: u64,
    },
    /// `got` of `size` bytes are stored.
    Progress {
        got: u64,
        size: u64,
    },
    /// A file is complete: verified when `ack.ok` (a file that failed the
    /// checksum is deleted).
    Received {
        name: String,
        path: PathBuf,
        ack: FileAck,
        seconds: f64,
    },
    /// A transfer failed (aborted, too many bytes, storage failed).
    Failed(FileAck),
    /// An offer was refused (not taking files, too large, bad offer).
    Refused(FileAck),
    /// The sender aborted or left: the partial file is gone.
    Discarded {
        id: String,
    },
    /// Not a message of the protocol; ignored.
    Bad(String),
}

impl Outcome {
    /// The ack to send back to the peer, if any.
    pub fn reply(&self) -> Option<&FileAck> {
        match self {
            Outcome::Received { ack, .. } | Outcome::Failed(ack) | Outcome::Refused(ack) => {
                Some(ack)
            }
            _ => None,
        }
    }
}

struct Open {
    name: String,
    path: PathBuf,
    file: tokio::fs::File,
    size: u64,
    got: u64,
    started: Instant,
}

/// The receiving side of every peer, storing files on disk.
pub struct Downloads {
    inbound: Inbound,
    target: Option<Target>,
    /// Files still wanted (`None`: any number).
    wanted: Option<usize>,
    open: HashMap<PeerId, Open>,
    /// Files received whole (verified or not).
    pub completed: usize,
    /// Of those, the ones whose checksum matched.
    pub verified: usize,
}

impl Downloads {
    /// `target: None` refuses every file (`REFUSED`), as does a count of
    /// `wanted` files reached; files over `max_size` are `TOO_LARGE`.
    pub fn new(target: Option<Target>, wanted: Option<usize>, max_size: u64) -> Self {
        Self {
            inbound: Inbound::new(max_size),
            target,
            wanted,
            open: HashMap::new(),
            completed: 0,
            verified: 0,
        }
    }

    /// As many files as wanted are complete (verified or not).
    pub fn done(&self) -> bool {
        self.wanted == Some(0)
    }

    /// Handles one message from a peer.
    pub async fn on_message(&mut self, message: &PeerMessage) -> Vec<Outcome> {
        let accepting = self.target.is_some() && !self.done();
        let steps = self.inbound.on_message(message, |_| accepting);
        let mut outcomes = Vec::new();
        for step in steps {
            if let Some(o) = self.apply(&message.from, step).await {
                outcomes.push(o);
            }
        }
        outcomes
    }

    /// The peer left: its partial file, if any, is deleted.
    pub async fn peer_gone(&mut self, peer: &str) -> Option<Outcome> {
        match self.inbound.peer_gone(peer)? {
            Received::Discard { id } => {
                self.discard(peer).await;
                Some(Outcome::Discarded { id })
            }
            _ => None,
        }
    }

    async fn apply(&mut self, from: &str, step: Received) -> Option<Outcome> {
        Some(match step {
            Received::Chat(text) => Outcome::Chat(text),
            Received::Ack(ack) => Outcome::Ack(ack),
            Received::Open { id, name, size } => return self.start(from, id, name, size).await,
            Received::Write(data) => {
                let open = self.open.get_mut(from)?;
                match open.file.write_all(&data).await {
                    Ok(()) => {
                        open.got += data.len() as u64;
                        Outcome::Progress {
                            got: open.got,
                            size: open.size,
                        }
                    }
                    Err(e) => return self.write_failed(from, e).await,
                }
            }
            Received::Complete(ack) => return self.finish(from, ack).await,
            Received::Fail(ack) => {
                self.discard(from).await;
                Outcome::Failed(ack)
            }
            Received::Reply(ack) => Outcome::Refused(ack),
            Received::Discard { id } => {
                self.discard(from).await;
                Outcome::Discarded { id }
            }
            Received::Bad(why) => Outcome::Bad(why),
        })
    }

    async fn start(&mut self, from: &str, id: String, name: String, size: u64) -> Option<Outcome> {
        let path = match self.target.as_ref()? {
            Target::File(p) => p.clone(),
            Target::Dir(d) => d.join(&name),
        };
        let file = match tokio::fs::File::create(&path).await {
            Ok(f) => f,
            Err(e) => return self.write_failed(from, e).await,
        };
        self.open.insert(
            from.to_owned(),
            Open {
                name: name.clone(),
                path: path.clone(),
                file,
                size,
                got: 0,
                started: Instant::now(),
            },
        );
        Some(Outcome::Started {
            id,
            name,
            path,
            size,
        })
    }

    async fn finish(&mut self, from: &str, ack: FileAck) -> Option<Outcome> {
        let mut open = self.open.remove(from)?;
        if let Err(e) = open.file.flush().await {
            let _ = tokio::fs::remove_file(&open.path).await;
            return Some(Outcome::Failed(FileAck::failed(
                &ack.id,
                ack.size,
                AckCode::WriteFailed,
                e.to_string(),
            )));
        }
        drop(open.file);
        self.completed += 1;
        if let Some(w) = self.wanted.as_mut() {
            *w = w.saturating_sub(1);
        }
        if ack.ok {
            self.verified += 1;
        } else {
            // Nothing unverified is left under the sender's name.
            let _ = tokio::fs::remove_file(&open.path).await;
        }
        Some(Outcome::Received {
            name: open.name,
            path: open.path,
            ack,
            seconds: open.started.elapsed().as_secs_f64(),
        })
    }

    async fn write_failed(&mut self, from: &str, e: std::io::Error) -> Option<Outcome> {
        let ack = self.inbound.write_failed(from, &e.to_string())?;
        self.discard(from).await;
        Some(Outcome::Failed(ack))
    }

    async fn discard(&mut self, from: &str) {
        if let Some(open) = self.open.remove(from) {
            drop(open.file);
            let _ = tokio::fs::remove_file(&open.path).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer_manager::MessageKind;
    use crate::transfer::{AppMessage, FileOffer};

    const HELLO_SHA: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

    fn offer(id: &str, name: &str, sha256: &str) -> PeerMessage {
        let m = AppMessage::File(FileOffer {
            id: id.into(),
            name: name.into(),
            size: 6,
            sha256: sha256.into(),
        });
        PeerMessage {
            from: "a".into(),
            data: m.to_text().into(),
            kind: MessageKind::Text,
        }
    }

    fn data(bytes: &'static [u8]) -> PeerMessage {
        PeerMessage {
            from: "a".into(),
            data: bytes.into(),
            kind: MessageKind::Binary,
        }
    }

    fn code(o: &Outcome) -> Option<AckCode> {
        o.reply().and_then(|a| a.error.as_ref()).map(|e| e.code)
    }

    #[tokio::test]
    async fn files_land_in_the_directory_verified_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Downloads::new(Some(Target::Dir(dir.path().into())), Some(1), 100);
        let o = d
            .on_message(&offer("t1", "../../notes.txt", HELLO_SHA))
            .await;
        let path = dir.path().join("notes.txt");
        assert!(matches!(&o[..], [Outcome::Started { path: p, size: 6, .. }] if *p == path));
        assert_eq!(
            d.on_message(&data(b"hel")).await,
            [Outcome::Progress { got: 3, size: 6 }]
        );
        let o = d.on_message(&data(b"lo\n")).await;
        assert!(
            matches!(&o[1], Outcome::Received { ack, .. } if ack.ok && o[1].reply() == Some(ack))
        );
        assert_eq!(std::fs::read(&path).expect("stored"), b"hello\n");
        assert!(d.done());
        assert_eq!((d.completed, d.verified), (1, 1));
        // The count is reached: the next file is refused.
        let o = d.on_message(&offer("t2", "more.txt", HELLO_SHA)).await;
        assert_eq!(code(&o[0]), Some(AckCode::Refused));
    }

    #[tokio::test]
    async fn bad_files_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("one.bin");
        let mut d = Downloads::new(Some(Target::File(path.clone())), None, 100);
        d.on_message(&offer("t1", "x", &"0".repeat(64))).await;
        let o = d.on_message(&data(b"hello\n")).await;
        assert!(matches!(&o[1], Outcome::Received { ack, .. } if !ack.ok));
        assert_eq!(code(&o[1]), Some(AckCode::ChecksumMismatch));
        assert!(!path.exists(), "a file that failed its checksum is deleted");
        assert_eq!((d.completed, d.verified), (1, 0));
        // The sender leaves halfway.
        d.on_message(&offer("t2", "x", HELLO_SHA)).await;
        d.on_message(&data(b"hel")).await;
        assert!(path.exists());
        assert_eq!(
            d.peer_gone("a").await,
            Some(Outcome::Discarded { id: "t2".into() })
        );
        assert!(!path.exists());
        assert_eq!(d.verified, 0);
    }

    #[tokio::test]
    async fn storage_failures_and_refusals_are_acked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("no/such/dir");
        let mut d = Downloads::new(Some(Target::Dir(missing)), None, 100);
        let o = d.on_message(&offer("t1", "x", HELLO_SHA)).await;
        assert_eq!(code(&o[0]), Some(AckCode::WriteFailed));
        assert_eq!(d.on_message(&data(b"hello\n")).await, []);
        let mut chat_only = Downloads::new(None, None, u64::MAX);
        let o = chat_only.on_message(&offer("t1", "x", HELLO_SHA)).await;
        assert_eq!(code(&o[0]), Some(AckCode::Refused));
    }
}
