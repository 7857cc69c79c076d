import type { Socket } from 'node:net';
import {
  HTTPParser,
  type StreamHandle,
  consumeSocket,
  httpMethods,
  releaseParser,
  startReading,
  stopReading,
} from '../../wire/http-parser.js';
import { EdgeRequest } from './edge-request.js';
import { EdgeResponse, type ResponseCarrier } from './edge-response.js';

/** What a connection needs of the edge it came in on (`HttpEdge`). */
export interface EdgeHost {
  /** The front door now: answers a request and returns true, or returns false to leave it to Node. */
  take(req: EdgeRequest, res: EdgeResponse): boolean;
  /** Gives the connection to Node's HTTP server, which reads it from here on. */
  handOff(socket: Socket): void;
  /** The connection is no longer the edge's (handed off or closed). */
  forget(connection: EdgeConnection): void;
  mayKeepOpen(): boolean;
  readonly keepAliveHintS: number;
  date(): string;
  readonly maxHeaderSize: number;
}

/** Bytes a client may send ahead (pipelining) while its request is answered; past it, reading waits. */
const AHEAD_LIMIT = 64 * 1024;

/** A socket carrying the parser's `_httpMessage` mark, which the idle sweep reads as "busy". */
type MarkedSocket = Socket & { _httpMessage?: unknown };

/**
 * One client connection on the edge. It reads each request head with Node's llhttp (stopping
 * right after the head, so it always knows where the next message starts; the parser reads the
 * socket itself, as in Node's server, see `consumeSocket`), offers it to the
 * front door, and answers one request at a time, holding back what the client sends ahead. The
 * moment anything is not the edge's to answer — the front door declines, a head is cut across
 * reads, a parse error, an upgrade, a request with a body or (HTTP/1.1) without `Host` — it gives the connection to Node's
 * HTTP server with every byte from that request's first one on (`unshift`), and Node takes it from
 * there: its limits, its errors, its timeouts, Fastify.
 */
export class EdgeConnection implements ResponseCarrier {
  private readonly parser = new HTTPParser();
  /** The socket's stream when the parser reads it; undefined: fed from `data`. */
  private readonly readHandle: StreamHandle | undefined;
  /** `readHandle.bytesRead` at the last read: how long a consumed read was. */
  private bytesSeen = 0;
  private response: EdgeResponse | undefined;
  private ahead: Buffer | undefined;
  private readPaused = false;
  private gone = false;

  // The head the parser just read (set by its callback, taken right after `execute`).
  private headRead = false;
  private major = 0;
  private minor = 0;
  private method = 0;
  private url = '';
  private lines: string[] = NO_LINES;
  private upgrade = false;
  private keepAlive = false;
  private flushedLines: string[] = [];
  private flushedUrl = '';

  constructor(
    readonly socket: Socket,
    private readonly host: EdgeHost,
  ) {
    const parser = this.parser;
    this.resetParser();
    // A head too large for one callback comes in parts first.
    parser[HTTPParser.kOnHeaders] = (lines: string[], url: string) => {
      for (const line of lines) this.flushedLines.push(line);
      this.flushedUrl += url;
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      lines: string[] | undefined,
      method: number,
      url: string | undefined,
      _status: unknown,
      _text: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      this.headRead = true;
      this.major = major;
      this.minor = minor;
      this.method = method;
      this.url = url || this.flushedUrl;
      this.lines = lines ?? this.flushedLines;
      this.flushedLines = [];
      this.flushedUrl = '';
      this.upgrade = upgrade;
      this.keepAlive = keepAlive;
      // 2: "upgrade" to llhttp, which then stops right after this head and says how long it was.
      return 2;
    };
    parser[HTTPParser.kOnBody] = noop;
    parser[HTTPParser.kOnMessageComplete] = noop;
    parser[HTTPParser.kOnExecute] = this.onExecute;
    this.readHandle = consumeSocket(parser, socket);
    this.bytesSeen = this.readHandle?.bytesRead ?? 0;
    // Also what keeps the socket flowing, so that its `end` is seen when the parser reads it.
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', noop); // `close` follows
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  get keepAliveHintS(): number {
    return this.host.keepAliveHintS;
  }

  get busy(): boolean {
    return this.response !== undefined;
  }

  mayKeepOpen(): boolean {
    return this.host.mayKeepOpen();
  }

  date(): string {
    return this.host.date();
  }

  responded(res: EdgeResponse, keepOpen: boolean): void {
    if (this.response !== res) return;
    this.response = undefined;
    (this.socket as MarkedSocket)._httpMessage = null;
    if (!keepOpen) {
      // Ends once what is written is out (Node's `destroySoon`).
      this.socket.end(() => this.socket.destroy());
      return;
    }
    const ahead = this.ahead;
    if (ahead === undefined) return;
    this.ahead = undefined;
    if (this.readPaused) {
      this.readPaused = false;
      startReading(this.socket, this.readHandle);
    }
    this.read(ahead);
  }

  /** Closes it if no request is being answered (the server is closing). */
  closeIfIdle(): void {
    if (this.response === undefined) this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.response === undefined) return this.read(chunk);
    this.holdBack(chunk);
  };

  /** A read the parser took from the socket itself, executed already. */
  private readonly onExecute = (parsed: number | Error): void => {
    const total = (this.readHandle as StreamHandle).bytesRead;
    const length = total - this.bytesSeen;
    this.bytesSeen = total;
    if (this.response === undefined) return this.parsed(parsed, length, undefined);
    // Sent ahead while an answer is under way: the parser ran over bytes that must wait their
    // turn. They are read again from the start once it is their turn.
    const bytes = this.parser.getCurrentBuffer();
    this.resetParser();
    this.holdBack(bytes);
  };

  private read(bytes: Buffer): void {
    this.parsed(this.parser.execute(bytes), bytes.length, bytes);
  }

  /** After `execute` over a read of `length` bytes (`bytes`, when at hand): answers, keeps what follows, or hands off. */
  private parsed(parsed: number | Error, length: number, bytes: Buffer | undefined): void {
    const headRead = this.headRead;
    this.headRead = false;
    if (typeof parsed !== 'number' || !headRead || !this.answer()) {
      return this.handOff(bytes ?? this.parser.getCurrentBuffer());
    }
    if (parsed < length) this.ahead = (bytes ?? this.parser.getCurrentBuffer()).subarray(parsed);
  }

  private holdBack(bytes: Buffer): void {
    this.ahead = this.ahead === undefined ? bytes : Buffer.concat([this.ahead, bytes]);
    if (this.ahead.length > AHEAD_LIMIT && !this.readPaused) {
      this.readPaused = true;
      stopReading(this.socket, this.readHandle);
    }
  }

  private resetParser(): void {
    this.parser.initialize(HTTPParser.REQUEST, {}, this.host.maxHeaderSize, 0);
    this.headRead = false;
    this.lines = NO_LINES;
    this.url = '';
    this.flushedLines = [];
    this.flushedUrl = '';
  }

  /** Offers the head just read to the front door; false when it is Node's to answer. */
  private answer(): boolean {
    if (this.upgrade || this.major !== 1) return false;
    const facts = headFacts(this.lines);
    // A body is Node's to read (the edge reads heads only); so is the 400 for HTTP/1.1 without Host.
    if ((facts & BODY) !== 0 || (this.minor === 1 && (facts & HOST) === 0)) return false;
    const req = new EdgeRequest(httpMethods[this.method] ?? '', this.url, this.lines, this.minor, this.keepAlive, this.socket);
    // The request holds them now; an idle connection keeps none of them.
    this.lines = NO_LINES;
    this.url = '';
    const res = new EdgeResponse(req, this);
    this.response = res;
    (this.socket as MarkedSocket)._httpMessage = res;
    if (this.host.take(req, res)) return true;
    this.response = undefined;
    (this.socket as MarkedSocket)._httpMessage = null;
    return false;
  }

  private handOff(bytes: Buffer | undefined): void {
    const { socket } = this;
    this.release();
    // Paused, so the bytes put back wait for Node's own `data` listener; resumed once it is there.
    socket.pause();
    if (bytes !== undefined && bytes.length > 0) socket.unshift(bytes);
    this.host.handOff(socket);
    socket.resume();
  }

  private release(): void {
    if (this.gone) return;
    this.gone = true;
    const { socket } = this;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('error', noop);
    socket.off('close', this.onClose);
    socket.off('drain', this.onDrain);
    releaseParser(this.parser);
    this.host.forget(this);
  }

  // The client's end of the stream: what is under way is abandoned (Node's server, whose
  // `httpAllowHalfOpen` is off, does the same), then the connection closes.
  private readonly onEnd = (): void => {
    if (this.response === undefined) this.socket.end();
    else this.socket.destroy();
  };

  private readonly onClose = (): void => {
    const res = this.response;
    this.response = undefined;
    this.release();
    res?.gone();
  };

  private readonly onDrain = (): void => {
    this.response?.drained();
  };
}

const NO_LINES: string[] = [];

const HOST = 1;
const BODY = 2;

/** Whether a head has a `Host` line, and whether it announces a body (`transfer-encoding`, a non-zero `content-length`). */
function headFacts(lines: readonly string[]): number {
  let facts = 0;
  for (let i = 0; i < lines.length; i += 2) {
    const name = lines[i] as string;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') facts |= HOST;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length' && (lines[i + 1] as string) !== '0') facts |= BODY;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') facts |= BODY;
        break;
    }
  }
  return facts;
}

function noop(): void {}
