import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import {
  type ForwardHandle,
  MeshError,
  type RawHeaders,
  type RawServiceRequest,
  type ServiceDispatcher,
  type ServiceInstance,
} from '@meshkit/toolkit';
import { clientResponseHeaderList } from './headers.js';

/** The client's side of a relayed request: its response, and how the edge around it answers. */
export interface RelayTarget {
  res: ServerResponse;
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
  const { res } = target;
  let head: { status: number; headers: RawHeaders } | undefined;
  let committed = false;
  let handle: ForwardHandle | undefined;
  const onClose = () => {
    if (!res.writableFinished) handle?.abort();
  };
  const onDrain = () => handle?.resume();
  const commit = (): boolean => {
    committed = true;
    const { status, headers } = head as { status: number; headers: RawHeaders };
    const out = clientResponseHeaderList(headers, {
      own: target.ownHeaders(),
      requestId: target.requestId,
      close: target.closing(),
    });
    try {
      res.writeHead(status, out);
    } catch (err) {
      // A header Node refuses to send (a forbidden character): the upstream's fault.
      handle?.abort();
      target.problem(new MeshError('UPSTREAM_FAILED', `${service} sent a header that cannot be passed on`, { cause: err }));
      return false;
    }
    target.committed();
    res.on('drain', onDrain);
    return true;
  };

  res.once('close', onClose);
  handle = client.forward(service, request, {
    headers: (status, headers, instance) => {
      head = { status, headers };
      target.upstream(instance);
      return true;
    },
    data: (chunk) => {
      if (!committed && !commit()) return false;
      return res.write(chunk);
    },
    end: () => {
      res.off('close', onClose);
      if (!committed && !commit()) return;
      res.off('drain', onDrain);
      res.end();
    },
    error: (err) => {
      res.off('close', onClose);
      res.off('drain', onDrain);
      if (committed) {
        // Mid-body: the client must not take a cut body for a whole one.
        res.destroy(err);
        return;
      }
      if (res.destroyed) {
        // Nobody is listening any more; the access log still hears of it.
        target.log.info({ service }, 'client closed the request before the upstream answered');
      }
      target.problem(
        err.status === 502 && head !== undefined
          ? new MeshError('UPSTREAM_FAILED', `${service} broke off its response`, { cause: err })
          : err,
      );
    },
  });
}
