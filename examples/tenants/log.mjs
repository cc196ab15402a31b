// The demo's logger: pino at level info (the level of the "still waiting for …" lines), each record printed as one
// readable stdout line, `tenants: log: <level> <msg> key=value ...`, so the log and the demo's own lines come out
// in one order on one stream.
//
// It also remembers which names the supervisor complained about ("still waiting for <name> to shut down"):
// `complainedAbout(name)` resolves once that line was logged (at once if it was already). The slow uploader
// (tenant.mjs) uses it to finish its last upload only after the complaint, so the demo prints the same lines on
// any machine, however loaded; a real slow upload would simply take longer than complainAfterMs.
import pino from 'pino';

const COMPLAINT = 'still waiting for ';

export function demoLogger() {
  const complained = new Set();
  const waiters = new Map(); // name -> resolve functions
  const stream = {
    write(line) {
      const { level, msg, ...fields } = JSON.parse(line);
      console.log(`tenants: log: ${pino.levels.labels[level]} ${msg}${format(fields)}`);
      if (msg.startsWith(COMPLAINT) && typeof fields.name === 'string') {
        complained.add(fields.name);
        for (const resolve of waiters.get(fields.name) ?? []) resolve();
        waiters.delete(fields.name);
      }
    },
  };
  // No pid, hostname or time: they would only make the lines differ from run to run.
  const logger = pino({ level: 'info', base: undefined, timestamp: false }, stream);
  const complainedAbout = (name) =>
    complained.has(name)
      ? Promise.resolve()
      : new Promise((resolve) => waiters.set(name, [...(waiters.get(name) ?? []), resolve]));
  return { logger, complainedAbout };
}

function format(fields) {
  return Object.entries(fields)
    .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('');
}
