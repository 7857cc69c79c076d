import type http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Starts `server` on a free loopback port and returns the port; `cleanups` gets the close (open
 * connections cut first, so a held request cannot keep the test waiting).
 */
export async function listenOnFreePort(server: http.Server, cleanups: (() => unknown)[]): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}
