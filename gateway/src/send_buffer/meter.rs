//! A TCP connection as the gateway serves it: [`Metered`] wraps the stream,
//! holds the connection's place in its address's count, and, once the
//! connection has become a WebSocket, counts the relays written to it (for the
//! session's [`Drain`]). Its [`Meter`] is the handle the rest of the
//! gateway keeps: it says the upgrade is under way, binds the session, and can
//! kill the connection from outside (a slow reader's writer task is blocked in
//! a write that will never finish; only failing that write frees it).
//!
//! Before an upgrade, the connection carries polling responses: the relays
//! of one count as delivered once its bytes have been written out
//! ([`Meter::owe`]), not when Engine.IO built it, so a client that sends its
//! GETs and never reads them is held to its session's budget.
//!
//! Counting costs a few comparisons per frame header: payload bytes are
//! skipped, except the first few of a text frame.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::limits::memory::NodeMemory;
use crate::limits::per_key::Slot;
use futures_util::task::AtomicWaker;

use super::drain::{Connection, Drain, RELAY_PACKET};

/// The shared side of one connection.
pub struct Meter {
    /// Set when the response switching to WebSocket is about to be written.
    upgrading: AtomicBool,
    drain: OnceLock<Arc<Drain>>,
    killed: AtomicBool,
    reader: AtomicWaker,
    writer: AtomicWaker,
    /// Bytes written before any upgrade (HTTP responses).
    http_written: AtomicU64,
    /// Polling responses handed to hyper and not yet written out.
    owed: Mutex<Vec<Owed>>,
    owing: AtomicBool,
    /// The TCP socket while the connection is open (-1 otherwise), for the
    /// kernel's count of unsent bytes and an abortive close. Cleared before
    /// the socket closes; a reading racing the close sees at worst another
    /// socket's count.
    fd: AtomicI32,
}

/// One polling response's relays, delivered once `http_written` reaches
/// `mark` and hyper's buffer is empty.
struct Owed {
    mark: u64,
    drain: Weak<Drain>,
    relays: u64,
}

impl Meter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            upgrading: AtomicBool::new(false),
            drain: OnceLock::new(),
            killed: AtomicBool::new(false),
            reader: AtomicWaker::new(),
            writer: AtomicWaker::new(),
            http_written: AtomicU64::new(0),
            owed: Mutex::new(Vec::new()),
            owing: AtomicBool::new(false),
            fd: AtomicI32::new(-1),
        })
    }

    /// The connection's TCP socket (see [`Connection::unsent`]).
    pub fn on_socket(&self, fd: std::os::fd::RawFd) {
        self.fd.store(fd, Ordering::Release);
    }

    /// The next response written is `101 Switching Protocols`: WebSocket
    /// frames follow its head.
    pub fn upgrading(&self) {
        self.upgrading.store(true, Ordering::Release);
    }

    /// Relays written from now on count for `drain`, which can kill this
    /// connection.
    pub fn bind(self: &Arc<Self>, drain: &Arc<Drain>) {
        if self.drain.set(drain.clone()).is_ok() {
            self.carries(drain);
        }
    }

    /// A polling response of `len` bytes carrying `relays` relays of
    /// `drain`'s session is about to be written on this connection: they
    /// count as delivered once it is out, and cutting the session closes the
    /// connection meanwhile.
    pub fn owe(self: &Arc<Self>, drain: &Arc<Drain>, relays: u64, len: u64) {
        let mark = self.http_written.load(Ordering::Acquire) + len;
        let mut owed = self.owed.lock().unwrap_or_else(|p| p.into_inner());
        owed.push(Owed {
            mark,
            drain: Arc::downgrade(drain),
            relays,
        });
        self.owing.store(true, Ordering::Release);
        drop(owed);
        self.carries(drain);
    }

    /// Cutting `drain`'s session kills this connection.
    fn carries(self: &Arc<Self>, drain: &Drain) {
        let this: Arc<dyn Connection> = self.clone();
        drain.carried_by(Arc::downgrade(&this));
    }

    /// Hyper flushed its buffer (or the connection is gone, `all`): the
    /// responses written out so far are delivered.
    fn settle(&self, all: bool) {
        if !self.owing.load(Ordering::Acquire) {
            return;
        }
        let written = self.http_written.load(Ordering::Acquire);
        let mut owed = self.owed.lock().unwrap_or_else(|p| p.into_inner());
        owed.retain(|o| {
            if !all && o.mark > written {
                return true;
            }
            if let Some(drain) = o.drain.upgrade() {
                drain.add(o.relays);
            }
            false
        });
        self.owing.store(!owed.is_empty(), Ordering::Release);
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    fn killed_error() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionAborted, "connection cut")
    }
}

impl Connection for Meter {
    /// Fails every read and write from now on, waking the tasks waiting on
    /// them. The socket closes with a reset, so the kernel drops at once what
    /// a client that does not read left in its buffers.
    fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        socket::abort_on_close(self.fd.load(Ordering::Acquire));
        self.reader.wake();
        self.writer.wake();
    }

    fn unsent(&self) -> u64 {
        socket::unsent(self.fd.load(Ordering::Acquire))
    }
}

/// What the kernel knows of a TCP socket, by descriptor (-1: none).
mod socket {
    use std::os::fd::RawFd;

    /// Bytes in the socket's send queue (`SIOCOUTQ`): written, not yet
    /// acknowledged by the peer.
    #[cfg(target_os = "linux")]
    pub fn unsent(fd: RawFd) -> u64 {
        if fd < 0 {
            return 0;
        }
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ writes one int; a stale descriptor fails (EBADF,
        // ENOTTY) or reads another socket's count, never memory.
        let ok = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) } == 0;
        if ok { queued.max(0) as u64 } else { 0 }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn unsent(_fd: RawFd) -> u64 {
        0
    }

    /// `SO_LINGER` 0: closing resets the connection and frees its buffers.
    pub fn abort_on_close(fd: RawFd) {
        if fd < 0 {
            return;
        }
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a plain setsockopt with a struct of its declared size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
}

/// A stream counted as one connection of its address, metered by a [`Meter`].
pub struct Metered<S> {
    inner: S,
    meter: Arc<Meter>,
    frames: Frames,
    _slot: Option<Slot<IpAddr>>,
    /// The node's byte budget, and what this connection took from it for
    /// the request it is reading (hyper holds it until the response).
    memory: Option<Arc<NodeMemory>>,
    request: usize,
}

impl<S> Metered<S> {
    pub fn new(inner: S, meter: Arc<Meter>, slot: Option<Slot<IpAddr>>) -> Self {
        Self {
            inner,
            meter,
            frames: Frames::Http,
            _slot: slot,
            memory: None,
            request: 0,
        }
    }

    /// What the connection reads as HTTP counts against `memory` until the
    /// response to it is written (issue 23: `MAX_NODE_MEMORY`).
    pub fn charging(mut self, memory: Arc<NodeMemory>) -> Self {
        self.memory = Some(memory);
        self
    }

    /// `n` more bytes of a request were read; false when the node has no
    /// room for them (the connection is then cut).
    fn charge(&mut self, n: usize) -> bool {
        let Some(memory) = &self.memory else {
            return true;
        };
        // Once upgraded, engineioxide counts the WebSocket's frames.
        if !matches!(self.frames, Frames::Http) || self.meter.upgrading.load(Ordering::Acquire) {
            self.release();
            return true;
        }
        if !memory.take(n) {
            return false;
        }
        self.request += n;
        true
    }

    /// The request read so far is answered (or gone): its bytes go back.
    fn release(&mut self) {
        if let Some(memory) = &self.memory {
            memory.give_back(std::mem::take(&mut self.request));
        }
    }

    /// Follows what was written: nothing until the upgrade, then the 101
    /// response's head, then WebSocket frames.
    fn written(&mut self, mut bytes: &[u8]) {
        if self.request > 0 {
            self.release();
        }
        if matches!(self.frames, Frames::Http) {
            if !self.meter.upgrading.load(Ordering::Acquire) {
                self.meter
                    .http_written
                    .fetch_add(bytes.len() as u64, Ordering::AcqRel);
                return;
            }
            self.frames = Frames::Head(0);
        }
        while !bytes.is_empty() {
            match &mut self.frames {
                Frames::Http => return,
                Frames::Head(matched) => {
                    bytes = match end_of_head(bytes, matched) {
                        Some(rest) => {
                            self.frames = Frames::Ws(FrameCounter::default());
                            rest
                        }
                        None => return,
                    }
                }
                Frames::Ws(counter) => {
                    let relays = counter.feed(bytes);
                    if relays > 0
                        && let Some(drain) = self.meter.drain.get()
                    {
                        drain.add(relays);
                    }
                    return;
                }
            }
        }
    }
}

enum Frames {
    Http,
    /// How much of `\r\n\r\n` the last bytes matched.
    Head(u8),
    Ws(FrameCounter),
}

/// Skips to just after the end of an HTTP head (`\r\n\r\n`), keeping how much
/// of it the bytes so far matched.
fn end_of_head<'a>(bytes: &'a [u8], matched: &mut u8) -> Option<&'a [u8]> {
    const END: &[u8; 4] = b"\r\n\r\n";
    for (i, &b) in bytes.iter().enumerate() {
        *matched = if b == END[*matched as usize] {
            *matched + 1
        } else if b == b'\r' {
            1
        } else {
            0
        };
        if *matched == 4 {
            return Some(&bytes[i + 1..]);
        }
    }
    None
}

/// Counts relay messages in a stream of server-to-client WebSocket frames.
#[derive(Debug, Default)]
struct FrameCounter {
    /// The header being read (at most 2 + 8 length + 4 mask bytes).
    header: [u8; 14],
    have: u8,
    /// Payload bytes of the current frame still to skip.
    left: u64,
    /// While the start of a text frame's payload is compared with the relay
    /// prefix: how many bytes matched.
    probe: Option<u8>,
    /// The current frame is a relay: it counts once its last byte is
    /// written. Counted at its header, a relay whose frame a slow reader's
    /// socket took only part of left its rest (up to a whole offer) held in
    /// the WebSocket's buffer uncounted: 2,016 readers, +250 MiB (issue 23).
    relay: bool,
}

impl FrameCounter {
    fn feed(&mut self, mut bytes: &[u8]) -> u64 {
        let mut relays = 0;
        while !bytes.is_empty() {
            self.relay_done(&mut relays);
            let at_boundary = self.have == 0 && self.left == 0 && self.probe.is_none();
            // The common case: a frame's whole header, and the start of its
            // payload, in one write.
            if at_boundary && let Some((need, text, len)) = whole_header(bytes) {
                let payload = &bytes[need..];
                let prefix = RELAY_PACKET.len();
                if text && len >= prefix as u64 {
                    if payload.len() < prefix {
                        self.left = len;
                        self.probe = Some(0);
                        bytes = payload;
                        continue;
                    }
                    if payload[..prefix] == *RELAY_PACKET {
                        self.relay = true;
                    }
                }
                let skip = len.min(payload.len() as u64);
                self.left = len - skip;
                bytes = &payload[skip as usize..];
                continue;
            }
            if self.left == 0 && self.probe.is_none() {
                // Reading a header.
                let need = header_len(&self.header[..self.have as usize]);
                let take = (need - self.have as usize).min(bytes.len());
                self.header[self.have as usize..self.have as usize + take]
                    .copy_from_slice(&bytes[..take]);
                self.have += take as u8;
                bytes = &bytes[take..];
                if (self.have as usize) < header_len(&self.header[..self.have as usize]) {
                    continue;
                }
                let (text, len) = parse_header(&self.header[..self.have as usize]);
                self.have = 0;
                self.left = len;
                self.probe = (text && len >= RELAY_PACKET.len() as u64).then_some(0);
                if len == 0 {
                    self.probe = None;
                }
                continue;
            }
            if let Some(matched) = self.probe {
                let want = &RELAY_PACKET[matched as usize..];
                let n = want.len().min(bytes.len());
                self.left -= n as u64;
                if bytes[..n] != want[..n] {
                    self.probe = None;
                } else if n == want.len() {
                    self.relay = true;
                    self.probe = None;
                } else {
                    self.probe = Some(matched + n as u8);
                }
                bytes = &bytes[n..];
                continue;
            }
            let skip = self.left.min(bytes.len() as u64);
            self.left -= skip;
            bytes = &bytes[skip as usize..];
        }
        self.relay_done(&mut relays);
        relays
    }

    /// Counts the current relay once its frame is all written.
    fn relay_done(&mut self, relays: &mut u64) {
        if self.relay && self.left == 0 && self.probe.is_none() {
            *relays += 1;
            self.relay = false;
        }
    }
}

/// (header length, is a text frame, payload length) when `bytes` starts with
/// a whole header.
fn whole_header(bytes: &[u8]) -> Option<(usize, bool, u64)> {
    let need = header_len(bytes.get(..2)?);
    let (text, len) = parse_header(bytes.get(..need)?);
    Some((need, text, len))
}

/// The header's full length, known from what was read of it (2 bytes first).
fn header_len(read: &[u8]) -> usize {
    if read.len() < 2 {
        return 2;
    }
    let extended = match read[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if read[1] & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// (is a text frame, payload length).
fn parse_header(h: &[u8]) -> (bool, u64) {
    let text = h[0] & 0x0f == 0x1;
    let len = match h[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
        127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
        n => u64::from(n),
    };
    (text, len)
}

impl Meter {
    /// `poll` as the stream's user sees it: a task left waiting is woken by a
    /// kill too, and then fails.
    fn waiting<T>(
        &self,
        waker: &AtomicWaker,
        cx: &Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_pending() {
            // Registered after the first check: a kill in between is seen here.
            waker.register(cx.waker());
            if self.is_killed() {
                return Poll::Ready(Err(Meter::killed_error()));
            }
        }
        poll
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.meter.is_killed() {
            return Poll::Ready(Err(Meter::killed_error()));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let n = buf.filled().len() - before;
            if n > 0 && !self.charge(n) {
                // The node's budget is spent: this request is not read on.
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    "request refused: the node's byte budget is spent",
                )));
            }
        }
        self.meter.waiting(&self.meter.reader, cx, poll)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.meter.is_killed() {
            return Poll::Ready(Err(Meter::killed_error()));
        }
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.written(&buf[..n]);
        }
        self.meter.waiting(&self.meter.writer, cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.meter.is_killed() {
            return Poll::Ready(Err(Meter::killed_error()));
        }
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            let mut left = n;
            for buf in bufs {
                if left == 0 {
                    break;
                }
                let take = left.min(buf.len());
                self.written(&buf[..take]);
                left -= take;
            }
        }
        self.meter.waiting(&self.meter.writer, cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.meter.is_killed() {
            return Poll::Ready(Err(Meter::killed_error()));
        }
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = poll {
            // Hyper flushes its stream only once its own buffer is empty.
            self.meter.settle(false);
        }
        self.meter.waiting(&self.meter.writer, cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> Drop for Metered<S> {
    /// What the connection still owed is no longer held by anyone.
    fn drop(&mut self) {
        // Before the socket closes (the fields drop after this).
        self.meter.fd.store(-1, Ordering::Release);
        self.meter.settle(true);
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame as tungstenite writes it: unmasked, FIN set.
    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n < 65536 => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    fn relay(len: usize) -> Vec<u8> {
        let mut p = br#"42["webrtc:offer",{"offer":""#.to_vec();
        p.resize(len.max(p.len()), b'x');
        frame(0x1, &p)
    }

    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend(frame(0x1, b"40{\"sid\":\"abc\"}"));
        s.extend(relay(100));
        s.extend(frame(0x1, b"2"));
        s.extend(frame(0x9, b"")); // a WebSocket ping
        s.extend(relay(70_000)); // 8-byte length
        s.extend(frame(0x1, br#"42["peer:left",{"peerId":"x"}]"#));
        s.extend(relay(300)); // 2-byte length
        s.extend(frame(0x2, br#"42["webrtc:ice"]"#)); // binary: not a relay
        s.extend(frame(0x1, br#"42["webrtc"#)); // too short to be one
        s
    }

    #[test]
    fn relays_are_counted_whole_or_cut_anywhere() {
        let s = stream();
        assert_eq!(FrameCounter::default().feed(&s), 3);
        for chunk in [1, 2, 3, 7, 13, 4096] {
            let mut counter = FrameCounter::default();
            let n: u64 = s.chunks(chunk).map(|c| counter.feed(c)).sum();
            assert_eq!(n, 3, "chunks of {chunk}");
        }
    }

    #[test]
    fn a_relay_counts_once_its_last_byte_is_written() {
        let r = relay(70_000);
        let mut counter = FrameCounter::default();
        assert_eq!(counter.feed(&r[..r.len() - 1]), 0);
        assert_eq!(counter.feed(&r[r.len() - 1..]), 1);
    }

    #[test]
    fn the_head_of_the_101_is_skipped() {
        let mut matched = 0;
        let head = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\nAB";
        assert_eq!(end_of_head(&head[..20], &mut matched), None);
        assert_eq!(end_of_head(&head[20..], &mut matched), Some(&b"AB"[..]));
        let mut matched = 0;
        assert_eq!(end_of_head(b"\r\r\n\r\nX", &mut matched), Some(&b"X"[..]));
    }

    #[tokio::test]
    async fn a_metered_stream_counts_after_the_upgrade_and_dies_when_killed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let meter = Meter::new();
        let drain = Drain::new();
        let mut io = Metered::new(near, meter.clone(), None);
        io.write_all(&relay(50)).await.unwrap();
        assert_eq!(drain.relays(), 0, "not a WebSocket yet");
        meter.upgrading();
        meter.bind(&drain);
        io.write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
            .await
            .unwrap();
        io.write_all(&stream()).await.unwrap();
        assert_eq!(drain.relays(), 3);

        // A reader waiting for bytes that never come is woken and fails.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            io.read(&mut buf).await
        });
        tokio::task::yield_now().await;
        drain.cut();
        let err = reader.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        let mut sink = Vec::new();
        let _ = far.read_to_end(&mut sink).await;
    }
}
