//! PATCH(pre-connect): a small cap on what a connection may send before the
//! Socket.IO server has accepted its CONNECT (see vendor/PATCHES.md).
//!
//! Until then an honest client sends only its CONNECT packet (the `auth`
//! object, a few hundred bytes); without a cap, every unauthenticated
//! connection could hold a partial message up to `max_payload`.
use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::socket::Socket;

/// 0: no cap (engineioxide's own behaviour).
static MAX_PRE_CONNECT_PAYLOAD: AtomicUsize = AtomicUsize::new(0);

/// Bytes a connection may send before the server sends Socket.IO's CONNECT
/// (`0...`): a WebSocket's frames in total, or a polling request's body. 0
/// turns the cap off (the default). Process-wide, as socketioxide's builder
/// does not pass new Engine.IO settings through.
pub fn set_max_pre_connect_payload(bytes: usize) {
    MAX_PRE_CONNECT_PAYLOAD.store(bytes, Ordering::Relaxed);
}

/// The cap for a socket that has not been accepted yet, if any.
pub(crate) fn limit<D>(socket: &Socket<D>) -> Option<usize>
where
    D: Default + Send + Sync + 'static,
{
    let max = MAX_PRE_CONNECT_PAYLOAD.load(Ordering::Relaxed);
    (max > 0 && !socket.internal_tx.connect_sent()).then_some(max)
}

/// The WebSocket's stream, counting what it reads until the socket is accepted.
pub(crate) struct PreConnectIo<S, D: Default + Send + Sync + 'static> {
    inner: S,
    socket: Arc<Socket<D>>,
    read: usize,
    frames: Frames,
}

/// Follows the WebSocket frame headers in what is read: tungstenite sizes
/// (and zeroes) its buffer for a frame's announced length, so a frame that
/// could never fit under the cap is refused from its header.
///
/// PATCH(node-budget): after CONNECT too, each data frame of at least
/// `UNCOUNTED_FRAME` bytes takes its announced length from the node's
/// budget, from its header until its message is whole.
#[derive(Default)]
struct Frames {
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes of the current frame still to come.
    skip: u64,
    /// The current frame ends its message (FIN on a data frame).
    ends_message: bool,
    /// Taken from the node's budget for the message being received.
    charged: usize,
}

/// Why a frame is refused.
#[derive(Debug, PartialEq)]
enum Refused {
    /// Over the pre-CONNECT cap.
    Cap,
    /// The node's budget has no room for it.
    Budget,
}

impl Frames {
    /// Err once a frame announces more than `max` bytes, or more than the
    /// node's budget has left.
    fn check(&mut self, mut data: &[u8], max: usize) -> Result<(), Refused> {
        while !data.is_empty() {
            if self.skip > 0 {
                let k = data
                    .len()
                    .min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                self.skip -= k as u64;
                data = &data[k..];
                if self.skip == 0 {
                    self.frame_done();
                }
                continue;
            }
            self.header[self.header_len] = data[0];
            self.header_len += 1;
            data = &data[1..];
            let h = &self.header[..self.header_len];
            if h.len() < 2 {
                continue;
            }
            let (ext, masked) = match h[1] & 0x7f {
                126 => (2, h[1] & 0x80 != 0),
                127 => (8, h[1] & 0x80 != 0),
                _ => (0, h[1] & 0x80 != 0),
            };
            if h.len() < 2 + ext {
                continue;
            }
            let payload = match ext {
                0 => u64::from(h[1] & 0x7f),
                2 => u64::from(u16::from_be_bytes([h[2], h[3]])),
                _ => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
            };
            // Refused as soon as the length is known, before the mask key.
            if payload > max as u64 {
                return Err(Refused::Cap);
            }
            if h.len() < 2 + ext + if masked { 4 } else { 0 } {
                continue;
            }
            let (fin, control) = (h[0] & 0x80 != 0, h[0] & 0x08 != 0);
            self.skip = payload;
            self.header_len = 0;
            if control {
                // At most 125 bytes, and not part of the message around it.
                self.ends_message = false;
            } else {
                self.ends_message = fin;
                if payload >= crate::node_budget::UNCOUNTED_FRAME {
                    let bytes = usize::try_from(payload).unwrap_or(usize::MAX);
                    if !crate::node_budget::take(bytes) {
                        return Err(Refused::Budget);
                    }
                    self.charged += bytes;
                }
            }
            if payload == 0 {
                self.frame_done();
            }
        }
        Ok(())
    }

    /// The current frame's payload is in: its message is whole if it ends it.
    fn frame_done(&mut self) {
        if self.ends_message {
            crate::node_budget::give_back(std::mem::take(&mut self.charged));
            self.ends_message = false;
        }
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        crate::node_budget::give_back(self.charged);
    }
}

fn refused(why: Refused) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        match why {
            Refused::Cap => "frame before CONNECT over the limit",
            Refused::Budget => "frame refused: the node's byte budget is spent",
        },
    )
}

impl<S, D: Default + Send + Sync + 'static> PreConnectIo<S, D> {
    pub(crate) fn new(inner: S, socket: Arc<Socket<D>>) -> Self {
        Self {
            inner,
            socket,
            read: 0,
            frames: Frames::default(),
        }
    }
}

impl<S: AsyncRead + Unpin, D: Default + Send + Sync + 'static> AsyncRead for PreConnectIo<S, D> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Once accepted the count stops: max_payload and the node's budget
        // are the bounds then.
        let Some(max) = limit(&this.socket) else {
            let before = buf.filled().len();
            let res = Pin::new(&mut this.inner).poll_read(cx, buf);
            if let Poll::Ready(Ok(())) = res
                && let Err(why) = this.frames.check(&buf.filled()[before..], usize::MAX)
            {
                return Poll::Ready(Err(refused(why)));
            }
            return res;
        };
        if this.read > max {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "payload before CONNECT over the limit",
            )));
        }
        // One byte past the cap at most: tungstenite reads into a buffer
        // reserved for the whole frame, which would take the partial message
        // in one read. As tokio's `io::Take` does it.
        let mut sub = buf.take(max + 1 - this.read);
        let ptr = sub.filled().as_ptr();
        let res = Pin::new(&mut this.inner).poll_read(cx, &mut sub);
        debug_assert_eq!(sub.filled().as_ptr(), ptr);
        let n = sub.filled().len();
        if let Err(why) = this.frames.check(&sub.filled()[..n], max) {
            return Poll::Ready(Err(refused(why)));
        }
        // SAFETY: the inner reader initialised and filled these `n` bytes of
        // `buf`'s unfilled part (`sub` is a view of it).
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        this.read += n;
        res
    }
}

impl<S: AsyncWrite + Unpin, D: Default + Send + Sync + 'static> AsyncWrite for PreConnectIo<S, D> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::{Frames, Refused};

    #[test]
    fn frames_over_the_cap_are_seen_from_their_header() {
        let mut f = Frames::default();
        // A masked 5-byte text frame, split across reads, then a 126-length one.
        assert!(f.check(&[0x81, 0x85, 1, 2], 100).is_ok());
        assert!(f.check(&[3, 4, b'a', b'b', b'c', b'd', b'e'], 100).is_ok());
        assert!(f.check(&[0x81, 0xfe, 0, 100], 100).is_ok());
        let mut f = Frames::default();
        assert_eq!(f.check(&[0x81, 0xfe, 0, 101], 100), Err(Refused::Cap));
        let mut f = Frames::default();
        assert_eq!(
            f.check(&[0x81, 0xff, 0, 0, 0, 0, 0, 0x0f, 0x1b, 0x30], 100),
            Err(Refused::Cap)
        );
    }

    /// PATCH(node-budget): a fragmented message holds its frames' lengths
    /// until its last frame is in; small frames and control frames are free.
    #[test]
    fn a_message_holds_its_frames_until_whole() {
        let mut f = Frames::default();
        // A 2,000-byte text frame without FIN, unmasked for brevity.
        assert!(f.check(&[0x01, 126, 0x07, 0xd0], usize::MAX).is_ok());
        assert_eq!(f.charged, 2000);
        assert!(f.check(&[b'x'; 2000], usize::MAX).is_ok());
        assert_eq!(f.charged, 2000, "the message is not whole yet");
        // A ping in between, then the final 1,500-byte continuation.
        assert!(f.check(&[0x89, 1, b'p'], usize::MAX).is_ok());
        assert!(f.check(&[0x80, 126, 0x05, 0xdc], usize::MAX).is_ok());
        assert_eq!(f.charged, 3500);
        assert!(f.check(&[b'y'; 1500], usize::MAX).is_ok());
        assert_eq!(f.charged, 0);
        // Small frames are not counted.
        assert!(f.check(&[0x81, 5, b'h', b'e', b'l', b'l', b'o'], usize::MAX).is_ok());
        assert_eq!(f.charged, 0);
    }
}
