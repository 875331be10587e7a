//! One room's membership changes on this node take turns: a join (or leave)
//! updates the registry and sends its news (`room:joined` to the joiner,
//! `peer:joined` / `peer:left` to the others) before the next change of the
//! same room starts. Without turns, a socket could hear `peer:joined` or
//! `peer:left` of a room before its own `room:joined` (whose peer list was
//! taken before that change), and then believe a peer present that had left,
//! or hear of a peer twice.
//!
//! Rooms map onto a fixed set of locks (a seeded hash, so no client can make
//! its rooms share one on purpose): bounded memory, nothing to clean up. A
//! change that touches two rooms (joining one while in another) takes both,
//! in a fixed order, so two such changes cannot wait on each other.

use std::hash::BuildHasher;

use std::collections::hash_map::RandomState;
use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 256;

pub struct RoomTurns {
    locks: Box<[Mutex<()>]>,
    hasher: RandomState,
}

/// A room's turn (or two rooms'): held while the change and its news go out.
pub struct Turn<'a> {
    _first: MutexGuard<'a, ()>,
    _second: Option<MutexGuard<'a, ()>>,
}

impl Default for RoomTurns {
    fn default() -> Self {
        Self {
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl RoomTurns {
    fn stripe(&self, room_id: &str) -> usize {
        (self.hasher.hash_one(room_id) % STRIPES as u64) as usize
    }

    /// Waits for `room_id`'s turn.
    pub async fn take(&self, room_id: &str) -> Turn<'_> {
        Turn {
            _first: self.locks[self.stripe(room_id)].lock().await,
            _second: None,
        }
    }

    /// `room_id`'s turn if it is free: a change made without waiting (see
    /// `events::rooms::join_now`) runs inside it start to end, or waits its
    /// turn in the socket's queue.
    pub fn try_take(&self, room_id: &str) -> Option<Turn<'_>> {
        Some(Turn {
            _first: self.locks[self.stripe(room_id)].try_lock().ok()?,
            _second: None,
        })
    }

    /// Waits for the turn of both rooms (`other`, when there is one).
    pub async fn take_both(&self, room_id: &str, other: Option<&str>) -> Turn<'_> {
        let a = self.stripe(room_id);
        let Some(b) = other.map(|o| self.stripe(o)).filter(|b| *b != a) else {
            return self.take(room_id).await;
        };
        let (low, high) = (a.min(b), a.max(b));
        let first = self.locks[low].lock().await;
        let second = self.locks[high].lock().await;
        Turn {
            _first: first,
            _second: Some(second),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_room_waits_for_its_turn_and_crossed_pairs_do_not_deadlock() {
        let turns = Arc::new(RoomTurns::default());
        let held = turns.take("room_a").await;
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let _t = turns.take("room_a").await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the second change waits");
        drop(held);
        waiting.await.unwrap();

        // Two changes over the same two rooms, taken in opposite order.
        let jobs: Vec<_> = (0..200)
            .map(|i| {
                let turns = turns.clone();
                tokio::spawn(async move {
                    let (x, y) = if i % 2 == 0 {
                        ("room_x", "room_y")
                    } else {
                        ("room_y", "room_x")
                    };
                    let _t = turns.take_both(x, Some(y)).await;
                    tokio::task::yield_now().await;
                })
            })
            .collect();
        tokio::time::timeout(Duration::from_secs(5), futures_util::future::join_all(jobs))
            .await
            .expect("no deadlock");
        // One room given twice is taken once.
        let held = turns.try_take("room_a").expect("free");
        assert!(turns.try_take("room_a").is_none(), "taken");
        drop(held);
        let _t = tokio::time::timeout(
            Duration::from_secs(1),
            turns.take_both("room_a", Some("room_a")),
        )
        .await
        .expect("not waiting on itself");
    }
}
