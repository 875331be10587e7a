//! Rooms of 2: connecting the sockets and putting each two in a room.

use std::time::Duration;

use anyhow::{Result, anyhow};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::scen::{Clients, connect_many};
use crate::ws::Conn;

pub type Pair = (Conn, Conn);

/// Connects `2 * n` sockets (tokens from `from`) and puts each two in a room of 2.
pub async fn make_pairs(clients: &Clients, from: usize, n: usize, tag: &str) -> Result<Vec<Pair>> {
    let conns = connect_many(clients, from, 2 * n, 256).await.all()?;
    let mut it = conns.into_iter();
    let mut rooms = Vec::with_capacity(n);
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        rooms.push((rooms.len(), a, b));
    }
    into_rooms(rooms, tag).await
}

/// Puts each `(i, a, b)` in a room of 2 named `<tag><i>`, all at once.
pub async fn into_rooms(rooms: Vec<(usize, Conn, Conn)>, tag: &str) -> Result<Vec<Pair>> {
    let mut pairs = Vec::with_capacity(rooms.len());
    let mut js = JoinSet::new();
    for (i, a, b) in rooms {
        let code = format!("{tag}{i}");
        js.spawn(timeout(Duration::from_secs(30), setup_pair(a, b, code)));
    }
    while let Some(r) = js.join_next().await {
        pairs.push(r?.map_err(|_| anyhow!("room set-up timed out"))??);
    }
    Ok(pairs)
}

/// Puts `a` and `b` in a room of 2 named `code` (`a` creates it and joins first).
async fn setup_pair(mut a: Conn, mut b: Conn, code: String) -> Result<Pair> {
    let mut e = 0;
    a.push_fmt(format_args!(
        r#"42["create:room",{{"roomCode":"{code}","maxPeers":2}}]"#
    ));
    a.flush().await?;
    a.wait_event(b"42[\"room:created\"", &mut e).await?;
    let join = format!(r#"42["join:room",{{"roomCode":"{code}"}}]"#);
    a.push_text(join.as_bytes());
    a.flush().await?;
    a.wait_event(b"42[\"room:joined\"", &mut e).await?;
    b.push_text(join.as_bytes());
    b.flush().await?;
    b.wait_event(b"42[\"room:joined\"", &mut e).await?;
    a.wait_event(b"42[\"peer:joined\"", &mut e).await?;
    Ok((a, b))
}
