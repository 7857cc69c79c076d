// The moleculer contender's gateway: moleculer-web 0.11 in its own broker process, mapping
// GET /products/:id to the `products.get` action of the service broker over NATS.
import moleculer from 'moleculer';
import ApiGateway from 'moleculer-web';
import { exitWithParent } from './exit-with-parent.js';
import { portFromEnv } from './server-env.js';

const port = portFromEnv();
const broker = new moleculer.ServiceBroker({
  namespace: process.env.MOLECULER_NAMESPACE ?? 'bench',
  nodeID: `bench-web-${process.pid}`,
  transporter: { type: 'NATS', options: { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' } },
  logger: false,
});

broker.createService({
  name: 'api',
  mixins: [ApiGateway],
  settings: {
    port,
    ip: '127.0.0.1',
    // As quiet as the other peers: no per-request log lines.
    logRequest: null,
    logResponse: null,
    routes: [{ path: '/', aliases: { 'GET /products/:id': 'products.get' }, mappingPolicy: 'restrict' }],
  },
});

await broker.start();
// The action lives in another broker: wait until that node has announced it.
await broker.waitForServices(['products'], 30_000);
exitWithParent();
const stop = () => {
  broker.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stderr.write(`READY http://127.0.0.1:${port}\n`);
