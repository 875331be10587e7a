// A TCP proxy in front of a real server that a test can cut and restore:
// the way to take a database away from a target without stopping the
// PostgreSQL server other tests share.

import net from 'node:net';

export class TcpProxy {
  constructor(upstream) {
    this.upstream = upstream;
    this.sockets = new Set();
    this.mode = 'open';
  }

  static async start(upstream = { host: '127.0.0.1', port: 5432 }) {
    const proxy = new TcpProxy(upstream);
    await proxy.listen(0);
    return proxy;
  }

  listen(port) {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => {});
      // Accept and never answer: the peer waits until its own timeout.
      if (this.mode === 'blackhole') return;
      const server = net.connect(this.upstream);
      this.sockets.add(server);
      server.on('close', () => this.sockets.delete(server));
      server.on('error', () => client.destroy());
      client.on('error', () => server.destroy());
      client.pipe(server).pipe(client);
      client.on('close', () => server.destroy());
      server.on('close', () => client.destroy());
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve();
      });
    });
  }

  dropConnections() {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Closes the port and every connection: the database is down. */
  async refuse() {
    this.mode = 'refuse';
    const closed = this.server ? new Promise((r) => this.server.close(r)) : Promise.resolve();
    this.server = undefined;
    this.dropConnections();
    await closed;
  }

  /** Drops every connection, then accepts new ones without ever answering. */
  async blackhole() {
    this.mode = 'blackhole';
    this.dropConnections();
    if (!this.server) await this.listen(this.port);
  }

  /** Forwards again, on the same port. */
  async restore() {
    this.mode = 'open';
    this.dropConnections();
    if (!this.server) await this.listen(this.port);
  }

  /** `url` with this proxy's host and port. */
  url(url) {
    const u = new URL(url);
    u.host = `127.0.0.1:${this.port}`;
    return u.toString();
  }

  async stop() {
    await this.refuse();
  }
}
