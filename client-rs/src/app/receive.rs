//! Receiving files: join, take each offered file into one file or a folder
//! (checked against its SHA-256, acknowledged to the sender), until `count`
//! files came or, with a count of 0, until the input ends.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::session::{Room, Session};
use super::{AppError, Notify};
use crate::client::Client;
use crate::transfer::{Downloads, Target};

/// Lets the last acknowledgement leave before the room is left.
const ACK_GRACE: Duration = Duration::from_millis(300);

/// Joins `room` and receives files into `target`, refusing those over
/// `max_size` bytes; fails when a file failed its checksum, or when `count`
/// files were wanted and none came. `input` is read only with a count of 0.
pub async fn receive_files(
    client: &Client,
    room: &Room,
    target: Target,
    count: usize,
    max_size: u64,
    input: impl AsyncBufRead + Unpin,
    notify: Notify<'_>,
) -> Result<(), AppError> {
    let mut events = client.events().await?;
    let mut inbox = client.peer_messages().await?;
    let wanted = (count > 0).then_some(count);
    let downloads = Downloads::new(Some(target), wanted, max_size);
    let mut session = Session::enter(client, room, notify, downloads).await?;
    let mut lines = input.lines();
    // With no count, the session lasts until the input ends.
    let input_open = count == 0;
    while !session.downloads.done() {
        tokio::select! {
            Some(event) = events.recv() => session.on_event(event).await,
            msg = inbox.recv() => {
                let Some(msg) = msg else {
                    return Err(AppError::Transfer("connection closed".into()));
                };
                session.on_message(msg).await?;
            }
            line = lines.next_line(), if input_open => {
                if line?.is_none() {
                    break;
                }
            }
        }
    }
    tokio::time::sleep(ACK_GRACE).await;
    client.leave_room().await?;
    let d = &session.downloads;
    if d.verified < d.completed {
        return Err(AppError::Transfer(format!(
            "{} of {} file(s) failed the checksum",
            d.completed - d.verified,
            d.completed
        )));
    }
    if d.completed == 0 && count > 0 {
        return Err(AppError::Transfer("no file received".into()));
    }
    Ok(())
}
