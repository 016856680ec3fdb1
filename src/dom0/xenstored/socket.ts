/**
 * The Unix socket xenstored serves Dom0's tools on (/run/xenstored/socket in Xen). Every
 * socket client is Dom0 and privileged, as with xenstored: only root can open the socket.
 */

import { unlinkSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { Connection, type Outgoing } from './connection.js';
import type { XsState } from './state.js';

export class SocketConnection extends Connection {
  constructor(
    state: XsState,
    private readonly socket: Socket,
    label: string,
  ) {
    super(state, 0, true, label);
    socket.on('data', (data: Buffer) => this.receive(data));
    socket.on('error', (e) => state.log(`xenstored: ${label}: ${e.message}`));
    socket.on('close', () => this.destroy());
  }

  protected transmit(out: Outgoing): void {
    this.socket.write(out.bytes);
  }

  protected shutdown(): void {
    // Flush what is queued (xenstored tries to), then close.
    this.socket.end();
    this.socket.destroySoon();
  }
}

/** A listening socket and its connections. */
export class SocketServer {
  private readonly sockets = new Set<Socket>();
  private count = 0;

  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  /** Listens on `path`, replacing a stale socket file left there. */
  static async listen(state: XsState, path: string): Promise<SocketServer> {
    const stat = await lstat(path).catch(() => undefined);
    if (stat?.isSocket()) unlinkSync(path);
    const server = createServer();
    const self = new SocketServer(server, path);
    server.on('connection', (socket) => {
      self.sockets.add(socket);
      socket.on('close', () => self.sockets.delete(socket));
      new SocketConnection(state, socket, `socket ${++self.count}`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => state.log(`xenstored: socket ${path}: ${e.message}`));
    return self;
  }

  /** Stops listening, drops every client and removes the socket file. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone: node removes it on close.
    }
  }
}
