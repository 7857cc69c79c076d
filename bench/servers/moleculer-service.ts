// The backend of the moleculer contender: a moleculer 0.15 service in its own broker process,
// reached over NATS. It answers the same product JSON as the meshkit backend.
import moleculer from 'moleculer';
import { benchProduct } from '../lib/product.js';
import { exitWithParent } from './exit-with-parent.js';

const broker = new moleculer.ServiceBroker({
  namespace: process.env.MOLECULER_NAMESPACE ?? 'bench',
  nodeID: `bench-service-${process.pid}`,
  transporter: { type: 'NATS', options: { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' } },
  logger: false,
});

broker.createService({
  name: 'products',
  actions: {
    get: {
      params: { id: 'string' },
      handler(ctx: moleculer.Context<{ id: string }>) {
        return { ...benchProduct, id: ctx.params.id };
      },
    },
  },
});

await broker.start();
exitWithParent();
const stop = () => {
  broker.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stderr.write('READY moleculer-service\n');
