import { hostname } from 'node:os';
import pino from 'pino';
import pinoPretty from 'pino-pretty';
import { redactSecrets } from './redact.js';

export interface LoggerOptions {
  /** pino level (`fatal`…`trace`, or `silent`). Default `info`. */
  level?: string;
  /** Logged as `name` on every line, e.g. the service name. */
  name?: string;
  /** Fields on every line, added to `pid` and `hostname`. */
  base?: Record<string, unknown>;
  /** Where lines go. Default stdout. */
  destination?: pino.DestinationStream;
  /**
   * Coloured lines for a person instead of JSON (pino-pretty). Default: when writing to stdout
   * and stdout is a terminal; files, pipes and log collectors always get JSON lines.
   */
  pretty?: boolean;
}

/** JSON lines (one object per line) with ISO timestamps; what every meshkit process logs with. */
export function createLogger(options: LoggerOptions = {}): pino.Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: { pid: process.pid, hostname: hostname(), ...options.base },
    timestamp: isoTimeByMillisecond,
    // Secrets out of every line, this logger's children's included.
    formatters: { log: redactSecrets },
  };
  if (options.name !== undefined) settings.name = options.name;
  const pretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  if (pretty) {
    const stream = pinoPretty({
      colorize: options.destination === undefined,
      sync: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      ...(options.destination === undefined ? {} : { destination: options.destination as NodeJS.WritableStream }),
    });
    return marked(pino(settings, stream));
  }
  return marked(pino(settings, options.destination ?? bufferedStdout()));
}

/** How long a line may wait in the buffer of stdout when the process is quiet. */
const FLUSH_EVERY_MS = 100;
/** At most PIPE_BUF per write: a write of whole lines that never interleaves with another writer's. */
const WRITE_BYTES = 4096;
/** A write is due once this much is buffered (sonic-boom wants it below the write size). */
const GATHER_BYTES = 2048;

/**
 * stdout through a 4 KiB buffer, written off the main thread: under load many lines go in one
 * write (pino's default makes one threadpool write per line, which cost a proxied request about
 * 13 µs), and a quiet process still shows each line within 100 ms. Lines still buffered are
 * written when the process exits (pino flushes at exit); a SIGKILL loses at most those.
 */
function bufferedStdout(): pino.DestinationStream {
  const stream = pino.destination({ dest: 1, sync: false, minLength: GATHER_BYTES, maxWrite: WRITE_BYTES });
  const timer = setInterval(() => {
    // sonic-boom keeps no public count; flushing an empty buffer would write zero bytes each time.
    const state = stream as unknown as { _len: number; destroyed: boolean };
    if (!state.destroyed && state._len > 0) stream.flush();
  }, FLUSH_EVERY_MS);
  timer.unref();
  return stream;
}

let stampedAt = Number.NaN;
let stamp = '';

/** pino's `isoTime`, formatted once per millisecond: a busy process writes many lines in one. */
function isoTimeByMillisecond(): string {
  const now = Date.now();
  if (now !== stampedAt) {
    stampedAt = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

const REDACTS_ITSELF = Symbol('meshkit.redactsItself');

function marked(logger: pino.Logger): pino.Logger {
  // Children inherit it: pino makes a child with its parent as prototype.
  (logger as unknown as Record<symbol, boolean>)[REDACTS_ITSELF] = true;
  return logger;
}

/** Whether `logger` (or its root) came from `createLogger` and so redacts secrets itself. */
export function redactsItself(logger: object): boolean {
  return (logger as Record<symbol, unknown>)[REDACTS_ITSELF] === true;
}
