/**
 * Validation primitives: each checks one value at the boundary and throws InvalidWorkerSpecError with the one
 * message template (errors.ts `invalidOption`), naming the field as the user wrote it.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serialize } from 'node:v8';
import { invalidOption, unknownOption } from './errors.js';

/**
 * Checks an option bag: an object with only `known` keys. `field` names the bag in errors; a nested bag (any
 * field but the top-level 'options' and 'spec') prefixes its keys with its own name (`resourceLimits.x`).
 */
export function bag(value: unknown, field: string, where: string, known: readonly string[], flagsOnUnscoped: readonly string[] = []): Record<string, unknown> {
  if (value === undefined && field === 'options') return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption(field, 'an object', value);
  const prefix = field === 'options' || field === 'spec' ? '' : `${field}.`;
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (flagsOnUnscoped.includes(key)) {
      throw invalidOption(key, 'absent on an unscoped worker (register it in a scope: scope.register())', o[key]);
    }
    if (!known.includes(key)) throw unknownOption(`${prefix}${key}`, where, known);
  }
  return o;
}

/** Resolves and checks an entry (path or file: URL); `field` names it in errors. */
export function entryOf(entry: unknown, field = 'entry'): { href: string; path: string } {
  let url: URL;
  if (typeof entry === 'string' && entry.length > 0) {
    url = entry.startsWith('file:') ? new URL(entry) : pathToFileURL(resolve(process.cwd(), entry));
  } else if (entry instanceof URL) {
    url = entry;
  } else if (entry === undefined) {
    throw invalidOption(field, 'a path or file: URL of a module (it is required)', entry);
  } else {
    throw invalidOption(field, 'a non-empty path or a file: URL', entry);
  }
  if (url.protocol !== 'file:') throw invalidOption(field, 'a file: URL', url.href);
  let path: string;
  let isFile: boolean;
  try {
    path = fileURLToPath(url); // throws for a remote host or an encoded '/'
    isFile = statSync(path, { throwIfNoEntry: false })?.isFile() ?? false; // throws for ENOTDIR, ENAMETOOLONG, NUL
  } catch (err) {
    throw invalidOption(field, 'an existing module file', url.href, err);
  }
  if (!isFile) throw invalidOption(field, 'an existing module file', path);
  return { href: url.href, path };
}

export function stringRecord(value: unknown, field: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption(field, 'an object of strings', value);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw invalidOption(`${field}.${k}`, 'a string', v);
    out[k] = v;
  }
  return out;
}

export function stringArray(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw invalidOption(field, 'an array of strings', value);
  value.forEach((v: unknown, i) => {
    if (typeof v !== 'string') throw invalidOption(`${field}[${i}]`, 'a string', v);
  });
  return [...(value as string[])];
}

export function int(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidOption(field, `an integer from ${min} to ${max}`, v);
  return v;
}

export function ms(v: unknown, field: string, required = false): number | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalidOption(field, 'a finite number of milliseconds >= 0', v);
  return v;
}

/** A grace period: like ms() but `Infinity` is allowed (never forced). */
export function graceMs(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw invalidOption(field, 'a number of milliseconds >= 0 (Infinity: never forced)', v);
  return v;
}

export function str(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw invalidOption(field, 'a non-empty string', v);
  return v;
}

export function bool(v: unknown, field: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw invalidOption(field, 'a boolean', v);
  return v;
}

/**
 * Checks that `value` can travel to a worker of `runtime`, by the copy that runtime's channel makes: a thread gets
 * a structured clone (postMessage); a process gets v8.serialize, which is what child_process's advanced
 * serialization writes. The two differ: a SharedArrayBuffer clones to a thread (shared) but cannot be serialized
 * to a process, and neither carries a MessagePort outside a transfer list, a function or a symbol.
 */
export function sendable(value: unknown, field: string, runtime: 'thread' | 'process'): void {
  if (value === undefined) return;
  try {
    if (runtime === 'process') serialize(value);
    else structuredClone(value);
  } catch (err) {
    const expected =
      runtime === 'process'
        ? "serializable for a process worker (v8.serialize: no SharedArrayBuffer, MessagePort, function or symbol; use runtime: 'thread' to share memory)"
        : 'structured-cloneable (no functions, symbols or non-transferable objects)';
    throw invalidOption(field, expected, value, err);
  }
}
