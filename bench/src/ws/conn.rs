//! One Socket.IO connection: the handshake, buffered reads that answer pings,
//! batched writes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::frame::{Head, apply_mask, encode_frame, parse_head};
use super::scan::{extract_str, find};

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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::super::frame::tests::{client_frames, server_frame};
    use super::*;

    /// A connection to a server end we drive by hand.
    async fn pair() -> (Conn, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        (Conn::over(c.unwrap()).unwrap(), s.unwrap().0)
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
}
