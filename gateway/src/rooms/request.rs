//! A request to create a room, as `create:room` and `POST /rooms` both take it.

use serde_json::Value;

use super::{RoomCode, RoomError, RoomInfo, RoomRegistry, code};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateRoom {
    pub code: Option<RoomCode>,
    pub max_peers: Option<u32>,
}

impl CreateRoom {
    /// Reads `{ roomCode?, maxPeers? }`; no payload at all means defaults.
    pub fn from_json(payload: &Value) -> Result<Self, String> {
        let fields = match payload {
            Value::Null => return Ok(Self::default()),
            Value::Object(fields) => fields,
            _ => return Err("payload must be an object".into()),
        };
        let code = match fields.get("roomCode") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_str().and_then(RoomCode::parse).ok_or(code::RULE)?),
        };
        let max_peers = match fields.get("maxPeers") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = v.as_f64().filter(|n| n.fract() == 0.0 && *n >= 1.0);
                // Anything above the cap is capped by the registry.
                Some(
                    n.map(|n| n.min(f64::from(u32::MAX)) as u32)
                        .ok_or("maxPeers must be a positive integer")?,
                )
            }
        };
        Ok(Self { code, max_peers })
    }

    /// Creates the room, drawing a fresh code when none was asked for.
    pub async fn create(self, rooms: &dyn RoomRegistry) -> Result<RoomInfo, RoomError> {
        if let Some(code) = self.code {
            return rooms.create(code, self.max_peers).await;
        }
        // 36^6 codes: a clash is rare, a few retries make it negligible.
        for _ in 0..8 {
            match rooms.create(RoomCode::generate(), self.max_peers).await {
                Err(RoomError::Exists) => continue,
                other => return other,
            }
        }
        Err(RoomError::Unavailable(
            "no free room code after 8 tries".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_codes_and_sizes() {
        assert_eq!(
            CreateRoom::from_json(&Value::Null),
            Ok(CreateRoom::default())
        );
        assert_eq!(CreateRoom::from_json(&json!({})), Ok(CreateRoom::default()));
        let r = CreateRoom::from_json(&json!({ "roomCode": "ABC123", "maxPeers": 4 })).unwrap();
        assert_eq!((r.code.unwrap().as_str(), r.max_peers), ("ABC123", Some(4)));
        for bad in [
            json!([]),
            json!({ "roomCode": "a b" }),
            json!({ "roomCode": 5 }),
            json!({ "maxPeers": 0 }),
            json!({ "maxPeers": 2.5 }),
            json!({ "maxPeers": "3" }),
        ] {
            assert!(CreateRoom::from_json(&bad).is_err(), "{bad}");
        }
    }
}
