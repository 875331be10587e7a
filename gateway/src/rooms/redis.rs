//! Rooms shared by every node of a cluster, in Redis. Each operation is one Lua
//! script (the files beside this one), so a check and its write are one atomic
//! step whichever node asks: two nodes creating one code, thirty joins on a
//! ten-seat room. Scripts run by EVALSHA and are loaded again when Redis
//! answers NOSCRIPT (its script cache is empty after a restart).
//!
//! Node liveness lives here too: each node holds a key with an expiry that its
//! heartbeat refreshes, and a set of its members. When the key expires, the
//! first sweeper to [`RedisRooms::reap`] removes that node's members, gets them
//! back once (to tell their rooms `peer:left`), and tombstones the node so that
//! it can never come back: a frozen node that resumes finds itself evicted.
//!
//! Every node also keeps its own members in memory, so that it can put them
//! back when Redis restarted empty or from an older snapshot ([`RedisRooms::reconcile`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use fred::clients::Client;
use fred::types::scripts::Script;

use super::{
    Joined, Member, RoomCode, RoomError, RoomInfo, RoomPolicy, RoomRegistry, RoomSnapshot,
    Whereabouts,
};
use crate::auth::Identity;

/// How this node shows it is alive.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    /// How long the node's key lives without a heartbeat.
    pub timeout: Duration,
    /// How long a reaped node's tombstone is kept (it must outlive any freeze).
    pub tombstone: Duration,
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The node's key was refreshed.
    Alive,
    /// The key was gone (Redis lost its data, or the node was away): the node
    /// put its members back ([`RedisRooms::reconcile`]).
    Restored,
    /// Another node reaped this one: its members were reported gone. The node
    /// has a new identity and no members; its sockets must be closed.
    Evicted,
}

/// A member of a dead node, removed by [`RedisRooms::reap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub room_id: String,
    pub peer_id: String,
}

struct Scripts {
    create: Script,
    join: Script,
    leave: Script,
    member: Script,
    snapshot: Script,
    count: Script,
    heartbeat: Script,
    reconcile: Script,
    reap: Script,
}

impl Scripts {
    fn new() -> Self {
        let script =
            |body: &str| Script::from_lua(format!("{}\n{body}", include_str!("redis/common.lua")));
        Self {
            create: script(include_str!("redis/create.lua")),
            join: script(include_str!("redis/join.lua")),
            leave: script(include_str!("redis/leave.lua")),
            member: script(include_str!("redis/member.lua")),
            snapshot: script(include_str!("redis/snapshot.lua")),
            count: script(include_str!("redis/count.lua")),
            heartbeat: script(include_str!("redis/heartbeat.lua")),
            reconcile: script(include_str!("redis/reconcile.lua")),
            reap: script(include_str!("redis/reap.lua")),
        }
    }
}

/// This node's identity in Redis and the members it holds.
struct Local {
    node_id: String,
    /// (room id, peer id) → the room and the member, with the join order.
    members: HashMap<(String, String), (u64, RoomInfo, Member)>,
    next_seq: u64,
    /// Members that left while Redis could not be told: their peers hear
    /// `peer:left` once Redis holds the node's members again ([`RedisRooms::settle`]).
    departed: Vec<Reaped>,
    /// A write failed: Redis may hold a member this node does not (a join
    /// that ran but whose answer was lost) or miss a leave.
    unsettled: bool,
}

pub struct RedisRooms {
    client: Client,
    policy: RoomPolicy,
    liveness: Liveness,
    /// `{prefix}`: the hash tag every key starts with.
    tag: String,
    /// The room index, `KEYS[1]` of every script (it routes the script to the tag's slot).
    index: String,
    scripts: Scripts,
    local: Mutex<Local>,
    /// Where relays for this node's sockets go: recorded with each of its
    /// members (`cluster::relay` names the channel after it). Drawn once per
    /// process; unlike the node id it survives an eviction.
    route: String,
}

fn unavailable(e: impl std::fmt::Display) -> RoomError {
    RoomError::Unavailable(e.to_string())
}

fn new_node_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

impl RedisRooms {
    /// A registry on a connected client. Call [`RedisRooms::reconcile`] before
    /// serving: it registers the node.
    pub fn new(client: Client, prefix: &str, policy: RoomPolicy, liveness: Liveness) -> Self {
        let tag = format!("{{{prefix}}}");
        Self {
            client,
            policy,
            liveness,
            index: format!("{tag}:rooms"),
            tag,
            scripts: Scripts::new(),
            route: new_node_id(),
            local: Mutex::new(Local {
                node_id: new_node_id(),
                members: HashMap::new(),
                next_seq: 0,
                departed: Vec::new(),
                unsettled: false,
            }),
        }
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This node's current identity in Redis (a new one after an eviction).
    pub fn node_id(&self) -> String {
        self.local().node_id.clone()
    }

    /// The route recorded with this node's members.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The client, for readiness checks.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn run<R: fred::types::FromValue>(
        &self,
        script: &Script,
        args: Vec<String>,
    ) -> Result<R, RoomError> {
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(self.tag.clone());
        all.extend(args);
        script
            .evalsha_with_reload(&self.client, vec![self.index.clone()], all)
            .await
            .map_err(unavailable)
    }

    fn ttl(&self) -> String {
        millis(self.policy.ttl)
    }

    /// Refreshes this node's key; puts the node's members back when the key
    /// was gone, and takes a new identity when the node was evicted.
    pub async fn heartbeat(&self) -> Result<Heartbeat, RoomError> {
        let node_id = self.node_id();
        let answer: String = self
            .run(
                &self.scripts.heartbeat,
                vec![node_id, millis(self.liveness.timeout)],
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
    pub async fn settle(&self) -> Result<Vec<Reaped>, RoomError> {
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
    pub async fn reap(&self) -> Result<Vec<Reaped>, RoomError> {
        let flat: Vec<String> = self
            .run(
                &self.scripts.reap,
                vec![self.node_id(), self.ttl(), millis(self.liveness.tombstone)],
            )
            .await?;
        Ok(flat
            .chunks_exact(2)
            .map(|pair| Reaped {
                room_id: pair[0].clone(),
                peer_id: pair[1].clone(),
            })
            .collect())
    }

    /// This node's members, for closing their sockets.
    pub fn local_members(&self) -> usize {
        self.local().members.len()
    }
}

/// `pid, info, pid, info, ...` as members.
fn members(flat: &[String]) -> Vec<Member> {
    flat.chunks_exact(2)
        .map(|pair| Member {
            id: pair[0].clone(),
            user_info: serde_json::from_str::<Identity>(&pair[1]).unwrap_or_else(|_| Identity {
                user_id: String::new(),
                username: String::new(),
            }),
        })
        .collect()
}

/// The room as the scripts answer it: code, max and creator.
fn room_info(room_id: String, fields: &[String]) -> RoomInfo {
    RoomInfo {
        room_id,
        room_code: fields[0].clone(),
        max_peers: fields[1].parse().unwrap_or(1),
        created_by: fields[2].clone(),
    }
}

fn unexpected(answer: &[String]) -> RoomError {
    RoomError::Unavailable(format!("unexpected answer from Redis: {answer:?}"))
}

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
            local.departed.push(Reaped {
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
