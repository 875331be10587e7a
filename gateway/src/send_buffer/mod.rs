//! The slow-reader byte budget (`MAX_SEND_BUFFER`): what the process holds
//! for a client that does not read is bounded per socket, in bytes.
//!
//! Relays are the one kind of message whose size another client chooses, so
//! they are what is counted. End to end, for one relay to socket S:
//!
//! 1. Delivery hands the relay to S's [`outbox::Outbox`], which adds its cost
//!    (its bytes plus [`outbox::PER_MESSAGE`]) to what S holds. If that would
//!    pass the budget, the relay is not queued: S is cut off (its room sees
//!    `peer:left`) and the sender's relay fails as for a peer that is gone.
//!    The sender is never held back.
//! 2. Engine.IO queues the packet. Its queue is its own, so what leaves it is
//!    counted where it leaves the process, into S's [`drain::Drain`]: on a
//!    WebSocket by the connection's [`meter::Metered`] stream, frame by frame;
//!    on long-polling by the [`guard`], in each response's payload.
//! 3. The outbox compares the relays it queued with those drained: each one
//!    delivered gives its cost back (oldest first; Engine.IO keeps order).
//! 4. Cutting S off flips its drain's switch: the meter fails the WebSocket
//!    write a slow reader has blocked, the guard refuses the polling
//!    session's requests; either way Engine.IO closes the session and frees
//!    its queue.
//!
//! Every outbox also draws on the node's [`node::NodeBudget`]
//! (`MAX_NODE_SEND_BUFFER`): when a relay does not fit there, the sockets
//! holding the most are cut off, as in 4., until it does.
//!
//! The [`guard`] also gives each Engine.IO session its drain and its place
//! among its address's sessions (`MAX_SOCKETS_PER_ADDRESS`). Each part's unit
//! tests sit in its file; `gateway/tests/limits/slow_reader.rs` drives the
//! whole budget against the real binary on both transports.

pub mod drain;
pub mod guard;
pub mod meter;
pub mod node;
pub mod outbox;
