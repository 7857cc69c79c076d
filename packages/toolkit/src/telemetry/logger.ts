import { hostname } from 'node:os';
import pino from 'pino';

export interface LoggerOptions {
  /** pino level (`fatal`…`trace`, or `silent`). Default `info`. */
  level?: string;
  /** Logged as `name` on every line, e.g. the service name. */
  name?: string;
  /** Fields on every line, added to `pid` and `hostname`. */
  base?: Record<string, unknown>;
  /** Where lines go. Default stdout. */
  destination?: pino.DestinationStream;
}

/** JSON lines (one object per line) with ISO timestamps; what every meshkit process logs with. */
export function createLogger(options: LoggerOptions = {}): pino.Logger {
  const settings: pino.LoggerOptions = {
    level: options.level ?? 'info',
    base: { pid: process.pid, hostname: hostname(), ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.name !== undefined) settings.name = options.name;
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
