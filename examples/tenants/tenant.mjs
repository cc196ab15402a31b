// One tenant of the demo server (main.mjs tells the whole story): its memtable and its three kinds of work, each
// labelled { tenant }, so a filter on that label selects exactly this tenant's workers and tasks.
//
// The pipeline: ingest(rows) → memtable.pending → flush task → a segment → uploader; each flush also wakes the
// compaction worker.
//
// | work       | kind         | made with                        | flags               | stops when                              |
// |------------|--------------|----------------------------------|---------------------|-----------------------------------------|
// | compaction | 'compaction' | scope.register (a worker thread) | ephemeral           | termination requested (shutdownWorkers, the scope's end) |
// | flush      | 'flush'      | scope.spawn (this thread)        | ephemeral           | its signal aborts (shutdownTasks, the scope's end), or a flush fails |
// | upload     | 'upload'     | scope.spawn (this thread)        | ephemeral, precious | its signal aborts; it then finishes its last upload and returns |
//
// The memtable is a Poison: every change to it is made inside memtable.use(fn). The flush numbered `failFlushAt`
// throws half-way (half the rows written, then "disk full"), which leaves rows neither pending nor in a segment;
// use() poisons the memtable when fn throws, so every later use — the next ingest() — throws PoisonedError. The
// flush task fails with that error; it is not precious, so only this tenant is hurt. The uploader is precious:
// if it failed, the whole server scope would abort (a lost upload is lost data). Its cancel is not a failure: a
// precious task that stops because it was cancelled aborts nothing.
//
// `slowLastUpload`: on its cancel the uploader finishes a last upload that ends only once the supervisor has
// logged "still waiting for upload/<tenant> to shut down" (log.mjs), or the scope aborts. That is the demo's
// deliberately slow task, and why its complaint is printed on any machine.
//
// A tenant's states: serving → broken, once any of its three stopped (shut down, a failed flush, a crash): its
// exit, seen by start()'s watchers, aborts `#broken`, and every wait for a round (next()) then rejects instead
// of hanging. No step waits for time to pass: each waits for an event (a Notice, a port message, a task's result).
import { EventEmitter, once } from 'node:events';
import { Poison } from 'bgworkers';

const COMPACTION = new URL('./compaction.mjs', import.meta.url);

/** A flag with one waiter: set() wakes wait(), and a set() before the wait is kept (a latch for one thread). */
class Notice {
  #set = false;
  #events = new EventEmitter();

  set() {
    this.#set = true;
    this.#events.emit('set');
  }

  /** Rejects (AbortError) when `signal` aborts first. */
  async wait(signal) {
    if (!this.#set) await once(this.#events, 'set', { signal });
    this.#set = false;
  }
}

export class Tenant {
  /** 'flushed', 'uploaded', 'compacted', each with its running count. */
  events = new EventEmitter();
  #rows = new Notice();
  #segments = new Notice();
  #queue = []; // flushed segments waiting for the uploader (not in the memtable: uploads never touch it)
  #broken = new AbortController();
  #watch;
  #failFlushAt;
  #slowLastUpload;
  #complainedAbout;

  constructor(name, { failFlushAt, slowLastUpload = false, complainedAbout }) {
    this.name = name;
    this.memtable = new Poison(`tenant ${name} memtable`, { pending: [], nextRow: 1, segments: 0 });
    this.#failFlushAt = failFlushAt;
    this.#slowLastUpload = slowLastUpload;
    this.#complainedAbout = complainedAbout;
  }

  /** Registers the compaction worker and spawns the flush and upload tasks in `scope`. */
  start(scope) {
    const labels = { tenant: this.name };
    // next() gives up when the server scope aborts or this tenant broke (one of its three stopped): no hang.
    this.#watch = AbortSignal.any([scope.signal, this.#broken.signal]);
    this.compaction = scope.register({ entry: COMPACTION, name: `compaction/${this.name}`, kind: 'compaction', labels, ephemeral: true });
    this.compaction.port.on('message', ({ compactions }) => this.events.emit('compacted', compactions));
    this.flush = scope.spawn((task) => this.#flushLoop(task), { name: `flush/${this.name}`, kind: 'flush', labels, ephemeral: true });
    this.upload = scope.spawn((task) => this.#uploadLoop(task, scope.signal), { name: `upload/${this.name}`, kind: 'upload', labels, ephemeral: true, precious: true });
    // Once any of the three stopped, however, the tenant can no longer serve a round.
    const broke = (name, exit) => this.#broken.abort(new Error(`${this.name}: ${name} stopped (${exit.reason})`, { cause: exit.error }));
    void this.compaction.waitForShutdown().then((exit) => broke(this.compaction.name, exit));
    for (const task of [this.flush, this.upload]) void task.result().then((exit) => broke(task.name, exit));
  }

  /** Adds `n` rows to the memtable and wakes the flush task. @throws PoisonedError once the memtable is poisoned. */
  ingest(n) {
    this.memtable.use((m) => {
      for (let i = 0; i < n; i++) m.pending.push(`${this.name}-row-${m.nextRow++}`);
    });
    this.#rows.set();
  }

  /**
   * Ingests `n` rows and waits until they are flushed, uploaded and compacted: what "serving" means here. The
   * listeners are added right after ingest(): the flush runs on a later tick, so no event can be missed.
   */
  async round(n) {
    this.ingest(n);
    const [flushes, uploads, compactions] = await Promise.all([this.next('flushed'), this.next('uploaded'), this.next('compacted')]);
    return { flushes, uploads, compactions };
  }

  /** Resolves with the next `event`'s value; rejects once the server scope aborted or this tenant broke. */
  async next(event) {
    try {
      const [value] = await once(this.events, event, { signal: this.#watch });
      return value;
    } catch (err) {
      throw this.#watch.aborted ? this.#watch.reason : err;
    }
  }

  async #flushLoop(task) {
    let flushes = 0;
    for (;;) {
      await this.#rows.wait(task.signal); // a cancel rejects here: the task ends `cancelled`
      const segment = this.memtable.use((m) => {
        const rows = m.pending.length;
        if (flushes + 1 === this.#failFlushAt) {
          const written = m.pending.splice(0, Math.ceil(rows / 2)); // half the rows are gone from the memtable...
          throw new Error(`disk full writing segment ${m.segments + 1}: ${written.length} of ${rows} rows written`); // ...and in no segment
        }
        m.segments++;
        return m.pending.splice(0);
      });
      flushes++;
      this.#queue.push(segment);
      this.#segments.set();
      this.compaction.latch.set();
      this.events.emit('flushed', flushes);
    }
  }

  async #uploadLoop(task, scopeSignal) {
    let uploaded = 0;
    const uploadQueued = () => {
      uploaded += this.#queue.splice(0).length;
      this.events.emit('uploaded', uploaded);
    };
    try {
      for (;;) {
        await this.#segments.wait(task.signal);
        uploadQueued();
      }
    } catch (err) {
      if (!task.signal.aborted) throw err; // a real failure: the task is precious, so it aborts the server scope
    }
    // Cancelled: finish the last upload, then stop (returning counts as `completed`).
    if (this.#slowLastUpload && !scopeSignal.aborted) {
      // A real upload holds a socket open, which keeps the process alive while it runs; this stand-in waits for a
      // log line only, so it holds a timer instead (the supervisor's complaint timer does not keep the process
      // alive: with no other worker left, the process would exit in the middle of the shutdown).
      const keepAlive = setInterval(() => {}, 60_000);
      const done = new AbortController(); // drops the abort listener once the complaint came
      await Promise.race([this.#complainedAbout(task.name), once(scopeSignal, 'abort', { signal: done.signal })]);
      done.abort();
      clearInterval(keepAlive);
    }
    uploadQueued();
    return uploaded;
  }
}
