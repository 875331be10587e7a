//! What a relay must look like: `{ targetPeerId, offer|answer|candidate }`,
//! checked for shape and size, never SDP content. The value is forwarded as
//! received, keys the gateway does not know included, so the value as a whole
//! is bounded and must be strict JSON (no lone surrogate, nesting within
//! serde_json's limit), since the target's own parser has to read it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::delivery::Relay;
use crate::protocol::RelayKind;
use crate::socket::error::EventError;
use crate::socket::packet::{MaybeStr, Packet, json_str};

pub const MAX_SDP_BYTES: usize = 64 * 1024;
pub const MAX_CANDIDATE_BYTES: usize = 4 * 1024;
/// The whole `offer`/`answer` value as JSON text: twice the SDP's limit,
/// room for a full SDP's escapes (`\r\n` is four bytes, short lines make it
/// 1.4 times longer) and keys of the client's own.
pub const MAX_DESCRIPTION_JSON: usize = 2 * MAX_SDP_BYTES;
/// The whole `candidate` value as JSON text, by the same rule.
pub const MAX_CANDIDATE_JSON: usize = 2 * MAX_CANDIDATE_BYTES;
/// Socket ids are 16 characters; this leaves room for any id scheme.
pub const MAX_TARGET_BYTES: usize = 128;

/// A relay as received: its target and its signaling data as raw JSON, both
/// borrowed from the packet (no copy on the hot path).
pub struct RelayIn<'p> {
    pub target: Cow<'p, str>,
    pub body: &'p RawValue,
}

impl<'p> RelayIn<'p> {
    pub fn not_found(&self) -> EventError {
        EventError::PeerNotFound {
            target: Some(self.target.clone().into_owned()),
        }
    }

    /// The relay as its target receives it, from `from`.
    pub fn message<'a>(&'a self, kind: RelayKind, from: &'a str) -> Relay<'a> {
        Relay {
            kind,
            from,
            target: &self.target,
            body: self.body,
        }
    }
}

/// The payload's fields, read without building a JSON tree or copying; the
/// target decoded in the same pass (not kept raw and read again).
#[derive(Deserialize)]
struct Fields<'p> {
    #[serde(rename = "targetPeerId", borrow)]
    target: Option<MaybeStr<'p>>,
    #[serde(borrow)]
    offer: Option<&'p RawValue>,
    #[serde(borrow)]
    answer: Option<&'p RawValue>,
    #[serde(borrow)]
    candidate: Option<&'p RawValue>,
}

/// The same fields with the target kept raw, read only when [`Fields`] fails:
/// a target string that does not decode (a lone surrogate) is the target's
/// error, not the payload's.
#[derive(Deserialize)]
struct RawFields<'p> {
    #[serde(rename = "targetPeerId", borrow)]
    target: Option<&'p RawValue>,
    #[serde(borrow)]
    offer: Option<&'p RawValue>,
    #[serde(borrow)]
    answer: Option<&'p RawValue>,
    #[serde(borrow)]
    candidate: Option<&'p RawValue>,
}

impl<'p> From<RawFields<'p>> for Fields<'p> {
    fn from(raw: RawFields<'p>) -> Self {
        Fields {
            target: raw.target.map(|t| MaybeStr(json_str(t.get()))),
            offer: raw.offer,
            answer: raw.answer,
            candidate: raw.candidate,
        }
    }
}

/// Checks `{ targetPeerId, offer|answer|candidate }` (shape and size, never SDP
/// content) and returns both parts.
pub fn parse(kind: RelayKind, packet: &Packet) -> Result<RelayIn<'_>, EventError> {
    let shape = || {
        EventError::invalid(format!(
            "payload must be {{ targetPeerId, {} }}",
            kind.field()
        ))
    };
    let fields = match packet.borrowed::<Fields>() {
        Ok(fields) => fields,
        Err(_) => packet
            .borrowed::<RawFields>()
            .map_err(|_| shape())?
            .map(Fields::from),
    };
    let fields = fields.ok_or_else(shape)?;
    let target = fields
        .target
        .and_then(|t| t.0)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TARGET_BYTES)
        .ok_or_else(|| {
            EventError::invalid(format!(
                "targetPeerId must be a non-empty string of at most {MAX_TARGET_BYTES} bytes"
            ))
        })?;
    let body = match kind {
        RelayKind::Offer => fields.offer,
        RelayKind::Answer => fields.answer,
        RelayKind::Ice => fields.candidate,
    };
    let body = body.ok_or_else(|| missing(kind))?;
    match kind {
        RelayKind::Offer | RelayKind::Answer => check_description(kind, body)?,
        RelayKind::Ice => check_candidate(body)?,
    }
    if !strict_json(body.get()) {
        return Err(EventError::invalid(format!(
            "{} must be strict JSON (no lone surrogates, the payload nested at most 128 deep)",
            kind.field()
        )));
    }
    Ok(RelayIn { target, body })
}

/// Whether every string of `text` (one JSON value, already known to be
/// well-formed) decodes, and its nesting stays within serde_json's limit.
/// Values with no escape and no nesting (most candidates) pass on a glance:
/// a lone surrogate can only be written as a `\u` escape.
fn strict_json(text: &str) -> bool {
    let plain = memchr::memchr3(
        b'\\',
        b'{',
        b'[',
        text.as_bytes().get(1..).unwrap_or_default(),
    )
    .is_none();
    plain || serde_json::from_str::<Strict>(text).is_ok()
}

/// Reads any JSON value, decoding every string (keys too), keeping nothing.
struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        while map.next_entry::<Strict, Strict>()?.is_some() {}
        Ok(Strict)
    }
}

fn missing(kind: RelayKind) -> EventError {
    match kind {
        RelayKind::Ice => {
            EventError::invalid("candidate must be a string or an RTCIceCandidateInit object")
        }
        _ => EventError::invalid(format!(
            "{} must be {{ type, sdp }} with string fields",
            kind.field()
        )),
    }
}

#[derive(Deserialize)]
struct Description {
    #[serde(rename = "type")]
    _type: StrLen,
    sdp: StrLen,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateInit {
    candidate: StrLen,
    #[serde(default, rename = "sdpMid")]
    _sdp_mid: Option<StrLen>,
    #[serde(default, rename = "sdpMLineIndex")]
    _sdp_m_line_index: Option<u16>,
    #[serde(default, rename = "usernameFragment")]
    _username_fragment: Option<StrLen>,
}

/// A JSON string's length once decoded, read without keeping it: no copy
/// even when it has escapes (every SDP's `\r\n`), where a `Cow` field
/// allocates (and an `Option<Cow>` always does: serde borrows a `Cow` only
/// as a field's own type).
struct StrLen(usize);

impl<'de> Deserialize<'de> for StrLen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrLenVisitor)
    }
}

struct StrLenVisitor;

impl<'de> serde::de::Visitor<'de> for StrLenVisitor {
    type Value = StrLen;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E>(self, v: &str) -> Result<StrLen, E> {
        Ok(StrLen(v.len()))
    }
}

fn check_description(kind: RelayKind, body: &RawValue) -> Result<(), EventError> {
    let field = kind.field();
    let text = body.get();
    if text.len() > MAX_DESCRIPTION_JSON {
        return Err(EventError::invalid(format!(
            "{field} exceeds {MAX_DESCRIPTION_JSON} bytes of JSON"
        )));
    }
    let description = text
        .starts_with('{')
        .then(|| serde_json::from_str::<Description>(text).ok())
        .flatten()
        .ok_or_else(|| missing(kind))?;
    if description.sdp.0 > MAX_SDP_BYTES {
        return Err(EventError::invalid(format!(
            "{field}.sdp exceeds {MAX_SDP_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_candidate(body: &RawValue) -> Result<(), EventError> {
    let text = body.get();
    if text.len() > MAX_CANDIDATE_JSON {
        return Err(EventError::invalid(format!(
            "candidate exceeds {MAX_CANDIDATE_JSON} bytes of JSON"
        )));
    }
    let candidate = if text.starts_with('"') {
        serde_json::from_str::<StrLen>(text).ok()
    } else if text.starts_with('{') {
        serde_json::from_str::<CandidateInit>(text)
            .ok()
            .map(|init| init.candidate)
    } else {
        None
    };
    let candidate = candidate.ok_or_else(|| missing(RelayKind::Ice))?;
    if candidate.0 > MAX_CANDIDATE_BYTES {
        return Err(EventError::invalid(format!(
            "candidate exceeds {MAX_CANDIDATE_BYTES} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parsed(kind: RelayKind, payload: Value) -> Result<(String, Value), EventError> {
        let packet = Packet::from_json(json!([kind.event(), payload]));
        parse(kind, &packet).map(|r| {
            let body = serde_json::from_str(r.body.get()).unwrap();
            (r.target.into_owned(), body)
        })
    }

    fn code_of(r: Result<(String, Value), EventError>) -> &'static str {
        r.err().map_or("OK", |e| e.code().as_str())
    }

    #[test]
    fn the_seed_examples_pass_untouched() {
        let offer = json!({ "targetPeerId": "socket_def456", "offer": { "type": "offer", "sdp": "v=0\r\n..." } });
        let (t, body) = parsed(RelayKind::Offer, offer).unwrap();
        assert_eq!(
            (t.as_str(), body),
            (
                "socket_def456",
                json!({ "type": "offer", "sdp": "v=0\r\n..." })
            )
        );
        let ice = json!({ "targetPeerId": "socket_def456", "candidate": "candidate:1 1 UDP 2130706431 192.168.1.1 54321 typ host" });
        let (_, body) = parsed(RelayKind::Ice, ice).unwrap();
        assert_eq!(
            body,
            json!("candidate:1 1 UDP 2130706431 192.168.1.1 54321 typ host")
        );
    }

    #[test]
    fn browser_candidates_and_end_of_candidates_pass() {
        let init = json!({ "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd" });
        assert_eq!(
            code_of(parsed(
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": init })
            )),
            "OK"
        );
        let end = json!({ "candidate": "", "sdpMid": null, "sdpMLineIndex": null, "usernameFragment": null });
        assert_eq!(
            code_of(parsed(
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": end })
            )),
            "OK"
        );
    }

    #[test]
    fn bad_shapes_and_sizes_are_invalid() {
        let cases = [
            (RelayKind::Offer, json!("not an object")),
            (
                RelayKind::Offer,
                json!(["p", { "type": "offer", "sdp": "v=0" }, null, null]),
            ),
            (RelayKind::Ice, json!(["p", null, "candidate:1", null])),
            (RelayKind::Offer, json!(null)),
            (
                RelayKind::Offer,
                json!({ "offer": { "type": "offer", "sdp": "v=0" } }),
            ),
            (
                RelayKind::Offer,
                json!({ "targetPeerId": "", "offer": { "type": "offer", "sdp": "v=0" } }),
            ),
            (
                RelayKind::Offer,
                json!({ "targetPeerId": 7, "offer": { "type": "offer", "sdp": "v=0" } }),
            ),
            (RelayKind::Offer, json!({ "targetPeerId": "p" })),
            (
                RelayKind::Offer,
                json!({ "targetPeerId": "p", "offer": ["offer", "v=0"] }),
            ),
            (
                RelayKind::Answer,
                json!({ "targetPeerId": "p", "answer": { "type": "answer" } }),
            ),
            (
                RelayKind::Answer,
                json!({ "targetPeerId": "p", "answer": { "type": 1, "sdp": "v=0" } }),
            ),
            (
                RelayKind::Answer,
                json!({ "targetPeerId": "p", "answer": { "type": "answer", "sdp": "x".repeat(MAX_SDP_BYTES + 1) } }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": null }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": 5 }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": "c".repeat(MAX_CANDIDATE_BYTES + 1) }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": { "candidate": "c", "sdpMLineIndex": "0" } }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": { "candidate": "c", "sdpMLineIndex": -1 } }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": { "sdpMid": "0" } }),
            ),
        ];
        for (kind, payload) in cases {
            assert_eq!(
                code_of(parsed(kind, payload.clone())),
                "INVALID_PAYLOAD",
                "{payload}"
            );
        }
        let max = json!({ "targetPeerId": "p", "answer": { "type": "answer", "sdp": "x".repeat(MAX_SDP_BYTES) } });
        assert_eq!(code_of(parsed(RelayKind::Answer, max)), "OK");
    }

    fn parsed_raw(kind: RelayKind, payload: &str) -> &'static str {
        let text = format!(r#"["{}",{payload}]"#, kind.event());
        let packet = Packet::new(socketioxide_core::Value::Str(text.into(), None));
        parse(kind, &packet)
            .err()
            .map_or("OK", |e| e.code().as_str())
    }

    /// The target is decoded in the pass that reads the payload; what it
    /// gives is what reading it raw and decoding it after gave.
    #[test]
    fn the_target_is_decoded_in_the_same_pass() {
        let read = |target: &str| {
            let text = format!(r#"["webrtc:ice",{{"targetPeerId":{target},"candidate":"c"}}]"#);
            let packet = Packet::new(socketioxide_core::Value::Str(text.into(), None));
            parse(RelayKind::Ice, &packet)
                .map(|r| r.target.into_owned())
                .map_err(|e| (e.code().as_str(), e.to_string()))
        };
        assert_eq!(read(r#""AbC-_09""#), Ok("AbC-_09".to_owned()));
        assert_eq!(read(r#""a\"b\u0041""#), Ok("a\"bA".to_owned()));
        let not_a_target = Err((
            "INVALID_PAYLOAD",
            format!("targetPeerId must be a non-empty string of at most {MAX_TARGET_BYTES} bytes"),
        ));
        // A lone surrogate fails the one pass; the target is still the field named.
        for target in [
            "7",
            "null",
            "true",
            "1.5",
            "[\"p\"]",
            r#"{"p":[1]}"#,
            r#""""#,
            r#""\ud800""#,
        ] {
            assert_eq!(read(target), not_a_target, "{target}");
        }
        let shape = Err((
            "INVALID_PAYLOAD",
            "payload must be { targetPeerId, candidate }".to_owned(),
        ));
        assert_eq!(read(r#""p","targetPeerId":"q""#), shape);
        assert_eq!(read("[1"), shape);
    }

    #[test]
    fn the_whole_relayed_value_is_bounded_and_strict() {
        // Extra keys are forwarded, so they count.
        let pad = "x".repeat(MAX_DESCRIPTION_JSON);
        let padded =
            json!({ "targetPeerId": "p", "offer": { "type": "offer", "sdp": "v=0", "pad": pad } });
        assert_eq!(code_of(parsed(RelayKind::Offer, padded)), "INVALID_PAYLOAD");
        let pad = "x".repeat(MAX_CANDIDATE_JSON);
        let padded = json!({ "targetPeerId": "p", "candidate": { "candidate": "c", "pad": pad } });
        assert_eq!(code_of(parsed(RelayKind::Ice, padded)), "INVALID_PAYLOAD");
        // A full SDP with every line's escapes still fits.
        let sdp = "a=x\r\n".repeat(MAX_SDP_BYTES / 5);
        let full = json!({ "targetPeerId": "p", "answer": { "type": "answer", "sdp": sdp, "extra": [1, 2] } });
        assert_eq!(code_of(parsed(RelayKind::Answer, full)), "OK");
        // Lone surrogates and deep nesting, where the gateway itself never looks.
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for (kind, payload) in [
            (
                RelayKind::Offer,
                r#"{"targetPeerId":"p","offer":{"type":"offer","sdp":"v=0","x":"\ud800"}}"#
                    .to_owned(),
            ),
            (
                RelayKind::Ice,
                r#"{"targetPeerId":"p","candidate":{"candidate":"c","x":{"\udfff":1}}}"#.to_owned(),
            ),
            (
                RelayKind::Ice,
                format!(r#"{{"targetPeerId":"p","candidate":{{"candidate":"c","x":{deep}}}}}"#),
            ),
        ] {
            assert_eq!(parsed_raw(kind, &payload), "INVALID_PAYLOAD", "{payload}");
        }
        // Escapes that decode are fine, nesting within the limit too.
        let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        for (kind, payload) in [
            (RelayKind::Offer, r#"{"targetPeerId":"p","offer":{"type":"offer","sdp":"v=0\r\n\ud83d\ude00","x":"\u00e9"}}"#.to_owned()),
            (RelayKind::Ice, format!(r#"{{"targetPeerId":"p","candidate":{{"candidate":"c","x":{nested}}}}}"#)),
        ] {
            assert_eq!(parsed_raw(kind, &payload), "OK", "{payload}");
        }
        // The nesting limit is serde_json's, counted from the payload object:
        // 128 levels pass, 129 do not (the relayed value itself: 127 and 128).
        let nest = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        let answer = |n: usize| {
            format!(
                r#"{{"targetPeerId":"p","answer":{{"type":"answer","sdp":"v=0","deep":{}}}}}"#,
                nest(n)
            )
        };
        assert_eq!(parsed_raw(RelayKind::Answer, &answer(126)), "OK");
        assert_eq!(
            parsed_raw(RelayKind::Answer, &answer(127)),
            "INVALID_PAYLOAD"
        );
        // The target is a socket id, not a place to put a megabyte.
        let long = json!({ "targetPeerId": "t".repeat(MAX_TARGET_BYTES + 1), "candidate": "c" });
        assert_eq!(code_of(parsed(RelayKind::Ice, long)), "INVALID_PAYLOAD");
    }
}
