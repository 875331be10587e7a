//! The interface every room store implements, and the data it speaks in:
//! [`RoomInfo`], [`Member`], [`Joined`], [`RoomSnapshot`], [`RoomError`], and
//! the rules ([`RoomPolicy`]) every store applies.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::code::RoomCode;
use crate::auth::Identity;

/// A room as the wire names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomInfo {
    pub room_id: String,
    pub room_code: String,
    #[serde(skip)]
    pub max_peers: u32,
    /// The user id of whoever created the room (the first joiner of an
    /// auto-created one): shown the members without being one.
    #[serde(skip)]
    pub created_by: String,
}

/// A socket in a room, with the user behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub user_info: Identity,
}

/// What a successful join returns: the room and the members already there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub room: RoomInfo,
    /// The other members, in join order.
    pub peers: Vec<Member>,
    /// The socket was already a member (a rejoin): nobody else is told.
    pub rejoined: bool,
}

/// A room's state for `GET /rooms/{code}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSnapshot {
    pub room: RoomInfo,
    pub peers: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("room not found")]
    NotFound,
    #[error("room already exists")]
    Exists,
    #[error("room is full")]
    Full,
    /// A cap on live rooms (in all, or of one user) is reached.
    #[error("too many rooms")]
    TooMany,
    #[error("room store unavailable: {0}")]
    Unavailable(String),
    /// The app's database or API, asked about a room, did not answer.
    #[error("room lookup failed: {0}")]
    AppUnavailable(String),
}

/// A member taken out of its room by the registry rather than by its own
/// socket (a dead node's member, a leave settled after an outage): its room
/// must hear `peer:left`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departed {
    pub room_id: String,
    pub peer_id: String,
}

/// Where a member of a room is connected, as a relay needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whereabouts {
    /// Not a member of the room (or no longer).
    Absent,
    /// Connected to this node.
    Here,
    /// Connected to another node of the cluster, which reads the relays for
    /// its sockets on the channel of this route (`cluster::relay`).
    Node(String),
    /// A member whose node recorded no route: it joined through a node of an
    /// older version (during a rolling upgrade), which can only be reached
    /// through the Socket.IO adapter.
    Unrouted,
}

/// The rules every registry applies.
#[derive(Debug, Clone, Copy)]
pub struct RoomPolicy {
    /// How long a room survives once empty.
    pub ttl: Duration,
    /// `join` creates a missing room instead of failing.
    pub auto_create: bool,
    /// Default and cap of a room's `maxPeers`.
    pub max_room_size: u32,
}

#[async_trait]
pub trait RoomRegistry: Send + Sync + 'static {
    /// Creates an empty room for user `created_by`; `max_peers` is capped by
    /// the policy. (Caps on the number of rooms are applied in front of every
    /// registry, by [`RoomQuota`](super::quota::RoomQuota).)
    async fn create(
        &self,
        code: RoomCode,
        max_peers: Option<u32>,
        created_by: &str,
    ) -> Result<RoomInfo, RoomError>;
    /// Adds `member` to the room of `code`.
    async fn join(&self, code: &RoomCode, member: Member) -> Result<Joined, RoomError>;
    /// Removes `peer_id` from `room_id`; true when it was a member.
    async fn leave(&self, room_id: &str, peer_id: &str) -> Result<bool, RoomError>;
    /// Whether `peer_id` is currently in `room_id`.
    async fn is_member(&self, room_id: &str, peer_id: &str) -> Result<bool, RoomError>;
    /// Whether `peer_id` is currently in `room_id`, and where it is connected
    /// (the relay check). A store of this process only has local members.
    async fn locate(&self, room_id: &str, peer_id: &str) -> Result<Whereabouts, RoomError> {
        Ok(if self.is_member(room_id, peer_id).await? {
            Whereabouts::Here
        } else {
            Whereabouts::Absent
        })
    }
    /// The same answer without waiting, when the store can give it (the
    /// in-memory one can; a networked one answers `None`).
    fn is_member_now(&self, _room_id: &str, _peer_id: &str) -> Option<bool> {
        None
    }
    /// [`RoomRegistry::join`] without waiting, when the store can (the
    /// in-memory one can; a networked one answers `None`, and does nothing).
    fn join_now(&self, _code: &RoomCode, _member: &Member) -> Option<Result<Joined, RoomError>> {
        None
    }
    /// [`RoomRegistry::leave`] without waiting, when the store can: `Some`
    /// with the members that remain (for their `peer:left`) when `peer_id`
    /// was one, `None` when it was not; `None` outside and nothing done when
    /// the store cannot answer at once.
    fn leave_now(
        &self,
        _room_id: &str,
        _peer_id: &str,
    ) -> Option<Result<Option<Vec<String>>, RoomError>> {
        None
    }
    /// Whether the room of `code` exists, when the store can tell without
    /// waiting.
    fn exists_now(&self, _code: &RoomCode) -> Option<bool> {
        None
    }
    /// The room of `code` and its members, when it exists.
    async fn snapshot(&self, code: &RoomCode) -> Result<Option<RoomSnapshot>, RoomError>;
    /// Number of live rooms.
    async fn count(&self) -> Result<usize, RoomError>;
}
