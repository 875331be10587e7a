//! A minimal Engine.IO v4 / Socket.IO v5 client over a hand-rolled WebSocket.
//!
//! Lean on purpose: one read buffer that starts at 512 bytes, one write buffer,
//! frames parsed in place, writes batched into one `write` per flush, engine
//! pings (`2`) answered with `3` inside the parser. No fragmentation, no
//! extensions (we never offer permessage-deflate).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub struct Conn {
    s: TcpStream,
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    wbuf: Vec<u8>,
    scratch: Vec<u8>,
    mask: u32,
    /// The Socket.IO socket id (the peer id other sockets see).
    pub sid: String,
}

impl Conn {
    /// TCP connect from `src`, WebSocket upgrade, Engine.IO open, Socket.IO
    /// CONNECT with `{"token": ...}`; returns once `40{"sid":...}` arrived.
    pub async fn connect(server: SocketAddr, src: Ipv4Addr, token: &str) -> Result<Conn> {
        let sock = TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(IpAddr::V4(src), 0))
            .with_context(|| format!("bind {src}"))?;
        let s = sock.connect(server).await.context("tcp connect")?;
        s.set_nodelay(true)?;
        let mut c = Conn::over(s)?;
        let req = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {server}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        c.s.write_all(req.as_bytes()).await?;
        loop {
            if let Some(p) = find(&c.rbuf[..c.rend], b"\r\n\r\n") {
                if !c.rbuf.starts_with(b"HTTP/1.1 101") {
                    let line = c.rbuf[..p]
                        .split(|&b| b == b'\r')
                        .next()
                        .unwrap_or_default();
                    bail!("upgrade refused: {}", String::from_utf8_lossy(line));
                }
                c.rpos = p + 4;
                break;
            }
            if c.rend > 16 * 1024 {
                bail!("upgrade answer without an end of headers in 16 KiB");
            }
            c.read_more().await?;
        }
        let r = c.next_text_wait().await?;
        if c.rbuf[r.clone()].first() != Some(&b'0') {
            bail!(
                "expected engine open, got {}",
                String::from_utf8_lossy(&c.rbuf[r])
            );
        }
        c.push_fmt(format_args!("40{{\"token\":\"{token}\"}}"));
        c.flush().await?;
        loop {
            let r = c.next_text_wait().await?;
            let t = &c.rbuf[r];
            if t.starts_with(b"40") {
                let sid = extract_str(t, b"\"sid\":\"").ok_or_else(|| anyhow!("no sid"))?;
                c.sid = String::from_utf8_lossy(sid).into_owned();
                break;
            }
            if t.starts_with(b"44") {
                bail!("connect refused: {}", String::from_utf8_lossy(t));
            }
        }
        // Keep idle sockets small: give back what the handshake grew.
        if c.rpos == c.rend {
            c.rpos = 0;
            c.rend = 0;
            if c.rbuf.len() > 512 {
                c.rbuf = vec![0; 512];
            }
        }
        // A ping may have come with the open packet (socketioxide pings at once):
        // its pong is queued; send it before shrinking the buffers.
        c.flush().await?;
        c.scratch = Vec::new();
        c.wbuf = Vec::new();
        Ok(c)
    }

    /// A connection over an open TCP stream, before any handshake.
    fn over(s: TcpStream) -> Result<Conn> {
        let seed = (s.local_addr()?.port() as u32).wrapping_mul(2654435761) | 1;
        Ok(Conn {
            s,
            rbuf: vec![0; 512],
            rpos: 0,
            rend: 0,
            wbuf: Vec::new(),
            scratch: Vec::new(),
            mask: seed,
            sid: String::new(),
        })
    }

    /// Reads more bytes from the socket (cancel-safe: nothing is consumed
    /// unless the read completes). EOF is an error.
    pub async fn read_more(&mut self) -> Result<()> {
        if self.rpos == self.rend {
            self.rpos = 0;
            self.rend = 0;
        } else if self.rend == self.rbuf.len() {
            if self.rpos > 0 {
                self.rbuf.copy_within(self.rpos..self.rend, 0);
                self.rend -= self.rpos;
                self.rpos = 0;
            } else {
                let n = self.rbuf.len() * 2;
                self.rbuf.resize(n, 0);
            }
        }
        if self.rbuf.len() - self.rend < 256 && self.rbuf.len() < 65536 {
            let n = self.rbuf.len() * 2;
            self.rbuf.resize(n, 0);
        }
        let n = self.s.read(&mut self.rbuf[self.rend..]).await?;
        if n == 0 {
            bail!("connection closed by server");
        }
        self.rend += n;
        Ok(())
    }

    /// The next complete text message already buffered, as a range into the
    /// read buffer (valid until the next `read_more`). Engine pings and
    /// WebSocket pings are answered (queued in the write buffer) and skipped.
    pub fn next_text(&mut self) -> Result<Option<Range<usize>>> {
        loop {
            let (fin, opcode, head, len, mask) = match parse_head(&self.rbuf[self.rpos..self.rend])?
            {
                Head::Partial { need } => {
                    // Make sure the buffer can hold the whole frame.
                    if self.rbuf.len() < need {
                        self.rbuf.copy_within(self.rpos..self.rend, 0);
                        self.rend -= self.rpos;
                        self.rpos = 0;
                        self.rbuf.resize(need.next_power_of_two(), 0);
                    }
                    return Ok(None);
                }
                Head::Whole {
                    fin,
                    opcode,
                    head,
                    len,
                    mask,
                } => (fin, opcode, head, len, mask),
            };
            let start = self.rpos + head;
            let end = start + len;
            if let Some(k) = mask {
                apply_mask(&mut self.rbuf[start..end], k);
            }
            self.rpos = end;
            match opcode {
                1 => {
                    if !fin {
                        bail!("fragmented frames are not supported");
                    }
                    if len == 1 && self.rbuf[start] == b'2' {
                        self.push_text(b"3");
                        continue;
                    }
                    return Ok(Some(start..end));
                }
                2 | 10 => continue,
                8 => {
                    let p = &self.rbuf[start..end];
                    let code = if p.len() >= 2 {
                        u16::from_be_bytes([p[0], p[1]])
                    } else {
                        0
                    };
                    let reason = String::from_utf8_lossy(p.get(2..).unwrap_or_default());
                    bail!("websocket closed by server (code {code} {reason})")
                }
                9 => {
                    let payload = self.rbuf[start..end].to_vec();
                    self.push_frame(0x8a, &payload); // pong
                    continue;
                }
                op => bail!("unsupported opcode {op}"),
            }
        }
    }

    /// Waits for the next text message (reading and answering pings as needed).
    pub async fn next_text_wait(&mut self) -> Result<Range<usize>> {
        loop {
            if let Some(r) = self.next_text()? {
                return Ok(r);
            }
            if !self.wbuf.is_empty() {
                self.flush().await?;
            }
            self.read_more().await?;
        }
    }

    pub fn text(&self, r: Range<usize>) -> &[u8] {
        &self.rbuf[r]
    }

    /// Queues a masked text frame.
    pub fn push_text(&mut self, payload: &[u8]) {
        self.push_frame(0x81, payload);
    }

    fn push_frame(&mut self, b0: u8, payload: &[u8]) {
        // xorshift32 masking key
        let mut x = self.mask;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask = x;
        encode_frame(&mut self.wbuf, b0, payload, x.to_ne_bytes());
    }

    /// Formats a text message and queues it.
    pub fn push_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        use std::io::Write;
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        s.write_fmt(args).expect("write to vec");
        self.push_text(&s);
        self.scratch = s;
    }

    pub fn pending_write(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.s.write_all(&self.wbuf).await?;
            self.wbuf.clear();
            if self.wbuf.capacity() > 65536 {
                self.wbuf.shrink_to(4096);
            }
        }
        Ok(())
    }

    /// Waits for a Socket.IO event whose packet starts with `prefix`
    /// (e.g. `42["room:joined"`), failing on an `error` event.
    pub async fn wait_event(&mut self, prefix: &[u8], errors: &mut u64) -> Result<Range<usize>> {
        loop {
            let r = self.next_text_wait().await?;
            let t = &self.rbuf[r.clone()];
            if t.starts_with(prefix) {
                return Ok(r);
            }
            if t.starts_with(b"42[\"error\"") {
                *errors += 1;
                bail!("server error event: {}", String::from_utf8_lossy(t));
            }
        }
    }
}

/// The largest frame accepted (the servers send at most `MAX_PAYLOAD`, 1 MB
/// by default); a longer length is a broken stream, not a reason to allocate.
const MAX_FRAME: usize = 16 << 20;

/// What the front of a read buffer holds.
#[derive(Debug, PartialEq, Eq)]
enum Head {
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
fn parse_head(buf: &[u8]) -> Result<Head> {
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

fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Appends a masked frame (first byte `b0`: FIN and opcode).
fn encode_frame(w: &mut Vec<u8>, b0: u8, payload: &[u8], key: [u8; 4]) {
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

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last = hay.len() - needle.len();
    let mut i = 0;
    while i <= last {
        match hay[i..=last].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => {
                i += p;
                if &hay[i..i + needle.len()] == needle {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

/// The string value following `key` (which includes the opening quote), up to
/// the next `"`. Ids and numbers we look for never contain escapes.
pub fn extract_str<'a>(t: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let p = find(t, key)? + key.len();
    let e = t[p..].iter().position(|&b| b == b'"')?;
    Some(&t[p..p + e])
}

pub fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// An unmasked frame, as a server sends it.
    fn server_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
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

    /// A connection to a server end we drive by hand.
    async fn pair() -> (Conn, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        (Conn::over(c.unwrap()).unwrap(), s.unwrap().0)
    }

    /// Reads the client's frames (masked) until `n` have arrived.
    async fn client_frames(s: &mut TcpStream, n: usize) -> Vec<(u8, Vec<u8>)> {
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

    #[tokio::test]
    async fn pings_are_answered_other_frames_skipped_and_split_frames_joined() {
        let (mut c, mut s) = pair().await;
        let mut wire = server_frame(0x81, b"2"); // engine ping
        wire.extend(server_frame(0x89, b"hi")); // websocket ping
        wire.extend(server_frame(0x82, b"\x00binary")); // ignored
        wire.extend(server_frame(0x8a, b"")); // unsolicited pong, ignored
        let text = server_frame(0x81, br#"42["room:joined",{}]"#);
        wire.extend_from_slice(&text[..7]);
        s.write_all(&wire).await.unwrap();
        // The text frame is cut: nothing complete after the control frames.
        while c.next_text().unwrap().is_none() && !c.pending_write() {
            c.read_more().await.unwrap();
        }
        assert_eq!(c.next_text().unwrap(), None);
        s.write_all(&text[7..]).await.unwrap();
        let r = c.next_text_wait().await.unwrap();
        assert_eq!(c.text(r), br#"42["room:joined",{}]"#);
        c.flush().await.unwrap();
        let answers = client_frames(&mut s, 2).await;
        assert_eq!(answers, vec![(1, b"3".to_vec()), (10, b"hi".to_vec())]);
    }

    #[tokio::test]
    async fn a_frame_larger_than_the_buffer_grows_it() {
        let (mut c, mut s) = pair().await;
        let big = vec![b'z'; 200_000];
        let f = server_frame(0x81, &big);
        tokio::spawn(async move {
            s.write_all(&f).await.unwrap();
            s
        });
        let r = c.next_text_wait().await.unwrap();
        assert_eq!(c.text(r).len(), 200_000);
    }

    #[tokio::test]
    async fn a_close_frame_and_a_fragment_are_errors() {
        let (mut c, mut s) = pair().await;
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        s.write_all(&server_frame(0x88, &close)).await.unwrap();
        let e = c.next_text_wait().await.unwrap_err().to_string();
        assert_eq!(e, "websocket closed by server (code 1000 bye)");

        let (mut c, mut s) = pair().await;
        s.write_all(&server_frame(0x01, b"part")).await.unwrap();
        let e = c.next_text_wait().await.unwrap_err().to_string();
        assert_eq!(e, "fragmented frames are not supported");

        let (mut c, s) = pair().await;
        drop(s);
        let e = c.next_text_wait().await.unwrap_err().to_string();
        assert_eq!(e, "connection closed by server");
    }

    /// Plays a Socket.IO server's side of the handshake; `answer` is what
    /// follows the client's CONNECT.
    async fn handshake_server(
        l: TcpListener,
        upgrade: &'static str,
        answer: &'static str,
    ) -> Vec<u8> {
        let (mut s, _) = l.accept().await.unwrap();
        let mut req = Vec::new();
        while find(&req, b"\r\n\r\n").is_none() {
            let mut b = [0u8; 1024];
            let n = s.read(&mut b).await.unwrap();
            req.extend_from_slice(&b[..n]);
        }
        s.write_all(upgrade.as_bytes()).await.unwrap();
        if !upgrade.starts_with("HTTP/1.1 101") {
            return Vec::new();
        }
        let mut open = server_frame(0x81, br#"0{"sid":"engine","pingInterval":25000}"#);
        open.extend(server_frame(0x81, b"2")); // socketioxide pings at once
        s.write_all(&open).await.unwrap();
        let got = client_frames(&mut s, 2).await;
        s.write_all(&server_frame(0x81, answer.as_bytes()))
            .await
            .unwrap();
        let connect = got
            .into_iter()
            .find(|(_, p)| p.starts_with(b"40"))
            .unwrap()
            .1;
        // Keep the socket open until the client is done.
        let _ = s.read(&mut [0u8; 16]).await;
        connect
    }

    const UPGRADE: &str =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

    #[tokio::test]
    async fn the_handshake_sends_the_token_and_learns_the_sid() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(handshake_server(l, UPGRADE, r#"40{"sid":"abc123"}"#));
        let c = Conn::connect(addr, Ipv4Addr::LOCALHOST, "tok.en.sig")
            .await
            .unwrap();
        assert_eq!(c.sid, "abc123");
        drop(c);
        assert_eq!(server.await.unwrap(), br#"40{"token":"tok.en.sig"}"#);
    }

    #[tokio::test]
    async fn a_refused_upgrade_or_connect_names_why() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(handshake_server(l, "HTTP/1.1 403 Forbidden\r\n\r\n", ""));
        let e = Conn::connect(addr, Ipv4Addr::LOCALHOST, "t")
            .await
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "upgrade refused: HTTP/1.1 403 Forbidden");

        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(handshake_server(
            l,
            UPGRADE,
            r#"44{"message":"Unauthorized"}"#,
        ));
        let e = Conn::connect(addr, Ipv4Addr::LOCALHOST, "t")
            .await
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            r#"connect refused: 44{"message":"Unauthorized"}"#
        );
    }

    #[test]
    fn fields_are_found_in_place() {
        let t = br#"42["webrtc:ice",{"fromPeerId":"a1","targetPeerId":"b2"}]"#;
        assert_eq!(extract_str(t, b"\"fromPeerId\":\""), Some(&b"a1"[..]));
        assert_eq!(extract_str(t, b"\"nope\":\""), None);
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b""), None);
    }
}
