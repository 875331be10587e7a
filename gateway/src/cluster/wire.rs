//! What travels on a node's channel: batches, each the JSON object
//! `{"from":<sender route>,"seq":<n>,"ack":<k>,"lost":[[a,b],...],"msgs":[<envelope>,...]}`,
//! where `seq` counts the sender's batches to this node (1, 2, ...) so the
//! receiver sees a gap, `ack` (optional) is the sender's receipt: the highest
//! `seq` of this node's batches to it that it has handed over to its sockets'
//! outboxes (what this node's acks wait for, [`super::link`]), `lost`
//! (optional, only with `ack`) the ranges `a..=b` of this node's batches that
//! the sender found missing (numbers skipped: dropped before it read them,
//! their relays not handed over), and each relay envelope
//! is the JSON array
//! `["webrtc:offer", fromPeerId, targetPeerId, <offer>]`, the value forwarded
//! byte for byte.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::ser::{Serialize, SerializeTuple, Serializer};
use serde_json::value::RawValue;

use crate::delivery::Relay;
use crate::protocol::RelayKind;

/// One relay between nodes, as published.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a>(pub Relay<'a>);

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let relay = &self.0;
        let mut t = s.serialize_tuple(4)?;
        t.serialize_element(relay.kind.event())?;
        t.serialize_element(relay.from)?;
        t.serialize_element(relay.target)?;
        t.serialize_element(relay.body)?;
        t.end()
    }
}

impl Envelope<'_> {
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// A room event for the members of another node, in the same channel as
/// relays so that it keeps its place among them:
/// `["@peers", event, roomId, peerId, [ids], payload]` for exactly the
/// sockets `ids`, `["@room", event, roomId, peerId, payload]` for every member
/// there. `peerId` is whom the news is about (`peer:joined`, `peer:left` update
/// the receiver's view with it).
#[derive(Debug, Clone, Copy)]
pub struct News<'a> {
    pub event: &'a str,
    pub room: &'a str,
    pub peer: &'a str,
    /// `None`: the whole room.
    pub to: Option<&'a [String]>,
    pub payload: &'a RawValue,
}

impl News<'_> {
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self.to {
            Some(ids) => serde_json::to_vec(&(
                "@peers",
                self.event,
                self.room,
                self.peer,
                ids,
                self.payload,
            )),
            None => serde_json::to_vec(&("@room", self.event, self.room, self.peer, self.payload)),
        }
    }
}

/// A room event as received.
#[derive(Debug)]
pub struct ReceivedNews<'a> {
    pub event: Cow<'a, str>,
    pub room: Cow<'a, str>,
    pub peer: Cow<'a, str>,
    pub to: Option<Vec<String>>,
    pub payload: &'a RawValue,
}

impl<'a> ReceivedNews<'a> {
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Malformed> {
        #[derive(Deserialize)]
        struct Peers<'a>(
            serde::de::IgnoredAny,
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] Cow<'a, str>,
            Vec<String>,
            #[serde(borrow)] &'a RawValue,
        );
        #[derive(Deserialize)]
        struct Room<'a>(
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] &'a RawValue,
        );
        if bytes.starts_with(b"[\"@peers\"") {
            let Peers(_, event, room, peer, to, payload) = serde_json::from_slice(bytes)?;
            Ok(Self {
                event,
                room,
                peer,
                to: Some(to),
                payload,
            })
        } else {
            let Room(tag, event, room, peer, payload) = serde_json::from_slice(bytes)?;
            if tag != "@room" {
                return Err(Malformed::Kind(tag.into_owned()));
            }
            Ok(Self {
                event,
                room,
                peer,
                to: None,
                payload,
            })
        }
    }
}

/// One envelope of a batch.
#[derive(Debug)]
pub enum Item<'a> {
    Relay(Received<'a>),
    News(ReceivedNews<'a>),
}

impl<'a> Item<'a> {
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Malformed> {
        if bytes.starts_with(b"[\"@") {
            ReceivedNews::decode(bytes).map(Item::News)
        } else {
            Received::decode(bytes).map(Item::Relay)
        }
    }
}

/// Why a message on the node's channel was dropped.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error("not a relay envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown relay event {0:?}")]
    Kind(String),
    #[error("not a byte string")]
    NotBytes,
}

/// Batch numbers `a..=b` (inclusive), as in a receipt's `lost`.
pub type Span = (u64, u64);

/// Joins envelopes already encoded into one batch, with the receipt `ack`
/// for the destination's batches to this node, when there is a new one, and
/// the ones of them found lost.
pub fn batch(from: &str, seq: u64, ack: Option<u64>, lost: &[Span], msgs: &[Vec<u8>]) -> Vec<u8> {
    let size: usize = msgs.iter().map(|m| m.len() + 1).sum();
    let mut out = Vec::with_capacity(size + from.len() + 40);
    out.extend_from_slice(b"{\"from\":");
    // A route is hex; serialising it keeps any string valid JSON all the same.
    out.extend_from_slice(serde_json::to_string(from).unwrap_or_default().as_bytes());
    out.extend_from_slice(format!(",\"seq\":{seq}").as_bytes());
    if let Some(ack) = ack {
        out.extend_from_slice(format!(",\"ack\":{ack}").as_bytes());
        if !lost.is_empty() {
            out.extend_from_slice(b",\"lost\":[");
            for (i, (a, b)) in lost.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                out.extend_from_slice(format!("{sep}[{a},{b}]").as_bytes());
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b",\"msgs\":[");
    for (i, m) in msgs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(m);
    }
    out.extend_from_slice(b"]}");
    out
}

/// A batch as received; its envelopes are decoded one by one.
#[derive(Deserialize)]
pub struct Batch<'a> {
    #[serde(borrow)]
    pub from: Cow<'a, str>,
    pub seq: u64,
    /// The sender's receipt for this node's batches to it (none: nothing new).
    #[serde(default)]
    pub ack: Option<u64>,
    /// Of this node's batches to the sender, the ones it found lost.
    #[serde(default)]
    pub lost: Vec<Span>,
    #[serde(borrow)]
    pub msgs: Vec<&'a RawValue>,
}

impl<'a> Batch<'a> {
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Malformed> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// An envelope as received: ids are socket ids (no escapes) in practice, but
/// any JSON string is read.
pub struct Received<'a> {
    pub kind: RelayKind,
    pub from: Cow<'a, str>,
    pub target: Cow<'a, str>,
    pub body: &'a RawValue,
}

impl<'a> Received<'a> {
    /// Reads an envelope; the body is checked to be one JSON value.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Malformed> {
        #[derive(Deserialize)]
        struct Wire<'a>(
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] &'a RawValue,
        );
        let Wire(event, from, target, body) = serde_json::from_slice(bytes)?;
        let kind = RelayKind::from_event(&event).ok_or_else(|| Malformed::Kind(event.into()))?;
        Ok(Self {
            kind,
            from,
            target,
            body,
        })
    }
}

impl fmt::Debug for Received<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("kind", &self.kind)
            .field("from", &self.from)
            .field("target", &self.target)
            .field("bytes", &self.body.get().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_travels_whole_in_a_batch() {
        let body =
            RawValue::from_string(r#"{"type":"offer","sdp":"v=0\r\n","x":[1,{"y":"é"}]}"#.into())
                .unwrap();
        let sent = Envelope(Relay {
            kind: RelayKind::Offer,
            from: "abc",
            target: "def",
            body: &body,
        });
        let bytes = sent.encode().unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"["webrtc:offer","abc","def",{"type":"offer","sdp":"v=0\r\n","x":[1,{"y":"é"}]}]"#
        );
        let batch_bytes = batch("r1", 7, None, &[], &[bytes.clone(), bytes]);
        let got = Batch::decode(&batch_bytes).unwrap();
        assert_eq!(
            (&*got.from, got.seq, got.ack, got.msgs.len()),
            ("r1", 7, None, 2)
        );
        let got = Received::decode(got.msgs[1].get().as_bytes()).unwrap();
        assert_eq!(got.kind, RelayKind::Offer);
        assert_eq!((&*got.from, &*got.target), ("abc", "def"));
        assert_eq!(got.body.get(), body.get());
        assert!(matches!(got.from, Cow::Borrowed(_)), "ids are not copied");
        let payload = RawValue::from_string(r#"{"peerId":"p"}"#.into()).unwrap();
        let ids = ["x".to_owned()];
        for to in [Some(&ids[..]), None] {
            let news = News {
                event: "peer:joined",
                room: "r",
                peer: "p",
                to,
                payload: &payload,
            };
            let bytes = news.encode().unwrap();
            let Ok(Item::News(got)) = Item::decode(&bytes) else {
                panic!("{bytes:?}")
            };
            assert_eq!(
                (&*got.event, &*got.room, &*got.peer),
                ("peer:joined", "r", "p")
            );
            assert_eq!(got.to.as_deref(), to);
            assert_eq!(got.payload.get(), payload.get());
        }
        assert!(Item::decode(b"[\"@other\",\"e\",\"r\",\"p\",{}]").is_err());
        let receipt = batch("r1", 8, Some(41), &[], &[]);
        assert_eq!(
            std::str::from_utf8(&receipt).unwrap(),
            r#"{"from":"r1","seq":8,"ack":41,"msgs":[]}"#
        );
        let got = Batch::decode(&receipt).unwrap();
        assert_eq!((got.seq, got.ack, got.msgs.len()), (8, Some(41), 0));
        assert!(got.lost.is_empty());
        let receipt = batch("r1", 9, Some(41), &[(3, 5), (9, 9)], &[]);
        assert_eq!(
            std::str::from_utf8(&receipt).unwrap(),
            r#"{"from":"r1","seq":9,"ack":41,"lost":[[3,5],[9,9]],"msgs":[]}"#
        );
        let got = Batch::decode(&receipt).unwrap();
        assert_eq!((got.ack, got.lost), (Some(41), vec![(3, 5), (9, 9)]));
        // Without a receipt there is nothing lost to tell.
        assert_eq!(
            batch("r1", 10, None, &[(3, 5)], &[]),
            batch("r1", 10, None, &[], &[])
        );
    }

    #[test]
    fn anything_else_is_malformed_not_a_panic() {
        for bad in [
            &b""[..],
            b"[]",
            b"null",
            b"[\"webrtc:offer\",\"a\",\"b\"]",
            b"[\"webrtc:offer\",\"a\",\"b\",{\"x\":]",
            b"[\"peer:joined\",\"a\",\"b\",{}]",
            b"[\"webrtc:ice\",1,\"b\",\"c\"]",
            b"[\"webrtc:ice\",\"a\",\"b\",\"c\",\"extra\"]",
            b"\xff\xfe",
        ] {
            assert!(
                Received::decode(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for bad in [
            &b""[..],
            b"[]",
            b"{\"from\":\"a\"}",
            b"{\"from\":1,\"seq\":1,\"msgs\":[]}",
        ] {
            assert!(Batch::decode(bad).is_err());
        }
    }
}
