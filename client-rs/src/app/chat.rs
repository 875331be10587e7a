//! Chat in a room: each input line goes to every peer whose channel is open,
//! each peer's line comes back as a [`Notice::Chat`]; the end of the input
//! leaves the room. Files offered meanwhile are refused.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::notice::Notice;
use super::session::{Room, Session};
use super::{AppError, Notify};
use crate::client::Client;
use crate::peer_manager::framing::MAX_TEXT;
use crate::transfer::{AppMessage, Downloads};

/// Joins `room` and chats until `input` ends, then leaves.
pub async fn chat(
    client: &Client,
    room: &Room,
    input: impl AsyncBufRead + Unpin,
    notify: Notify<'_>,
) -> Result<(), AppError> {
    let mut events = client.events().await?;
    let mut inbox = client.peer_messages().await?;
    let refuse_files = Downloads::new(None, None, u64::MAX);
    let mut session = Session::enter(client, room, notify, refuse_files).await?;
    let mut lines = input.lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) => {
                    let text = AppMessage::Chat { text: line.clone() }.to_text();
                    if text.len() > MAX_TEXT {
                        session.notify(Notice::LineTooLong);
                        continue;
                    }
                    let peers = client.broadcast_text(&text).await?;
                    session.notify(Notice::ChatSent { text: line, peers });
                }
                None => break,
            },
            Some(event) = events.recv() => session.on_event(event).await,
            Some(msg) = inbox.recv() => {
                session.on_message(msg).await?;
            }
        }
    }
    client.leave_room().await?;
    Ok(())
}
