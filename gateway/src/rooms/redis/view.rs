//! This node's view of the rooms its sockets are in: every member, on every
//! node, with its node's route. A join fills a room from the join script's
//! answer (Redis's members at that instant); the room events that arrive on
//! the node's ordered channel (`cluster::relay`) keep it current; a room
//! is forgotten when its last member here leaves. A relay's membership check
//! and its routing read it, without a round trip to Redis.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Inner {
    /// room id → peer id → route.
    rooms: HashMap<String, HashMap<String, String>>,
    /// This node's members → their room (a socket is in one room at a time;
    /// while it moves, the room it joined last).
    homes: HashMap<String, String>,
}

pub struct View {
    route: String,
    inner: Mutex<Inner>,
}

/// Where the view has a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// No member of this node is in that room: the view cannot tell.
    Unknown,
    Absent,
    Member(String),
}

impl View {
    pub fn new(route: &str) -> Self {
        Self {
            route: route.to_owned(),
            inner: Mutex::default(),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A member of this node joined: the room is Redis's members then.
    pub fn joined(&self, room: &str, members: impl IntoIterator<Item = (String, String)>) {
        let members: HashMap<String, String> = members.into_iter().collect();
        let mut inner = self.inner();
        for (peer, route) in &members {
            if *route == self.route {
                inner.homes.insert(peer.clone(), room.to_owned());
            }
        }
        inner.rooms.insert(room.to_owned(), members);
    }

    /// A member of another node joined a room with members here.
    pub fn add(&self, room: &str, peer: &str, route: &str) {
        if let Some(members) = self.inner().rooms.get_mut(room) {
            members.insert(peer.to_owned(), route.to_owned());
        }
    }

    /// A member left; the room is forgotten once no member here is left.
    pub fn remove(&self, room: &str, peer: &str) {
        let mut inner = self.inner();
        if inner.homes.get(peer).is_some_and(|home| home == room) {
            inner.homes.remove(peer);
        }
        if let Some(members) = inner.rooms.get_mut(room) {
            members.remove(peer);
            if !members.values().any(|r| *r == self.route) {
                inner.rooms.remove(room);
            }
        }
    }

    /// Whether `peer` is a member of `room` on this node (a relay's hot path:
    /// nothing copied).
    pub fn is_here(&self, room: &str, peer: &str) -> bool {
        self.inner()
            .rooms
            .get(room)
            .and_then(|members| members.get(peer))
            .is_some_and(|route| *route == self.route)
    }

    pub fn locate(&self, room: &str, peer: &str) -> Seen {
        match self.inner().rooms.get(room) {
            None => Seen::Unknown,
            Some(members) => match members.get(peer) {
                None => Seen::Absent,
                Some(route) => Seen::Member(route.clone()),
            },
        }
    }

    /// The routes of the other nodes with members in `room` (an empty
    /// route, a member joined through a node of an older version, is left
    /// out: nothing reaches it).
    pub fn other_nodes(&self, room: &str) -> Vec<String> {
        let inner = self.inner();
        let mut routes: Vec<String> = inner
            .rooms
            .get(room)
            .map(|m| {
                m.values()
                    .filter(|r| **r != self.route && !r.is_empty())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        routes.sort_unstable();
        routes.dedup();
        routes
    }

    /// This node's route.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The room a member of this node is in, if the view has it.
    pub fn room_of(&self, peer: &str) -> Option<String> {
        self.inner().homes.get(peer).cloned()
    }

    /// This node's members of `room`.
    pub fn here(&self, room: &str) -> Vec<String> {
        self.inner()
            .rooms
            .get(room)
            .map(|m| {
                m.iter()
                    .filter(|(_, r)| **r == self.route)
                    .map(|(p, _)| p.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The rooms held.
    pub fn rooms(&self) -> Vec<String> {
        self.inner().rooms.keys().cloned().collect()
    }

    /// Makes `room` (if still held) Redis's `members` again, this node's own
    /// members kept as they are here; returns the peers of other nodes that
    /// were gone from the view and the ones new to it.
    pub fn resync(&self, room: &str, members: &[(String, String)]) -> (Vec<String>, Vec<String>) {
        let mut inner = self.inner();
        let Some(held) = inner.rooms.get_mut(room) else {
            return (Vec::new(), Vec::new());
        };
        let mut fresh: HashMap<String, String> = held
            .iter()
            .filter(|(_, r)| **r == self.route)
            .map(|(p, r)| (p.clone(), r.clone()))
            .collect();
        for (peer, route) in members {
            if *route != self.route {
                fresh.insert(peer.clone(), route.clone());
            }
        }
        let left = held
            .keys()
            .filter(|p| !fresh.contains_key(*p))
            .cloned()
            .collect();
        let joined = fresh
            .keys()
            .filter(|p| !held.contains_key(*p))
            .cloned()
            .collect();
        *held = fresh;
        (left, joined)
    }

    /// A node missed its heartbeats: its members are as good as gone (the
    /// reaper tells their rooms; a resync puts back any that stayed).
    pub fn forget_route(&self, route: &str) {
        for members in self.inner().rooms.values_mut() {
            members.retain(|_, r| r != route);
        }
    }

    /// This node was evicted: its members are gone.
    pub fn clear(&self) {
        let mut inner = self.inner();
        inner.rooms.clear();
        inner.homes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_lives_in_the_view_while_a_member_here_is_in_it() {
        let view = View::new("me");
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(view.locate("r", "a"), Seen::Unknown);
        view.joined("r", [s("a", "me"), s("b", "other"), s("c", "")]);
        view.add("r", "d", "third");
        view.add("unknown", "x", "third");
        assert_eq!(view.locate("r", "b"), Seen::Member("other".into()));
        assert_eq!(view.locate("r", "z"), Seen::Absent);
        assert_eq!(view.locate("unknown", "x"), Seen::Unknown);
        assert_eq!(view.other_nodes("r"), ["other", "third"]);
        assert_eq!(view.room_of("a").as_deref(), Some("r"));
        assert_eq!(view.room_of("b"), None);
        assert!(view.is_here("r", "a"));
        assert!(!view.is_here("r", "b") && !view.is_here("r", "z") && !view.is_here("q", "a"));
        view.remove("r", "b");
        assert_eq!(view.other_nodes("r"), ["third"]);
        view.remove("r", "a");
        assert_eq!(view.locate("r", "d"), Seen::Unknown);
        assert_eq!(view.room_of("a"), None);
    }

    #[test]
    fn a_member_moving_rooms_is_in_the_room_it_joined_last() {
        let view = View::new("me");
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        view.joined("old", [s("a", "me"), s("b", "other")]);
        // Joining another room comes before leaving the old one.
        view.joined("new", [s("c", "other"), s("a", "me")]);
        assert_eq!(view.room_of("a").as_deref(), Some("new"));
        view.remove("old", "a");
        assert_eq!(view.room_of("a").as_deref(), Some("new"));
        assert_eq!(view.rooms(), ["new"]);
        view.clear();
        assert_eq!(view.room_of("a"), None);
    }

    #[test]
    fn a_resync_takes_redis_for_other_nodes_and_keeps_this_ones() {
        let view = View::new("me");
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        view.joined("r", [s("a", "me"), s("b", "other"), s("c", "other")]);
        // Redis lost `a` (restarted empty, not reconciled yet), `b` left, `d` came.
        let (left, joined) = view.resync("r", &[s("c", "other"), s("d", "third")]);
        assert_eq!((left, joined), (vec!["b".to_owned()], vec!["d".to_owned()]));
        assert_eq!(view.locate("r", "a"), Seen::Member("me".into()));
        assert_eq!(view.here("r"), ["a"]);
        assert_eq!(view.resync("gone", &[s("x", "y")]), (vec![], vec![]));
        assert_eq!(view.rooms(), ["r"]);
        view.forget_route("third");
        assert_eq!(view.locate("r", "d"), Seen::Absent);
        assert_eq!(view.locate("r", "c"), Seen::Member("other".into()));
    }
}
