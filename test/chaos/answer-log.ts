/**
 * Which products instance answered which request, read from the instances' own request logs
 * (LOG_LEVEL=info: Fastify's `request completed` line with `pid`, `reqId` and the status). The
 * load generator sends its own `x-request-id`, which the gateway and the orders service pass on,
 * so a `GET /products/:id` and the stock reservation of a `POST /orders` both carry it.
 */
export interface Answer {
  pid: number;
  status: number;
}

const COMPLETED = '"msg":"request completed"';
const PRODUCTS = '"part":"products"';
const PID = /"pid":(\d+)/;
const REQ_ID = /"reqId":"([^"]+)"/;
const STATUS = /"statusCode":(\d+)/;

export class AnswerLog {
  private readonly answers = new Map<string, Answer[]>();

  /** Only request ids with this prefix are kept (the load generator's). */
  constructor(private readonly idPrefix = 'chaos-') {}

  /** Feeds one output line of any process; keeps it when it is a products instance's completed request. */
  feed(line: string): void {
    if (!line.includes(COMPLETED) || !line.includes(PRODUCTS)) return;
    const reqId = REQ_ID.exec(line)?.[1];
    if (reqId === undefined || !reqId.startsWith(this.idPrefix)) return;
    const pid = Number(PID.exec(line)?.[1]);
    const status = Number(STATUS.exec(line)?.[1]);
    if (!pid || !status) return;
    const list = this.answers.get(reqId);
    if (list) list.push({ pid, status });
    else this.answers.set(reqId, [{ pid, status }]);
  }

  /** Every products answer logged for a request (a retried one has several). */
  of(reqId: string): readonly Answer[] {
    return this.answers.get(reqId) ?? [];
  }

  /** The instance whose answer the client most likely got: the last non-5xx answer, else the last one. */
  answeredBy(reqId: string): number | undefined {
    const list = this.of(reqId);
    const ok = list.filter((a) => a.status < 500);
    return (ok.at(-1) ?? list.at(-1))?.pid;
  }
}
