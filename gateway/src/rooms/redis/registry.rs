//! The [`RoomRegistry`] operations, each one script run atomically in Redis.

use async_trait::async_trait;

use super::store::{RedisRooms, members, room_info, unavailable, unexpected};
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
                }
                Ok(Joined {
                    room,
                    peers: members(&answer[5..]),
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
        Ok(left? == 1)
    }

    async fn is_member(&self, room_id: &str, peer_id: &str) -> Result<bool, RoomError> {
        Ok(self.locate(room_id, peer_id).await? != Whereabouts::Absent)
    }

    async fn locate(&self, room_id: &str, peer_id: &str) -> Result<Whereabouts, RoomError> {
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
