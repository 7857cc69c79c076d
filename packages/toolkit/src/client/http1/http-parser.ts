import { createRequire } from 'node:module';

/**
 * Node's llhttp binding, as `node:http`'s client drives it (`lib/_http_common.js`, `_http_client.js`):
 * not documented API, but its shape has been stable since Node 12, and `engines` pins the Node
 * versions this is tested on. No public API offers a response parser without request and
 * response objects around it.
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
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
}

export const HTTPParser = (createRequire(import.meta.url)('_http_common') as { HTTPParser: HTTPParserClass }).HTTPParser;
