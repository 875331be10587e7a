//! PATCH(node-budget): the node's byte budget, as the embedding server gives
//! it (see vendor/PATCHES.md). WebSocket frames being received take their
//! announced length from it until the message is whole; a frame that does
//! not fit closes its connection (the sender chose to hold that much).
use std::sync::{Arc, OnceLock};

/// Bytes the node holds for its clients, against one limit.
pub trait ByteBudget: Send + Sync + 'static {
    /// Takes `bytes` if they are left; false refuses the holder.
    fn take(&self, bytes: usize) -> bool;
    /// Returns `bytes` taken before.
    fn give_back(&self, bytes: usize);
}

static BUDGET: OnceLock<Arc<dyn ByteBudget>> = OnceLock::new();

/// Frames below this are not counted: at most this per connection, a few
/// MiB over every descriptor, and no cost on small messages' path.
pub const UNCOUNTED_FRAME: u64 = 1024;

/// The node's budget, process-wide like `set_max_pre_connect_payload`. The
/// first call wins; without one, nothing is counted.
pub fn set_byte_budget(budget: Arc<dyn ByteBudget>) {
    let _ = BUDGET.set(budget);
}

pub(crate) fn take(bytes: usize) -> bool {
    BUDGET.get().is_none_or(|b| b.take(bytes))
}

pub(crate) fn give_back(bytes: usize) {
    if bytes > 0
        && let Some(b) = BUDGET.get()
    {
        b.give_back(bytes);
    }
}
