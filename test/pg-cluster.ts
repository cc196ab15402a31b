/**
 * A private PostgreSQL cluster for tests that must stop or crash the server (the shared one on 127.0.0.1:5432 is
 * used by every other test and helper, so it is never restarted).
 *
 * States: (none) ──startCluster()──► up ──stop(mode)──► down ──start()──► up ... ──destroy()──► gone (the server
 * stopped if it was up, its directory removed). A process that exits without destroy() still stops the server
 * (an 'exit' hook), so no postmaster outlives the test run.
 *
 * initdb and postgres refuse to run as root: when we are root they run as the `postgres` OS user, in a temporary
 * directory handed to it. Binaries: BGWORKERS_PG_BIN, default /usr/lib/postgresql/15/bin. Every command has a
 * timeout.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where initdb, pg_ctl and postgres are. */
export const PG_BIN = process.env.BGWORKERS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** Whether initdb is there: without it no private cluster can be made. */
export const initdbPresent = existsSync(join(PG_BIN, 'initdb'));

const COMMAND_TIMEOUT_MS = 30_000;

/** How pg_ctl stops the server: 'fast' (connections terminated, a clean shutdown) or 'immediate' (a crash: recovery at the next start). */
export type StopMode = 'fast' | 'immediate';

/** A running private cluster. */
export interface Cluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly port: number;
  /** Stops the server (pg_ctl stop -m mode, waiting until it is down). */
  stop(mode: StopMode): Promise<void>;
  /** Starts it again on the same port, resolving once it accepts connections. */
  start(): Promise<void>;
  /** Stops the server if it is up and removes its directory. Never throws; idempotent. */
  destroy(): Promise<void>;
  /** The server's log so far (for a failure message). */
  log(): string;
}

/** Runs `cmd` as the postgres OS user when we are root, else as ourselves; rejects with its output on failure. */
function runPg(cmd: string, args: string[]): Promise<void> {
  const [file, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args]] : [join(PG_BIN, cmd), args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: COMMAND_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve();
    });
  });
}

/** A TCP port free on 127.0.0.1 now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** initdb, then start the server on a free port (trust auth, fsync off, sockets in its own directory). */
export async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bgw-pgc-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const logFile = join(dir, 'log');
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  let up = false;
  let gone = false;
  const stopSync = (): void => {
    if (!up) return;
    up = false;
    const args = ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '10'];
    try {
      if (process.getuid?.() === 0) execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), ...args], { stdio: 'ignore', timeout: 15_000 });
      else execFileSync(join(PG_BIN, 'pg_ctl'), args, { stdio: 'ignore', timeout: 15_000 });
    } catch {
      // already down
    }
  };
  process.once('exit', stopSync);
  const start = async (): Promise<void> => {
    await runPg('pg_ctl', ['start', '-D', data, '-l', logFile, '-w', '-t', '30', '-o', opts]);
    up = true;
  };
  const cluster: Cluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: async (mode) => {
      await runPg('pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '30']);
      up = false;
    },
    start,
    destroy: async () => {
      if (gone) return;
      gone = true;
      if (up) await runPg('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '10']).then(() => (up = false), () => stopSync());
      process.off('exit', stopSync);
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
  try {
    await runPg('initdb', ['-D', data, '--auth=trust', '-U', 'postgres', '-N', '-E', 'UTF8']);
    await start();
  } catch (e) {
    await cluster.destroy();
    throw e;
  }
  return cluster;
}
