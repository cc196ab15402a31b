/**
 * What a worker thread or child process inherits of the registrant's Node options (process.execArgv): all of
 * them but those that would make it run something else than the library's own entry. A registrant started with
 * `node -e '…'` would otherwise start a supervisor thread that fails ("--input-type can only be used with string
 * input") or fork process workers that evaluate the registrant's script again (and fork again: a fork bomb).
 * Node's own Worker and child_process.fork() inherit them as they are.
 */
/** Options that make node run something other than the script it is given; each takes a value unless written `--x=v`. */
const NOT_INHERITED = new Set(['-e', '--eval', '-p', '--print', '-pe', '-i', '--interactive', '-c', '--check', '--test', '--input-type']);
const TAKES_VALUE = new Set(['-e', '--eval', '-p', '--print', '-pe', '--input-type']);

/** `argv` without the options above (and their values). */
export function inheritedExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') && a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (!NOT_INHERITED.has(name)) {
      out.push(a);
      continue;
    }
    if (TAKES_VALUE.has(name) && name === a) i++; // skip its value too
  }
  return out;
}

/**
 * A Worker's `execArgv` option: undefined (inherit, as Node does) unless the registrant's options include one
 * of the above, which a Worker would inherit and fail on. An explicit list is given only then, because Node
 * rejects V8 and per-process options (`--expose-gc`, …) in an explicit list that it accepts when inherited.
 */
export function threadExecArgv(argv: readonly string[]): string[] | undefined {
  const filtered = inheritedExecArgv(argv);
  return filtered.length === argv.length ? undefined : filtered;
}
