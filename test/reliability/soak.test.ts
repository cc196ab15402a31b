/**
 * The short soak CI runs (issue 4, part 2): scripts/soak.mjs with 300 cycles in a child process. It exits non-zero
 * on a wrong outcome, a leaked slot, worker, scope, thread or process, an unhandled rejection, or RSS growth beyond
 * its bound after warm-up; the test checks the exit code and the result it prints. `npm run soak` is the long run.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../scripts/soak.mjs', import.meta.url));
const CI_CYCLES = 300;

interface SoakResult {
  ok: boolean;
  cycles: number;
  seed: number;
  rssMb: { afterWarmup: number; peak: number; end: number; growth: number; bound: number };
  threads: { atStart: number; afterWarmup: number; end: number };
  kinds: Record<string, number>;
  failures: string[];
}

function runSoak(cycles: number): Promise<{ code: number | null; result: SoakResult | undefined; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', SCRIPT, '--cycles', String(cycles), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = output.split('\n').find((l) => l.startsWith('SOAK_RESULT '));
      resolve({ code, result: line ? (JSON.parse(line.slice('SOAK_RESULT '.length)) as SoakResult) : undefined, output });
    });
  });
}

describe('soak (short)', () => {
  it(
    `${CI_CYCLES} scope cycles: every outcome right, nothing leaked, RSS within its bound`,
    async () => {
      const { code, result, output } = await runSoak(CI_CYCLES);
      expect(result, output).toBeDefined();
      expect(result!.failures, `seed ${result!.seed}`).toEqual([]);
      expect(code, output).toBe(0);
      expect(result!.ok).toBe(true);
      expect(result!.cycles).toBe(CI_CYCLES);
      expect(Object.keys(result!.kinds).length).toBeGreaterThanOrEqual(5); // the menu was exercised
      const summary = `soak: ${CI_CYCLES} cycles (seed ${result!.seed}), RSS ${JSON.stringify(result!.rssMb)}`;
      expect(result!.rssMb.growth, summary).toBeLessThanOrEqual(result!.rssMb.bound);
      expect(result!.threads.end, summary).toBeLessThanOrEqual(result!.threads.atStart);
    },
    120_000,
  );
});
