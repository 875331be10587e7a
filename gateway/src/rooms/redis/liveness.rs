//! Node liveness: each node holds a key with an expiry that its heartbeat
//! refreshes, and a set of its members. When the key expires, the first
//! sweeper to [`RedisRooms::reap`] removes that node's members, gets them back
//! once (to tell their rooms `peer:left`), and tombstones the node so that it
//! can never come back: a frozen node that resumes finds itself evicted.

use super::store::{Heartbeat, RedisRooms, millis, new_node_id, unavailable};
use crate::rooms::{Departed, RoomError};

impl RedisRooms {
    /// Refreshes this node's key; puts the node's members back when the key
    /// was gone, and takes a new identity when the node was evicted.
    pub async fn heartbeat(&self) -> Result<Heartbeat, RoomError> {
        let node_id = self.node_id();
        let answer: String = self
            .run(
                &self.scripts.heartbeat,
                vec![node_id, millis(self.liveness.timeout), self.route.clone()],
            )
            .await?;
        match answer.as_str() {
            "ok" => Ok(Heartbeat::Alive),
            "evicted" => {
                self.start_over().await?;
                Ok(Heartbeat::Evicted)
            }
            _ => match self.reconcile().await? {
                Heartbeat::Evicted => Ok(Heartbeat::Evicted),
                _ => Ok(Heartbeat::Restored),
            },
        }
    }

    /// Registers the node and makes Redis hold exactly this node's members:
    /// missing ones are put back (rooms recreated as needed), stale ones
    /// removed. Run at start-up and after every reconnection.
    pub async fn reconcile(&self) -> Result<Heartbeat, RoomError> {
        let (node_id, mut entries) = {
            let local = self.local();
            let entries: Vec<_> = local.members.values().cloned().collect();
            (local.node_id.clone(), entries)
        };
        entries.sort_by_key(|(seq, ..)| *seq);
        let mut args = vec![
            node_id,
            millis(self.liveness.timeout),
            self.ttl(),
            self.route.clone(),
        ];
        for (_, room, member) in entries {
            let info = serde_json::to_string(&member.user_info).map_err(unavailable)?;
            args.extend([
                room.room_id,
                room.room_code,
                room.max_peers.to_string(),
                room.created_by,
                member.id,
                info,
            ]);
        }
        let answer: String = self.run(&self.scripts.reconcile, args).await?;
        if answer == "evicted" {
            self.start_over().await?;
            return Ok(Heartbeat::Evicted);
        }
        Ok(Heartbeat::Alive)
    }

    /// After an eviction: forget the members (they were reported gone) and
    /// register under a new identity.
    async fn start_over(&self) -> Result<(), RoomError> {
        {
            let mut local = self.local();
            local.node_id = new_node_id();
            local.members.clear();
            self.view.clear();
            // The reaper reported every member of the old identity.
            local.departed.clear();
            local.unsettled = false;
        }
        let node_id = self.node_id();
        let _: String = self
            .run(
                &self.scripts.reconcile,
                vec![
                    node_id,
                    millis(self.liveness.timeout),
                    self.ttl(),
                    self.route.clone(),
                ],
            )
            .await?;
        Ok(())
    }

    /// After a failed write: makes Redis hold exactly this node's members
    /// again and returns the members that left meanwhile, whose peers were
    /// not told yet. Nothing to do (the usual case) costs nothing.
    pub async fn settle(&self) -> Result<Vec<Departed>, RoomError> {
        let departed = {
            let mut local = self.local();
            if !local.unsettled {
                return Ok(Vec::new());
            }
            local.unsettled = false;
            std::mem::take(&mut local.departed)
        };
        match self.reconcile().await {
            Ok(Heartbeat::Evicted) => Ok(Vec::new()),
            Ok(_) => Ok(departed),
            Err(e) => {
                let mut local = self.local();
                local.departed.extend(departed);
                local.unsettled = true;
                Err(e)
            }
        }
    }

    /// Removes the members of every node whose key expired (except this one)
    /// and returns them: whoever gets a member back tells its room, so each is
    /// reported once. Also forgets expired rooms.
    pub async fn reap(&self) -> Result<Vec<Departed>, RoomError> {
        let flat: Vec<String> = self
            .run(
                &self.scripts.reap,
                vec![self.node_id(), self.ttl(), millis(self.liveness.tombstone)],
            )
            .await?;
        Ok(flat
            .chunks_exact(2)
            .map(|pair| Departed {
                room_id: pair[0].clone(),
                peer_id: pair[1].clone(),
            })
            .collect())
    }
}

/// What a resynchronisation of the view found changed in one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewChange {
    pub room_id: String,
    /// Members of other nodes gone meanwhile.
    pub left: Vec<String>,
    /// Members of other nodes new to the view, with their user info (JSON).
    pub joined: Vec<(String, String)>,
    /// This node's members of the room, who should hear of it.
    pub here: Vec<String>,
}

impl RedisRooms {
    /// Makes the view of every room held Redis's members again (after a
    /// reconnection, a missed batch, or periodically): one script for all.
    pub async fn resync_view(&self) -> Result<Vec<ViewChange>, RoomError> {
        let rooms = self.view.rooms();
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let flat: Vec<String> = self.run(&self.scripts.routes, rooms).await?;
        let mut changes = Vec::new();
        for (room_id, members) in rooms_of(&flat) {
            let routes: Vec<(String, String)> = members
                .chunks_exact(3)
                .map(|m| (m[0].clone(), m[1].clone()))
                .collect();
            let (left, joined) = self.view.resync(room_id, &routes);
            if left.is_empty() && joined.is_empty() {
                continue;
            }
            let joined = joined
                .into_iter()
                .filter_map(|p| {
                    let info = members.chunks_exact(3).find(|m| m[0] == p)?[2].clone();
                    Some((p, info))
                })
                .collect();
            changes.push(ViewChange {
                room_id: room_id.clone(),
                left,
                joined,
                here: self.view.here(room_id),
            });
        }
        Ok(changes)
    }
}

impl RedisRooms {
    /// The routes of the nodes with members in each of `rooms` (as Redis has
    /// them, the view aside): where news for those rooms must go.
    pub async fn routes_of(
        &self,
        rooms: Vec<String>,
    ) -> Result<Vec<(String, Vec<String>)>, RoomError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let flat: Vec<String> = self.run(&self.scripts.routes, rooms).await?;
        Ok(rooms_of(&flat)
            .map(|(room_id, members)| {
                let mut routes: Vec<String> = members
                    .chunks_exact(3)
                    .map(|m| m[1].clone())
                    .filter(|r| !r.is_empty())
                    .collect();
                routes.sort_unstable();
                routes.dedup();
                (room_id.clone(), routes)
            })
            .collect())
    }
}

/// `routes.lua`'s answer, room by room: the id and its members' triples
/// (peer, route, info), flat.
fn rooms_of(flat: &[String]) -> impl Iterator<Item = (&String, &[String])> {
    let mut rest = flat;
    std::iter::from_fn(move || {
        let [room_id, n, tail @ ..] = rest else {
            return None;
        };
        let n: usize = n.parse().ok()?;
        let members = tail.get(..n.checked_mul(3)?)?;
        rest = &tail[members.len()..];
        Some((room_id, members))
    })
}
