// The benchmark runner: `npm run bench [-- <figure>...]`, `BENCH_QUICK=1` for the CI smoke test.
//
// Each figure runs in its own child process (node bench/run.mjs --figure <name>), so figures cannot disturb
// each other (JIT state, heap, threads left behind) and a figure that does not exit by itself is caught. The
// child sends its result over IPC; this process prints the table, merges it into bench/results.json and
// regenerates the generated parts of docs/benchmarks.md. A quick run only prints: its numbers are not results.
//
// Exit code: 0 when every figure ran (whether or not its targets were met: timing never fails a run), 1 when a
// figure threw, hung or did not exit by itself, 2 for an unknown figure name.
import { fork } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { fmt, sleep } from './lib.mjs';

export const FIGURES = ['check-for-interrupts', 'precious-death-latency', 'latch-pingpong', 'spawn', 'scope-throughput', 'memory', 'pool', 'pool-chunked', 'pool-concurrent', 'pool-uneven', 'pool-async', 'poison', 'hold-interrupts', 'tasks', 'coordinator', 'foreman-sqlite'];

/**
 * Node options a figure's child needs beyond this process's own (the child gets both). Declared here, not in the
 * figure module, so that the runner never loads a figure (and the library) in its own process.
 */
const EXEC_ARGV = { tasks: ['--expose-gc'] };

const RESULTS = new URL('./results.json', import.meta.url);
const DOC = new URL('../docs/benchmarks.md', import.meta.url);
/** A figure's child must report within this (the full pool and death figures take a few minutes at most). */
const FIGURE_TIMEOUT_MS = 8 * 60_000;
/** After reporting, a figure's child must have exited by itself within this: anything left running is a leak. */
const EXIT_GRACE_MS = 15_000;
/**
 * Other programs share this machine. Before each figure of a full run, wait (at most QUIET_WAIT_MAX_MS) until the
 * whole machine's CPU has been at most QUIET_BUSY busy for QUIET_SECONDS seconds in a row; the busy fraction of
 * the last of those seconds is recorded.
 */
const QUIET_BUSY = 0.15;
const QUIET_SECONDS = 3;
/**
 * A figure whose process dies by one of these signals is run again, at most MAX_CRASH_RETRIES times, and every
 * crash is recorded in its result (`crashes`) and printed: Node 20 can segfault in Atomics.notify when a worker
 * with a pending Atomics.waitAsync is exiting (docs/benchmarks.md, "Known crash").
 */
const CRASH_SIGNALS = ['SIGSEGV', 'SIGBUS', 'SIGABRT', 'SIGILL'];
const MAX_CRASH_RETRIES = 2;
const QUIET_WAIT_MAX_MS = 120_000;

const quick = process.env.BENCH_QUICK === '1';

async function child(name) {
  const mod = await import(`./${name}.mjs`);
  const loadBefore = os.loadavg();
  const t0 = performance.now();
  const res = await mod.run({ quick });
  const figure = {
    name: mod.name,
    title: mod.title,
    target: mod.target,
    date: new Date().toISOString(),
    durationS: Math.round((performance.now() - t0) / 100) / 10,
    loadavg: { before: round2(loadBefore), after: round2(os.loadavg()) },
    ...res,
  };
  process.send({ figure }, () => process.disconnect());
}

async function main(args) {
  const unknown = args.filter((a) => !FIGURES.includes(a));
  if (unknown.length > 0) {
    console.error(`bench: unknown figure ${unknown.map((u) => `"${u}"`).join(', ')}; figures: ${FIGURES.join(', ')}`);
    return 2;
  }
  const names = args.length > 0 ? FIGURES.filter((f) => args.includes(f)) : FIGURES;
  const machine = machineInfo();
  console.log(`bench: ${quick ? 'QUICK (smoke test, numbers are not results) ' : ''}${names.length} figure(s) on ${machine.cpus.count} x ${machine.cpus.model}, node ${machine.node}, load ${machine.loadavg.join(' ')}`);
  const figures = [];
  let failed = 0;
  for (const name of names) {
    console.log(`\n== ${name}`);
    const crashes = [];
    for (let attempt = 1; ; attempt++) {
      try {
        const cpuBusyBefore = quick ? null : await waitForQuiet();
        const figure = await runChild(name);
        figure.cpuBusyBefore = cpuBusyBefore;
        figure.crashes = figure.crashedAfterReport ? [...crashes, { attempt, signal: figure.crashedAfterReport, afterReport: true }] : crashes;
        delete figure.crashedAfterReport;
        figures.push(figure);
        printFigure(figure);
      } catch (err) {
        if (err.signal !== undefined && CRASH_SIGNALS.includes(err.signal) && attempt <= MAX_CRASH_RETRIES) {
          crashes.push({ attempt, signal: err.signal });
          console.error(`bench: ${name}: CRASHED with ${err.signal} (attempt ${attempt}); running it again — see docs/benchmarks.md, "Known crash"`);
          continue;
        }
        failed++;
        console.error(`bench: ${name}: FAILED: ${err?.stack ?? err}`);
      }
      break;
    }
  }
  printSummary(figures);
  if (!quick && figures.length > 0) {
    const results = mergeResults(machine, figures);
    writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(DOC, renderDoc(results));
    console.log(`\nbench: wrote ${fileURLToPath(RESULTS)} and ${fileURLToPath(DOC)}`);
  }
  return failed > 0 ? 1 : 0;
}

function runChild(name) {
  return new Promise((resolve, reject) => {
    const execArgv = [...process.execArgv, ...(EXEC_ARGV[name] ?? [])];
    const proc = fork(fileURLToPath(import.meta.url), ['--figure', name], { execArgv, stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
    let figure;
    let reportedAt;
    const fail = (why) => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail(`no result within ${FIGURE_TIMEOUT_MS / 1000} s (killed)`), FIGURE_TIMEOUT_MS);
    proc.on('message', (m) => {
      figure = m.figure;
      reportedAt = performance.now();
      clearTimeout(timer);
      // The child must now exit by itself: a thread, process or handle left behind would keep it alive.
      setTimeout(() => fail(`did not exit by itself within ${EXIT_GRACE_MS / 1000} s of reporting (something was left running)`), EXIT_GRACE_MS).unref();
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (figure === undefined) reject(Object.assign(new Error(`exited with ${signal ?? `code ${code}`} before reporting a result`), { signal: signal ?? undefined }));
      else if (signal !== null && CRASH_SIGNALS.includes(signal)) {
        // The result is complete; the crash came during teardown. Keep the result, record the crash.
        figure.crashedAfterReport = signal;
        resolve(figure);
      } else if (code !== 0) reject(new Error(`reported, then exited with ${signal ?? `code ${code}`}`));
      else {
        figure.exitAfterReportMs = Math.round(performance.now() - reportedAt);
        resolve(figure);
      }
    });
  });
}

/** Fraction (0..1) of the machine's CPU time spent busy over the next `ms`, from /proc/stat; null elsewhere. */
async function cpuBusy(ms) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
  };
  if (!existsSync('/proc/stat')) return null;
  const a = read();
  await sleep(ms);
  const b = read();
  return b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total);
}

async function waitForQuiet() {
  const deadline = performance.now() + QUIET_WAIT_MAX_MS;
  let said = false;
  let quietInARow = 0;
  for (;;) {
    const busy = await cpuBusy(1000);
    if (busy === null) return null;
    quietInARow = busy <= QUIET_BUSY ? quietInARow + 1 : 0;
    if (quietInARow >= QUIET_SECONDS) return Math.round(busy * 100) / 100;
    if (quietInARow > 0) continue;
    if (performance.now() > deadline) {
      console.log(`bench: the machine is still ${Math.round(busy * 100)}% busy; running anyway`);
      return Math.round(busy * 100) / 100;
    }
    if (!said) console.log(`bench: the machine is ${Math.round(busy * 100)}% busy; waiting for ${QUIET_SECONDS} quiet seconds (at most ${QUIET_WAIT_MAX_MS / 1000} s)`);
    said = true;
  }
}

function machineInfo() {
  const cpus = os.cpus();
  return {
    cpus: { model: cpus[0]?.model?.trim() ?? 'unknown', count: cpus.length },
    node: process.version,
    platform: `${process.platform} ${os.release()} ${process.arch}`,
    totalMemMb: Math.round(os.totalmem() / 2 ** 20),
    loadavg: round2(os.loadavg()),
  };
}

function round2(a) {
  return a.map((x) => Math.round(x * 100) / 100);
}

// ---- printing -----------------------------------------------------------------------------------------------

function printFigure(f) {
  const rows = [...Object.values(f.ours).map((s) => ['ours', s]), ...Object.values(f.baselines).map((s) => ['baseline', s])];
  const hasP99 = rows.some(([, s]) => s.p99 !== undefined);
  const head = ['', 'series', 'unit', 'n', 'min', 'median', 'max', ...(hasP99 ? ['p99'] : [])];
  const body = rows.map(([side, s]) => [side, s.label, s.unit, String(s.n), fmt(s.min), fmt(s.median), fmt(s.max), ...(hasP99 ? [fmt(s.p99)] : [])]);
  printTable(head, body);
  console.log();
  printTable(
    ['check', 'value', 'target', 'met'],
    f.checks.map((c) => [c.name, `${fmt(c.value)}${c.unit === 'x' ? 'x' : ` ${c.unit}`}`, c.target, c.met === null ? '–' : c.met ? 'yes' : 'NO']),
  );
  for (const n of f.notes) console.log(`  note: ${n}`);
  for (const c of f.crashes ?? []) console.log(`  CRASH: attempt ${c.attempt} died with ${c.signal}${c.afterReport ? ' after reporting its result (kept)' : ' and was run again'}`);
  const busy = f.cpuBusyBefore === null || f.cpuBusyBefore === undefined ? '' : `, CPU ${Math.round(f.cpuBusyBefore * 100)}% busy just before`;
  console.log(`  (${f.durationS} s, load ${f.loadavg.before.join(' ')} -> ${f.loadavg.after.join(' ')}${busy})`);
}

/**
 * The one-screen summary at the end of a run: one row per bounded check (figure, check, ours, baseline, value,
 * bound, met); for a ratio, ours and baseline are the two medians compared.
 */
function summaryRows(figures) {
  const rows = [];
  for (const f of figures) {
    for (const c of f.checks) {
      if (c.met === null) continue;
      rows.push([
        f.name, c.name,
        c.ours === undefined ? `${fmt(c.value)} ${c.unit}` : `${fmt(c.ours.median)} ${c.ours.unit}`,
        c.baseline === undefined ? '–' : `${fmt(c.baseline.median)} ${c.baseline.unit}`,
        c.unit === 'x' ? `${fmt(c.value)}x` : `${fmt(c.value)} ${c.unit}`,
        c.target, c.met ? 'yes' : 'NO',
      ]);
    }
  }
  return rows;
}

const SUMMARY_HEAD = ['figure', 'check', 'ours', 'baseline', 'value', 'bound', 'met'];

function printSummary(figures) {
  if (figures.length === 0) return;
  const rows = summaryRows(figures);
  console.log(`\n== summary: ${rows.filter((r) => r[6] === 'yes').length} of ${rows.length} bounds met`);
  printTable(SUMMARY_HEAD, rows);
}

function printTable(head, body) {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r) => `  ${r.map((c, i) => (i >= 3 && /^[\d–.,x-]/.test(c) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')}`;
  console.log(line(head));
  console.log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of body) console.log(line(r));
}

// ---- results.json and docs/benchmarks.md --------------------------------------------------------------------

/** Figures not re-run keep their last result; the machine, node version and date are the latest run's. */
function mergeResults(machine, figures) {
  let old = { figures: {} };
  if (existsSync(RESULTS)) {
    try {
      old = JSON.parse(readFileSync(RESULTS, 'utf8'));
    } catch {
      console.error('bench: bench/results.json is not valid JSON; starting a new one');
    }
  }
  const merged = { ...old.figures };
  for (const f of figures) merged[f.name] = f;
  const ordered = Object.fromEntries(FIGURES.filter((n) => merged[n]).map((n) => [n, merged[n]]));
  return { machine, date: new Date().toISOString(), figures: ordered };
}

const START = (id) => `<!-- bench:${id}:start (generated by npm run bench; do not edit) -->`;
const END = (id) => `<!-- bench:${id}:end -->`;

/** Replaces every generated block of docs/benchmarks.md; a figure without a section gets one appended. */
function renderDoc(results) {
  let doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Benchmarks\n\n' + `${START('summary')}\n${END('summary')}\n`;
  const blocks = { summary: renderSummary(results) };
  for (const f of Object.values(results.figures)) blocks[f.name] = renderFigure(f);
  for (const [id, text] of Object.entries(blocks)) {
    const start = START(id);
    const i = doc.indexOf(start);
    const j = doc.indexOf(END(id));
    if (i < 0 || j < i) {
      doc += `\n## ${id}\n\n_Not described yet._\n\n${start}\n${text}${END(id)}\n`;
    } else {
      doc = `${doc.slice(0, i + start.length)}\n${text}${doc.slice(j)}`;
    }
  }
  return doc;
}

function renderSummary(r) {
  const m = r.machine;
  const lines = [
    `Last run: ${r.date.slice(0, 10)}, ${m.cpus.count} x ${m.cpus.model}, ${m.totalMemMb} MB, node ${m.node}, ${m.platform}.`,
    '',
    '| figure | run | load (1-min, before → after) | CPU busy just before | checks met | all met | crashes |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const f of Object.values(r.figures)) {
    const bounded = f.checks.filter((c) => c.met !== null);
    const busy = f.cpuBusyBefore === null || f.cpuBusyBefore === undefined ? '–' : `${Math.round(f.cpuBusyBefore * 100)}%`;
    lines.push(`| [${f.name}](#${f.name}) | ${f.date.slice(0, 16).replace('T', ' ')} UTC, ${f.durationS} s | ${f.loadavg.before[0]} → ${f.loadavg.after[0]} | ${busy} | ${bounded.filter((c) => c.met).length}/${bounded.length} | ${f.met === null ? 'report only' : f.met ? 'yes' : '**no**'} | ${(f.crashes ?? []).length} |`);
  }
  const rows = summaryRows(Object.values(r.figures));
  lines.push('', `Every bound (${rows.filter((x) => x[6] === 'yes').length} of ${rows.length} met; for a ratio, ours and baseline are the medians compared):`, '');
  lines.push(`| ${SUMMARY_HEAD.join(' | ')} |`, `|${SUMMARY_HEAD.map(() => '---').join('|')}|`);
  for (const x of rows) lines.push(`| [${x[0]}](#${x[0]}) | ${x.slice(1, 6).join(' | ')} | ${x[6] === 'yes' ? 'yes' : '**no**'} |`);
  return `${lines.join('\n')}\n`;
}

function renderFigure(f) {
  const rows = [...Object.values(f.ours).map((s) => ['ours', s]), ...Object.values(f.baselines).map((s) => ['baseline', s])];
  const hasP99 = rows.some(([, s]) => s.p99 !== undefined);
  const lines = [
    `Run ${f.date.slice(0, 16).replace('T', ' ')} UTC, ${f.durationS} s, load average ${f.loadavg.before.join(' ')} before, ${f.loadavg.after.join(' ')} after.`,
    '',
    `| | series | unit | n | min | median | max |${hasP99 ? ' p99 |' : ''}`,
    `|---|---|---|---:|---:|---:|---:|${hasP99 ? '---:|' : ''}`,
  ];
  for (const [side, s] of rows) {
    lines.push(`| ${side} | ${s.label} | ${s.unit} | ${s.n} | ${fmt(s.min)} | ${fmt(s.median)} | ${fmt(s.max)} |${hasP99 ? ` ${s.p99 === undefined ? '' : fmt(s.p99)} |` : ''}`);
  }
  lines.push('', '| check | value | target | met |', '|---|---:|---|---|');
  for (const c of f.checks) {
    lines.push(`| ${c.name} | ${fmt(c.value)}${c.unit === 'x' ? 'x' : ` ${c.unit}`} | ${c.target} | ${c.met === null ? '–' : c.met ? 'yes' : '**no**'} |`);
  }
  if (f.notes.length > 0) lines.push('', ...f.notes.map((n) => `- ${n}`));
  for (const c of f.crashes ?? []) lines.push(`- **Crash:** attempt ${c.attempt} of this figure died with ${c.signal}${c.afterReport ? ' after reporting its result (the result is kept)' : ' and was run again'} (see "Known crash" above).`);
  return `${lines.join('\n')}\n`;
}

// Last, so that every constant above is initialised before main() runs.
if (process.argv[2] === '--figure') await child(process.argv[3]);
else process.exitCode = await main(process.argv.slice(2));
