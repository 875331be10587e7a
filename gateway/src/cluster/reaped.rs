//! The `peer:left` of a dead node's members, told by the node that reaped
//! them (`node::run`'s sweep): the reaper asks Redis which nodes still have
//! members in their rooms and queues the news to each of them on its channel,
//! as it would for one of its own members leaving; the members here hear it
//! at once. Each member is reaped by one node only (`reap.lua`), so each room
//! hears of it once.
//!
//! Nothing orders this with the dead node's own relays: they came on its
//! channel, which is silent now.

use serde_json::value::{RawValue, to_raw_value};

use super::relay::{Arrivals, News, ReceivedNews, RelayLink};
use crate::protocol::event;
use crate::rooms::Departed;
use crate::rooms::redis::RedisRooms;

/// Tells the rooms of `gone`, wherever their members are connected.
pub async fn tell(rooms: &RedisRooms, link: &RelayLink, here: &impl Arrivals, gone: &[Departed]) {
    let mut ids: Vec<String> = gone.iter().map(|d| d.room_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let view = link.view();
    let routes = match rooms.routes_of(ids.clone()).await {
        Ok(routes) => routes,
        Err(e) => {
            // Redis went away right after the reap: the nodes this one knows
            // of. Others drop the members at their next resync, untold.
            tracing::warn!(error = %e, "the rooms of reaped members: told from the view");
            ids.into_iter()
                .map(|room| {
                    let routes = view.other_nodes(&room);
                    (room, routes)
                })
                .collect()
        }
    };
    for member in gone {
        let payload = serde_json::json!({ "peerId": member.peer_id });
        let Ok(payload) = to_raw_value(&payload) else {
            continue;
        };
        let routes = routes
            .iter()
            .find(|(room, _)| *room == member.room_id)
            .map(|(_, routes)| routes.as_slice())
            .unwrap_or_default();
        for route in routes.iter().filter(|r| **r != view.route()) {
            push(link, route, &member.room_id, &member.peer_id, &payload);
        }
        view.remove(&member.room_id, &member.peer_id);
        here.news(ReceivedNews {
            event: event::PEER_LEFT.into(),
            room: member.room_id.as_str().into(),
            peer: member.peer_id.as_str().into(),
            to: None,
            payload: &payload,
        });
    }
}

fn push(link: &RelayLink, route: &str, room: &str, peer: &str, payload: &RawValue) {
    let news = News {
        event: event::PEER_LEFT,
        room,
        peer,
        to: None,
        payload,
    };
    let sent = news
        .encode()
        .map_err(Into::into)
        .and_then(|b| link.push(route, b));
    if let Err(e) = sent {
        tracing::warn!(room, route, error = %e, "peer:left of a reaped member not sent");
    }
}
