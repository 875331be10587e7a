//! The registry's state: the client, the scripts (one Lua file each, beside
//! this one), this node's identity and the members it holds in memory (so
//! that it can put them back when Redis restarted empty or from an older
//! snapshot, see `liveness`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fred::clients::Client;
use fred::types::scripts::Script;

use super::view::View;
use crate::auth::Identity;
use crate::rooms::{Departed, Member, RoomError, RoomInfo, RoomPolicy};

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

pub(super) struct Scripts {
    pub(super) create: Script,
    pub(super) join: Script,
    pub(super) leave: Script,
    pub(super) member: Script,
    pub(super) snapshot: Script,
    pub(super) count: Script,
    pub(super) heartbeat: Script,
    pub(super) reconcile: Script,
    pub(super) reap: Script,
    pub(super) routes: Script,
}

impl Scripts {
    fn new() -> Self {
        let script =
            |body: &str| Script::from_lua(format!("{}\n{body}", include_str!("common.lua")));
        Self {
            create: script(include_str!("create.lua")),
            join: script(include_str!("join.lua")),
            leave: script(include_str!("leave.lua")),
            member: script(include_str!("member.lua")),
            snapshot: script(include_str!("snapshot.lua")),
            count: script(include_str!("count.lua")),
            heartbeat: script(include_str!("heartbeat.lua")),
            reconcile: script(include_str!("reconcile.lua")),
            reap: script(include_str!("reap.lua")),
            routes: script(include_str!("routes.lua")),
        }
    }
}

/// This node's identity in Redis and the members it holds.
pub(super) struct Local {
    pub(super) node_id: String,
    /// (room id, peer id) → the room and the member, with the join order.
    pub(super) members: HashMap<(String, String), (u64, RoomInfo, Member)>,
    pub(super) next_seq: u64,
    /// Members that left while Redis could not be told: their peers hear
    /// `peer:left` once Redis holds the node's members again ([`RedisRooms::settle`]).
    pub(super) departed: Vec<Departed>,
    /// A write failed: Redis may hold a member this node does not (a join
    /// that ran but whose answer was lost) or miss a leave.
    pub(super) unsettled: bool,
}

pub struct RedisRooms {
    pub(super) client: Client,
    pub(super) policy: RoomPolicy,
    pub(super) liveness: Liveness,
    /// `{prefix}`: the hash tag every key starts with.
    pub(super) tag: String,
    /// The room index, `KEYS[1]` of every script (it routes the script to the tag's slot).
    pub(super) index: String,
    pub(super) scripts: Scripts,
    pub(super) local: Mutex<Local>,
    /// Where relays for this node's sockets go: recorded with each of its
    /// members (`cluster::relay` names the channel after it). Drawn once per
    /// process; unlike the node id it survives an eviction.
    pub(super) route: String,
    /// The members of the rooms this node's sockets are in.
    pub(super) view: Arc<View>,
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> RoomError {
    RoomError::Unavailable(e.to_string())
}

pub(super) fn new_node_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

pub(super) fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

impl RedisRooms {
    /// A registry on a connected client. Call [`RedisRooms::reconcile`] before
    /// serving: it registers the node.
    pub fn new(client: Client, prefix: &str, policy: RoomPolicy, liveness: Liveness) -> Self {
        let tag = format!("{{{prefix}}}");
        let route = new_node_id();
        Self {
            view: Arc::new(View::new(&route)),
            client,
            policy,
            liveness,
            index: format!("{tag}:rooms"),
            tag,
            scripts: Scripts::new(),
            route,
            local: Mutex::new(Local {
                node_id: new_node_id(),
                members: HashMap::new(),
                next_seq: 0,
                departed: Vec::new(),
                unsettled: false,
            }),
        }
    }

    pub(super) fn local(&self) -> MutexGuard<'_, Local> {
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

    /// This node's view of its rooms' members.
    pub fn view(&self) -> &Arc<View> {
        &self.view
    }

    /// The client, for readiness checks.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(super) async fn run<R: fred::types::FromValue>(
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

    pub(super) fn ttl(&self) -> String {
        millis(self.policy.ttl)
    }

    /// This node's members, for closing their sockets.
    pub fn local_members(&self) -> usize {
        self.local().members.len()
    }
}

/// `pid, info, pid, info, ...` as members.
pub(super) fn members(flat: &[String]) -> Vec<Member> {
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
pub(super) fn room_info(room_id: String, fields: &[String]) -> RoomInfo {
    RoomInfo {
        room_id,
        room_code: fields[0].clone(),
        max_peers: fields[1].parse().unwrap_or(1),
        created_by: fields[2].clone(),
    }
}

pub(super) fn unexpected(answer: &[String]) -> RoomError {
    RoomError::Unavailable(format!("unexpected answer from Redis: {answer:?}"))
}
