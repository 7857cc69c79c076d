import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** `UPSTREAM` (http://host:port) the proxy forwards to; the harness always sets it. */
export function upstreamFromEnv(): string {
  const upstream = process.env.UPSTREAM;
  if (!upstream) throw new Error('UPSTREAM must name the backend, e.g. http://127.0.0.1:8003');
  return upstream;
}

/** `PORT` (0: a free one). */
export function portFromEnv(): number {
  return Number(process.env.PORT ?? 0);
}

/** Listens on 127.0.0.1:PORT, prints `READY <url>` for the harness, and stops cleanly on SIGTERM/SIGINT. */
export async function listenAndAnnounce(app: FastifyInstance, close: () => Promise<void>): Promise<void> {
  await app.listen({ host: '127.0.0.1', port: portFromEnv() });
  const { port } = app.server.address() as AddressInfo;
  let closing = false;
  const stop = () => {
    if (closing) process.exit(1);
    closing = true;
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stderr.write(`READY http://127.0.0.1:${port}\n`);
}
