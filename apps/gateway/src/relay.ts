import type { OutgoingHttpHeaders } from 'node:http';
import {
  type ClientResponse,
  type ForwardHandle,
  MeshError,
  type RawHeaders,
  type RawServiceRequest,
  type ServiceDispatcher,
  type ServiceInstance,
  type UpstreamSink,
} from '@meshkit/toolkit/core';
import { clientResponseHeaderList } from './headers.js';

/** The client's side of a relayed request: its response, and how the edge around it answers. */
export interface RelayTarget {
  res: ClientResponse;
  requestId: string;
  /** Headers already meant for the client (CORS, fault marks); the upstream's go over them. */
  ownHeaders(): OutgoingHttpHeaders;
  /** The response is written here from now on (Fastify: hijack). */
  committed(): void;
  /** No answer came, or its head cannot be passed on: answer this instead. */
  problem(err: MeshError): void;
  /** True while the gateway drains: the connection closes after this response. */
  closing(): boolean;
  /** Told which instance answered. */
  upstream(instance: ServiceInstance): void;
  log: { info(obj: object, msg: string): void };
}

/**
 * Sends `request` to `service` and streams the answer to the client as its bytes arrive. The
 * response is committed at the upstream's first body byte (or its end), so an upstream that breaks
 * off before that is still a 502 problem; one that breaks off later cuts the client's connection.
 * The client hanging up stops the upstream work; a slow client pauses the upstream (backpressure).
 */
export function relay(client: ServiceDispatcher, service: string, request: RawServiceRequest, target: RelayTarget): void {
  new Relay(service, target).start(client, request);
}

/**
 * One relayed request: the sink the service client streams the answer into. One object with
 * methods rather than a closure per callback (this runs for every proxied request); the client's
 * `drain` is listened to only once a write was refused.
 */
class Relay implements UpstreamSink {
  private head: { status: number; headers: RawHeaders } | undefined;
  private committed = false;
  private handle: ForwardHandle | undefined;
  private readonly onClose = () => {
    if (!this.target.res.writableFinished) this.handle?.abort();
  };
  private readonly onDrain = () => this.handle?.resume();

  constructor(
    private readonly service: string,
    private readonly target: RelayTarget,
  ) {}

  start(client: ServiceDispatcher, request: RawServiceRequest): void {
    this.target.res.once('close', this.onClose);
    this.handle = client.forward(this.service, request, this);
  }

  headers(status: number, headers: RawHeaders, instance: ServiceInstance): boolean {
    this.head = { status, headers };
    this.target.upstream(instance);
    return true;
  }

  data(chunk: Buffer): boolean {
    if (!this.committed && !this.commit()) return false;
    if (this.target.res.write(chunk)) return true;
    // Paused until the client has taken what is buffered (the service client stops reading).
    this.target.res.once('drain', this.onDrain);
    return false;
  }

  end(): void {
    const { res } = this.target;
    res.off('close', this.onClose);
    if (!this.committed && !this.commit()) return;
    res.off('drain', this.onDrain);
    res.end();
  }

  error(err: MeshError): void {
    const { res } = this.target;
    res.off('close', this.onClose);
    res.off('drain', this.onDrain);
    if (this.committed) {
      // Mid-body: the client must not take a cut body for a whole one.
      res.destroy(err);
      return;
    }
    if (res.destroyed) {
      // Nobody is listening any more; the access log still hears of it.
      this.target.log.info({ service: this.service }, 'client closed the request before the upstream answered');
    }
    this.target.problem(
      err.status === 502 && this.head !== undefined
        ? new MeshError('UPSTREAM_FAILED', `${this.service} broke off its response`, { cause: err })
        : err,
    );
  }

  private commit(): boolean {
    this.committed = true;
    const { status, headers } = this.head as { status: number; headers: RawHeaders };
    const own = this.target.ownHeaders();
    const out = clientResponseHeaderList(headers, { own, requestId: this.target.requestId, close: this.target.closing() });
    const { res } = this.target;
    try {
      // The upstream's lines as llhttp read them, the request id (checked, or a UUID) and
      // `connection: close` are valid as they are; the gateway's own headers are tested.
      if (res.writeCheckedHead !== undefined && isEmpty(own)) res.writeCheckedHead(status, out);
      else res.writeHead(status, out);
    } catch (err) {
      // A header Node refuses to send (a forbidden character): the upstream's fault.
      this.handle?.abort();
      this.target.problem(
        new MeshError('UPSTREAM_FAILED', `${this.service} sent a header that cannot be passed on`, { cause: err }),
      );
      return false;
    }
    this.target.committed();
    return true;
  }
}

function isEmpty(headers: OutgoingHttpHeaders): boolean {
  for (const _ in headers) return false;
  return true;
}
