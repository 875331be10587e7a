//! Chunking of large messages over a data channel.
//!
//! webrtc-rs refuses messages over 64 KiB and browsers interoperate best at
//! ≤ 16 KiB, so a logical message is cut into frames of at most
//! [`MAX_FRAME`] bytes, each starting with one header byte:
//!
//! - `0x00`: a whole message in one frame;
//! - `0x01`: a fragment, more follow;
//! - `0x02`: the last fragment.
//!
//! The channel is reliable and ordered and each peer's writer sends one
//! message at a time, so fragments never interleave. Channels negotiated with
//! the subprotocol [`PROTOCOL`] use this framing; other channels (a browser
//! peer that created its own) carry raw messages.

use bytes::{Bytes, BytesMut};

/// The data channel subprotocol announcing this framing.
pub const PROTOCOL: &str = "wsc-chunked/1";
/// The largest data channel message this client sends.
pub const MAX_FRAME: usize = 16 * 1024;
const PAYLOAD: usize = MAX_FRAME - 1;

const WHOLE: u8 = 0;
const MORE: u8 = 1;
const LAST: u8 = 2;

/// Cuts `data` into frames.
pub fn frames(data: &[u8]) -> impl Iterator<Item = BytesMut> + '_ {
    let count = data.len().div_ceil(PAYLOAD).max(1);
    (0..count).map(move |i| {
        let start = i * PAYLOAD;
        let end = (start + PAYLOAD).min(data.len());
        let header = if count == 1 {
            WHOLE
        } else if i + 1 == count {
            LAST
        } else {
            MORE
        };
        let mut frame = BytesMut::with_capacity(end - start + 1);
        frame.extend_from_slice(&[header]);
        frame.extend_from_slice(&data[start..end]);
        frame
    })
}

/// A frame that does not follow the framing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("empty frame")]
    Empty,
    #[error("unknown frame header {0:#x}")]
    Header(u8),
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
}

/// Reassembles frames into messages.
#[derive(Debug)]
pub struct Reassembler {
    partial: BytesMut,
    in_progress: bool,
    limit: usize,
}

impl Reassembler {
    /// A reassembler refusing messages over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            partial: BytesMut::new(),
            in_progress: false,
            limit,
        }
    }

    /// Takes one frame; returns a message when it completes one.
    pub fn push(&mut self, frame: &[u8]) -> Result<Option<Bytes>, FrameError> {
        let (&header, body) = frame.split_first().ok_or(FrameError::Empty)?;
        match header {
            WHOLE => {
                // A whole message also ends any half-received one (the sender
                // gave up on it).
                self.reset();
                Ok(Some(Bytes::copy_from_slice(body)))
            }
            MORE | LAST => {
                if self.partial.len() + body.len() > self.limit {
                    self.reset();
                    return Err(FrameError::TooLarge(self.limit));
                }
                self.partial.extend_from_slice(body);
                self.in_progress = true;
                if header == LAST {
                    self.in_progress = false;
                    Ok(Some(self.partial.split().freeze()))
                } else {
                    Ok(None)
                }
            }
            other => {
                self.reset();
                Err(FrameError::Header(other))
            }
        }
    }

    fn reset(&mut self) {
        self.partial.clear();
        self.in_progress = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(len: usize) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut r = Reassembler::new(usize::MAX);
        let mut out = Vec::new();
        for f in frames(&data) {
            assert!(f.len() <= MAX_FRAME);
            if let Some(m) = r.push(&f).expect("frame") {
                out.push(m);
            }
        }
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0][..], &data[..]);
    }

    #[test]
    fn messages_of_every_size_survive() {
        for len in [
            0,
            1,
            PAYLOAD - 1,
            PAYLOAD,
            PAYLOAD + 1,
            3 * PAYLOAD,
            1 << 20,
        ] {
            roundtrip(len);
        }
    }

    #[test]
    fn bad_frames_are_refused() {
        let mut r = Reassembler::new(10);
        assert_eq!(r.push(&[]), Err(FrameError::Empty));
        assert_eq!(r.push(&[9, 1]), Err(FrameError::Header(9)));
        assert_eq!(r.push(&[MORE; 12]), Err(FrameError::TooLarge(10)));
        assert_eq!(r.push(&[WHOLE, 5]), Ok(Some(Bytes::from_static(&[5]))));
    }
}
