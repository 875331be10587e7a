//! Room codes: 1–64 characters of `[A-Za-z0-9_-]`, compared without case.
//!
//! A room's code is all it takes to join it, so a generated one must not be
//! guessable: 12 characters of `[A-Z0-9]` are 62 bits (36^12 ≈ 4.7e18), where
//! the incumbent's 6 (2.2e9) fall to a scan of a few days at the lookup rates
//! a single client reached. Codes a client picks itself are its own business.

use std::fmt;

use rand::Rng;

pub const MAX_LEN: usize = 64;
pub const RULE: &str = "roomCode must be 1-64 characters of [A-Za-z0-9_-]";
const GENERATED_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const GENERATED_LEN: usize = 12;

/// A valid room code, as its creator spelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomCode(String);

impl RoomCode {
    pub fn parse(code: &str) -> Option<Self> {
        let ok = (1..=MAX_LEN).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| Self(code.to_owned()))
    }

    /// A fresh random 12-character code.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let code = (0..GENERATED_LEN)
            .map(|_| GENERATED_ALPHABET[rng.random_range(0..GENERATED_ALPHABET.len())] as char)
            .collect();
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `room_` + the lower-cased code: the room's identity on the wire and as the
    /// Socket.IO room name.
    pub fn room_id(&self) -> String {
        format!("room_{}", self.0.to_ascii_lowercase())
    }
}

impl fmt::Display for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_example_maps_to_its_room_id() {
        assert_eq!(RoomCode::parse("ABC123").unwrap().room_id(), "room_abc123");
    }

    #[test]
    fn codes_follow_the_rule() {
        assert!(RoomCode::parse("a").is_some());
        assert!(RoomCode::parse("Team_room-1").is_some());
        assert!(RoomCode::parse(&"x".repeat(64)).is_some());
        assert!(RoomCode::parse(&"x".repeat(65)).is_none());
        assert!(RoomCode::parse("").is_none());
        assert!(RoomCode::parse("has space").is_none());
        assert!(RoomCode::parse("é").is_none());
        assert!(RoomCode::parse("a/b").is_none());
    }

    #[test]
    fn generated_codes_are_twelve_upper_alphanumerics() {
        for _ in 0..100 {
            let c = RoomCode::generate();
            assert_eq!(c.as_str().len(), 12);
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
            assert!(RoomCode::parse(c.as_str()).is_some());
        }
    }
}
