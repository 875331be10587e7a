//! PATCH(queue): the socket's outgoing packet queue (see vendor/PATCHES.md).
//!
//! It replaces a `tokio::sync::mpsc` channel and a `watch` channel for
//! volatile packets. `mpsc::channel` allocates its first 32-slot block
//! eagerly (32 × `size_of::<PacketBuf>()` ≈ 5 KiB) and `watch` an
//! `Arc` with eight `Notify`s, on every socket, idle or not. Here an idle
//! socket holds an empty `VecDeque` (no allocation) and the volatile slot
//! inline; the buffer grows with the packets queued and is freed once
//! drained. There is one receiver at a time: whoever holds the socket's
//! `internal_rx` lock.
use std::{
    collections::VecDeque,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Waker},
};

use engineioxide_core::{Packet, PacketBuf};
use tokio::sync::{Notify, mpsc::error::TrySendError};

/// A drained buffer larger than this is freed rather than kept for reuse.
const KEEP_CAPACITY: usize = 8;

#[derive(Debug, Default)]
struct State {
    buf: VecDeque<PacketBuf>,
    /// Slots promised to [`QueuePermit`]s not sent yet.
    reserved: usize,
    /// Only the latest volatile packet is kept.
    volatile: Option<PacketBuf>,
    rx_waker: Option<Waker>,
    closed: bool,
    /// PATCH(uncollected): where the heartbeat's last ping is.
    ping: PingState,
}

/// PATCH(uncollected): a long-polling client can POST pongs without ever
/// GETting the pings they answer (or anything else queued for it); such a
/// pong must not keep the session alive.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum PingState {
    /// No ping outstanding: a pong answers nothing.
    #[default]
    Answered,
    /// Queued, not yet taken by the transport.
    Queued,
    /// Taken by the transport: the next pong answers it.
    Collected,
}

#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    cap: usize,
    closed: Notify,
    /// PATCH(pre-connect): Socket.IO's CONNECT (`0...`) was queued for the client.
    connect_sent: AtomicBool,
}

/// A reserved slot in the [`Queue`]; released when dropped unsent.
#[derive(Debug)]
pub(crate) struct QueuePermit<'a> {
    queue: &'a Queue,
}

impl QueuePermit<'_> {
    pub(crate) fn send(self, packets: PacketBuf) {
        let queue = self.queue;
        // The slot is handed over to the packet: skip the release in Drop.
        std::mem::forget(self);
        queue.note(&packets);
        let mut st = queue.lock();
        st.reserved -= 1;
        if st.closed {
            return;
        }
        st.buf.push_back(packets);
        wake(&mut st);
    }
}

impl Drop for QueuePermit<'_> {
    fn drop(&mut self) {
        self.queue.lock().reserved -= 1;
    }
}

fn wake(st: &mut State) {
    if let Some(w) = st.rx_waker.take() {
        w.wake();
    }
}

impl Queue {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            // tokio's mpsc panics on 0; keep one slot so a socket can still send.
            cap: cap.max(1),
            closed: Notify::new(),
            connect_sent: AtomicBool::new(false),
        }
    }

    /// PATCH(pre-connect): a text message starting with `0` from the server
    /// is Socket.IO's CONNECT: the client was accepted.
    fn note(&self, packets: &PacketBuf) {
        if let Some(Packet::Message(m)) = packets.first()
            && m.as_bytes().first() == Some(&b'0')
        {
            self.connect_sent.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn connect_sent(&self) -> bool {
        self.connect_sent.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock; a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, st: &State) -> Result<(), TrySendError<()>> {
        if st.closed {
            Err(TrySendError::Closed(()))
        } else if st.buf.len() + st.reserved >= self.cap {
            Err(TrySendError::Full(()))
        } else {
            Ok(())
        }
    }

    // The packet is handed back on failure, as tokio's channel did.
    #[allow(clippy::result_large_err)]
    pub(crate) fn try_send(&self, packets: PacketBuf) -> Result<(), TrySendError<PacketBuf>> {
        let mut st = self.lock();
        match self.check(&st) {
            Err(TrySendError::Closed(())) => return Err(TrySendError::Closed(packets)),
            Err(TrySendError::Full(())) => return Err(TrySendError::Full(packets)),
            Ok(()) => {}
        }
        self.note(&packets);
        if has_ping(&packets) {
            st.ping = PingState::Queued;
        }
        st.buf.push_back(packets);
        wake(&mut st);
        Ok(())
    }

    /// PATCH(uncollected): true if a pong now answers the heartbeat's ping,
    /// i.e. that ping has been taken by the transport (and not answered yet).
    pub(crate) fn take_pong(&self) -> bool {
        let mut st = self.lock();
        let answers = st.ping == PingState::Collected;
        if answers {
            st.ping = PingState::Answered;
        }
        answers
    }

    /// Queues past the capacity: only for the one NOOP an upgrade sends.
    // The packet is handed back on failure, as tokio's channel did.
    #[allow(clippy::result_large_err)]
    pub(crate) fn push_unbounded(&self, packets: PacketBuf) -> Result<(), PacketBuf> {
        let mut st = self.lock();
        if st.closed {
            return Err(packets);
        }
        st.buf.push_back(packets);
        wake(&mut st);
        Ok(())
    }

    pub(crate) fn try_reserve(&self) -> Result<QueuePermit<'_>, TrySendError<()>> {
        let mut st = self.lock();
        self.check(&st)?;
        st.reserved += 1;
        Ok(QueuePermit { queue: self })
    }

    /// Overwrites the volatile slot; false if the queue is closed.
    pub(crate) fn send_volatile(&self, packets: PacketBuf) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        st.volatile = Some(packets);
        wake(&mut st);
        true
    }

    /// Buffered packets first, then the volatile one; `None` once closed and drained.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<PacketBuf>> {
        let mut st = self.lock();
        if let Some(p) = pop(&mut st) {
            return Poll::Ready(Some(p));
        }
        if let Some(p) = st.volatile.take() {
            return Poll::Ready(Some(p));
        }
        if st.closed {
            return Poll::Ready(None);
        }
        match &st.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    // PATCH(one-task): the websocket loop polls `poll_recv`; only the test harness awaits packets so.
    #[cfg(any(test, feature = "__test_harness"))]
    pub(crate) async fn recv(&self) -> Option<PacketBuf> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next buffered packet, if any (the volatile slot is left for `recv`).
    // PATCH(one-task): the websocket loop polls `poll_recv`; only the tests take packets so.
    #[cfg(test)]
    pub(crate) fn try_recv(&self) -> Option<PacketBuf> {
        pop(&mut self.lock())
    }

    /// No more packets are accepted; the buffered ones can still be received.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.volatile = None;
        wake(&mut st);
        drop(st);
        self.closed.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) async fn closed(&self) {
        let notified = self.closed.notified();
        tokio::pin!(notified);
        // Register before checking the flag so a close in between is not missed.
        notified.as_mut().enable();
        if self.is_closed() {
            return;
        }
        notified.await;
    }

    /// Packets buffered and not yet taken by the transport (the volatile slot not counted).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().buf.len()
    }
}

fn pop(st: &mut State) -> Option<PacketBuf> {
    let p = st.buf.pop_front()?;
    // PATCH(uncollected): the ping is on its way to the client.
    if st.ping == PingState::Queued && has_ping(&p) {
        st.ping = PingState::Collected;
    }
    if st.buf.is_empty() && st.buf.capacity() > KEEP_CAPACITY {
        // A burst towards a slow reader is over: give its memory back.
        st.buf = VecDeque::new();
    }
    Some(p)
}

fn has_ping(packets: &PacketBuf) -> bool {
    packets.iter().any(|p| matches!(p, Packet::Ping))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use smallvec::smallvec;

    fn msg(s: &'static str) -> PacketBuf {
        smallvec![Packet::Message(s.into())]
    }

    #[tokio::test]
    async fn bounded_with_permits_and_volatile_last() {
        let q = Queue::new(2);
        let permit = q.try_reserve().unwrap();
        q.try_send(msg("a")).unwrap();
        assert!(matches!(q.try_send(msg("b")), Err(TrySendError::Full(_))));
        assert!(q.send_volatile(msg("v1")));
        assert!(q.send_volatile(msg("v2")));
        permit.send(msg("c"));
        assert!(matches!(q.try_reserve(), Err(TrySendError::Full(()))));
        assert_eq!(q.recv().await, Some(msg("a")));
        assert_eq!(q.try_recv(), Some(msg("c")));
        assert_eq!(q.try_recv(), None);
        assert_eq!(q.recv().await, Some(msg("v2")));
        assert!(q.recv().now_or_never().is_none());
        // A permit dropped unsent gives its slot back.
        drop(q.try_reserve().unwrap());
        drop(q.try_reserve().unwrap());
        q.try_send(msg("d")).unwrap();
        q.try_send(msg("e")).unwrap();
        assert!(matches!(q.try_send(msg("f")), Err(TrySendError::Full(_))));
    }

    #[tokio::test]
    async fn close_drains_then_ends_and_wakes() {
        let q = std::sync::Arc::new(Queue::new(8));
        q.try_send(msg("a")).unwrap();
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { q.closed().await })
        };
        tokio::task::yield_now().await;
        q.close();
        assert!(matches!(q.try_send(msg("b")), Err(TrySendError::Closed(_))));
        assert!(!q.send_volatile(msg("v")));
        assert!(q.is_closed());
        assert_eq!(q.recv().await, Some(msg("a")));
        assert_eq!(q.recv().await, None);
        waiter.await.unwrap();
    }

    #[test]
    fn a_pong_answers_only_a_collected_ping() {
        let q = Queue::new(8);
        assert!(!q.take_pong(), "no ping sent yet");
        q.try_send(msg("a")).unwrap();
        q.try_send(smallvec![Packet::Ping]).unwrap();
        assert!(!q.take_pong(), "the ping is still queued");
        assert_eq!(q.try_recv(), Some(msg("a")));
        assert!(!q.take_pong(), "the ping is still queued");
        assert_eq!(q.try_recv(), Some(smallvec![Packet::Ping]));
        assert!(q.take_pong());
        assert!(!q.take_pong(), "one pong per ping");
    }

    #[tokio::test]
    async fn drained_burst_frees_its_buffer() {
        let q = Queue::new(64);
        for _ in 0..40 {
            q.try_send(msg("x")).unwrap();
        }
        assert_eq!(q.len(), 40);
        while q.try_recv().is_some() {}
        assert_eq!(q.lock().buf.capacity(), 0);
    }
}
