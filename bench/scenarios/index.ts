import type { Scenario } from '../lib/scenario.js';
import { clientVsPool } from './client-vs-pool.js';
import { gatewayWorkers } from './gateway-workers.js';
import { idleConnections } from './idle-connections.js';
import { registryIo } from './registry-io.js';
import { slowInstance } from './slow-instance.js';

/** The extra scenarios `npm run bench` runs after the proxy table (`--only <name>` picks one). */
export const scenarios: Scenario[] = [registryIo, clientVsPool, slowInstance, idleConnections, gatewayWorkers];
