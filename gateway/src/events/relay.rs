//! `webrtc:offer`, `webrtc:answer`, `webrtc:ice`: forwarded to exactly one
//! target, and only when the target is in the sender's room. The gateway checks
//! shape and size, never SDP content, and forwards the value as received.

use std::str::FromStr;
use std::time::Instant;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use socketioxide::socket::Sid;

use super::Ack;
use super::error::EventError;
use super::session::Session;

pub const MAX_SDP_BYTES: usize = 64 * 1024;
pub const MAX_CANDIDATE_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayKind {
    Offer = 0,
    Answer = 1,
    Ice = 2,
}

impl RelayKind {
    pub fn event(self) -> &'static str {
        match self {
            RelayKind::Offer => "webrtc:offer",
            RelayKind::Answer => "webrtc:answer",
            RelayKind::Ice => "webrtc:ice",
        }
    }

    /// The payload field that carries the signaling data.
    pub fn field(self) -> &'static str {
        match self {
            RelayKind::Offer => "offer",
            RelayKind::Answer => "answer",
            RelayKind::Ice => "candidate",
        }
    }
}

/// What the target receives: `{ fromPeerId, targetPeerId, <field> }`.
struct Relayed<'a> {
    kind: RelayKind,
    from: &'a str,
    target: &'a str,
    body: &'a Value,
}

impl Serialize for Relayed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("fromPeerId", self.from)?;
        map.serialize_entry("targetPeerId", self.target)?;
        map.serialize_entry(self.kind.field(), self.body)?;
        map.end()
    }
}

pub async fn relay(
    session: &mut Session,
    kind: RelayKind,
    payload: Value,
    received: Instant,
) -> Result<Ack, EventError> {
    let (target, body) = parse(kind, payload)?;
    let room = session.room.as_ref().ok_or(EventError::NotInRoom)?;
    let not_found = || EventError::PeerNotFound {
        target: Some(target.clone()),
    };
    let from = session.id();
    if target == from
        || !session
            .state
            .rooms
            .is_member(&room.room_id, &target)
            .await?
    {
        return Err(not_found());
    }
    let sid = Sid::from_str(&target).map_err(|_| not_found())?;
    let message = Relayed {
        kind,
        from: &from,
        target: &target,
        body: &body,
    };
    match session.io.get_socket(sid) {
        Some(socket) => socket
            .emit(kind.event(), &message)
            .map_err(|_| not_found())?,
        None => return Err(not_found()),
    }
    let metrics = &session.state.metrics;
    metrics.relayed(kind);
    metrics
        .relay_latency
        .observe(received.elapsed().as_secs_f64());
    Ok(Ack::Ok)
}

/// Checks `{ targetPeerId, offer|answer|candidate }` and returns both parts.
pub fn parse(kind: RelayKind, payload: Value) -> Result<(String, Value), EventError> {
    let Value::Object(mut fields) = payload else {
        return Err(EventError::invalid("payload must be an object"));
    };
    let target = match fields.remove("targetPeerId") {
        Some(Value::String(t)) if !t.is_empty() => t,
        _ => {
            return Err(EventError::invalid(
                "targetPeerId must be a non-empty string",
            ));
        }
    };
    let body = fields.remove(kind.field()).unwrap_or(Value::Null);
    match kind {
        RelayKind::Offer | RelayKind::Answer => check_description(kind, &body)?,
        RelayKind::Ice => check_candidate(&body)?,
    }
    Ok((target, body))
}

fn check_description(kind: RelayKind, body: &Value) -> Result<(), EventError> {
    let field = kind.field();
    let ok_type = body.get("type").is_some_and(Value::is_string);
    let sdp = body.get("sdp").and_then(Value::as_str);
    match sdp {
        Some(sdp) if ok_type && sdp.len() <= MAX_SDP_BYTES => Ok(()),
        Some(_) if ok_type => Err(EventError::invalid(format!(
            "{field}.sdp exceeds {MAX_SDP_BYTES} bytes"
        ))),
        _ => Err(EventError::invalid(format!(
            "{field} must be {{ type, sdp }} with string fields"
        ))),
    }
}

fn check_candidate(body: &Value) -> Result<(), EventError> {
    let too_long = || EventError::invalid(format!("candidate exceeds {MAX_CANDIDATE_BYTES} bytes"));
    let bad_shape =
        || EventError::invalid("candidate must be a string or an RTCIceCandidateInit object");
    match body {
        Value::String(c) if c.len() <= MAX_CANDIDATE_BYTES => Ok(()),
        Value::String(_) => Err(too_long()),
        Value::Object(init) => {
            match init.get("candidate") {
                Some(Value::String(c)) if c.len() <= MAX_CANDIDATE_BYTES => {}
                Some(Value::String(_)) => return Err(too_long()),
                _ => return Err(bad_shape()),
            }
            let optional = |key: &str, ok: fn(&Value) -> bool| {
                init.get(key).is_none_or(|v| v.is_null() || ok(v))
            };
            let fine = optional("sdpMid", Value::is_string)
                && optional("sdpMLineIndex", |v| {
                    v.as_u64().is_some_and(|n| n <= u64::from(u16::MAX))
                })
                && optional("usernameFragment", Value::is_string);
            if fine { Ok(()) } else { Err(bad_shape()) }
        }
        _ => Err(bad_shape()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code_of(r: Result<(String, Value), EventError>) -> &'static str {
        r.err().map_or("OK", |e| e.code())
    }

    #[test]
    fn the_seed_examples_pass_untouched() {
        let offer = json!({ "targetPeerId": "socket_def456", "offer": { "type": "offer", "sdp": "v=0\r\n..." } });
        let (t, body) = parse(RelayKind::Offer, offer).unwrap();
        assert_eq!(
            (t.as_str(), body),
            (
                "socket_def456",
                json!({ "type": "offer", "sdp": "v=0\r\n..." })
            )
        );
        let ice = json!({ "targetPeerId": "socket_def456", "candidate": "candidate:1 1 UDP 2130706431 192.168.1.1 54321 typ host" });
        let (_, body) = parse(RelayKind::Ice, ice).unwrap();
        assert_eq!(
            body,
            json!("candidate:1 1 UDP 2130706431 192.168.1.1 54321 typ host")
        );
    }

    #[test]
    fn browser_candidates_and_end_of_candidates_pass() {
        let init = json!({ "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd" });
        assert_eq!(
            code_of(parse(
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": init })
            )),
            "OK"
        );
        let end = json!({ "candidate": "", "sdpMid": null, "sdpMLineIndex": null, "usernameFragment": null });
        assert_eq!(
            code_of(parse(
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
                RelayKind::Answer,
                json!({ "targetPeerId": "p", "answer": { "type": "answer" } }),
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
                json!({ "targetPeerId": "p", "candidate": { "sdpMid": "0" } }),
            ),
        ];
        for (kind, payload) in cases {
            assert_eq!(
                code_of(parse(kind, payload.clone())),
                "INVALID_PAYLOAD",
                "{payload}"
            );
        }
        let max = json!({ "targetPeerId": "p", "answer": { "type": "answer", "sdp": "x".repeat(MAX_SDP_BYTES) } });
        assert_eq!(code_of(parse(RelayKind::Answer, max)), "OK");
    }

    #[test]
    fn relayed_payload_names_sender_target_and_field() {
        let body = json!({ "type": "offer", "sdp": "v=0\r\n..." });
        let out = Relayed {
            kind: RelayKind::Offer,
            from: "a",
            target: "b",
            body: &body,
        };
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({ "fromPeerId": "a", "targetPeerId": "b", "offer": { "type": "offer", "sdp": "v=0\r\n..." } })
        );
    }
}
