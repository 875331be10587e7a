//! A batch as the receiving node reads it ([`super::wire`]'s format), in one
//! pass: its envelopes are decoded in place, borrowed from the message, as
//! the batch is read. Reading the batch with its envelopes as raw values and
//! then each envelope again scanned every relay's body twice; the receiving
//! side spent most of its instructions there (bench/ANALYSIS.md, issue 20).
//! A batch with an envelope that is not one (another version's node) is read
//! again the slow way, which drops that envelope alone.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::wire::{Batch, Item, Malformed, Received, ReceivedNews, Span};
use crate::protocol::RelayKind;

/// A batch's envelopes, each decoded or why not.
pub struct Arrived<'a> {
    pub from: Cow<'a, str>,
    pub seq: u64,
    /// The sender's receipt for this node's batches ([`super::link`]).
    pub ack: Option<u64>,
    /// Of this node's batches to the sender, those it found lost.
    pub lost: Vec<Span>,
    pub items: Vec<Result<Item<'a>, Malformed>>,
}

impl<'a> Arrived<'a> {
    /// `Err` only when the batch itself is not one (then none of it is read).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Malformed> {
        #[derive(Deserialize)]
        struct Whole<'a> {
            #[serde(borrow)]
            from: Cow<'a, str>,
            seq: u64,
            #[serde(default)]
            ack: Option<u64>,
            #[serde(default)]
            lost: Vec<Span>,
            #[serde(borrow)]
            msgs: Vec<One<'a>>,
        }
        if let Ok(Whole {
            from,
            seq,
            ack,
            lost,
            msgs,
        }) = serde_json::from_slice::<Whole>(bytes)
        {
            return Ok(Self {
                from,
                seq,
                ack,
                lost,
                items: msgs.into_iter().map(|One(item)| Ok(item)).collect(),
            });
        }
        let batch = Batch::decode(bytes)?;
        Ok(Self {
            items: batch
                .msgs
                .iter()
                .map(|m| Item::decode(m.get().as_bytes()))
                .collect(),
            from: batch.from,
            seq: batch.seq,
            ack: batch.ack,
            lost: batch.lost,
        })
    }
}

/// A string borrowed from the message when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// One envelope, read as an element of the batch's `msgs`.
struct One<'a>(Item<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for One<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(Envelope(PhantomData)).map(One)
    }
}

struct Envelope<'a>(PhantomData<&'a ()>);

/// The next element, which must be there.
fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    at: usize,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::invalid_length(at, &"a whole envelope"))
}

impl<'de: 'a, 'a> Visitor<'de> for Envelope<'a> {
    type Value = Item<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a relay envelope or a room event")
    }

    // Trailing elements are refused by serde_json once this returns.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item<'a>, A::Error> {
        let Text(tag) = next(&mut seq, 0)?;
        match &*tag {
            "@peers" | "@room" => {
                let Text(event) = next(&mut seq, 1)?;
                let Text(room) = next(&mut seq, 2)?;
                let Text(peer) = next(&mut seq, 3)?;
                let to = match &*tag {
                    "@peers" => Some(next::<Vec<String>, _>(&mut seq, 4)?),
                    _ => None,
                };
                let payload: &'a RawValue = next(&mut seq, 4 + usize::from(to.is_some()))?;
                Ok(Item::News(ReceivedNews {
                    event,
                    room,
                    peer,
                    to,
                    payload,
                }))
            }
            event => {
                let kind = RelayKind::from_event(event)
                    .ok_or_else(|| de::Error::custom("unknown relay event"))?;
                let Text(from) = next(&mut seq, 1)?;
                let Text(target) = next(&mut seq, 2)?;
                let body: &'a RawValue = next(&mut seq, 3)?;
                Ok(Item::Relay(Received {
                    kind,
                    from,
                    target,
                    body,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::wire::{Envelope as Sent, News, batch};
    use crate::delivery::Relay;

    /// What an item is, to compare the two readings.
    fn show(item: &Result<Item<'_>, Malformed>) -> String {
        match item {
            Ok(Item::Relay(r)) => format!(
                "relay {:?} {} {} {} borrowed={}",
                r.kind,
                r.from,
                r.target,
                r.body.get(),
                matches!(r.from, Cow::Borrowed(_)) && matches!(r.target, Cow::Borrowed(_))
            ),
            Ok(Item::News(n)) => format!(
                "news {} {} {} {:?} {}",
                n.event,
                n.room,
                n.peer,
                n.to,
                n.payload.get()
            ),
            Err(_) => "malformed".into(),
        }
    }

    /// The slow reading, envelope by envelope, as `listen` did.
    fn two_pass(bytes: &[u8]) -> Vec<String> {
        let batch = Batch::decode(bytes).unwrap();
        batch
            .msgs
            .iter()
            .map(|m| show(&Item::decode(m.get().as_bytes())))
            .collect()
    }

    #[test]
    fn one_pass_reads_what_envelope_by_envelope_reads() {
        let body = RawValue::from_string(
            r#"{"candidate":"candidate:1 1 udp 2 \"x\" é","sdpMid":"0","x":[1,{"y":null}]}"#.into(),
        )
        .unwrap();
        let payload = RawValue::from_string(r#"{"peerId":"p","userInfo":{}}"#.into()).unwrap();
        let ids = ["x".to_owned(), "y\"z".to_owned()];
        let mut msgs = Vec::new();
        for kind in RelayKind::ALL {
            let relay = Relay {
                kind,
                from: "AbCd0123-_xyzXYZ",
                target: "ZYXzyx_-3210dCbA",
                body: &body,
            };
            msgs.push(Sent(relay).encode().unwrap());
        }
        for to in [Some(&ids[..]), None] {
            let news = News {
                event: "peer:joined",
                room: "r\u{1}",
                peer: "p",
                to,
                payload: &payload,
            };
            msgs.push(news.encode().unwrap());
        }
        // An escaped id is read (owned), as the slow way reads it.
        msgs.push(br#"["webrtc:ice","a\"b","c",1]"#.to_vec());
        let bytes = batch("r1", 9, Some(4), &[(2, 3)], &msgs);
        let got = Arrived::decode(&bytes).unwrap();
        assert_eq!(
            (&*got.from, got.seq, got.ack, &got.lost[..]),
            ("r1", 9, Some(4), &[(2, 3)][..])
        );
        let shown: Vec<String> = got.items.iter().map(show).collect();
        assert_eq!(shown, two_pass(&bytes));
        assert!(shown[0].ends_with("borrowed=true"), "{}", shown[0]);
        assert!(shown.iter().all(|s| s != "malformed"));
    }

    #[test]
    fn a_bad_envelope_is_dropped_alone_and_a_bad_batch_whole() {
        let good = br#"["webrtc:offer","a","b",{"type":"offer"}]"#.to_vec();
        for bad in [
            &br#"["peer:joined","a","b",{}]"#[..],
            br#"["webrtc:ice","a","b","c","extra"]"#,
            br#"["webrtc:ice",1,"b","c"]"#,
            br#"["webrtc:ice","a","b"]"#,
            br#"["@other","e","r","p",{}]"#,
            br#"["@peers","e","r","p",{}]"#,
            br#"{"not":"an array"}"#,
            b"[]",
            b"7",
        ] {
            let bytes = batch(
                "r1",
                3,
                None,
                &[],
                &[good.clone(), bad.to_vec(), good.clone()],
            );
            let got = Arrived::decode(&bytes).unwrap();
            let shown: Vec<String> = got.items.iter().map(show).collect();
            assert_eq!(shown, two_pass(&bytes), "{}", String::from_utf8_lossy(bad));
            assert_eq!(shown[1], "malformed", "{}", String::from_utf8_lossy(bad));
            assert!(shown[0].starts_with("relay Offer a b"));
            assert!(shown[2].starts_with("relay Offer a b"));
        }
        for bad in [
            &b""[..],
            b"[]",
            b"{\"from\":\"a\"}",
            b"{\"from\":1,\"seq\":1,\"msgs\":[]}",
            b"{\"from\":\"a\",\"seq\":1,\"msgs\":[[\"webrtc:ice\",\"a\",\"b\",{]]}",
        ] {
            assert!(Arrived::decode(bad).is_err());
        }
        assert_eq!(
            Arrived::decode(&batch("r", 1, None, &[], &[]))
                .unwrap()
                .items
                .len(),
            0
        );
    }
}
