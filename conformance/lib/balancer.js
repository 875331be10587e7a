// A load balancer for the cluster target: spreads clients round-robin over the
// nodes, sticky per Engine.IO session as Socket.IO requires (a polling client's
// requests and its WebSocket upgrade all reach the node that opened its
// session). A new session (no `sid`) and every other HTTP request (REST) go to
// the next node in turn. Loopback only, for tests.

import http from 'node:http';
import net from 'node:net';

/** Engine.IO session ids are kept this long after their last request. */
const SESSION_MEMORY_MS = 10 * 60_000;

export function startBalancer(nodes) {
  let next = 0;
  const sessions = new Map(); // sid -> { node, seen }
  const pick = () => nodes[next++ % nodes.length];
  const sidOf = (url) => new URL(url, 'http://x').searchParams.get('sid');
  const nodeFor = (url) => {
    const sid = sidOf(url);
    const known = sid && sessions.get(sid);
    if (known) {
      known.seen = Date.now();
      return known.node;
    }
    return pick();
  };
  const sweep = setInterval(() => {
    const old = Date.now() - SESSION_MEMORY_MS;
    for (const [sid, s] of sessions) if (s.seen < old) sessions.delete(sid);
  }, 60_000);
  sweep.unref();

  const server = http.createServer((req, res) => {
    const node = nodeFor(req.url);
    const handshake = req.url.startsWith('/socket.io/') && !sidOf(req.url);
    const upstream = http.request(
      { host: node.host, port: node.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode, up.rawHeaders);
        if (!handshake) {
          up.pipe(res);
          return;
        }
        // The open packet names the session: remember its node.
        const chunks = [];
        up.on('data', (c) => {
          chunks.push(c);
          res.write(c);
        });
        up.on('end', () => {
          const sid = /"sid":"([^"]+)"/.exec(Buffer.concat(chunks).toString())?.[1];
          if (sid) sessions.set(sid, { node, seen: Date.now() });
          res.end();
        });
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });

  const upgraded = new Set();
  // WebSocket: replay the upgrade request to the node, then splice the sockets.
  server.on('upgrade', (req, client, head) => {
    const node = nodeFor(req.url);
    upgraded.add(client);
    const upstream = net.connect(node.port, node.host, () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    const close = () => {
      upgraded.delete(client);
      upstream.destroy();
      client.destroy();
    };
    upstream.on('error', close);
    client.on('error', close);
    upstream.on('close', close);
    client.on('close', close);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        stop: () =>
          new Promise((r) => {
            for (const c of upgraded) c.destroy();
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}
