import { type IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

type AddHeaderLine = (this: { joinDuplicateHeaders: boolean }, name: string, value: string, into: IncomingHttpHeaders) => void;

/**
 * How `IncomingMessage#headers` folds repeated lines (joined with ", ", "; " for cookie, the
 * first kept for singletons such as content-type, set-cookie as an array). Node's own method,
 * so the edge's `headers` equal what a request handler would see.
 */
const addHeaderLine = (IncomingMessage.prototype as unknown as { _addHeaderLine: AddHeaderLine })._addHeaderLine;
const NODE_DEFAULTS = { joinDuplicateHeaders: false };
const MAX_HEADER_ENTRIES = 2000;

/** A request whose head the edge has read: what a front door decides on. No body is read. */
export class EdgeRequest {
  private folded: IncomingHttpHeaders | undefined;

  constructor(
    readonly method: string,
    readonly url: string,
    /** Name, value, name, value… as they came (latin1). */
    readonly rawHeaders: readonly string[],
    /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
    readonly httpVersionMinor: number,
    /** Whether the client asked to keep the connection open after this exchange. */
    readonly keepAlive: boolean,
    readonly socket: Socket,
  ) {}

  /** Lower-case names, repeated lines folded as Node folds them; made on first use. */
  get headers(): IncomingHttpHeaders {
    if (this.folded !== undefined) return this.folded;
    const folded: IncomingHttpHeaders = {};
    const raw = this.rawHeaders;
    // Node folds the first 1,000 lines only (its parser's maxHeaderPairs, 2,000 names and values).
    const n = Math.min(raw.length, MAX_HEADER_ENTRIES);
    for (let i = 0; i + 1 < n; i += 2) addHeaderLine.call(NODE_DEFAULTS, raw[i] as string, raw[i + 1] as string, folded);
    this.folded = folded;
    return folded;
  }
}
