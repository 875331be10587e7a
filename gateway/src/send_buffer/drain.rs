//! How many relays have left the process towards one Socket.IO session's
//! client, counted where they leave: in the frames written to its WebSocket
//! (by the connection's [`Meter`]) and in the payloads of its polling
//! responses. A socket's outbox ([`super::outbox`]) compares this count with
//! the relays it queued, to know how many bytes the session still holds.
//!
//! Engine.IO keeps its queue to itself, so what has drained from it can only be
//! seen on the way out. Relays are recognised by their packet's first bytes,
//! `42["webrtc:`, which no other packet the gateway sends starts with.
//!
//! [`Meter`]: super::meter::Meter

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::limits::per_key::Slot;

/// The start of every relay's Engine.IO message: a message (`4`) carrying a
/// Socket.IO event (`2`) on the main namespace, `["webrtc:offer"|…`.
pub const RELAY_PACKET: &[u8] = b"42[\"webrtc:";

/// One session's delivered relays, and the switch that cuts it off.
pub struct Drain {
    relays: AtomicU64,
    cut: AtomicBool,
    /// The connections carrying the session's data: its WebSocket once it
    /// has one, and the polling connections still writing a response.
    connections: Mutex<Vec<Weak<dyn Connection>>>,
    /// Where the session is listed by id, to leave the list when it ends.
    listed: OnceLock<(String, Weak<IndexInner>)>,
    /// The session's place among its address's sessions.
    _slot: Option<Slot<std::net::IpAddr>>,
}

impl Drain {
    pub fn new() -> Arc<Self> {
        Self::holding(None)
    }

    /// A drain that also holds the session's `slot`.
    pub fn holding(slot: Option<Slot<std::net::IpAddr>>) -> Arc<Self> {
        Arc::new(Self {
            relays: AtomicU64::new(0),
            cut: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
            listed: OnceLock::new(),
            _slot: slot,
        })
    }

    /// Relays delivered so far.
    pub fn relays(&self) -> u64 {
        self.relays.load(Ordering::Acquire)
    }

    pub fn add(&self, relays: u64) {
        if relays > 0 {
            self.relays.fetch_add(relays, Ordering::AcqRel);
        }
    }

    /// The session's data now travels on this connection too (its
    /// WebSocket, or a polling connection writing one of its responses).
    /// Connections gone are dropped from the list, so it stays short:
    /// Engine.IO serves one polling request of a session at a time.
    pub fn carried_by(&self, connection: Weak<dyn Connection>) {
        let mut list = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|c| c.strong_count() > 0);
        list.push(connection);
    }

    /// Cuts the session off: the connections carrying its data fail at once
    /// (a WebSocket, a polling response the client does not read); polling
    /// requests for it are refused (see [`Drain::is_cut`]), so Engine.IO
    /// closes it when the next heartbeat goes unanswered.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        self.kill_connections();
    }

    /// Bytes the kernel still has to send on the session's connections other
    /// than `here`: polling responses written out and never read.
    pub fn unsent_elsewhere(&self, here: *const ()) -> u64 {
        let list = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .filter(|c| Weak::as_ptr(c).cast::<()>() != here)
            .filter_map(Weak::upgrade)
            .map(|c| c.unsent())
            .sum()
    }

    fn kill_connections(&self) {
        let list = std::mem::take(&mut *self.connections.lock().unwrap_or_else(|p| p.into_inner()));
        for connection in list.iter().filter_map(Weak::upgrade) {
            connection.kill();
        }
    }

    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }
}

/// The connection a session travels on, as far as its drain needs it:
/// something to cut (the WebSocket's meter).
pub trait Connection: Send + Sync {
    /// Fails the connection's reads and writes from now on.
    fn kill(&self);
    /// Bytes written to the connection that the kernel has not yet sent.
    fn unsent(&self) -> u64;
}

impl Drop for Drain {
    /// The session is over: a connection still writing one of its responses
    /// to a client that does not read would otherwise stay open for good.
    fn drop(&mut self) {
        self.kill_connections();
        if let Some((sid, index)) = self.listed.get()
            && let Some(index) = index.upgrade()
        {
            index.remove(sid, self);
        }
    }
}

/// What a handshake request leaves in the session's request parts, which
/// Engine.IO keeps for the session's whole life: its drain, which also
/// holds its place in its address's count of sessions (given back when the
/// session ends).
#[derive(Clone)]
pub struct SessionPlace(pub Arc<Drain>);

/// The live sessions' drains by Engine.IO session id, for the requests
/// that name a session (`sid=`): polling and the upgrade to WebSocket. An
/// entry lives as long as its session.
#[derive(Clone, Default)]
pub struct Drains(Arc<IndexInner>);

#[derive(Default)]
pub struct IndexInner(Mutex<HashMap<String, Weak<Drain>>>);

impl IndexInner {
    fn remove(&self, sid: &str, drain: &Drain) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Only our own entry (a dead Weak no longer points anywhere).
        if map
            .get(sid)
            .is_some_and(|w| w.strong_count() == 0 || std::ptr::eq(w.as_ptr(), drain))
        {
            map.remove(sid);
        }
    }
}

impl Drains {
    /// Lists `drain` under the session id `sid`.
    pub fn list(&self, sid: &str, drain: &Arc<Drain>) {
        if drain
            .listed
            .set((sid.to_owned(), Arc::downgrade(&self.0)))
            .is_ok()
        {
            let mut map = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
            map.insert(sid.to_owned(), Arc::downgrade(drain));
        }
    }

    pub fn get(&self, sid: &str) -> Option<Arc<Drain>> {
        let map = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(sid).and_then(Weak::upgrade)
    }

    pub fn len(&self) -> usize {
        self.0.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The relays in a polling response's payload: Engine.IO packets separated by
/// the record separator (0x1e).
pub fn relays_in_payload(payload: &[u8]) -> u64 {
    payload
        .split(|&b| b == 0x1e)
        .filter(|packet| packet.starts_with(RELAY_PACKET))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RelayKind;

    #[test]
    fn every_relay_event_starts_with_the_relay_packet_prefix() {
        for kind in RelayKind::ALL {
            let packet = format!("42{}", serde_json::json!([kind.event(), {}]));
            assert!(packet.as_bytes().starts_with(RELAY_PACKET), "{packet}");
        }
        // ... and nothing else the gateway sends does.
        for other in [
            r#"42["error",{"code":"PEER_NOT_FOUND","event":"webrtc:offer"}]"#,
            r#"430[{"ok":true}]"#,
            r#"42["peer:joined",{}]"#,
            "2",
        ] {
            assert!(!other.as_bytes().starts_with(RELAY_PACKET), "{other}");
        }
    }

    #[test]
    fn polling_payloads_count_their_relays() {
        let payload = b"2\x1e42[\"webrtc:ice\",{}]\x1e42[\"pong\",{}]\x1e42[\"webrtc:offer\",{}]";
        assert_eq!(relays_in_payload(payload), 2);
        assert_eq!(relays_in_payload(b""), 0);
        assert_eq!(relays_in_payload(b"42[\"webrtc:answer\",{}]"), 1);
    }

    #[test]
    fn a_session_is_listed_while_it_lives() {
        let index = Drains::default();
        let d = Drain::new();
        index.list("abc", &d);
        assert!(Arc::ptr_eq(&index.get("abc").unwrap(), &d));
        d.add(3);
        assert_eq!(index.get("abc").unwrap().relays(), 3);
        drop(d);
        assert!(index.get("abc").is_none());
        assert!(index.is_empty());
    }
}
