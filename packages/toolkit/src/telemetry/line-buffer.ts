import { writeSync } from 'node:fs';

export interface LineBufferOptions {
  /** The file descriptor written to (1: stdout). */
  fd: number;
  /** Whole lines are gathered up to this many bytes a write: 4096 = PIPE_BUF, never interleaved with another writer. */
  writeBytes?: number;
  /** How long a line may wait when the process is quiet. */
  flushEveryMs?: number;
  /** Called when the descriptor cannot be written (not for EAGAIN, which is retried); logging then stops. */
  onError?(err: NodeJS.ErrnoException): void;
}

/**
 * A pino destination that gathers lines and writes them with one `write(2)` per ~4 KiB from the
 * main thread. pino's asynchronous default hands every write to libuv's threadpool (two context
 * switches and a wake-up of the event loop each), and sonic-boom measures its whole pending
 * buffer again for every line; this costs a `Buffer.byteLength` of the line and an array push.
 * A quiet process still shows each line within `flushEveryMs`; lines still gathered are written
 * when the process exits, so a SIGKILL loses at most those. A descriptor that is full (a
 * non-blocking pipe answering EAGAIN) keeps its lines for the next flush instead of spinning.
 */
export class LineBuffer {
  readonly #fd: number;
  readonly #writeBytes: number;
  readonly #onError: (err: NodeJS.ErrnoException) => void;
  #lines: string[] = [];
  #bytes = 0;
  /** Bytes that a full descriptor refused, written before anything newer. */
  #pending: Buffer | undefined;
  #broken = false;
  readonly #timer: NodeJS.Timeout;
  readonly #onExit = () => this.flushSync();

  constructor(options: LineBufferOptions) {
    this.#fd = options.fd;
    this.#writeBytes = options.writeBytes ?? 4096;
    this.#onError = options.onError ?? (() => {});
    this.#timer = setInterval(() => this.flushSync(), options.flushEveryMs ?? 100);
    this.#timer.unref();
    process.once('exit', this.#onExit);
  }

  /** pino's `DestinationStream.write`: one line, newline included. */
  write(line: string): boolean {
    if (this.#broken) return true;
    const bytes = Buffer.byteLength(line);
    if (this.#bytes + bytes > this.#writeBytes && this.#bytes > 0) this.flushSync();
    this.#lines.push(line);
    this.#bytes += bytes;
    if (this.#bytes >= this.#writeBytes) this.flushSync();
    return true;
  }

  /** Writes what is gathered now (pino calls it for `fatal` lines; also at exit). */
  flushSync(): void {
    if (this.#broken) return;
    if (this.#pending !== undefined && !this.#writeOut(this.#pending)) return;
    if (this.#bytes === 0) return;
    const data = Buffer.from(this.#lines.length === 1 ? (this.#lines[0] as string) : this.#lines.join(''));
    this.#lines = [];
    this.#bytes = 0;
    this.#writeOut(data);
  }

  /** Stops the timer and the exit hook after writing what is left. */
  end(): void {
    this.flushSync();
    clearInterval(this.#timer);
    process.off('exit', this.#onExit);
  }

  /** Writes all of `data` or keeps the rest in `#pending`; false when something is left. */
  #writeOut(data: Buffer): boolean {
    let rest = data;
    try {
      while (rest.length > 0) rest = rest.subarray(writeSync(this.#fd, rest));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        this.#pending = rest;
        return false;
      }
      // EPIPE (the reader is gone) and the like: stop, as pino does on EPIPE.
      this.#broken = true;
      this.#lines = [];
      this.#bytes = 0;
      this.#pending = undefined;
      this.#onError(err as NodeJS.ErrnoException);
      return false;
    }
    this.#pending = undefined;
    return true;
  }
}
