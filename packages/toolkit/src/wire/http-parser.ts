import { createRequire } from 'node:module';

/**
 * Node's llhttp binding, as `node:http` drives it (`lib/_http_common.js`, `_http_client.js`,
 * `_http_server.js`): not documented API, but its shape has been stable since Node 12, and
 * `engines` pins the Node versions this is tested on. No public API offers a parser without
 * request and response objects around it. The upstream client (`client/http1/`) parses answers
 * with it, the gateway's edge (`service/edge/`) requests.
 */
export interface HTTPParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or the parse error (`code` HPE_*). */
  execute(data: Buffer): number | Error;
  /** The peer ended: completes an answer read until close, or says why it cannot. */
  finish(): undefined | Error;
  close(): void;
  [callback: number]: (...args: never[]) => unknown;
}

interface HTTPParserClass {
  new (): HTTPParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
}

const common = createRequire(import.meta.url)('_http_common') as { HTTPParser: HTTPParserClass; methods: string[] };

export const HTTPParser = common.HTTPParser;

/** Method names by the number llhttp reports a request's method as. */
export const httpMethods: readonly string[] = common.methods;
