import type { FastifyBaseLogger } from 'fastify';

export interface ShutdownOptions {
  logger?: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;
  /** Longest a graceful stop may take before the process exits with 1. Default 15000. */
  timeoutMs?: number;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * On SIGTERM or SIGINT: run `stop()` once, then exit 0 (1 when it fails). A second signal, or a
 * stop that outlasts `timeoutMs`, exits 1 at once. Returns a function that removes the handlers.
 */
export function onShutdownSignals(stop: () => Promise<void>, options: ShutdownOptions = {}): () => void {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const log = options.logger;
  let stopping = false;

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log?.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
      return;
    }
    stopping = true;
    log?.info({ signal }, 'stopping gracefully');
    const timer = setTimeout(() => {
      log?.error({ timeoutMs }, 'graceful stop took too long: exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    stop().then(
      () => {
        clearTimeout(timer);
        log?.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        log?.error({ err }, 'graceful stop failed');
        process.exit(1);
      },
    );
  };

  for (const signal of SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
}
