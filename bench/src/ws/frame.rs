//! WebSocket frames (RFC 6455 §5.2): reading a header in place, masking,
//! and encoding the masked frames a client sends.

use anyhow::{Result, bail};

/// The largest frame accepted (the servers send at most `MAX_PAYLOAD`, 1 MB
/// by default); a longer length is a broken stream, not a reason to allocate.
const MAX_FRAME: usize = 16 << 20;

/// What the front of a read buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Head {
    /// Not all of the frame yet: it takes `need` bytes in all.
    Partial { need: usize },
    /// The whole frame: its payload is `len` bytes after a `head`-byte header.
    Whole {
        fin: bool,
        opcode: u8,
        head: usize,
        len: usize,
        mask: Option<[u8; 4]>,
    },
}

/// Reads the WebSocket frame header at the start of `buf` (RFC 6455 §5.2).
pub(super) fn parse_head(buf: &[u8]) -> Result<Head> {
    if buf.len() < 2 {
        return Ok(Head::Partial { need: 2 });
    }
    let (b0, b1) = (buf[0], buf[1]);
    let (len, mut head) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u16::from_be_bytes([b[0], b[1]]) as u64, 4),
            None => return Ok(Head::Partial { need: 4 }),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_be_bytes(a), 10)
            }
            None => return Ok(Head::Partial { need: 10 }),
        },
        n => (n as u64, 2),
    };
    if len > MAX_FRAME as u64 {
        bail!("frame of {len} bytes (more than {MAX_FRAME})");
    }
    let len = len as usize;
    let mask = if b1 & 0x80 != 0 {
        head += 4;
        match buf.get(head - 4..head) {
            Some(k) => Some([k[0], k[1], k[2], k[3]]),
            None => return Ok(Head::Partial { need: head + len }),
        }
    } else {
        None
    };
    if buf.len() < head + len {
        return Ok(Head::Partial { need: head + len });
    }
    Ok(Head::Whole {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        head,
        len,
        mask,
    })
}

pub(super) fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Appends a masked frame (first byte `b0`: FIN and opcode).
pub(super) fn encode_frame(w: &mut Vec<u8>, b0: u8, payload: &[u8], key: [u8; 4]) {
    let len = payload.len();
    w.push(b0);
    if len < 126 {
        w.push(0x80 | len as u8);
    } else if len < 65536 {
        w.push(0x80 | 126);
        w.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        w.push(0x80 | 127);
        w.extend_from_slice(&(len as u64).to_be_bytes());
    }
    w.extend_from_slice(&key);
    let off = w.len();
    w.extend_from_slice(payload);
    apply_mask(&mut w[off..], key);
}

#[cfg(test)]
pub(super) mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    use super::*;

    /// An unmasked frame, as a server sends it.
    pub(crate) fn server_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut w = Vec::new();
        encode_frame(&mut w, b0, payload, [0; 4]);
        // Same bytes with a zero key; drop the mask bit and the key.
        let head = match payload.len() {
            n if n < 126 => 2,
            n if n < 65536 => 4,
            _ => 10,
        };
        w[1] &= 0x7f;
        w.drain(head..head + 4);
        w
    }

    #[test]
    fn headers_of_each_length_form_parse() {
        for (n, head) in [
            (0usize, 2usize),
            (5, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (70_000, 10),
        ] {
            let f = server_frame(0x81, &vec![b'x'; n]);
            assert_eq!(
                parse_head(&f).unwrap(),
                Head::Whole {
                    fin: true,
                    opcode: 1,
                    head,
                    len: n,
                    mask: None
                },
                "length {n}"
            );
        }
    }

    #[test]
    fn a_partial_frame_says_how_many_bytes_it_needs() {
        let f = server_frame(0x81, &[b'y'; 300]);
        assert_eq!(parse_head(&[]).unwrap(), Head::Partial { need: 2 });
        assert_eq!(parse_head(&f[..1]).unwrap(), Head::Partial { need: 2 });
        assert_eq!(parse_head(&f[..3]).unwrap(), Head::Partial { need: 4 });
        assert_eq!(parse_head(&f[..100]).unwrap(), Head::Partial { need: 304 });
        let big = server_frame(0x81, &vec![0; 70_000]);
        assert_eq!(parse_head(&big[..9]).unwrap(), Head::Partial { need: 10 });
        // A masked header waits for its key too.
        let mut m = Vec::new();
        encode_frame(&mut m, 0x81, b"hello", [1, 2, 3, 4]);
        assert_eq!(parse_head(&m[..4]).unwrap(), Head::Partial { need: 11 });
    }

    #[test]
    fn masked_frames_round_trip() {
        for n in [0usize, 1, 3, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let mut w = Vec::new();
            encode_frame(&mut w, 0x82, &payload, [0xde, 0xad, 0xbe, 0xef]);
            let Head::Whole {
                fin,
                opcode,
                head,
                len,
                mask,
            } = parse_head(&w).unwrap()
            else {
                panic!("whole frame expected for {n}");
            };
            assert!(fin);
            assert_eq!((opcode, len, mask), (2, n, Some([0xde, 0xad, 0xbe, 0xef])));
            if n > 0 {
                assert_ne!(&w[head..], &payload[..], "masked on the wire");
            }
            apply_mask(&mut w[head..], [0xde, 0xad, 0xbe, 0xef]);
            assert_eq!(&w[head..], &payload[..]);
        }
    }

    #[test]
    fn an_absurd_length_is_an_error_not_an_allocation() {
        let mut f = vec![0x81, 127];
        f.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let e = parse_head(&f).unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
        f[2..10].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(parse_head(&f).is_err());
    }

    /// Reads the client's frames (masked) until `n` have arrived.
    pub(crate) async fn client_frames(s: &mut TcpStream, n: usize) -> Vec<(u8, Vec<u8>)> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while out.len() < n {
            let mut chunk = [0u8; 4096];
            let k = s.read(&mut chunk).await.unwrap();
            assert!(k > 0, "client closed");
            buf.extend_from_slice(&chunk[..k]);
            while let Head::Whole {
                opcode,
                head,
                len,
                mask,
                ..
            } = parse_head(&buf).unwrap()
            {
                let mut p = buf[head..head + len].to_vec();
                apply_mask(&mut p, mask.expect("client frames are masked"));
                out.push((opcode, p));
                buf.drain(..head + len);
            }
        }
        out
    }
}
