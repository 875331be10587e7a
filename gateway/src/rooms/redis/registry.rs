//! The [`RoomRegistry`] operations, each one script run atomically in Redis.

use async_trait::async_trait;

use super::store::{RedisRooms, members, room_info, unavailable, unexpected};
use super::view::Seen;
use crate::rooms::Departed;
use crate::rooms::{
    Joined, Member, RoomCode, RoomError, RoomInfo, RoomRegistry, RoomSnapshot, Whereabouts,
};

#[async_trait]
impl RoomRegistry for RedisRooms {
    async fn create(
        &self,
        code: RoomCode,
        max_peers: Option<u32>,
        created_by: &str,
    ) -> Result<RoomInfo, RoomError> {
        let max = max_peers
            .unwrap_or(self.policy.max_room_size)
            .clamp(1, self.policy.max_room_size);
        let room_id = code.room_id();
        let answer: Vec<String> = self
            .run(
                &self.scripts.create,
                vec![
                    room_id.clone(),
                    code.as_str().to_owned(),
                    max.to_string(),
                    created_by.to_owned(),
                    self.ttl(),
                ],
            )
            .await?;
        match answer.first().map(String::as_str) {
            Some("ok") if answer.len() == 4 => Ok(room_info(room_id, &answer[1..])),
            Some("exists") => Err(RoomError::Exists),
            _ => Err(unexpected(&answer)),
        }
    }

    async fn join(&self, code: &RoomCode, member: Member) -> Result<Joined, RoomError> {
        let room_id = code.room_id();
        let info = serde_json::to_string(&member.user_info).map_err(unavailable)?;
        let node_id = self.node_id();
        let answer = self
            .run::<Vec<String>>(
                &self.scripts.join,
                vec![
                    room_id.clone(),
                    code.as_str().to_owned(),
                    member.id.clone(),
                    info,
                    node_id.clone(),
                    if self.policy.auto_create { "1" } else { "0" }.to_owned(),
                    self.policy.max_room_size.to_string(),
                    self.ttl(),
                    member.user_info.user_id.clone(),
                    self.route.clone(),
                ],
            )
            .await
            .inspect_err(|_| self.local().unsettled = true)?;
        match answer.first().map(String::as_str) {
            Some("ok") if answer.len() >= 5 => {
                let room = room_info(room_id.clone(), &answer[1..4]);
                let rejoined = answer[4] == "1";
                let rest = &answer[5..];
                // Members (pid, info), then '' and every member's route.
                let split = (0..rest.len())
                    .step_by(2)
                    .find(|&i| rest[i].is_empty())
                    .unwrap_or(rest.len());
                let routes = rest.get(split + 1..).unwrap_or_default();
                let mut local = self.local();
                // An eviction in between made this join void: the node's new
                // identity does not hold it.
                if local.node_id == node_id {
                    local.next_seq += 1;
                    let seq = local.next_seq;
                    local
                        .members
                        .entry((room_id, member.id.clone()))
                        .or_insert((seq, room.clone(), member));
                    self.view.joined(
                        &room.room_id,
                        routes.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())),
                    );
                }
                Ok(Joined {
                    room,
                    peers: members(&rest[..split]),
                    rejoined,
                })
            }
            Some("not_found") => Err(RoomError::NotFound),
            Some("full") => Err(RoomError::Full),
            Some("node_gone") => Err(RoomError::Unavailable(
                "this node was evicted from the cluster".into(),
            )),
            _ => Err(unexpected(&answer)),
        }
    }

    async fn leave(&self, room_id: &str, peer_id: &str) -> Result<bool, RoomError> {
        let node_id = {
            let mut local = self.local();
            local
                .members
                .remove(&(room_id.to_owned(), peer_id.to_owned()));
            local.node_id.clone()
        };
        let left = self
            .run::<i64>(
                &self.scripts.leave,
                vec![room_id.to_owned(), peer_id.to_owned(), node_id, self.ttl()],
            )
            .await;
        if left.is_err() {
            let mut local = self.local();
            local.departed.push(Departed {
                room_id: room_id.to_owned(),
                peer_id: peer_id.to_owned(),
            });
            local.unsettled = true;
        }
        let left = left? == 1;
        if !left {
            // A member leaving tells its room first (`cluster::delivery`
            // forgets it then); one that was not is forgotten here.
            self.view.remove(room_id, peer_id);
        }
        Ok(left)
    }

    /// Asks Redis (`media:state`, rare): it fails while Redis is away, as
    /// the news it checks for would not get through.
    async fn is_member(&self, room_id: &str, peer_id: &str) -> Result<bool, RoomError> {
        Ok(self.locate_in_redis(room_id, peer_id).await? != Whereabouts::Absent)
    }

    /// A relay's check: the view answers, without a round trip, for every
    /// member it knows. A target it does not know asks Redis, the source of
    /// truth: the view learns of a member only when its news arrives, and
    /// after Redis lost its data it learns of the members put back only at
    /// its next resync. Misses are rare (a relay names a peer it heard of);
    /// while Redis is away (or has evicted this node) the view's answer stands.
    async fn locate(&self, room_id: &str, peer_id: &str) -> Result<Whereabouts, RoomError> {
        Ok(match self.view.locate(room_id, peer_id) {
            Seen::Absent => self
                .locate_in_redis(room_id, peer_id)
                .await
                .unwrap_or(Whereabouts::Absent),
            Seen::Member(route) if route == self.route => Whereabouts::Here,
            Seen::Member(route) if route.is_empty() => Whereabouts::Unrouted,
            Seen::Member(route) => Whereabouts::Node(route),
            // No member of this node in that room: Redis answers.
            Seen::Unknown => self.locate_in_redis(room_id, peer_id).await?,
        })
    }
    async fn snapshot(&self, code: &RoomCode) -> Result<Option<RoomSnapshot>, RoomError> {
        let room_id = code.room_id();
        let answer: Vec<String> = self
            .run(&self.scripts.snapshot, vec![room_id.clone()])
            .await?;
        if answer.len() < 3 {
            return Ok(None);
        }
        Ok(Some(RoomSnapshot {
            room: room_info(room_id, &answer[..3]),
            peers: members(&answer[3..]),
        }))
    }

    async fn count(&self) -> Result<usize, RoomError> {
        let n: i64 = self.run(&self.scripts.count, vec![]).await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

impl RedisRooms {
    /// Where Redis has the member (`member.lua`), whatever the view says.
    pub async fn locate_in_redis(
        &self,
        room_id: &str,
        peer_id: &str,
    ) -> Result<Whereabouts, RoomError> {
        let answer: String = self
            .run(
                &self.scripts.member,
                vec![room_id.to_owned(), peer_id.to_owned(), self.node_id()],
            )
            .await?;
        Ok(match answer.as_str() {
            "-1" => {
                return Err(RoomError::Unavailable(
                    "this node was evicted from the cluster".into(),
                ));
            }
            "0" => Whereabouts::Absent,
            "1" => Whereabouts::Unrouted,
            route if route == self.route => Whereabouts::Here,
            route => Whereabouts::Node(route.to_owned()),
        })
    }
}
