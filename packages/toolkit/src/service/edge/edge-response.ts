import { type OutgoingHttpHeaders, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { INVALID_VALUE, TOKEN } from '../../wire/header-syntax.js';
import type { EdgeRequest } from './edge-request.js';

/**
 * What a relay writes an answer through: the part of `ServerResponse` the gateway uses, so one
 * relay serves Node's responses (the full path) and the edge's.
 */
export interface ClientResponse {
  statusCode: number;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers?: OutgoingHttpHeaders | string[]): this;
  /**
   * `writeHead` with `[name, value, …]` lines known valid (read by llhttp, which refuses what
   * `writeHead` would, or made so), not tested again. The edge's response has it, Node's not.
   */
  writeCheckedHead?(status: number, lines: readonly string[]): this;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): this;
  destroy(err?: Error): this;
  once(event: 'close' | 'drain' | 'finish', listener: () => void): this;
  off(event: 'close' | 'drain' | 'finish', listener: () => void): this;
}

/** The connection a response is written to (`EdgeConnection`). */
export interface ResponseCarrier {
  readonly socket: Socket;
  /** False once the server stops taking requests: the response then closes its connection. */
  mayKeepOpen(): boolean;
  /** Seconds for the `Keep-Alive: timeout=` hint; 0 for none. */
  readonly keepAliveHintS: number;
  /** The `Date` header's value now. */
  date(): string;
  /** The response is written out; `keepOpen`: the connection may carry the next request. */
  responded(res: EdgeResponse, keepOpen: boolean): void;
}

/** Up to this size a body goes out in one latin1 string with its head; larger ones by writev. */
const ONE_STRING_MAX = 8 * 1024;

/**
 * The answer to an `EdgeRequest`, written straight to its socket the way Node's `ServerResponse`
 * would put it on the wire — status line, the given headers (checked as Node checks them), `Date`,
 * `Connection` and the `Keep-Alive` hint, chunked framing when no `content-length` is given (close
 * framing for HTTP/1.0), no body for HEAD, 1xx, 204 and 304 — but held back until the first body
 * bytes, so head and a small body leave in one write. Events, each listener heard once (`once`,
 * `off`: what a relay needs, without an EventEmitter and its once-wrappers per request): `finish`
 * once the last byte is handed to the kernel, `close` after it or when the connection goes
 * first, `drain`.
 */
export class EdgeResponse implements ClientResponse {
  statusCode = 200;
  writableFinished = false;
  private head: string | undefined;
  private headWritten = false;
  private ended = false;
  private closed = false;
  private chunked = false;
  private bodiless = false;
  private keepOpen = false;
  private onFinish: Listeners = undefined;
  private onClose: Listeners = undefined;
  private onDrain: Listeners = undefined;

  constructor(
    private readonly request: EdgeRequest,
    private readonly carrier: ResponseCarrier,
  ) {}

  once(event: ResponseEvent, listener: () => void): this {
    if (event === 'finish') this.onFinish = added(this.onFinish, listener);
    else if (event === 'close') this.onClose = added(this.onClose, listener);
    else this.onDrain = added(this.onDrain, listener);
    return this;
  }

  off(event: ResponseEvent, listener: () => void): this {
    if (event === 'finish') this.onFinish = removed(this.onFinish, listener);
    else if (event === 'close') this.onClose = removed(this.onClose, listener);
    else this.onDrain = removed(this.onDrain, listener);
    return this;
  }

  /** The socket took what was buffered: `drain` listeners go on writing. */
  drained(): void {
    const listeners = this.onDrain;
    this.onDrain = undefined;
    fire(listeners);
  }

  get destroyed(): boolean {
    return this.carrier.socket.destroyed;
  }

  writeHead(status: number, headers: OutgoingHttpHeaders | string[] = []): this {
    return this.putHead(status, headers, false);
  }

  writeCheckedHead(status: number, lines: readonly string[]): this {
    return this.putHead(status, lines, true);
  }

  private putHead(status: number, headers: OutgoingHttpHeaders | readonly string[], checked: boolean): this {
    if (this.headWritten) throw nodeError('ERR_HTTP_HEADERS_SENT', 'Cannot write headers after they are sent to the client', Error);
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw nodeError('ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${status}`, RangeError);
    }
    const lines = new HeadLines(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`);
    if (Array.isArray(headers)) {
      const list = headers as readonly string[];
      for (let i = 0; i + 1 < list.length; i += 2) lines.add(list[i] as string, list[i + 1] as string, checked);
    } else {
      const map = headers as OutgoingHttpHeaders;
      for (const name in map) {
        const value = map[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) for (const v of value) lines.add(name, v, false);
        else lines.add(name, String(value), false);
      }
    }

    const method = this.request.method;
    const bodiless = method === 'HEAD' || status < 200 || status === 204 || status === 304;
    let keepOpen = this.request.keepAlive && !lines.close && this.carrier.mayKeepOpen();
    let chunked = lines.chunked;
    if (!bodiless && !lines.length && !chunked) {
      if (this.request.httpVersionMinor >= 1) {
        lines.text += 'Transfer-Encoding: chunked\r\n';
        chunked = true;
      } else {
        keepOpen = false; // HTTP/1.0: the body ends where the connection does
      }
    }
    if (!lines.date) lines.text += `Date: ${this.carrier.date()}\r\n`;
    if (keepOpen) {
      if (!lines.connection) lines.text += 'Connection: keep-alive\r\n';
      const hint = this.carrier.keepAliveHintS;
      if (hint > 0 && !lines.keepAlive) lines.text += `Keep-Alive: timeout=${hint}\r\n`;
    } else if (!lines.close) {
      lines.text += 'Connection: close\r\n';
    }

    this.head = `${lines.text}\r\n`;
    this.headWritten = true;
    this.statusCode = status;
    this.bodiless = bodiless;
    this.chunked = chunked && !bodiless;
    this.keepOpen = keepOpen;
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (this.ended) return false;
    if (!this.headWritten) this.writeHead(this.statusCode);
    const body = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    return this.send(this.bodiless ? undefined : body, false);
  }

  end(chunk?: Buffer | string): this {
    if (this.ended) return this;
    if (!this.headWritten) this.writeHead(this.statusCode);
    this.ended = true;
    const body = chunk === undefined || this.bodiless ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.send(body, true);
    return this;
  }

  /** Cuts the connection: a client must not take a broken-off body for a whole one. */
  destroy(): this {
    this.carrier.socket.destroy();
    return this;
  }

  /** The connection closed: said once, unless the response was out already. */
  gone(): void {
    if (this.closed) return;
    this.closed = true;
    const listeners = this.onClose;
    this.onClose = undefined;
    fire(listeners);
  }

  private send(body: Buffer | undefined, last: boolean): boolean {
    const socket = this.carrier.socket;
    const bytes = body === undefined ? 0 : body.length;
    let before = this.head ?? '';
    this.head = undefined;
    let after = '';
    if (this.chunked) {
      if (bytes > 0) {
        before += `${bytes.toString(16)}\r\n`;
        after = '\r\n';
      }
      if (last) after += '0\r\n\r\n';
    }
    const done = last ? this.written : undefined;
    if (bytes === 0) {
      if (before === '' && after === '') {
        if (done === undefined) return true;
        // Everything before is with the kernel already: no empty write(2) just to be told so.
        if (socket.writableLength === 0 && socket.writable) {
          process.nextTick(done);
          return true;
        }
        return socket.write('', 'latin1', done);
      }
      return socket.write(before + after, 'latin1', done);
    }
    if (bytes <= ONE_STRING_MAX) return socket.write(before + (body as Buffer).toString('latin1') + after, 'latin1', done);
    socket.cork();
    if (before !== '') socket.write(before, 'latin1');
    let ok = after === '' ? socket.write(body as Buffer, done) : socket.write(body as Buffer);
    if (after !== '') ok = socket.write(after, 'latin1', done);
    socket.uncork();
    return ok;
  }

  private readonly written = (err?: Error | null): void => {
    // A failed write ends with the connection's close (`gone`).
    if (err) return;
    this.writableFinished = true;
    this.carrier.responded(this, this.keepOpen);
    const listeners = this.onFinish;
    this.onFinish = undefined;
    fire(listeners);
    this.gone();
  };
}

type ResponseEvent = 'close' | 'drain' | 'finish';

/** An event's listeners: none, one (the usual case: no array), or several in the order added. */
type Listeners = (() => void) | (() => void)[] | undefined;

function added(listeners: Listeners, listener: () => void): Listeners {
  if (listeners === undefined) return listener;
  if (typeof listeners === 'function') return [listeners, listener];
  listeners.push(listener);
  return listeners;
}

/** Without the last-added registration of `listener`, as EventEmitter's `off` removes it. */
function removed(listeners: Listeners, listener: () => void): Listeners {
  if (listeners === listener) return undefined;
  if (typeof listeners !== 'object') return listeners;
  const at = listeners.lastIndexOf(listener);
  if (at >= 0) listeners.splice(at, 1);
  return listeners.length === 0 ? undefined : listeners;
}

function fire(listeners: Listeners): void {
  if (typeof listeners === 'function') listeners();
  else if (listeners !== undefined) for (const listener of listeners) listener();
}

/** A response head being put together, and what its headers say about framing. */
class HeadLines {
  length = false;
  chunked = false;
  date = false;
  connection = false;
  close = false;
  keepAlive = false;

  constructor(public text: string) {}

  /** `checked`: known valid (`writeCheckedHead`); otherwise tested as Node tests it. */
  add(name: string, value: string, checked: boolean): void {
    if (!checked) {
      if (!TOKEN.test(name)) throw nodeError('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`, TypeError);
      if (INVALID_VALUE.test(value)) throw nodeError('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`, TypeError);
    }
    this.text += `${name}: ${value}\r\n`;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'date') this.date = true;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          this.connection = true;
          if (/(?:^|,)\s*close\s*(?:,|$)/i.test(value)) this.close = true;
        } else if (name.toLowerCase() === 'keep-alive') {
          this.keepAlive = true;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') this.length = true;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding' && /chunked/i.test(value)) this.chunked = true;
        break;
    }
  }
}

function nodeError(code: string, message: string, Kind: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor): Error {
  return Object.assign(new Kind(message), { code });
}
