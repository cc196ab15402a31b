/**
 * Test helpers for log lines: an in-memory pino destination that keeps every raw line, and a strict JSON parser
 * that rejects a key repeated in one object (JSON.parse keeps the last silently; log pipelines differ on which).
 */
import { Writable } from 'node:stream';

/** A destination stream that keeps each written line as it was written. */
export function memoryDestination(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l !== '') lines.push(l);
      cb();
    },
  });
  return { stream, lines };
}

/** Parses one JSON text; throws naming the key and its path when an object repeats a key. */
export function parseStrict(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at ${i} in ${text}`);
  };
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const str = (): string => {
    const start = i;
    if (text[i] !== '"') fail('expected a string');
    i++;
    while (text[i] !== '"') {
      if (i >= text.length) fail('unterminated string');
      i += text[i] === '\\' ? 2 : 1;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      ws();
      if (text[i] === '}') return i++, out;
      for (;;) {
        ws();
        const key = str();
        if (seen.has(key)) fail(`duplicate key "${key}" in ${path || 'the top-level object'}`);
        seen.add(key);
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        out[key] = value(`${path}.${key}`);
        ws();
        const sep = text[i++];
        if (sep === '}') return out;
        if (sep !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const out: unknown[] = [];
      ws();
      if (text[i] === ']') return i++, out;
      for (;;) {
        out.push(value(`${path}[${out.length}]`));
        ws();
        const sep = text[i++];
        if (sep === ']') return out;
        if (sep !== ',') fail('expected "," or "]"');
      }
    }
    if (c === '"') return str();
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (m === null) return fail('unexpected token');
    i += m[0].length;
    return JSON.parse(m[0]) as unknown;
  };
  const v = value('');
  ws();
  if (i !== text.length) fail('trailing text');
  return v;
}
