//! Where events are handled: one file per event family of PROTOCOL.md §3, each
//! with its payload type, checks and handler. This file is the protocol's
//! event table, [`Table`], in its two forms: [`dispatch`] handles an event
//! from the socket's queue, [`dispatch_now`] the events that can be handled at
//! once, inside the message handler, when nothing is queued before them.
//!
//! The socket's machinery around the handlers (admission, the in-order inbox,
//! replies) is in [`crate::socket`].

pub mod media;
pub mod ping;
pub mod relay;
pub mod rooms;

use std::time::Instant;

use async_trait::async_trait;

use crate::protocol::{RelayKind, event};
use crate::socket::error::EventError;
use crate::socket::packet::Packet;
use crate::socket::reply::Ack;
use crate::socket::session::Session;
use crate::socket::sessions::EventTable;

/// The events of the table. Any other event is dropped before the rate limit,
/// with no reply: NestJS runs guards only for the events it has handlers for.
pub const HANDLED: [&str; 8] = [
    event::CREATE_ROOM,
    event::JOIN_ROOM,
    event::LEAVE_ROOM,
    event::OFFER,
    event::ANSWER,
    event::ICE,
    event::MEDIA_STATE,
    event::PING,
];

/// Whether [`dispatch`] has a handler for `name`.
pub fn handles(name: &str) -> bool {
    handled(name).is_some()
}

/// [`HANDLED`]'s entry for `name`, if there is one.
pub fn handled(name: &str) -> Option<&'static str> {
    HANDLED.iter().copied().find(|&handled| handled == name)
}

/// The event table.
pub async fn dispatch(
    session: &mut Session,
    name: &str,
    packet: &Packet,
    received: Instant,
) -> Result<Ack, EventError> {
    match name {
        event::CREATE_ROOM => rooms::create(session, packet).await,
        event::JOIN_ROOM => rooms::join(session, packet).await,
        event::LEAVE_ROOM => rooms::leave(session).await,
        event::OFFER => relay::relay(session, RelayKind::Offer, packet, received).await,
        event::ANSWER => relay::relay(session, RelayKind::Answer, packet, received).await,
        event::ICE => relay::relay(session, RelayKind::Ice, packet, received).await,
        event::MEDIA_STATE => media::state(session, packet).await,
        event::PING => ping::ping(session),
        // Not reached: the dispatcher drops events that `handles` refuses.
        _ => Ok(Ack::None),
    }
}

/// The hot path: relays, joins and leaves, handled without a task hop when
/// nothing in them has to wait (the room store answers at once, and for
/// joins and leaves, one node and the room's turn free). `None`: queue the
/// event for [`dispatch`].
pub fn dispatch_now(
    session: &mut Session,
    name: &str,
    packet: &Packet,
    received: Instant,
) -> Option<Result<Ack, EventError>> {
    match name {
        event::JOIN_ROOM => rooms::join_now(session, packet),
        event::LEAVE_ROOM => rooms::leave_now(session),
        _ => {
            let kind = RelayKind::from_event(name)?;
            relay::relay_now(session, kind, packet, received)
        }
    }
}

/// The table as the socket machinery calls it.
pub struct Table;

#[async_trait]
impl EventTable for Table {
    fn handled(&self, name: &str) -> Option<&'static str> {
        handled(name)
    }

    async fn dispatch(
        &self,
        session: &mut Session,
        name: &str,
        packet: &Packet,
        received: Instant,
    ) -> Result<Ack, EventError> {
        dispatch(session, name, packet, received).await
    }

    fn dispatch_now(
        &self,
        session: &mut Session,
        name: &str,
        packet: &Packet,
        received: Instant,
    ) -> Option<Result<Ack, EventError>> {
        dispatch_now(session, name, packet, received)
    }

    async fn disconnected(&self, session: &mut Session) {
        rooms::on_disconnect(session).await;
    }
}
