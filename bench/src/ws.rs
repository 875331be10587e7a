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
        let seed = (s.local_addr()?.port() as u32).wrapping_mul(2654435761) | 1;
        let mut c = Conn {
            s,
            rbuf: vec![0; 512],
            rpos: 0,
            rend: 0,
            wbuf: Vec::new(),
            scratch: Vec::new(),
            mask: seed,
            sid: String::new(),
        };
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
            c.read_more().await?;
        }
        let r = c.next_text_wait().await?;
        if c.rbuf[r.start] != b'0' {
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
            let avail = &self.rbuf[self.rpos..self.rend];
            if avail.len() < 2 {
                return Ok(None);
            }
            let b0 = avail[0];
            let b1 = avail[1];
            let (len, mut hl) = match b1 & 0x7f {
                126 => {
                    if avail.len() < 4 {
                        return Ok(None);
                    }
                    (u16::from_be_bytes([avail[2], avail[3]]) as usize, 4)
                }
                127 => {
                    if avail.len() < 10 {
                        return Ok(None);
                    }
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&avail[2..10]);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                n => (n as usize, 2),
            };
            let masked = b1 & 0x80 != 0;
            if masked {
                hl += 4;
            }
            if avail.len() < hl + len {
                // Make sure the buffer can hold the whole frame.
                let need = hl + len;
                if self.rbuf.len() < need {
                    self.rbuf.copy_within(self.rpos..self.rend, 0);
                    self.rend -= self.rpos;
                    self.rpos = 0;
                    self.rbuf.resize(need.next_power_of_two(), 0);
                }
                return Ok(None);
            }
            let start = self.rpos + hl;
            let end = start + len;
            if masked {
                let k = [
                    self.rbuf[start - 4],
                    self.rbuf[start - 3],
                    self.rbuf[start - 2],
                    self.rbuf[start - 1],
                ];
                for (i, b) in self.rbuf[start..end].iter_mut().enumerate() {
                    *b ^= k[i & 3];
                }
            }
            self.rpos = end;
            match b0 & 0x0f {
                1 => {
                    if b0 & 0x80 == 0 {
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
                    self.push_frame(0x8a, &payload);
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
        let len = payload.len();
        let w = &mut self.wbuf;
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
        // xorshift32 masking key
        let mut x = self.mask;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask = x;
        let k = x.to_ne_bytes();
        w.extend_from_slice(&k);
        let off = w.len();
        w.extend_from_slice(payload);
        for (i, b) in w[off..].iter_mut().enumerate() {
            *b ^= k[i & 3];
        }
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
