/**
 * G14's complaining, on a fake clock: "still waiting for <name>" exactly at complainAfterMs and then every
 * complainEveryMs for each member still running, "<name> shut down after N s" for a complained-about member
 * when it stops, nothing for a member that stopped in time; timeoutMs calls onTimeout once with the stragglers,
 * and a report from it ends the wait at once and cannot be overwritten later.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { waitComplaining, type ShutdownClock } from '../../src/registrant/filtered-shutdown.js';
import { memoryDestination } from '../json-lines.js';

class FakeClock implements ShutdownClock {
  t = 0;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(id: unknown): void {
    this.#timers = this.#timers.filter((x) => x.id !== id);
  }
  /** Moves time to `to`, firing due timers in order. */
  async advanceTo(to: number): Promise<void> {
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const due = this.#timers[0];
      if (due === undefined || due.at > to) break;
      this.#timers.shift();
      this.t = due.at;
      due.fn();
      await flush();
    }
    this.t = to;
    await flush();
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function gate<T>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  return { promise: new Promise<T>((r) => (open = r)), open };
}

function setup() {
  const { stream, lines } = memoryDestination();
  const logger = pino({ level: 'info', base: undefined, timestamp: false }, stream);
  const msgs = (): string[] => lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  return { logger, msgs, lines };
}

const member = (name: string, done: Promise<string>) => ({ name, kind: 'compactor', labels: { tenant: 'a' }, since: Date.now(), done });

describe('waitComplaining', () => {
  it('complains at complainAfterMs, then every complainEveryMs, about exactly the ones still running', async () => {
    const clock = new FakeClock();
    const { logger, msgs, lines } = setup();
    const fast = gate<string>();
    const slow = gate<string>();
    const result = waitComplaining([member('fast', fast.promise), member('slow', slow.promise)], { timeoutMs: Infinity, complainAfterMs: 1000, complainEveryMs: 60_000 }, logger, () => undefined, clock);
    fast.open('fast exit');
    await clock.advanceTo(999);
    expect(msgs()).toEqual([]);
    await clock.advanceTo(1000);
    expect(msgs()).toEqual(['still waiting for slow to shut down']);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, name: 'slow', kind: 'compactor', labels: { tenant: 'a' } });
    await clock.advanceTo(60_999);
    expect(msgs()).toHaveLength(1);
    await clock.advanceTo(61_000);
    expect(msgs()).toEqual(['still waiting for slow to shut down', 'still waiting for slow to shut down']);
    await clock.advanceTo(62_500);
    slow.open('slow exit');
    await flush();
    expect(msgs().at(-1)).toBe('slow shut down after 62.5 s');
    expect(await result).toEqual(['fast exit', 'slow exit']);
    await clock.advanceTo(500_000);
    expect(msgs()).toHaveLength(3); // no timer left behind
  });

  it('timeoutMs: onTimeout gets the stragglers once; a report ends the wait and is not overwritten later', async () => {
    const clock = new FakeClock();
    const { logger } = setup();
    const a = gate<string>();
    const b = gate<string>();
    const calls: number[][] = [];
    const result = waitComplaining([member('a', a.promise), member('b', b.promise)], { timeoutMs: 500, complainAfterMs: 1000, complainEveryMs: 1000 }, logger, (pending) => {
      calls.push([...pending]);
      return pending.map(() => 'still running');
    }, clock);
    a.open('a exit');
    await flush();
    await clock.advanceTo(500);
    const out = await result;
    expect(calls).toEqual([[1]]);
    expect(out).toEqual(['a exit', 'still running']);
    b.open('b exit late');
    await flush();
    expect(out).toEqual(['a exit', 'still running']);
  });

  it('timeoutMs with onTimeout going on waiting (workers forced): resolves when they stop', async () => {
    const clock = new FakeClock();
    const a = gate<string>();
    let forced = 0;
    const result = waitComplaining([member('a', a.promise)], { timeoutMs: 100, complainAfterMs: 50, complainEveryMs: 1000 }, undefined, () => {
      forced++;
      return undefined;
    }, clock);
    await clock.advanceTo(100);
    expect(forced).toBe(1);
    a.open('forced exit');
    expect(await result).toEqual(['forced exit']);
  });

  it('no members: resolves at once with nothing', async () => {
    expect(await waitComplaining([], { timeoutMs: Infinity, complainAfterMs: 0, complainEveryMs: 1 }, undefined, () => undefined, new FakeClock())).toEqual([]);
  });
});
