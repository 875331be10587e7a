//! One room session: joining (creating the room first if asked), who is who,
//! and the receiving side of every peer's channel.

use std::collections::HashMap;

use super::notice::Notice;
use super::{AppError, Notify};
use crate::client::{Client, ClientError};
use crate::peer_manager::{PeerEvent, PeerMessage};
use crate::signaling::{PeerId, SignalingError, SignalingEvent};
use crate::transfer::{AppMessage, Downloads, FileAck, Outcome};

/// The room to join.
#[derive(Debug, Clone)]
pub struct Room {
    pub code: String,
    /// Create the room first if it does not exist.
    pub create: bool,
}

/// One room session, told through `notify`.
pub(super) struct Session<'a> {
    client: &'a Client,
    notify: Notify<'a>,
    /// Usernames by peer id, as the gateway announced them.
    names: HashMap<PeerId, String>,
    pub(super) downloads: Downloads,
}

impl<'a> Session<'a> {
    /// Joins `room` (creating it first with `create`).
    pub(super) async fn enter(
        client: &'a Client,
        room: &Room,
        notify: Notify<'a>,
        downloads: Downloads,
    ) -> Result<Session<'a>, AppError> {
        if room.create {
            match client.create_room(Some(&room.code)).await {
                Ok(_) => {}
                Err(ClientError::Signaling(SignalingError::Server { code, .. }))
                    if code == "ROOM_EXISTS" => {}
                Err(e) => return Err(e.into()),
            }
        }
        let joined = client.join_room(&room.code).await?;
        let names = joined
            .peers
            .iter()
            .map(|p| (p.id.clone(), p.user_info.username.clone()))
            .collect();
        notify(Notice::Joined {
            room_code: joined.room_code,
            peer_id: joined.peer_id,
            peers: joined.peers.into_iter().map(|p| p.id).collect(),
        });
        Ok(Session {
            client,
            notify,
            names,
            downloads,
        })
    }

    pub(super) fn notify(&mut self, notice: Notice) {
        (self.notify)(notice);
    }

    /// The peer's username, or its id when it has none.
    pub(super) fn name_of(&self, id: &str) -> String {
        match self.names.get(id) {
            Some(n) if !n.is_empty() => n.clone(),
            _ => id.to_owned(),
        }
    }

    /// Tracks names from peer events; tells joins and departures.
    pub(super) async fn on_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::ChannelOpen(peer) => {
                let username = self.name_of(&peer);
                self.notify(Notice::PeerOpen { peer, username });
            }
            PeerEvent::PeerGone(peer) => {
                if let Some(outcome) = self.downloads.peer_gone(&peer).await {
                    self.report(&peer, outcome);
                }
                let username = self.name_of(&peer);
                self.notify(Notice::PeerGone { peer, username });
            }
            PeerEvent::Signaling(SignalingEvent::PeerJoined { peer_id, user_info }) => {
                self.names.insert(peer_id, user_info.username);
            }
            PeerEvent::Signaling(SignalingEvent::Error(e)) => self.notify(Notice::ServerError {
                code: e.code,
                message: e.message,
            }),
            PeerEvent::Signaling(SignalingEvent::Disconnected { reason }) => {
                self.notify(Notice::Disconnected { reason })
            }
            PeerEvent::Signaling(SignalingEvent::Reconnected { peer_id }) => {
                self.notify(Notice::Reconnected { peer_id })
            }
            PeerEvent::Signaling(_) => {}
        }
    }

    /// Handles one peer message: tells what happened, sends the acks it
    /// calls for, and returns the verdicts on files we sent.
    pub(super) async fn on_message(
        &mut self,
        msg: PeerMessage,
    ) -> Result<Vec<(PeerId, FileAck)>, AppError> {
        let mut verdicts = Vec::new();
        for outcome in self.downloads.on_message(&msg).await {
            if let Some(ack) = outcome.reply() {
                let reply = AppMessage::FileAck(ack.clone()).to_text();
                self.client.send_text_to_peer(&msg.from, &reply).await?;
            }
            if let Outcome::Ack(ack) = outcome {
                verdicts.push((msg.from.clone(), ack));
            } else {
                self.report(&msg.from, outcome);
            }
        }
        Ok(verdicts)
    }

    fn report(&mut self, from: &str, outcome: Outcome) {
        let (from, who) = (from.to_owned(), self.name_of(from));
        let notice = match outcome {
            Outcome::Chat(text) => Notice::Chat {
                from,
                username: who,
                text,
            },
            Outcome::Started { id, name, size, .. } => Notice::FileIncoming {
                from,
                who,
                id,
                name,
                size,
            },
            Outcome::Progress { got, .. } => Notice::FileProgress { from, got },
            Outcome::Received {
                name,
                path,
                ack,
                seconds,
            } => Notice::FileReceived {
                from,
                who,
                name,
                path,
                ack,
                seconds,
            },
            Outcome::Failed(ack) => Notice::FileFailed { from, who, ack },
            Outcome::Refused(ack) => Notice::FileRefused { from, who, ack },
            Outcome::Discarded { id } => Notice::FileAbandoned { from, who, id },
            Outcome::Bad(reason) => Notice::BadMessage { from, who, reason },
            Outcome::Ack(_) => return,
        };
        self.notify(notice);
    }
}
