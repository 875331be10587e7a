//! Sending one file: join, wait for the first `want` peers whose channel
//! opens, offer the file to each, send its pieces, and wait for every
//! receiver's verdict (`docs/DATA-CHANNELS.md` §4).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use super::notice::Notice;
use super::session::{Room, Session};
use super::{AppError, Notify};
use crate::client::{Client, Subscription};
use crate::peer_manager::PeerEvent;
use crate::signaling::PeerId;
use crate::transfer::{self, AppMessage, Downloads, FileAck, PIECE};

/// How long receivers have, after the last piece, to send their verdict.
const VERDICT_WAIT: Duration = Duration::from_secs(120);

/// Joins `room` and sends the file at `path` to the first `want` peers;
/// fails unless every one of them verified it.
pub async fn send_file(
    client: &Client,
    room: &Room,
    path: &Path,
    want: usize,
    notify: Notify<'_>,
) -> Result<(), AppError> {
    let offer = transfer::offer_for(path).await?;
    let mut events = client.events().await?;
    let mut inbox = client.peer_messages().await?;
    let refuse_files = Downloads::new(None, None, u64::MAX);
    let mut session = Session::enter(client, room, notify, refuse_files).await?;
    let targets = wait_for_peers(&mut session, &mut events, want).await?;

    // Acks that came back, by peer.
    let mut verdicts: HashMap<PeerId, FileAck> = HashMap::new();
    let take_ack = |verdicts: &mut HashMap<PeerId, FileAck>, got: Vec<(PeerId, FileAck)>| {
        for (from, ack) in got {
            if ack.id == offer.id && targets.contains(&from) {
                verdicts.insert(from, ack);
            }
        }
    };
    let offer_text = AppMessage::File(offer.clone()).to_text();
    for t in &targets {
        client.send_text_to_peer(t, &offer_text).await?;
    }
    session.notify(Notice::Sending { size: offer.size });
    let started = Instant::now();
    let mut file = tokio::fs::File::open(path).await?;
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        // A receiver that refused or failed gets no more data.
        while let Some(msg) = inbox.try_recv() {
            let got = session.on_message(msg).await?;
            take_ack(&mut verdicts, got);
        }
        let piece = bytes::Bytes::copy_from_slice(&buf[..n]);
        for t in targets.iter().filter(|t| !verdicts.contains_key(*t)) {
            client.send_to_peer(t, piece.clone()).await?;
        }
        session.notify(Notice::SendingProgress { bytes: n as u64 });
    }
    session.notify(Notice::SendingQueued);

    // Wait for every receiver's verdict.
    let deadline = tokio::time::sleep(VERDICT_WAIT);
    tokio::pin!(deadline);
    while verdicts.len() < targets.len() {
        tokio::select! {
            msg = inbox.recv() => {
                let Some(msg) = msg else { break };
                let got = session.on_message(msg).await?;
                take_ack(&mut verdicts, got);
            }
            Some(event) = events.recv() => {
                if let PeerEvent::PeerGone(id) = &event
                    && targets.contains(id)
                    && !verdicts.contains_key(id)
                {
                    let who = session.name_of(id);
                    return Err(AppError::Transfer(format!("{who} left before confirming")));
                }
                session.on_event(event).await;
            }
            _ = &mut deadline => {
                return Err(AppError::Transfer("no confirmation from the receiver".into()));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut all_ok = true;
    for t in &targets {
        let Some(ack) = verdicts.get(t) else { continue };
        let ok = ack.ok
            && ack
                .sha256
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(&offer.sha256));
        all_ok &= ok;
        let who = session.name_of(t);
        session.notify(Notice::FileSent {
            to: t.clone(),
            who,
            offer: offer.clone(),
            ok,
            error: ack.error.clone(),
            seconds,
        });
    }
    client.leave_room().await?;
    if all_ok {
        Ok(())
    } else {
        Err(AppError::Transfer(
            "not every receiver verified the file".into(),
        ))
    }
}

/// Waits for `want` open channels.
async fn wait_for_peers(
    session: &mut Session<'_>,
    events: &mut Subscription<PeerEvent>,
    want: usize,
) -> Result<Vec<PeerId>, AppError> {
    let mut targets = Vec::new();
    while targets.len() < want {
        match events.recv().await {
            Some(PeerEvent::ChannelOpen(id)) => {
                session.on_event(PeerEvent::ChannelOpen(id.clone())).await;
                targets.push(id);
            }
            Some(other) => session.on_event(other).await,
            None => return Err(AppError::Transfer("connection closed".into())),
        }
    }
    Ok(targets)
}
