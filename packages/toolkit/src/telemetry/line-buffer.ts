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
 * buffer again for every line; here a line is encoded once, straight into a reused buffer.
 * A quiet process still shows each line within `flushEveryMs`; lines still gathered are written
 * when the process exits, so a SIGKILL loses at most those. A descriptor that is full (a
 * non-blocking pipe answering EAGAIN) keeps its lines for the next flush instead of spinning.
 */
export class LineBuffer {
  readonly #fd: number;
  readonly #writeBytes: number;
  readonly #onError: (err: NodeJS.ErrnoException) => void;
  /** Lines are encoded straight into this buffer; `#used` bytes of it are gathered. */
  readonly #buffer: Buffer;
  #used = 0;
  /** Bytes that a full descriptor refused, written before anything newer. */
  #pending: Buffer | undefined;
  #broken = false;
  readonly #timer: NodeJS.Timeout;
  readonly #onExit = () => this.flushSync();

  constructor(options: LineBufferOptions) {
    this.#fd = options.fd;
    this.#writeBytes = options.writeBytes ?? 4096;
    this.#buffer = Buffer.allocUnsafe(this.#writeBytes);
    this.#onError = options.onError ?? (() => {});
    this.#timer = setInterval(() => this.flushSync(), options.flushEveryMs ?? 100);
    this.#timer.unref();
    process.once('exit', this.#onExit);
  }

  /** pino's `DestinationStream.write`: one line, newline included. */
  write(line: string): boolean {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    return this.#append(line, line.length * 3, 'utf8');
  }

  /**
   * `write` for a line its caller knows to be ASCII: encoded byte for byte (latin1), which copies
   * a concatenated line straight into the buffer; UTF-8 would first flatten it into a new string.
   */
  writeAscii(line: string): boolean {
    return this.#append(line, line.length, 'latin1');
  }

  /** Gathers `line`, at most `most` bytes encoded; flushes first unless it surely fits. */
  #append(line: string, most: number, encoding: 'utf8' | 'latin1'): boolean {
    if (this.#broken) return true;
    if (this.#used > 0 && this.#used + most > this.#writeBytes) this.flushSync();
    if (most > this.#writeBytes) {
      // A line longer than a write (rare): on its own.
      this.flushSync();
      this.#writeOut(Buffer.from(line, encoding));
      return true;
    }
    this.#used += this.#buffer.write(line, this.#used, encoding);
    return true;
  }

  /** Writes what is gathered now (pino calls it for `fatal` lines; also at exit). */
  flushSync(): void {
    if (this.#broken) return;
    if (this.#pending !== undefined && !this.#writeOut(this.#pending)) {
      // Still full: keep the gathered lines behind the refused ones.
      if (this.#used > 0) this.#pending = Buffer.concat([this.#pending, this.#buffer.subarray(0, this.#used)]);
      this.#used = 0;
      return;
    }
    if (this.#used === 0) return;
    const data = this.#buffer.subarray(0, this.#used);
    this.#used = 0;
    this.#writeOut(data);
  }

  /** Stops the timer and the exit hook after writing what is left. */
  end(): void {
    this.flushSync();
    clearInterval(this.#timer);
    process.off('exit', this.#onExit);
  }

  /** Writes all of `data` or keeps (a copy of) the rest in `#pending`; false when something is left. */
  #writeOut(data: Buffer): boolean {
    let rest = data;
    try {
      while (rest.length > 0) rest = rest.subarray(writeSync(this.#fd, rest));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        // `data` may be the line buffer, which is written over next.
        this.#pending = Buffer.from(rest);
        return false;
      }
      // EPIPE (the reader is gone) and the like: stop, as pino does on EPIPE.
      this.#broken = true;
      this.#used = 0;
      this.#pending = undefined;
      this.#onError(err as NodeJS.ErrnoException);
      return false;
    }
    this.#pending = undefined;
    return true;
  }
}
