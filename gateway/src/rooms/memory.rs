//! Rooms kept in this process: one map behind one mutex. Operations are short
//! and never await while holding it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;

use super::code::RoomCode;
use super::registry::{
    Joined, Member, RoomError, RoomInfo, RoomPolicy, RoomRegistry, RoomSnapshot,
};

struct Room {
    info: RoomInfo,
    members: Vec<Member>,
    /// When the room last became empty; `None` while occupied.
    empty_since: Option<Instant>,
}

pub struct MemoryRooms {
    policy: RoomPolicy,
    rooms: Mutex<HashMap<String, Room>>,
}

impl MemoryRooms {
    pub fn new(policy: RoomPolicy) -> Self {
        Self {
            policy,
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        // A panic elsewhere must not take every room down with it.
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expired(&self, room: &Room, now: Instant) -> bool {
        room.empty_since
            .is_some_and(|t| now.duration_since(t) >= self.policy.ttl)
    }

    fn member(&self, room_id: &str, peer_id: &str) -> bool {
        self.lock()
            .get(room_id)
            .is_some_and(|room| room.members.iter().any(|m| m.id == peer_id))
    }

    /// Drops rooms empty for longer than the TTL; returns how many went.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut rooms = self.lock();
        let before = rooms.len();
        rooms.retain(|_, room| !self.expired(room, now));
        before - rooms.len()
    }

    /// `join`, for both of its forms: one lookup of the room under the lock
    /// (an expired room is replaced in place), the peer list cloned once.
    fn join_member(&self, code: &RoomCode, member: &Member) -> Result<Joined, RoomError> {
        let room_id = code.room_id();
        let now = Instant::now();
        let mut rooms = self.lock();
        let room = match rooms.entry(room_id) {
            Entry::Occupied(entry) => {
                let room = entry.into_mut();
                if self.expired(room, now) {
                    if !self.policy.auto_create {
                        return Err(RoomError::NotFound);
                    }
                    *room = self.new_room(code, None, &member.user_info.user_id);
                }
                room
            }
            Entry::Vacant(entry) => {
                if !self.policy.auto_create {
                    return Err(RoomError::NotFound);
                }
                entry.insert(self.new_room(code, None, &member.user_info.user_id))
            }
        };
        let rejoined = room.members.iter().any(|m| m.id == member.id);
        if !rejoined && room.members.len() >= room.info.max_peers as usize {
            return Err(RoomError::Full);
        }
        let peers = room
            .members
            .iter()
            .filter(|m| m.id != member.id)
            .cloned()
            .collect();
        if !rejoined {
            room.members.push(member.clone());
            room.empty_since = None;
        }
        Ok(Joined {
            room: room.info.clone(),
            peers,
            rejoined,
        })
    }

    /// `leave`, for both of its forms: `Some(remaining(members left))` when
    /// `peer_id` was a member.
    fn leave_member<T>(
        &self,
        room_id: &str,
        peer_id: &str,
        remaining: impl FnOnce(&[Member]) -> T,
    ) -> Option<T> {
        let mut rooms = self.lock();
        let room = rooms.get_mut(room_id)?;
        let at = room.members.iter().position(|m| m.id == peer_id)?;
        room.members.remove(at);
        if room.members.is_empty() {
            room.empty_since = Some(Instant::now());
        }
        Some(remaining(&room.members))
    }

    fn new_room(&self, code: &RoomCode, max_peers: Option<u32>, created_by: &str) -> Room {
        let max_peers = max_peers
            .unwrap_or(self.policy.max_room_size)
            .clamp(1, self.policy.max_room_size);
        Room {
            info: RoomInfo {
                room_id: code.room_id(),
                room_code: code.as_str().to_owned(),
                max_peers,
                created_by: created_by.to_owned(),
            },
            members: Vec::new(),
            empty_since: Some(Instant::now()),
        }
    }
}

#[async_trait]
impl RoomRegistry for MemoryRooms {
    async fn create(
        &self,
        code: RoomCode,
        max_peers: Option<u32>,
        created_by: &str,
    ) -> Result<RoomInfo, RoomError> {
        let room_id = code.room_id();
        let now = Instant::now();
        let mut rooms = self.lock();
        if rooms
            .get(&room_id)
            .is_some_and(|room| !self.expired(room, now))
        {
            return Err(RoomError::Exists);
        }
        let room = self.new_room(&code, max_peers, created_by);
        let info = room.info.clone();
        rooms.insert(room_id, room);
        Ok(info)
    }

    async fn join(&self, code: &RoomCode, member: Member) -> Result<Joined, RoomError> {
        self.join_member(code, &member)
    }

    fn join_now(&self, code: &RoomCode, member: &Member) -> Option<Result<Joined, RoomError>> {
        Some(self.join_member(code, member))
    }

    async fn leave(&self, room_id: &str, peer_id: &str) -> Result<bool, RoomError> {
        Ok(self.leave_member(room_id, peer_id, |_| ()).is_some())
    }

    fn leave_now(
        &self,
        room_id: &str,
        peer_id: &str,
    ) -> Option<Result<Option<Vec<String>>, RoomError>> {
        let remaining = |members: &[Member]| members.iter().map(|m| m.id.clone()).collect();
        Some(Ok(self.leave_member(room_id, peer_id, remaining)))
    }

    fn exists_now(&self, code: &RoomCode) -> Option<bool> {
        let now = Instant::now();
        let room_id = code.room_id();
        Some(
            self.lock()
                .get(&room_id)
                .is_some_and(|room| !self.expired(room, now)),
        )
    }

    async fn is_member(&self, room_id: &str, peer_id: &str) -> Result<bool, RoomError> {
        Ok(self.member(room_id, peer_id))
    }

    fn is_member_now(&self, room_id: &str, peer_id: &str) -> Option<bool> {
        Some(self.member(room_id, peer_id))
    }

    async fn snapshot(&self, code: &RoomCode) -> Result<Option<RoomSnapshot>, RoomError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .get(&code.room_id())
            .filter(|room| !self.expired(room, now))
            .map(|room| RoomSnapshot {
                room: room.info.clone(),
                peers: room.members.clone(),
            }))
    }

    async fn count(&self) -> Result<usize, RoomError> {
        let now = Instant::now();
        Ok(self
            .lock()
            .values()
            .filter(|room| !self.expired(room, now))
            .count())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::Identity;

    fn rooms(ttl_ms: u64, max: u32, auto_create: bool) -> MemoryRooms {
        MemoryRooms::new(RoomPolicy {
            ttl: Duration::from_millis(ttl_ms),
            auto_create,
            max_room_size: max,
        })
    }

    fn member(id: &str) -> Member {
        Member {
            id: id.into(),
            user_info: Identity {
                user_id: format!("u-{id}"),
                username: id.into(),
            },
        }
    }

    fn code(c: &str) -> RoomCode {
        RoomCode::parse(c).unwrap()
    }

    #[tokio::test]
    async fn create_then_join_lists_earlier_members_in_order() {
        let r = rooms(60_000, 10, false);
        let info = r.create(code("ABC123"), None, "creator").await.unwrap();
        assert_eq!(info.room_id, "room_abc123");
        assert_eq!(info.room_code, "ABC123");
        assert_eq!(info.max_peers, 10);
        assert!(
            r.join(&code("abc123"), member("a"))
                .await
                .unwrap()
                .peers
                .is_empty()
        );
        r.join(&code("ABC123"), member("b")).await.unwrap();
        let c = r.join(&code("Abc123"), member("c")).await.unwrap();
        assert_eq!(c.peers, vec![member("a"), member("b")]);
        assert_eq!(c.room.room_code, "ABC123");
        assert!(!c.rejoined);
    }

    #[tokio::test]
    async fn create_refuses_a_code_in_use_whatever_its_case() {
        let r = rooms(60_000, 10, false);
        r.create(code("Team"), None, "creator").await.unwrap();
        assert_eq!(
            r.create(code("TEAM"), None, "creator").await,
            Err(RoomError::Exists)
        );
    }

    #[tokio::test]
    async fn join_refuses_unknown_rooms_unless_auto_create() {
        assert_eq!(
            rooms(1000, 10, false)
                .join(&code("nope"), member("a"))
                .await,
            Err(RoomError::NotFound)
        );
        let auto = rooms(1000, 10, true);
        let j = auto.join(&code("Fresh"), member("a")).await.unwrap();
        assert_eq!(
            (j.room.room_id.as_str(), j.room.room_code.as_str()),
            ("room_fresh", "Fresh")
        );
    }

    #[tokio::test]
    async fn max_peers_is_capped_and_enforced() {
        let r = rooms(60_000, 3, false);
        assert_eq!(
            r.create(code("big"), Some(50), "creator")
                .await
                .unwrap()
                .max_peers,
            3
        );
        r.create(code("two"), Some(2), "creator").await.unwrap();
        r.join(&code("two"), member("a")).await.unwrap();
        r.join(&code("two"), member("b")).await.unwrap();
        assert_eq!(
            r.join(&code("two"), member("c")).await,
            Err(RoomError::Full)
        );
        // A member rejoining a full room is not refused.
        assert!(r.join(&code("two"), member("b")).await.unwrap().rejoined);
    }

    #[tokio::test]
    async fn empty_rooms_expire_after_the_ttl_and_occupied_ones_do_not() {
        let r = rooms(50, 10, false);
        r.create(code("gone"), None, "creator").await.unwrap();
        r.create(code("kept"), None, "creator").await.unwrap();
        r.join(&code("kept"), member("a")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            r.join(&code("gone"), member("b")).await,
            Err(RoomError::NotFound)
        );
        assert!(r.join(&code("kept"), member("b")).await.is_ok());
        r.create(code("gone"), None, "creator")
            .await
            .expect("an expired code can be created again");
        assert_eq!(r.count().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn the_forms_without_waiting_answer_as_the_others_do() {
        let r = rooms(60_000, 2, false);
        assert_eq!(r.exists_now(&code("x")), Some(false));
        r.create(code("x"), None, "creator").await.unwrap();
        assert_eq!(r.exists_now(&code("X")), Some(true));
        let a = r.join_now(&code("x"), &member("a")).unwrap().unwrap();
        assert!(a.peers.is_empty() && !a.rejoined);
        let b = r.join_now(&code("X"), &member("b")).unwrap().unwrap();
        assert_eq!(b.peers, vec![member("a")]);
        assert_eq!(
            r.join_now(&code("x"), &member("c")),
            Some(Err(RoomError::Full))
        );
        assert!(
            r.join_now(&code("x"), &member("a"))
                .unwrap()
                .unwrap()
                .rejoined
        );
        // Leaving names the members that remain, in join order.
        assert_eq!(
            r.leave_now("room_x", "a"),
            Some(Ok(Some(vec!["b".to_owned()])))
        );
        assert_eq!(r.leave_now("room_x", "a"), Some(Ok(None)));
        assert_eq!(r.leave_now("room_nope", "b"), Some(Ok(None)));
        assert_eq!(r.leave_now("room_x", "b"), Some(Ok(Some(vec![]))));
        assert_eq!(r.count().await.unwrap(), 1, "empty, kept for its TTL");
    }

    #[tokio::test]
    async fn leaving_reports_membership_and_starts_the_ttl() {
        let r = rooms(50, 10, false);
        r.create(code("x"), None, "creator").await.unwrap();
        r.join(&code("x"), member("a")).await.unwrap();
        assert!(r.is_member("room_x", "a").await.unwrap());
        assert!(r.leave("room_x", "a").await.unwrap());
        assert!(!r.leave("room_x", "a").await.unwrap());
        assert!(!r.is_member("room_x", "a").await.unwrap());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(r.sweep(), 1);
        assert_eq!(r.snapshot(&code("x")).await.unwrap(), None);
    }
}
