// The backend of the meshkit contenders: a meshkit service (defineService) registered in Redis as
// `product-service`, answering GET /products/:id with a fixed product, so `meshkit run gateway`
// routes /products/* to it by its default route table and discovers it for real. No database:
// the backend's own work stays small and the same for every contender in front of it.
import {
  createLogger,
  createRegistry,
  defineService,
  loadConfig,
  onShutdownSignals,
} from '@meshkit/toolkit';
import { Type } from 'typebox';
import { benchProduct } from '../lib/product.js';
import { exitWithParent } from './exit-with-parent.js';

const ProductWire = Type.Object({
  id: Type.String(),
  name: Type.String(),
  price: Type.Number(),
  description: Type.String(),
  stock: Type.Integer(),
  created_at: Type.Number(),
  updated_at: Type.Number(),
});

const config = loadConfig();
const logger = createLogger({ level: config.logLevel, name: 'bench-backend' });
const registry = createRegistry(config.redisUrl, { logger, prefix: config.registryPrefix });
const service = await defineService(
  {
    name: 'product-service',
    routes(app) {
      app.get(
        '/products/:id',
        { schema: { params: Type.Object({ id: Type.String() }), response: { 200: ProductWire } } },
        async (request) => ({ ...benchProduct, id: request.params.id }),
      );
    },
  },
  {
    port: config.port ?? 0,
    host: config.host,
    registry,
    ttlMs: config.registryTtlMs,
    heartbeatMs: config.heartbeatMs,
    drainDelayMs: 0,
    logger,
  },
);
await service.start();
onShutdownSignals(async () => {
  await service.stop();
  await registry.close();
});
exitWithParent();
// The harness reads this line (the logs go elsewhere: stderr, or /dev/null).
process.stderr.write(`READY ${service.url}\n`);
