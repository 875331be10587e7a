//! A request to create a room, as `create:room` and `POST /rooms` both take it:
//! the payload as parsed ([`CreateRoomRequest`], also the REST schema), then
//! checked against the contract's rules ([`CreateRoom`]).

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::code::{self, RoomCode};
use super::registry::{RoomError, RoomInfo, RoomRegistry};

/// `{ roomCode?, maxPeers? }`; unknown fields are ignored. A field may be
/// absent, but `null` is not a code or a number (as on the reference).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomRequest {
    /// 1–64 characters of `[A-Za-z0-9_-]`, kept as given; compared without
    /// case. A fresh code is drawn when absent.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub room_code: Option<String>,
    /// A positive integer; capped at `MAX_ROOM_SIZE`, the default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, nullable = false)]
    pub max_peers: Option<f64>,
}

/// A field that, when present, holds a `T`: `null` is refused, not taken for absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A checked request to create a room.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateRoom {
    pub code: Option<RoomCode>,
    pub max_peers: Option<u32>,
}

impl CreateRoomRequest {
    /// Applies the room-code rule and `maxPeers` ≥ 1 (whole numbers only).
    pub fn validate(self) -> Result<CreateRoom, String> {
        let code = match self.room_code {
            None => None,
            Some(c) => Some(RoomCode::parse(&c).ok_or(code::RULE)?),
        };
        let max_peers = match self.max_peers {
            None => None,
            Some(n) if n.fract() == 0.0 && n >= 1.0 => {
                // Anything above the cap is capped by the registry.
                Some(n.min(f64::from(u32::MAX)) as u32)
            }
            Some(_) => return Err("maxPeers must be a positive integer".into()),
        };
        Ok(CreateRoom { code, max_peers })
    }
}

impl CreateRoom {
    /// Creates the room for `creator`, drawing a fresh code when none was
    /// asked for. Callers go through [`RoomQuota::create`](super::quota::RoomQuota::create).
    pub(super) async fn create(
        self,
        rooms: &dyn RoomRegistry,
        creator: &str,
    ) -> Result<RoomInfo, RoomError> {
        if let Some(code) = self.code {
            return rooms.create(code, self.max_peers, creator).await;
        }
        // 36^12 codes: a clash is all but impossible; a retry costs nothing.
        for _ in 0..8 {
            match rooms
                .create(RoomCode::generate(), self.max_peers, creator)
                .await
            {
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
    use serde_json::{Value, json};

    use super::*;

    fn checked(payload: Value) -> Result<CreateRoom, String> {
        serde_json::from_value::<CreateRoomRequest>(payload)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn reads_codes_and_sizes() {
        assert_eq!(checked(json!({})), Ok(CreateRoom::default()));
        let r = checked(json!({ "roomCode": "ABC123", "maxPeers": 4, "x": 1 })).unwrap();
        assert_eq!((r.code.unwrap().as_str(), r.max_peers), ("ABC123", Some(4)));
        assert_eq!(
            checked(json!({ "maxPeers": 2.0 })).unwrap().max_peers,
            Some(2)
        );
        assert_eq!(
            checked(json!({ "maxPeers": 1e12 })).unwrap().max_peers,
            Some(u32::MAX)
        );
        for bad in [
            json!({ "roomCode": "a b" }),
            json!({ "roomCode": "" }),
            json!({ "roomCode": 5 }),
            json!({ "maxPeers": 0 }),
            json!({ "maxPeers": -3 }),
            json!({ "maxPeers": 2.5 }),
            json!({ "maxPeers": "3" }),
            // Found by the differential fuzzer: the reference refuses null as
            // a non-number, and the docs call null neither a code nor a number.
            json!({ "maxPeers": null }),
            json!({ "roomCode": null }),
        ] {
            assert!(checked(bad.clone()).is_err(), "{bad}");
        }
    }
}
