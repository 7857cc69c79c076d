import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LineBuffer } from './line-buffer.js';

const dirs: string[] = [];
const buffers: LineBuffer[] = [];
const fds: number[] = [];
afterEach(() => {
  for (const b of buffers.splice(0)) b.end();
  for (const fd of fds.splice(0)) closeSync(fd);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshkit-line-buffer-'));
  dirs.push(dir);
  return dir;
}

function open(path: string, flags: number): number {
  const fd = openSync(path, flags);
  fds.push(fd);
  return fd;
}

function buffer(options: ConstructorParameters<typeof LineBuffer>[0]): LineBuffer {
  const b = new LineBuffer(options);
  buffers.push(b);
  return b;
}

/** A FIFO opened for reading and writing without blocking: what a log collector's pipe looks like when full. */
function fifo(): { fd: number; drain(): string } {
  const path = join(tempDir(), 'pipe');
  execFileSync('mkfifo', [path]);
  const fd = open(path, constants.O_RDWR | constants.O_NONBLOCK);
  const drain = () => {
    const chunks: Buffer[] = [];
    const chunk = Buffer.alloc(65536);
    for (;;) {
      try {
        const n = readSync(fd, chunk);
        if (n === 0) break;
        chunks.push(Buffer.from(chunk.subarray(0, n)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw err;
      }
    }
    return Buffer.concat(chunks).toString('latin1');
  };
  return { fd, drain };
}

/** Lines of one length (LINE bytes), numbered. */
const line = (i: number) => `{"n":"${String(i).padStart(3, '0')}","pad":"${'x'.repeat(80)}"}\n`;
const LINE = line(0).length;

describe('LineBuffer', () => {
  it('gathers lines and writes them whole and in order, up to 4 KiB a write', () => {
    const { fd, drain } = fifo();
    const out = buffer({ fd, flushEveryMs: 60_000 });
    const lines = Array.from({ length: 100 }, (_, i) => line(i));
    for (const l of lines.slice(0, 30)) out.write(l);
    // 30 lines of 101 bytes: 3,030 bytes, still gathered.
    expect(drain()).toBe('');
    for (const l of lines.slice(30)) out.write(l);
    const written = drain();
    // Writes happened at line boundaries only; what is written is a prefix of the lines, whole.
    expect(written.length).toBeGreaterThan(4096);
    expect(written.length % LINE).toBe(0);
    expect(written).toBe(lines.slice(0, written.length / LINE).join(''));
    out.flushSync();
    expect(written + drain()).toBe(lines.join(''));
  });

  it('writes lines of any length and any characters byte for byte', () => {
    const { fd, drain } = fifo();
    const out = buffer({ fd, flushEveryMs: 60_000 });
    const lines = [
      '{"msg":"café, 10 €, 🚀"}\n',
      `{"long":"${'é'.repeat(3000)}"}\n`,
      ...Array.from({ length: 200 }, (_, i) => `{"i":${i},"s":"${'€'.repeat(i % 50)}"}\n`),
    ];
    for (const l of lines) out.write(l);
    out.flushSync();
    expect(Buffer.from(drain(), 'latin1').toString('utf8')).toBe(lines.join(''));
  });

  it('writes ASCII lines (writeAscii) byte for byte, in order with the others, a long one on its own', () => {
    const { fd, drain } = fifo();
    const out = buffer({ fd, flushEveryMs: 60_000 });
    const lines: string[] = [];
    for (let i = 0; i < 120; i++) {
      const ascii = i % 3 !== 0;
      const l = ascii ? line(i) : `{"n":${i},"s":"é€"}\n`;
      lines.push(l);
      if (ascii) out.writeAscii(l);
      else out.write(l);
      if (i === 60) {
        const long = `{"long":"${'x'.repeat(5000)}"}\n`;
        lines.push(long);
        out.writeAscii(long);
      }
    }
    const early = drain();
    // Written at line boundaries only, before the end.
    expect(early.length).toBeGreaterThan(4096);
    out.flushSync();
    expect(Buffer.from(early + drain(), 'latin1').toString('utf8')).toBe(lines.join(''));
  });

  it('writes a quiet process its lines within flushEveryMs', async () => {
    const { fd, drain } = fifo();
    const out = buffer({ fd, flushEveryMs: 20 });
    out.write(line(1));
    expect(drain()).toBe('');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(drain()).toBe(line(1));
  });

  it('keeps what a full pipe refuses and writes it, before anything newer, once the pipe has room', () => {
    const { fd, drain } = fifo();
    // Fill the pipe to the brim.
    const filler = Buffer.alloc(4096, '.');
    let filled = '';
    for (;;) {
      try {
        writeSync(fd, filler);
        filled += filler.toString('latin1');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw err;
      }
    }
    const errors: unknown[] = [];
    const out = buffer({ fd, flushEveryMs: 60_000, onError: (err) => errors.push(err) });
    const lines = Array.from({ length: 120 }, (_, i) => line(i));
    for (const l of lines.slice(0, 60)) out.write(l);
    expect(drain()).toBe(filled);
    for (const l of lines.slice(60)) out.write(l);
    out.flushSync();
    out.flushSync();
    expect(drain()).toBe(lines.join(''));
    expect(errors).toEqual([]);
  });

  it('stops, and says so once, when the reader is gone (EPIPE)', () => {
    const path = join(tempDir(), 'pipe');
    execFileSync('mkfifo', [path]);
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = open(path, constants.O_WRONLY | constants.O_NONBLOCK);
    closeSync(reader);
    const errors: NodeJS.ErrnoException[] = [];
    const out = buffer({ fd: writer, flushEveryMs: 60_000, onError: (err) => errors.push(err) });
    out.write(line(1));
    out.flushSync();
    out.write(line(2));
    out.flushSync();
    expect(errors.map((e) => e.code)).toEqual(['EPIPE']);
  });

  it('writes the lines still gathered when the process exits', () => {
    const file = join(tempDir(), 'out.log');
    // The built module (npm test builds first): a plain node process runs no TypeScript.
    const module = fileURLToPath(new URL('../../dist/telemetry/line-buffer.js', import.meta.url));
    const script = `
      import { openSync } from 'node:fs';
      import { LineBuffer } from ${JSON.stringify(module)};
      const out = new LineBuffer({ fd: openSync(${JSON.stringify(file)}, 'w'), flushEveryMs: 60_000 });
      out.write('first\\n');
      out.write('second\\n');
      process.exit(3);
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script]);
    expect(child.status, String(child.stderr)).toBe(3);
    expect(readFileSync(file, 'utf8')).toBe('first\nsecond\n');
  });
});
