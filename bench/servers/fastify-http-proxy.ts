// @fastify/http-proxy 11 as its README shows it: the whole path space proxied to one upstream.
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { exitWithParent } from './exit-with-parent.js';
import { listenAndAnnounce, upstreamFromEnv } from './server-env.js';

const app = Fastify({ logger: false });
await app.register(proxy, { upstream: upstreamFromEnv(), http2: false });
exitWithParent();
await listenAndAnnounce(app, () => app.close());
