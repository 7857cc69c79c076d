import { getPriority } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { niceWhileStarting } from './start-priority.js';
import { type ChildSpec, Supervisor, type SupervisorEvent } from './supervisor.js';

/** A small real child: announces a URL, and on SIGTERM says so and exits, as `meshkit run` does. */
const CHILD = `
const mode = process.env.MODE;
const say = (line) => process.stdout.write(line + '\\n');
if (mode === 'fail-at-start') { console.error('cannot start'); process.exit(3); }
setInterval(() => {}, 1000);
const nice = () => require('node:os').getPriority();
setTimeout(() => {
  say('starting');
  if (mode === 'report-nice') say('starting at nice ' + nice());
  console.error('a line on stderr');
  say('svc http://127.0.0.1:' + process.pid);
  if (mode === 'crash-after-up') setTimeout(() => process.exit(7), 50);
  if (mode === 'report-nice') setTimeout(() => say('up at nice ' + nice()), 100);
}, 20);
process.on('SIGTERM', () => {
  if (mode === 'ignore-term') return;
  say('stopping');
  setTimeout(() => { say('stopped'); process.exit(0); }, Number(process.env.STOP_MS ?? 0));
});
`;

function child(label: string, env: Record<string, string> = {}, stopWave = 0): ChildSpec {
  return {
    label,
    command: process.execPath,
    args: ['-e', CHILD],
    env: { PATH: process.env.PATH ?? '', ...env },
    stopWave,
    urlFrom: (line) => /^svc (http\S+)$/.exec(line)?.[1],
  };
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const running: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.kill()));
});

function supervise(specs: ChildSpec[], options: ConstructorParameters<typeof Supervisor>[1] = {}) {
  const lines: string[] = [];
  const events: SupervisorEvent[] = [];
  const supervisor = new Supervisor(specs, {
    onLine: (label, stream, line) => lines.push(`${label} ${stream} ${line}`),
    onEvent: (event) => events.push(event),
    ...options,
  });
  running.push(supervisor);
  return { supervisor, lines, events };
}

describe('Supervisor', () => {
  it('starts every child, knows each pid and URL, and passes every line through with its label', async () => {
    const { supervisor, lines } = supervise([child('a#1'), child('a#2'), child('b#1')]);
    await supervisor.start();
    const children = supervisor.children();
    expect(children.map((c) => c.label)).toEqual(['a#1', 'a#2', 'b#1']);
    for (const c of children) {
      expect(alive(c.pid)).toBe(true);
      expect(c.url).toBe(`http://127.0.0.1:${c.pid}`);
    }
    expect(new Set(children.map((c) => c.pid)).size).toBe(3);
    expect(lines).toContain('a#2 stdout starting'); // stdout is read in order: it came before the URL
    await until(() => lines.includes('b#1 stderr a line on stderr')); // another pipe: no order with stdout
    await supervisor.stop();
    for (const c of children) expect(alive(c.pid)).toBe(false);
  });

  it('restarts a child that exits, with a new pid, after the backoff', async () => {
    const { supervisor, events } = supervise([child('ok#1'), child('crashy#1', { MODE: 'crash-after-up' })], {
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await supervisor.start().catch(() => undefined); // the crashy child may crash before the other is up
    await until(() => events.filter((e) => e.type === 'up' && e.label === 'crashy#1').length >= 3);
    const exits = events.filter((e) => e.type === 'exited');
    expect(exits.length).toBeGreaterThanOrEqual(2);
    expect(exits[0]).toMatchObject({ label: 'crashy#1', code: 7, signal: null, restartInMs: 50 });
    expect(exits[1]).toMatchObject({ label: 'crashy#1', code: 7, restartInMs: 100 });
    const ups = events.filter((e) => e.type === 'up' && e.label === 'crashy#1');
    expect(new Set(ups.map((e) => (e.type === 'up' ? e.pid : 0))).size).toBe(ups.length);
    expect(ups.map((e) => (e.type === 'up' ? e.restarts : -1)).slice(0, 3)).toEqual([0, 1, 2]);
    await supervisor.stop();
  });

  it('restarts a child killed with SIGKILL and reports the signal', async () => {
    const { supervisor, events } = supervise([child('a#1')], { backoff: { initialMs: 10 } });
    await supervisor.start();
    const [first] = supervisor.children();
    process.kill(first?.pid ?? 0, 'SIGKILL');
    await until(() => supervisor.children()[0]?.url !== undefined && supervisor.children()[0]?.pid !== first?.pid);
    expect(events).toContainEqual({
      type: 'exited',
      label: 'a#1',
      pid: first?.pid,
      code: null,
      signal: 'SIGKILL',
      restartInMs: 10,
    });
    expect(supervisor.children()[0]?.restarts).toBe(1);
    await supervisor.stop();
  });

  // Giving the priority back needs root (CAP_SYS_NICE); without it the supervisor never lowers it.
  it.runIf(process.getuid?.() === 0)(
    'starts a replacement at a lower CPU priority and gives it the normal one back once it is up',
    async () => {
      const { supervisor, lines } = supervise([child('a#1', { MODE: 'report-nice' })], {
        backoff: { initialMs: 10 },
        startPriority: niceWhileStarting(7),
      });
      const own = getPriority();
      const said = (what: string) => lines.filter((l) => l.startsWith(`a#1 stdout ${what} at nice `));
      await supervisor.start();
      await until(() => said('up').length === 1);
      process.kill(supervisor.children()[0]?.pid ?? 0, 'SIGKILL');
      await until(() => said('up').length === 2);
      // The first start is not lowered; the replacement is, until it announced its URL.
      expect(said('starting')).toEqual([`a#1 stdout starting at nice ${own}`, 'a#1 stdout starting at nice 7']);
      expect(said('up')).toEqual([`a#1 stdout up at nice ${own}`, `a#1 stdout up at nice ${own}`]);
      await supervisor.stop();
    },
  );

  it('fails start when a child exits before it was ever up, instead of restarting it', async () => {
    const { supervisor, events } = supervise([child('ok#1'), child('bad#1', { MODE: 'fail-at-start' })]);
    await expect(supervisor.start()).rejects.toThrow('bad#1 exited with code 3 before it was up');
    await supervisor.stop();
    expect(events.filter((e) => e.type === 'exited')).toEqual([]);
    expect(supervisor.children().every((c) => c.pid === undefined)).toBe(true);
  });

  it('stops wave by wave: the next wave gets SIGTERM only once the one before has exited', async () => {
    const { supervisor, lines } = supervise([
      child('back#1', {}, 1),
      child('front#1', { STOP_MS: '300' }, 0),
      child('back#2', {}, 1),
    ]);
    await supervisor.start();
    const pids = supervisor.children().map((c) => c.pid);
    expect(await supervisor.stop()).toEqual([]);
    const at = (line: string) => lines.indexOf(line);
    expect(at('front#1 stdout stopped')).toBeGreaterThan(-1);
    expect(at('back#1 stdout stopping')).toBeGreaterThan(at('front#1 stdout stopped'));
    expect(at('back#2 stdout stopping')).toBeGreaterThan(at('front#1 stdout stopped'));
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('kills a child that does not stop within the timeout, and does not restart anything', async () => {
    const { supervisor, events } = supervise([child('stubborn#1', { MODE: 'ignore-term' }), child('ok#1')], {
      stopTimeoutMs: 300,
    });
    await supervisor.start();
    const pids = supervisor.children().map((c) => c.pid);
    expect(await supervisor.stop()).toEqual(['stubborn#1']);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(events.filter((e) => e.type === 'exited')).toEqual([]);
  });

  it('kill() ends every child at once without restarts', async () => {
    const { supervisor, events } = supervise([child('a#1', { MODE: 'ignore-term' }), child('b#1')], {
      backoff: { initialMs: 1 },
    });
    await supervisor.start();
    const pids = supervisor.children().map((c) => c.pid);
    await supervisor.kill();
    for (const pid of pids) expect(alive(pid)).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(events.filter((e) => e.type === 'exited')).toEqual([]);
    expect(supervisor.children().every((c) => c.pid === undefined)).toBe(true);
  });
});
