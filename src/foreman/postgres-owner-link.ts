/**
 * A foreman's dedicated PostgreSQL connection while it is attached: it holds the owner's session advisory lock
 * (others see the owner alive exactly while it is held) and LISTENs for wake-ups.
 *
 * Why a connection of its own: a session advisory lock lives as long as the session, so it cannot sit on a pooled
 * connection; and when this process dies, the server ends the session and frees the lock — which is how other
 * foremen see this owner gone without waiting for leases.
 *
 * States (`#state`), all moved by this object on the event loop:
 *
 *   connecting ──lock + owner row + LISTEN done──► ready ──'error'/'end' of the client──► reconnecting
 *   reconnecting ──same steps done──► ready (wake-up listeners called once: the foreman catches up by claiming)
 *   reconnecting ──a step failed──► reconnecting (after RECONNECT_DELAY_MS, doubling up to MAX_RECONNECT_DELAY_MS)
 *   any ──close()──► closed (the client ended: lock released, no more reconnects)
 *
 * Invariants:
 *  1. The lock is taken before the owner row is written: a row whose lock is free is always a gone owner.
 *  2. Errors of the client never escape: the 'error' event is always handled (a dropped connection must not
 *     crash the process); they are logged and lead to a reconnect.
 *  3. While the connection is down the owner may be seen gone and its claims taken over; its late completions
 *     then fail by fence, which is what a taken-over claim must do.
 */
import type pg from 'pg';
import { QueueError } from '../errors.js';
import type { PgStatements } from './postgres-sql.js';
import type { AttachOptions } from './queue.js';

/** Idle time before the owner connection's first TCP keepalive probe (then the kernel's interval and count). */
export const OWNER_KEEPALIVE_MS = 10_000;

/** First wait before reconnecting a dropped link: short, since claims of this owner may be taken over meanwhile. */
const RECONNECT_DELAY_MS = 50;
/** Longest wait between reconnect attempts while the server stays unreachable. */
const MAX_RECONNECT_DELAY_MS = 5_000;

type LinkState = 'connecting' | 'ready' | 'reconnecting' | 'closed';

/** The attached owner's connection: advisory lock, owner row, LISTEN; re-established when it drops. */
export class PgOwnerLink {
  readonly #pg: typeof pg;
  readonly #config: pg.ClientConfig;
  readonly #sql: PgStatements;
  readonly #options: AttachOptions;
  readonly #lockKey: string;
  readonly #listeners = new Set<() => void>();
  #client: pg.Client | undefined;
  #state: LinkState = 'connecting';
  #delay = RECONNECT_DELAY_MS;
  #timer: NodeJS.Timeout | undefined;

  private constructor(pgModule: typeof pg, config: pg.ClientConfig, sql: PgStatements, options: AttachOptions, lockKey: string) {
    this.#pg = pgModule;
    this.#config = config;
    this.#sql = sql;
    this.#options = options;
    this.#lockKey = lockKey;
  }

  /** Connects, takes the owner's lock, registers the owner and LISTENs; QueueError if any step fails. */
  static async open(pgModule: typeof pg, config: pg.ClientConfig, sql: PgStatements, options: AttachOptions, lockKey: string): Promise<PgOwnerLink> {
    const link = new PgOwnerLink(pgModule, config, sql, options, lockKey);
    try {
      await link.#establish();
    } catch (e) {
      link.#state = 'closed';
      throw e instanceof QueueError ? e : new QueueError(`postgres queue: attaching owner ${options.owner.id}`, e);
    }
    link.#state = 'ready';
    return link;
  }

  /** Whether the owner's lock is held now (false while reconnecting: others may be taking its claims over). */
  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** Adds a wake-up listener; returns its remover. */
  onWakeup(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Ends the connection for good (the lock goes with it). Never throws. */
  async close(): Promise<void> {
    this.#state = 'closed';
    clearTimeout(this.#timer);
    const c = this.#client;
    this.#client = undefined;
    if (c) await c.end().catch(() => undefined);
  }

  async #establish(): Promise<void> {
    // Named so that operators (and tests) can find an owner's session in pg_stat_activity.
    // TCP keepalive: an idle owner connection sends nothing, so without it a path cut in a partition (the server
    // having ended this session) would go unnoticed: no NOTIFY, and claims for an owner with no row.
    const client = new this.#pg.Client({
      keepAlive: true, keepAliveInitialDelayMillis: OWNER_KEEPALIVE_MS, ...this.#config, application_name: `bgworkers foreman ${this.#options.owner.id}`,
    });
    // invariant 2: handled before connect, so no error of this client is ever unhandled.
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, undefined));
    client.on('notification', () => this.#wake());
    this.#client = client;
    try {
      await client.connect();
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [this.#lockKey]);
      if (rows[0]?.locked !== true) throw new QueueError(`postgres queue: the advisory lock of owner ${this.#options.owner.id} is held by another session`);
      const o = this.#options.owner;
      await client.query(this.#sql.registerOwner, [o.id, o.pid, o.host, o.startTime, this.#lockKey]); // invariant 1
      await client.query(this.#sql.listen);
    } catch (e) {
      this.#client = undefined;
      await client.end().catch(() => undefined);
      throw e;
    }
  }

  #lost(client: pg.Client, err: Error | undefined): void {
    if (client !== this.#client || this.#state === 'closed' || this.#state === 'reconnecting') return;
    if (this.#state === 'connecting') return; // establish() sees the failure itself
    this.#state = 'reconnecting';
    this.#client = undefined;
    client.end().catch(() => undefined);
    this.#options.logger.warn({ err, owner: this.#options.owner.id }, 'postgres queue: owner connection lost, reconnecting');
    this.#delay = RECONNECT_DELAY_MS;
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => void this.#reconnect(), this.#delay);
    this.#timer.unref();
  }

  async #reconnect(): Promise<void> {
    if (this.#state !== 'reconnecting') return;
    try {
      await this.#establish();
    } catch (err) {
      if (this.#state !== 'reconnecting') return;
      this.#options.logger.warn({ err, owner: this.#options.owner.id }, 'postgres queue: reconnecting the owner connection failed');
      this.#delay = Math.min(this.#delay * 2, MAX_RECONNECT_DELAY_MS);
      this.#schedule();
      return;
    }
    if (this.#state !== 'reconnecting') {
      await this.close();
      return;
    }
    this.#state = 'ready';
    this.#options.logger.info({ owner: this.#options.owner.id }, 'postgres queue: owner connection re-established');
    this.#wake(); // notifications sent while it was down are lost: one catch-up wake-up
  }

  #wake(): void {
    for (const l of [...this.#listeners]) {
      try {
        l();
      } catch (err) {
        this.#options.logger.warn({ err }, 'postgres queue: a wake-up listener threw');
      }
    }
  }
}
