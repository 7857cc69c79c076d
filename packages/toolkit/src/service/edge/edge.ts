import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { type Clock, systemClock } from '../../clock.js';
import { EdgeConnection, type EdgeHost } from './edge-connection.js';
import type { EdgeRequest } from './edge-request.js';
import type { EdgeResponse } from './edge-response.js';

/** A request listener in front of Node's: `take` returns true when it answers the request itself. */
export interface FrontDoor {
  take?: (req: EdgeRequest, res: EdgeResponse) => boolean;
}

export interface EdgeOptions {
  /** Asked for every request the edge reads; set its `take` any time. */
  front: FrontDoor;
  /** Announced as `Keep-Alive: timeout=` (whole seconds), as Node announces its keepAliveTimeout. */
  keepAliveMs: number;
  clock?: Clock;
}

/**
 * Puts an HTTP/1.1 edge in front of `server` (a `node:http` server, not yet listening): every
 * connection it accepts is read by an `EdgeConnection`, which answers what `front.take` takes —
 * without Node's `IncomingMessage`, `ServerResponse` and their streams, about half of what a
 * proxied request costs in Node's HTTP layer — and gives Node the connection, bytes and all, at
 * the first request it does not take. The server's own listener runs for those; closing the
 * server closes the edge's idle connections too (`closeIdleConnections`, `closeAllConnections`),
 * and busy ones close after their response.
 */
export function installEdge(server: Server, options: EdgeOptions): void {
  new HttpEdge(server, options);
}

class HttpEdge implements EdgeHost {
  readonly keepAliveHintS: number;
  readonly maxHeaderSize: number;
  private readonly connections = new Set<EdgeConnection>();
  private readonly nodeListeners: ((socket: Socket) => void)[];
  private readonly clock: Clock;
  private dateSecond = Number.NaN;
  private dateText = '';

  constructor(
    private readonly server: Server,
    private readonly options: EdgeOptions,
  ) {
    this.keepAliveHintS = Math.floor(options.keepAliveMs / 1000);
    // What Node's parser for this server would allow; 0: Node's default (--max-http-header-size).
    this.maxHeaderSize = (server as Server & { maxHeaderSize?: number }).maxHeaderSize || 0;
    this.clock = options.clock ?? systemClock;
    // Node's own connection listener, run for the connections handed over; any added later
    // (Fastify's, the idle sweep's) see every connection as before.
    this.nodeListeners = server.listeners('connection') as ((socket: Socket) => void)[];
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      if (this.options.front.take === undefined) return this.handOff(socket);
      this.connections.add(new EdgeConnection(socket, this));
    });
    const closeIdle = server.closeIdleConnections;
    server.closeIdleConnections = () => {
      for (const connection of this.connections) connection.closeIfIdle();
      closeIdle.call(server);
    };
    const closeAll = server.closeAllConnections;
    server.closeAllConnections = () => {
      for (const connection of this.connections) connection.socket.destroy();
      closeAll.call(server);
    };
  }

  take(req: EdgeRequest, res: EdgeResponse): boolean {
    const take = this.options.front.take;
    return take !== undefined && take(req, res);
  }

  handOff(socket: Socket): void {
    for (const listener of this.nodeListeners) listener.call(this.server, socket);
  }

  forget(connection: EdgeConnection): void {
    this.connections.delete(connection);
  }

  mayKeepOpen(): boolean {
    return this.server.listening;
  }

  /** RFC 9110 IMF-fixdate, made once a second. */
  date(): string {
    const second = Math.floor(this.clock.now() / 1000);
    if (second !== this.dateSecond) {
      this.dateSecond = second;
      this.dateText = new Date(second * 1000).toUTCString();
    }
    return this.dateText;
  }
}
