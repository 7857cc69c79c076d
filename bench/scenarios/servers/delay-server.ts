// A tiny HTTP server for the client scenarios: answers every request with the bench's product JSON,
// after DELAY_MS (0: at once). Plain node:http, so what is measured in front of it is the client.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { benchProduct } from '../../lib/product.js';
import { exitWithParent } from '../../servers/exit-with-parent.js';

const delayMs = Number(process.env.DELAY_MS ?? 0);
const body = JSON.stringify(benchProduct);
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) };

const server = http.createServer((req, res) => {
  const answer = () => {
    res.writeHead(200, headers);
    res.end(body);
  };
  req.resume();
  if (delayMs > 0) setTimeout(answer, delayMs);
  else answer();
});
server.keepAliveTimeout = 120_000;

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stderr.write(`READY http://127.0.0.1:${port}\n`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
exitWithParent();
