//! Caps on live rooms, applied in front of any [`RoomRegistry`] with nothing
//! but its interface: `MAX_ROOMS` in all (the registry's own count, so across
//! a cluster when the registry is shared) and `MAX_ROOMS_PER_USER` per creator
//! (counted on this node: the rooms this node created for the user that are
//! still alive). Without them one token created 100,000 rooms in 3 seconds.
//!
//! Both checks count creations still in flight, so simultaneous requests
//! cannot all pass before the first room exists: the registry's count plus
//! every creation in flight on this node is at most `MAX_ROOMS` (other nodes'
//! creations in flight at the same instant can overshoot it by as many).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::code::RoomCode;
use super::registry::{RoomError, RoomInfo, RoomRegistry};
use super::request::CreateRoom;

#[derive(Debug, Clone, Copy)]
pub struct RoomCaps {
    /// Live rooms in all.
    pub max_rooms: usize,
    /// Live rooms one user created (on this node).
    pub per_user: usize,
    /// `join:room` creates missing rooms (`AUTO_CREATE_ROOMS`), through the caps.
    pub auto_create: bool,
}

/// The rooms this node created for one user, and those being created.
#[derive(Default)]
struct UserRooms {
    rooms: Vec<RoomCode>,
    pending: usize,
}

pub struct RoomQuota {
    caps: RoomCaps,
    in_flight: AtomicUsize,
    users: Mutex<HashMap<String, UserRooms>>,
}

/// Undoes a reservation however the creation ends.
struct Pending<'a> {
    quota: &'a RoomQuota,
    user: &'a str,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut users = self.quota.lock();
        if let Some(entry) = users.get_mut(self.user) {
            entry.pending = entry.pending.saturating_sub(1);
            if entry.pending == 0 && entry.rooms.is_empty() {
                users.remove(self.user);
            }
        }
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl RoomQuota {
    pub fn new(caps: RoomCaps) -> Self {
        Self {
            caps,
            in_flight: AtomicUsize::new(0),
            users: Mutex::new(HashMap::new()),
        }
    }

    pub fn caps(&self) -> RoomCaps {
        self.caps
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, UserRooms>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a room for `creator` if both caps allow it.
    pub async fn create(
        &self,
        rooms: &dyn RoomRegistry,
        request: CreateRoom,
        creator: &str,
    ) -> Result<RoomInfo, RoomError> {
        let pending = self.reserve_user(rooms, creator).await?;
        let prior = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let _in_flight = InFlight(&self.in_flight);
        if rooms.count().await? + prior >= self.caps.max_rooms {
            return Err(RoomError::TooMany);
        }
        let info = request.create(rooms, creator).await?;
        if let Some(code) = RoomCode::parse(&info.room_code) {
            self.lock()
                .entry(creator.to_owned())
                .or_default()
                .rooms
                .push(code);
        }
        drop(pending);
        Ok(info)
    }

    /// Takes one of the user's slots, first forgetting their rooms that are
    /// gone when none is free.
    async fn reserve_user<'a>(
        &'a self,
        rooms: &dyn RoomRegistry,
        user: &'a str,
    ) -> Result<Pending<'a>, RoomError> {
        if let Some(pending) = self.try_reserve(user) {
            return Ok(pending);
        }
        let codes = self
            .lock()
            .get(user)
            .map(|e| e.rooms.clone())
            .unwrap_or_default();
        let gone = self.gone(rooms, user, &codes).await?;
        self.forget(user, &gone);
        self.try_reserve(user).ok_or(RoomError::TooMany)
    }

    fn try_reserve<'a>(&'a self, user: &'a str) -> Option<Pending<'a>> {
        let mut users = self.lock();
        let entry = users.entry(user.to_owned()).or_default();
        if entry.rooms.len() + entry.pending >= self.caps.per_user {
            return None;
        }
        entry.pending += 1;
        Some(Pending { quota: self, user })
    }

    /// The room ids among `codes` that are no longer `user`'s live rooms
    /// (expired, or expired and created again by someone else).
    async fn gone(
        &self,
        rooms: &dyn RoomRegistry,
        user: &str,
        codes: &[RoomCode],
    ) -> Result<HashSet<String>, RoomError> {
        let mut gone = HashSet::new();
        for code in codes {
            let alive = rooms
                .snapshot(code)
                .await?
                .is_some_and(|s| s.room.created_by == user);
            if !alive {
                gone.insert(code.room_id());
            }
        }
        Ok(gone)
    }

    fn forget(&self, user: &str, gone: &HashSet<String>) {
        let mut users = self.lock();
        if let Some(entry) = users.get_mut(user) {
            entry.rooms.retain(|c| !gone.contains(&c.room_id()));
            if entry.rooms.is_empty() && entry.pending == 0 {
                users.remove(user);
            }
        }
    }

    /// Forgets every room that is gone, so users who stopped creating rooms
    /// cost nothing (run now and then; one registry lookup per tracked room).
    pub async fn sweep(&self, rooms: &dyn RoomRegistry) -> Result<(), RoomError> {
        let tracked: Vec<(String, Vec<RoomCode>)> = self
            .lock()
            .iter()
            .map(|(user, e)| (user.clone(), e.rooms.clone()))
            .collect();
        for (user, codes) in tracked {
            let gone = self.gone(rooms, &user, &codes).await?;
            self.forget(&user, &gone);
        }
        Ok(())
    }

    /// Users with rooms tracked on this node.
    pub fn tracked_users(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::rooms::memory::MemoryRooms;
    use crate::rooms::registry::RoomPolicy;

    fn setup(ttl_ms: u64, max_rooms: usize, per_user: usize) -> (Arc<MemoryRooms>, Arc<RoomQuota>) {
        let rooms = Arc::new(MemoryRooms::new(RoomPolicy {
            ttl: Duration::from_millis(ttl_ms),
            auto_create: false,
            max_room_size: 10,
        }));
        let quota = Arc::new(RoomQuota::new(RoomCaps {
            max_rooms,
            per_user,
            auto_create: false,
        }));
        (rooms, quota)
    }

    fn fresh() -> CreateRoom {
        CreateRoom::default()
    }

    #[tokio::test]
    async fn a_user_gets_per_user_rooms_and_others_still_get_theirs() {
        let (rooms, quota) = setup(60_000, 100, 2);
        quota
            .create(rooms.as_ref(), fresh(), "alice")
            .await
            .unwrap();
        let info = quota
            .create(rooms.as_ref(), fresh(), "alice")
            .await
            .unwrap();
        assert_eq!(info.created_by, "alice");
        assert_eq!(
            quota.create(rooms.as_ref(), fresh(), "alice").await,
            Err(RoomError::TooMany)
        );
        quota.create(rooms.as_ref(), fresh(), "bob").await.unwrap();
        assert_eq!(rooms.count().await.unwrap(), 3);
    }

    #[tokio::test]
    async fn the_total_is_capped_and_simultaneous_creations_cannot_pass_it() {
        let (rooms, quota) = setup(60_000, 50, 1_000);
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let (rooms, quota) = (rooms.clone(), quota.clone());
                tokio::spawn(async move {
                    quota
                        .create(rooms.as_ref(), fresh(), &format!("user{}", i % 7))
                        .await
                })
            })
            .collect();
        let mut made = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => made += 1,
                Err(e) => assert_eq!(e, RoomError::TooMany),
            }
        }
        assert_eq!(made, 50);
        assert_eq!(rooms.count().await.unwrap(), 50);
    }

    #[tokio::test]
    async fn rooms_that_expire_give_their_slots_back() {
        let (rooms, quota) = setup(40, 100, 1);
        quota
            .create(rooms.as_ref(), fresh(), "alice")
            .await
            .unwrap();
        assert_eq!(
            quota.create(rooms.as_ref(), fresh(), "alice").await,
            Err(RoomError::TooMany)
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        quota
            .create(rooms.as_ref(), fresh(), "alice")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        quota.sweep(rooms.as_ref()).await.unwrap();
        assert_eq!(quota.tracked_users(), 0);
    }

    #[tokio::test]
    async fn failed_creations_use_no_slot() {
        let (rooms, quota) = setup(60_000, 100, 1);
        let named = |c: &str| CreateRoom {
            code: RoomCode::parse(c),
            max_peers: None,
        };
        quota
            .create(rooms.as_ref(), named("taken"), "bob")
            .await
            .unwrap();
        assert_eq!(
            quota.create(rooms.as_ref(), named("TAKEN"), "alice").await,
            Err(RoomError::Exists)
        );
        quota
            .create(rooms.as_ref(), named("mine"), "alice")
            .await
            .unwrap();
    }
}
