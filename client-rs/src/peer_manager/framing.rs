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
//! Only binary messages are framed; text messages go whole. The channel is
//! reliable and ordered and each peer's writer sends one message at a time,
//! so fragments never interleave. Channels negotiated with the subprotocol
//! [`PROTOCOL`] use this framing; other channels carry raw messages. The
//! browser-facing specification is `docs/DATA-CHANNELS.md` §3.

use bytes::{Bytes, BytesMut};

/// The data channel subprotocol announcing this framing.
pub const PROTOCOL: &str = "wsc-chunked/1";
/// The largest data channel message this client sends.
pub const MAX_FRAME: usize = 16 * 1024;
/// The largest text message this client sends (text is not framed).
pub const MAX_TEXT: usize = 16 * 1024;
/// The largest message an unframed channel carries (webrtc-rs's
/// `a=max-message-size`).
pub const MAX_RAW: usize = 64 * 1024;
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
    /// A fragment of the current message arrived (it may have been empty).
    in_message: bool,
    /// The rest of a refused message is being dropped, up to its `LAST`.
    skipping: bool,
    limit: usize,
}

impl Reassembler {
    /// A reassembler refusing messages over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            partial: BytesMut::new(),
            in_message: false,
            skipping: false,
            limit,
        }
    }

    /// Takes one frame; returns a message when it completes one. After a
    /// refused frame inside a fragmented message, the rest of that message is
    /// dropped (`docs/DATA-CHANNELS.md` §3).
    pub fn push(&mut self, frame: &[u8]) -> Result<Option<Bytes>, FrameError> {
        let in_message = self.in_message || self.skipping;
        let Some((&header, body)) = frame.split_first() else {
            return Err(self.refuse(FrameError::Empty, in_message));
        };
        match header {
            WHOLE => {
                // A whole message also ends any half-received one (the sender
                // gave up on it).
                self.reset();
                Ok(Some(Bytes::copy_from_slice(body)))
            }
            MORE | LAST if self.skipping => {
                if header == LAST {
                    self.reset();
                }
                Ok(None)
            }
            MORE | LAST => {
                if self.partial.len() + body.len() > self.limit {
                    return Err(self.refuse(FrameError::TooLarge(self.limit), header == MORE));
                }
                self.partial.extend_from_slice(body);
                self.in_message = true;
                if header == LAST {
                    self.in_message = false;
                    Ok(Some(self.partial.split().freeze()))
                } else {
                    Ok(None)
                }
            }
            other => Err(self.refuse(FrameError::Header(other), in_message)),
        }
    }

    /// Drops the partial message; `skip_rest`: and its frames still to come.
    fn refuse(&mut self, error: FrameError, skip_rest: bool) -> FrameError {
        self.reset();
        self.skipping = skip_rest;
        error
    }

    fn reset(&mut self) {
        self.partial.clear();
        self.in_message = false;
        self.skipping = false;
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

    #[test]
    fn the_rest_of_a_refused_message_is_dropped() {
        let mut r = Reassembler::new(10);
        assert_eq!(r.push(&[MORE; 12]), Err(FrameError::TooLarge(10)));
        // Its remaining fragments are not taken for a new message.
        assert_eq!(r.push(&[MORE, 5]), Ok(None));
        assert_eq!(r.push(&[LAST, 5]), Ok(None));
        assert_eq!(r.push(&[LAST, 9]), Ok(Some(Bytes::from_static(&[9]))));
        // A bad frame inside a message drops that message; a WHOLE ends the
        // skipping.
        assert_eq!(r.push(&[MORE, 1]), Ok(None));
        assert_eq!(r.push(&[7]), Err(FrameError::Header(7)));
        assert_eq!(r.push(&[LAST, 1]), Ok(None));
        assert_eq!(r.push(&[MORE, 1]), Ok(None));
        assert_eq!(r.push(&[]), Err(FrameError::Empty));
        assert_eq!(r.push(&[WHOLE, 3]), Ok(Some(Bytes::from_static(&[3]))));
        // Between messages a bad frame drops nothing that follows.
        assert_eq!(r.push(&[7]), Err(FrameError::Header(7)));
        assert_eq!(r.push(&[MORE, 1]), Ok(None));
        assert_eq!(r.push(&[LAST, 2]), Ok(Some(Bytes::from_static(&[1, 2]))));
    }

    /// The worked example of `docs/DATA-CHANNELS.md` §5, byte for byte.
    #[test]
    fn the_documented_example_frames() {
        let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let f: Vec<BytesMut> = frames(&data).collect();
        assert_eq!(
            f.iter().map(|f| f.len()).collect::<Vec<_>>(),
            [16_384, 16_384, 7_235]
        );
        assert_eq!(f[0][..5], [0x01, 0x00, 0x07, 0x0e, 0x15]);
        assert_eq!(f[1][..5], [0x01, 0xe1, 0xe8, 0xef, 0xf6]);
        assert_eq!(f[2][..5], [0x02, 0xc7, 0xce, 0xd5, 0xdc]);
        assert_eq!(f[2][7_233..], [0x79, 0x80]);
        let hello: Vec<BytesMut> = frames(b"hello\n").collect();
        assert_eq!(
            hello,
            [BytesMut::from(
                &[0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a][..]
            )]
        );
    }
}
