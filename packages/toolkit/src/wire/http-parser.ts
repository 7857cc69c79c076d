import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/**
 * Node's llhttp binding, as `node:http` drives it (`lib/_http_common.js`, `_http_client.js`,
 * `_http_server.js`): not documented API, but its shape has been stable since Node 12, and
 * `engines` pins the Node versions this is tested on. No public API offers a parser without
 * request and response objects around it. The upstream client (`client/http1/`) parses answers
 * with it, the gateway's edge (`service/edge/`) requests.
 */
export interface HTTPParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or the parse error (`code` HPE_*). */
  execute(data: Buffer): number | Error;
  /** The peer ended: completes an answer read until close, or says why it cannot. */
  finish(): undefined | Error;
  close(): void;
  /** Reads `stream` itself, in C++: each read is executed as it comes and `kOnExecute` told the outcome. */
  consume(stream: StreamHandle): void;
  /** Gives reading back to the socket (no-op when not consuming). */
  unconsume(): void;
  /** A copy of the read `kOnExecute` was called for. */
  getCurrentBuffer(): Buffer;
  /** A callback by its `kOn…` index; one left undefined is not called (llhttp parses on). */
  [callback: number]: ((...args: never[]) => unknown) | undefined;
}

interface HTTPParserClass {
  new (): HTTPParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
}

const common = createRequire(import.meta.url)('_http_common') as { HTTPParser: HTTPParserClass; methods: string[] };

export const HTTPParser = common.HTTPParser;

/** Method names by the number llhttp reports a request's method as. */
export const httpMethods: readonly string[] = common.methods;

/** The libuv stream under a socket (`socket._handle`), as a consuming parser and Node's `net` use it. */
export interface StreamHandle {
  readonly isStreamBase?: boolean;
  /** Every byte read so far, consumed reads included. */
  readonly bytesRead: number;
  /** `net`'s own note of whether it reads; kept true to what `readStart`/`readStop` did. */
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

/**
 * Lets `parser` read `socket` directly, as Node's HTTP server reads its connections: each read goes
 * from libuv into llhttp in C++, with no `data` event and no Buffer made for it, and the parser's
 * `kOnExecute` is told the outcome (the bytes parsed or the parse error); the end of the stream
 * and errors still come as the socket's events. Returns the stream, or undefined when the socket
 * has none that can be consumed (then feed `execute` from `data` as before). Not marked consumed,
 * so Node's server consumes it again after `unconsume` when a connection is handed to it.
 */
export function consumeSocket(parser: HTTPParser, socket: Socket): StreamHandle | undefined {
  const handle = (socket as Socket & { _handle?: (StreamHandle & { _consumed?: boolean }) | null })._handle;
  if (handle == null || handle.isStreamBase !== true || handle._consumed === true) return undefined;
  parser.consume(handle);
  return handle;
}

/**
 * Done with `parser`: no more reads go into it from now on (its socket may be handed to Node's
 * server, which consumes it again), and it is freed once the current stack has unwound — this
 * may run inside one of its own reads, and freeing it there crashes the process (Node's
 * `freeParser` defers it the same way).
 */
export function releaseParser(parser: HTTPParser): void {
  parser.unconsume();
  setImmediate(closeParser, parser);
}

function closeParser(parser: HTTPParser): void {
  parser.close();
}

/**
 * Stops reading a consumed socket; `pause()` alone would not, its reads no longer going through
 * the stream (what Node's server does on `pause`).
 */
export function stopReading(socket: Socket, handle: StreamHandle | undefined): void {
  socket.pause();
  if (handle === undefined || !handle.reading) return;
  handle.reading = false;
  handle.readStop();
}

/** Reads on after `stopReading`. */
export function startReading(socket: Socket, handle: StreamHandle | undefined): void {
  socket.resume();
  if (handle === undefined || handle.reading) return;
  handle.reading = true;
  handle.readStart();
}
