//! Payloads of the gateway's events (`docs/PROTOCOL.md` §3), as typed values.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A peer id: the Socket.IO socket id the gateway gave that peer.
pub type PeerId = String;

/// `userInfo` of a peer: who its credential names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub username: String,
}

/// A member of a room, as `room:joined.peers` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    pub id: PeerId,
    #[serde(default)]
    pub user_info: UserInfo,
}

/// `room:created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomCreated {
    pub room_id: String,
    pub room_code: String,
}

/// `room:joined`: the room, our own peer id, the peers already there and the
/// ICE servers to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomJoined {
    pub room_id: String,
    pub room_code: String,
    pub peer_id: PeerId,
    #[serde(default)]
    pub peers: Vec<PeerInfo>,
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
}

/// One `RTCIceServer` as the gateway sends it (`urls` may be a string or a list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IceServer {
    #[serde(deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// An SDP offer or answer, `{ type, sdp }` as `RTCSessionDescriptionInit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

/// An ICE candidate in the browser's `RTCIceCandidateInit` shape. All four
/// fields are always serialized (`null` when unknown), as browsers do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_m_line_index: Option<u16>,
    #[serde(default)]
    pub username_fragment: Option<String>,
}

/// A candidate as the wire may carry it: an `RTCIceCandidateInit` object or a
/// bare candidate string (as the seed's clients send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireCandidate {
    Init(IceCandidate),
    Line(String),
}

impl From<WireCandidate> for IceCandidate {
    fn from(c: WireCandidate) -> Self {
        match c {
            WireCandidate::Init(init) => init,
            WireCandidate::Line(candidate) => IceCandidate {
                candidate,
                ..Default::default()
            },
        }
    }
}

/// The gateway's `error` event: `{ code, message, status, event, ...extra }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerError {
    pub code: String,
    #[serde(default)]
    pub message: String,
    /// The client event that failed (`join:room`, `webrtc:offer`, …).
    #[serde(default)]
    pub event: Option<String>,
    /// `targetPeerId`, `sfuUrl`, … when the gateway adds them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// Everything the gateway can send us, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalingEvent {
    RoomCreated(RoomCreated),
    RoomJoined(RoomJoined),
    RoomLeft {
        room_id: String,
    },
    PeerJoined {
        peer_id: PeerId,
        user_info: UserInfo,
    },
    PeerLeft {
        peer_id: PeerId,
    },
    Offer {
        from: PeerId,
        description: SessionDescription,
    },
    Answer {
        from: PeerId,
        description: SessionDescription,
    },
    Ice {
        from: PeerId,
        candidate: IceCandidate,
    },
    MediaStateChanged {
        peer_id: PeerId,
        is_video_enabled: bool,
        is_audio_enabled: bool,
    },
    Pong {
        timestamp: String,
    },
    /// The gateway's `error` event (the socket stays connected).
    Error(ServerError),
    /// An event this client does not know, passed through.
    Other {
        event: String,
        payload: Value,
    },
    /// The connection ended (server disconnect or transport failure). With
    /// reconnection on, [`SignalingEvent::Reconnected`] may follow.
    Disconnected {
        reason: String,
    },
    /// Connected again after a drop, as a new socket. With a room to rejoin
    /// it comes right before the rejoin's `room:joined`, and `peer_id` is our
    /// new id from it; `None` without a room (or when the rejoin failed).
    Reconnected {
        peer_id: Option<PeerId>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FromPeer<T> {
    from_peer_id: PeerId,
    #[serde(flatten)]
    body: T,
}

#[derive(Deserialize)]
struct OfferBody {
    offer: SessionDescription,
}
#[derive(Deserialize)]
struct AnswerBody {
    answer: SessionDescription,
}
#[derive(Deserialize)]
struct IceBody {
    candidate: WireCandidate,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeerJoinedBody {
    peer_id: PeerId,
    #[serde(default)]
    user_info: UserInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaBody {
    peer_id: PeerId,
    is_video_enabled: bool,
    is_audio_enabled: bool,
}

impl SignalingEvent {
    /// Parses one event from its name and JSON payload. Unknown events and
    /// payloads that do not parse come back as [`SignalingEvent::Other`].
    pub fn parse(event: &str, payload: Value) -> SignalingEvent {
        fn take<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
            serde_json::from_value(v.clone()).ok()
        }
        let parsed =
            match event {
                "room:created" => take(&payload).map(SignalingEvent::RoomCreated),
                "room:joined" => take(&payload).map(SignalingEvent::RoomJoined),
                "room:left" => payload.get("roomId").and_then(Value::as_str).map(|r| {
                    SignalingEvent::RoomLeft {
                        room_id: r.to_owned(),
                    }
                }),
                "peer:joined" => {
                    take::<PeerJoinedBody>(&payload).map(|b| SignalingEvent::PeerJoined {
                        peer_id: b.peer_id,
                        user_info: b.user_info,
                    })
                }
                "peer:left" => payload.get("peerId").and_then(Value::as_str).map(|p| {
                    SignalingEvent::PeerLeft {
                        peer_id: p.to_owned(),
                    }
                }),
                "webrtc:offer" => {
                    take::<FromPeer<OfferBody>>(&payload).map(|m| SignalingEvent::Offer {
                        from: m.from_peer_id,
                        description: m.body.offer,
                    })
                }
                "webrtc:answer" => {
                    take::<FromPeer<AnswerBody>>(&payload).map(|m| SignalingEvent::Answer {
                        from: m.from_peer_id,
                        description: m.body.answer,
                    })
                }
                "webrtc:ice" => take::<FromPeer<IceBody>>(&payload).map(|m| SignalingEvent::Ice {
                    from: m.from_peer_id,
                    candidate: m.body.candidate.into(),
                }),
                "media:state_changed" => {
                    take::<MediaBody>(&payload).map(|m| SignalingEvent::MediaStateChanged {
                        peer_id: m.peer_id,
                        is_video_enabled: m.is_video_enabled,
                        is_audio_enabled: m.is_audio_enabled,
                    })
                }
                "pong" => Some(SignalingEvent::Pong {
                    timestamp: payload
                        .get("timestamp")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                }),
                "error" | "exception" => take(&payload).map(SignalingEvent::Error),
                _ => None,
            };
        parsed.unwrap_or_else(|| SignalingEvent::Other {
            event: event.to_owned(),
            payload,
        })
    }
}

/// What the peer manager asks the signaling layer to send.
#[derive(Debug, Clone, PartialEq)]
pub enum OutgoingSignal {
    Offer {
        to: PeerId,
        description: SessionDescription,
    },
    Answer {
        to: PeerId,
        description: SessionDescription,
    },
    Ice {
        to: PeerId,
        candidate: IceCandidate,
    },
}

impl OutgoingSignal {
    /// The target peer.
    pub fn to(&self) -> &PeerId {
        match self {
            OutgoingSignal::Offer { to, .. }
            | OutgoingSignal::Answer { to, .. }
            | OutgoingSignal::Ice { to, .. } => to,
        }
    }

    /// The event name and payload as the gateway expects them (`C→S`).
    pub fn to_wire(&self) -> (&'static str, Value) {
        match self {
            OutgoingSignal::Offer { to, description } => (
                "webrtc:offer",
                serde_json::json!({ "targetPeerId": to, "offer": description }),
            ),
            OutgoingSignal::Answer { to, description } => (
                "webrtc:answer",
                serde_json::json!({ "targetPeerId": to, "answer": description }),
            ),
            OutgoingSignal::Ice { to, candidate } => (
                "webrtc:ice",
                serde_json::json!({ "targetPeerId": to, "candidate": candidate }),
            ),
        }
    }

    /// What the target receives when the gateway relays this from `from`.
    pub fn relayed_from(&self, from: &str) -> SignalingEvent {
        match self.clone() {
            OutgoingSignal::Offer { description, .. } => SignalingEvent::Offer {
                from: from.to_owned(),
                description,
            },
            OutgoingSignal::Answer { description, .. } => SignalingEvent::Answer {
                from: from.to_owned(),
                description,
            },
            OutgoingSignal::Ice { candidate, .. } => SignalingEvent::Ice {
                from: from.to_owned(),
                candidate,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_events_of_the_contract() {
        let ev = SignalingEvent::parse(
            "room:joined",
            json!({"roomId":"room_abc","roomCode":"ABC","peerId":"me","peers":[{"id":"p1","userInfo":{"userId":"u1","username":"alice"}}],"iceServers":[{"urls":"stun:x"},{"urls":["turn:y"],"username":"1:u","credential":"c"}]}),
        );
        let SignalingEvent::RoomJoined(j) = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(j.peers[0].user_info.username, "alice");
        assert_eq!(j.ice_servers[0].urls, vec!["stun:x"]);
        assert_eq!(j.ice_servers[1].credential.as_deref(), Some("c"));

        let ev = SignalingEvent::parse(
            "webrtc:ice",
            json!({"fromPeerId":"a","targetPeerId":"b","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}),
        );
        assert!(
            matches!(ev, SignalingEvent::Ice { ref from, ref candidate } if from == "a" && candidate.sdp_mid.is_none())
        );
        let ev = SignalingEvent::parse(
            "webrtc:ice",
            json!({"fromPeerId":"a","targetPeerId":"b","candidate":{"candidate":"c","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":null}}),
        );
        assert!(
            matches!(ev, SignalingEvent::Ice { ref candidate, .. } if candidate.sdp_mid.as_deref() == Some("0"))
        );
        let ev = SignalingEvent::parse(
            "error",
            json!({"code":"PEER_NOT_FOUND","message":"Target peer not found","status":"error","event":"webrtc:offer","targetPeerId":"x"}),
        );
        let SignalingEvent::Error(e) = ev else {
            panic!()
        };
        assert_eq!(e.code, "PEER_NOT_FOUND");
        assert_eq!(e.extra["targetPeerId"], "x");
        assert!(matches!(
            SignalingEvent::parse("nope", json!(1)),
            SignalingEvent::Other { .. }
        ));
    }

    #[test]
    fn candidates_go_out_in_the_browser_shape() {
        let out = OutgoingSignal::Ice {
            to: "b".into(),
            candidate: IceCandidate {
                candidate: "candidate:x".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: None,
            },
        };
        let (name, payload) = out.to_wire();
        assert_eq!(name, "webrtc:ice");
        assert_eq!(
            payload,
            json!({"targetPeerId":"b","candidate":{"candidate":"candidate:x","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":null}})
        );
    }
}
