//! The packets a soak socket expects, parsed strictly: anything else is an error.

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::ws::parse_u64;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RelayIn {
    pub(super) from_peer_id: String,
    pub(super) target_peer_id: String,
    candidate: String,
}

impl RelayIn {
    /// `candidate:soak <id> <send time, ns> <room>`
    pub(super) fn id_and_time(&self) -> Option<(u64, u64)> {
        let mut w = self.candidate.strip_prefix("candidate:soak ")?.split(' ');
        let id = parse_u64(w.next()?.as_bytes())?;
        let ts = parse_u64(w.next()?.as_bytes())?;
        Some((id, ts))
    }
}

/// The packets a soak socket expects.
#[derive(Debug)]
pub(super) enum In {
    Relay(RelayIn),
    PeerJoined(String),
    PeerLeft(String),
    RoomJoined {
        code: String,
        peer_id: String,
        peers: Vec<String>,
    },
    RoomLeft {
        room_id: String,
    },
    RoomCreated,
    Error {
        code: String,
        event: Option<String>,
    },
    Ack {
        id: u64,
        ok: bool,
        code: Option<String>,
    },
}

impl std::fmt::Debug for RelayIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} → {}: {}",
            self.from_peer_id, self.target_peer_id, self.candidate
        )
    }
}

impl In {
    pub(super) fn parse(t: &[u8]) -> Result<In> {
        let show = || String::from_utf8_lossy(t).into_owned();
        if let Some(rest) = t.strip_prefix(b"43") {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let id =
                parse_u64(&rest[..digits]).ok_or_else(|| anyhow!("ack without id: {}", show()))?;
            let body: Vec<Value> = serde_json::from_slice(&rest[digits..])
                .with_context(|| format!("ack: {}", show()))?;
            let first = body.first().unwrap_or(&Value::Null);
            return Ok(In::Ack {
                id,
                ok: first["ok"] == Value::Bool(true),
                code: first["error"]["code"].as_str().map(str::to_owned),
            });
        }
        let Some(rest) = t.strip_prefix(b"42") else {
            bail!("unexpected packet: {}", show());
        };
        let mut body: Vec<Value> =
            serde_json::from_slice(rest).with_context(|| format!("event: {}", show()))?;
        let payload = if body.len() > 1 {
            body.swap_remove(1)
        } else {
            Value::Null
        };
        let name = body.first().and_then(Value::as_str).unwrap_or_default();
        let field = |k: &str| -> Result<String> {
            payload[k]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("{name} without {k}: {}", show()))
        };
        Ok(match name {
            "webrtc:ice" => In::Relay(
                serde_json::from_value(payload.clone())
                    .with_context(|| format!("relay: {}", show()))?,
            ),
            "peer:joined" => In::PeerJoined(field("peerId")?),
            "peer:left" => In::PeerLeft(field("peerId")?),
            "room:joined" => In::RoomJoined {
                code: field("roomCode")?,
                peer_id: field("peerId")?,
                peers: payload["peers"]
                    .as_array()
                    .ok_or_else(|| anyhow!("room:joined without peers: {}", show()))?
                    .iter()
                    .map(|p| p["id"].as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| anyhow!("a peer without id: {}", show()))?,
            },
            "room:left" => In::RoomLeft {
                room_id: field("roomId")?,
            },
            "room:created" => In::RoomCreated,
            "error" => In::Error {
                code: field("code")?,
                event: payload["event"].as_str().map(str::to_owned),
            },
            _ => bail!("unexpected event: {}", show()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_parse_into_what_the_soak_judges() {
        let p = In::parse(br#"42["room:joined",{"roomId":"room_a","roomCode":"A","peerId":"me","peers":[{"id":"x","userInfo":{}},{"id":"y"}],"iceServers":[]}]"#).unwrap();
        assert!(
            matches!(p, In::RoomJoined { ref code, ref peer_id, ref peers } if code == "A" && peer_id == "me" && peers == &["x", "y"])
        );
        let p = In::parse(br#"43"7"[{"ok":true}]"#);
        assert!(p.is_err(), "an ack id is digits");
        let p = In::parse(br#"437[{"ok":true}]"#).unwrap();
        assert!(matches!(
            p,
            In::Ack {
                id: 7,
                ok: true,
                code: None
            }
        ));
        let p = In::parse(
            br#"4312[{"error":{"code":"PEER_NOT_FOUND","message":"Target peer not found"}}]"#,
        )
        .unwrap();
        assert!(
            matches!(p, In::Ack { id: 12, ok: false, code: Some(ref c) } if c == "PEER_NOT_FOUND")
        );
        let p = In::parse(br#"42["webrtc:ice",{"fromPeerId":"a","targetPeerId":"b","candidate":"candidate:soak 5 123 r"}]"#).unwrap();
        let In::Relay(r) = p else { panic!("{p:?}") };
        assert_eq!(r.id_and_time(), Some((5, 123)));
        let p = In::parse(br#"42["error",{"code":"ROOM_FULL","message":"Room is full","status":"error","event":"join:room"}]"#).unwrap();
        assert!(
            matches!(p, In::Error { ref code, event: Some(ref e) } if code == "ROOM_FULL" && e == "join:room")
        );
        assert!(
            matches!(In::parse(br#"42["peer:left",{"peerId":"z"}]"#).unwrap(), In::PeerLeft(ref z) if z == "z")
        );
        assert!(In::parse(br#"42["media:state_changed",{}]"#).is_err());
        assert!(In::parse(br#"42["peer:joined",{}]"#).is_err());
        assert!(In::parse(b"41").is_err());
    }
}
