//! The gateway's periodic chores: freeing expired rooms and forgetting idle
//! rate-limit entries. Each holds only weak references, so it ends with the
//! gateway it serves.

use std::sync::Arc;
use std::time::Duration;

use crate::limits::rest::RestLimits;
use crate::rooms::memory::MemoryRooms;
use crate::rooms::{RoomPolicy, RoomRegistry};
use crate::state::AppState;

/// One node's rooms in memory, swept of expired rooms in the background.
pub(super) fn memory_rooms(policy: RoomPolicy) -> Arc<dyn RoomRegistry> {
    let ttl = policy.ttl;
    let rooms = Arc::new(MemoryRooms::new(policy));
    // Expiry is also checked on every lookup; the sweep only frees memory.
    let sweeper = Arc::downgrade(&rooms);
    let every = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Some(rooms) = sweeper.upgrade() else {
                break;
            };
            rooms.sweep();
        }
    });
    rooms
}

/// Once a minute: forgets addresses whose rate limits are back to full, and
/// rooms the quota tracks that are gone.
pub(super) fn housekeeping(limits: &Arc<RestLimits>, state: &Arc<AppState>) {
    let (limits, state) = (Arc::downgrade(limits), Arc::downgrade(state));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let (Some(limits), Some(state)) = (limits.upgrade(), state.upgrade()) else {
                break;
            };
            limits.housekeeping();
            if let Err(e) = state.room_quota.sweep(state.rooms.as_ref()).await {
                tracing::warn!(error = %e, "room quota sweep failed");
            }
        }
    });
}
