import net from 'node:net';
import type { Readable } from 'node:stream';
import { http1Error, http1ErrorCodes } from './errors.js';
import type { Carrier, Exchange } from './exchange.js';
import {
  HTTPParser,
  type StreamHandle,
  consumeSocket,
  releaseParser,
  startReading,
  stopReading,
} from '../../wire/http-parser.js';

/** What a connection tells the pool it belongs to. */
export interface ConnectionOwner {
  /** Its exchange is over and the connection can carry another. */
  released(connection: UpstreamConnection): void;
  /** It is closed: `neverConnected` when it failed before its TCP connection was up. */
  closed(connection: UpstreamConnection, neverConnected: boolean): void;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** How long an idle connection is kept when the upstream sends no `Keep-Alive: timeout` hint. */
  defaultIdleMs: number;
}

/** Kept idle this much less than the upstream's `Keep-Alive: timeout` says, so it never closes one we are about to use. */
const KEEP_ALIVE_MARGIN_MS = 2000;

/**
 * One keep-alive HTTP/1.1 connection to an upstream carrying one exchange at a time: the request
 * head written as one latin1 string, the answer parsed by Node's own llhttp binding (the parser
 * `node:http`'s client uses) straight into the exchange, without request or response objects;
 * the parser reads the socket itself (`consumeSocket`), as Node's server reads its connections.
 * A connection is reused only after an answer the upstream said it keeps alive, whose request
 * was fully sent, and only once the bytes read with that answer held nothing more.
 */
export class UpstreamConnection implements Carrier {
  private readonly socket: net.Socket;
  exchange: Exchange | undefined;
  /** Clock ms since it is idle (set by the pool). */
  idleSince = 0;
  /** How long it may stay idle: the upstream's keep-alive hint less a margin. */
  keepIdleMs: number;
  private readonly parser: HTTPParser;
  /** The socket's stream once the parser reads it (from `connect` on); undefined: fed from `data`. */
  private readHandle: StreamHandle | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private connected = false;
  private closed = false;
  /** An answer ended during the current `execute`: released after it, when nothing followed. */
  private answered = false;
  /** Bytes after the answer began another message (even a partial one): never reused. */
  private strayBytes = false;
  /** The last answer allows another request on this connection. */
  private keepAlive = true;
  /** The answer being read is an interim 1xx: its end is not the exchange's. */
  private interim = false;
  /** Header lines the parser flushed before the head was complete (or trailers). */
  private flushedHeaders: string[] = [];
  private lastHint: string | undefined;
  private stopBody: (() => void) | undefined;
  private readPaused = false;

  constructor(
    private readonly owner: ConnectionOwner,
    private readonly options: ConnectionOptions,
  ) {
    this.keepIdleMs = options.defaultIdleMs;
    this.socket = net.connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
    });
    this.connectTimer = setTimeout(() => this.connectTimedOut(), options.connectTimeoutMs).unref();
    this.socket.once('connect', () => {
      this.connected = true;
      clearTimeout(this.connectTimer);
      // Not before: connecting to a name with several addresses tries each on a handle of its own.
      this.readHandle = consumeSocket(this.parser, this.socket);
    });
    // Also what keeps the socket flowing, so that its `end` is seen when the parser reads it.
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('end', () => this.ended());
    this.socket.on('error', (err) => this.destroy(err));
    this.socket.on('close', () => this.closedUnder());

    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
    parser[HTTPParser.kOnHeaders] = (lines: string[]) => {
      for (const line of lines) this.flushedHeaders.push(line);
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      _major: number,
      _minor: number,
      lines: string[] | undefined,
      _method: unknown,
      _url: unknown,
      status: number,
      _text: string,
      _upgrade: boolean,
      keepAlive: boolean,
    ) => {
      try {
        return this.headersCame(status, lines ?? this.takeFlushedHeaders(), keepAlive);
      } catch (err) {
        return this.listenerThrew(err);
      }
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      try {
        this.bodyCame(chunk);
      } catch (err) {
        this.listenerThrew(err);
      }
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      try {
        this.answerEnded();
      } catch (err) {
        this.listenerThrew(err);
      }
    };
    parser[HTTPParser.kOnExecute] = (outcome: number | Error) => this.executed(outcome);
    this.parser = parser;
  }

  /** Sends `exchange`'s request; the answer goes to it. */
  send(exchange: Exchange): void {
    this.exchange = exchange;
    exchange.carrier = this;
    const { body } = exchange.request;
    if (body === null) {
      this.socket.write(exchange.head, 'latin1');
    } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
      // One writev for head and body.
      this.socket.cork();
      this.socket.write(exchange.head, 'latin1');
      this.socket.write(body);
      this.socket.uncork();
    } else {
      this.socket.write(exchange.head, 'latin1');
      this.stream(body, exchange.declaredLength);
    }
  }

  /** Closes it (idle, or the pool is closing): nothing is in flight. */
  close(): void {
    this.destroy(http1Error(http1ErrorCodes.POOL_CLOSED, 'the connection was closed'));
  }

  destroy(reason: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    this.stopBody?.();
    this.socket.destroy();
    releaseParser(this.parser);
    const exchange = this.exchange;
    this.exchange = undefined;
    this.owner.closed(this, !this.connected);
    exchange?.fail(reason);
  }

  readOn(): void {
    if (!this.readPaused || this.closed) return;
    this.readPaused = false;
    startReading(this.socket, this.readHandle);
  }

  private pauseReading(): void {
    this.readPaused = true;
    stopReading(this.socket, this.readHandle);
  }

  private read(chunk: Buffer): void {
    if (this.exchange === undefined) return this.unasked();
    this.executed(this.parser.execute(chunk));
  }

  /** After a read is parsed (by `read`, or by the parser reading the socket itself). */
  private executed(outcome: number | Error): void {
    if (this.closed) return;
    // Bytes while no exchange waits (those just after an answer are `strayBytes`).
    if (this.exchange === undefined && !this.answered) return this.unasked();
    if (outcome instanceof Error) return this.destroy(outcome);
    if (!this.answered) return;
    this.answered = false;
    this.parser[HTTPParser.kOnMessageBegin] = undefined;
    if (this.keepAlive && this.stopBody === undefined && !this.strayBytes) {
      if (this.readPaused) this.readOn();
      this.owner.released(this);
    } else {
      this.close();
    }
  }

  /**
   * The exchange's listener threw: it cannot go on, nor can the connection. Caught here, in the
   * parser's callback, because a throw out of a read the parser took itself would be uncaught.
   */
  private listenerThrew(err: unknown): 1 {
    this.destroy(err instanceof Error ? err : new Error(String(err)));
    return 1;
  }

  private unasked(): void {
    this.destroy(http1Error(http1ErrorCodes.UNEXPECTED_DATA, 'the upstream sent bytes no request asked for'));
  }

  private headersCame(status: number, lines: string[], keepAlive: boolean): number {
    const exchange = this.exchange;
    if (exchange === undefined || this.closed) {
      this.destroy(http1Error(http1ErrorCodes.UNEXPECTED_DATA, 'the upstream sent an answer no request asked for'));
      return 1;
    }
    if (status < 200) {
      if (status === 101) {
        this.destroy(http1Error(http1ErrorCodes.UNEXPECTED_DATA, 'the upstream switched protocols unasked'));
        return 1;
      }
      // 100 Continue (unasked) or 103 Early Hints: the answer follows.
      this.interim = true;
      return 1;
    }
    this.keepAlive = keepAlive;
    this.noteKeepAliveHint(lines);
    if (!exchange.headers(status, lines)) this.pauseReading();
    // A HEAD's answer has no body whatever its content-length says.
    return exchange.request.method === 'HEAD' ? 1 : 0;
  }

  private bodyCame(chunk: Buffer): void {
    const exchange = this.exchange;
    if (exchange !== undefined && !exchange.data(chunk) && !this.readPaused) this.pauseReading();
  }

  private answerEnded(): void {
    this.flushedHeaders.length = 0; // trailers, if any: not passed on
    if (this.interim) {
      this.interim = false;
      return;
    }
    const exchange = this.exchange;
    if (exchange === undefined) return;
    this.exchange = undefined;
    this.answered = true;
    // Until this read is parsed (`executed`): any byte after the answer begins another message.
    // Not listened to otherwise, as a parser callback into JS per answer costs a few percent.
    this.parser[HTTPParser.kOnMessageBegin] = this.strayMessage;
    exchange.complete();
  }

  private readonly strayMessage = (): void => {
    this.strayBytes = true;
  };

  /** The socket closed without us closing it first: an answer under way is cut off. */
  private closedUnder(): void {
    if (this.closed) return;
    this.destroy(http1Error(http1ErrorCodes.CLOSED_EARLY, 'the upstream closed the connection before the answer was complete'));
  }

  /** The upstream ended its side: an answer read until close is complete now. */
  private ended(): void {
    if (this.closed) return;
    const outcome = this.parser.finish();
    if (outcome instanceof Error) {
      this.destroy(
        http1Error(http1ErrorCodes.CLOSED_EARLY, 'the upstream closed the connection before the answer was complete', outcome),
      );
    }
  }

  private connectTimedOut(): void {
    if (this.connected) return;
    const { host, port, connectTimeoutMs } = this.options;
    this.destroy(
      http1Error(http1ErrorCodes.CONNECT_TIMEOUT, `no connection to ${host}:${port} within ${connectTimeoutMs} ms`),
    );
  }

  private takeFlushedHeaders(): string[] {
    const lines = this.flushedHeaders;
    this.flushedHeaders = [];
    return lines;
  }

  /** `Keep-Alive: timeout=N` (seconds): keep it idle a little less than that. Parsed when it changes. */
  private noteKeepAliveHint(lines: readonly string[]): void {
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const name = lines[i] as string;
      if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
      const hint = lines[i + 1] as string;
      if (hint === this.lastHint) return;
      this.lastHint = hint;
      const seconds = /(?:^|[\s,])timeout\s*=\s*(\d+)/i.exec(hint)?.[1];
      if (seconds !== undefined) this.keepIdleMs = Math.max(0, Number(seconds) * 1000 - KEEP_ALIVE_MARGIN_MS);
      return;
    }
  }

  /**
   * A streamed body: as it comes (chunked unless its length was declared), paused while the socket
   * is full. Until it ends the connection is not reusable; an answer before that closes it.
   */
  private stream(body: Readable, declaredLength: number | undefined): void {
    const socket = this.socket;
    const chunked = declaredLength === undefined;
    let sent = 0;
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (bytes.length === 0) return;
      sent += bytes.length;
      if (!chunked && sent > declaredLength) {
        return this.destroy(
          http1Error(http1ErrorCodes.BODY_FAILED, `the request body is longer than its content-length ${declaredLength}`),
        );
      }
      let room: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${bytes.length.toString(16)}\r\n`, 'latin1');
        socket.write(bytes);
        room = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else {
        room = socket.write(bytes);
      }
      if (!room) body.pause();
    };
    const onDrain = () => body.resume();
    const onEnd = () => {
      if (!chunked && sent !== declaredLength) {
        return this.destroy(
          http1Error(http1ErrorCodes.BODY_FAILED, `the request body ended at ${sent} of ${declaredLength} bytes`),
        );
      }
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
      detach();
    };
    const onError = (err: Error) => this.destroy(http1Error(http1ErrorCodes.BODY_FAILED, 'the request body failed', err));
    const detach = () => {
      this.stopBody = undefined;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      socket.off('drain', onDrain);
    };
    this.stopBody = () => {
      detach();
      // Nobody will read the rest: let its source know (an incoming request, a file).
      body.destroy();
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    socket.on('drain', onDrain);
  }
}
