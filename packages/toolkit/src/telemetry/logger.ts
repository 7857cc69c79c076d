import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import pino from 'pino';
import type PinoPretty from 'pino-pretty';
import { LineBuffer } from './line-buffer.js';
import { redactSecrets } from './redact.js';

const require = createRequire(import.meta.url);

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
    // Loaded only here: a server writing JSON lines never needs pino-pretty (~30 modules, ~0.3 MiB
    // of heap). It is CommonJS, so `require` keeps `createLogger` synchronous.
    const pinoPretty = require('pino-pretty') as typeof PinoPretty;
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

/** stdout through a `LineBuffer`: one write per ~4 KiB of lines, from the main thread. */
function bufferedStdout(): pino.DestinationStream {
  return new LineBuffer({
    fd: 1,
    onError: (err) => process.stderr.write(`meshkit: logging stopped, stdout cannot be written (${err.code ?? err.message})\n`),
  });
}

let stampedAt = Number.NaN;
let stamp = '';
let secondAt = Number.NaN;
let secondStamp = '';

/**
 * pino's `isoTime`, made once per millisecond (a busy process writes many lines in one), and by
 * appending the milliseconds to the second's text made once per second: `toISOString` costs
 * ~7k instructions, a line a millisecond apart from the last (every line at low load) as many.
 */
function isoTimeByMillisecond(): string {
  const now = Date.now();
  if (now === stampedAt) return stamp;
  stampedAt = now;
  const ms = now % 1000;
  const second = now - ms;
  if (second !== secondAt) {
    secondAt = second;
    // `,"time":"2026-12-01T07:30:15.` — the ISO text up to its milliseconds.
    secondStamp = `,"time":"${new Date(second).toISOString().slice(0, 20)}`;
  }
  stamp = `${secondStamp}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
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
