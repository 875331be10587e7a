//! The slow-reader byte budget (`MAX_SEND_BUFFER`).

pub mod drain;
pub mod guard;
pub mod meter;
pub mod outbox;
