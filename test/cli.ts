/**
 * Runs an example's CLI as a child process, as a user would: its exit code or signal, what it printed, and an
 * optional signal sent once one of its output streams shows a cue (an event, not a sleep). The run is killed
 * (SIGKILL) after `timeoutMs`, below the calling test's timeout, so a hang fails the test and leaves nothing.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Sends `signal` once the `on` stream's output so far matches `when` (per line for stdout, whole for stderr). */
export interface CliCue {
  signal: NodeJS.Signals;
  when: RegExp;
  on: 'stdout' | 'stderr';
  /** Send it to the child's process group, as Ctrl-C in a terminal does (the child is started as a group leader). */
  group?: boolean;
}

/** Runs `node <cli> ...args` from the repository root; throws if a cue was given and never met. */
export async function runCli(cli: string, args: string[], cue: CliCue | undefined, timeoutMs: number): Promise<CliRun> {
  const child = spawn(process.execPath, [cli, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL', detached: cue?.group === true });
  const send = (sig: NodeJS.Signals): boolean => {
    if (cue?.group !== true) return child.kill(sig);
    process.kill(-child.pid!, sig);
    return true;
  };
  try {
    const out = { stdout: '', stderr: '' };
    let sent = false;
    const met = (): boolean => (cue!.on === 'stdout' ? out.stdout.split('\n').some((l) => cue!.when.test(l)) : cue!.when.test(out.stderr));
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream].setEncoding('utf8').on('data', (s: string) => {
        out[stream] += s;
        if (cue !== undefined && !sent && cue.on === stream && met()) sent = send(cue.signal);
      });
    }
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    if (cue !== undefined && !sent) throw new Error(`${cue.signal} was never sent; stdout:\n${out.stdout}\nstderr:\n${out.stderr}`);
    return { code, signal, ...out };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
