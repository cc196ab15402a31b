/**
 * Import rules for src/, checked by `npm run deps` (dependency-cruiser 17; .ci/run calls it). docs/architecture.md
 * ("Layers and import rules") explains each rule.
 *
 * Cycles: a runtime cycle (a chain of value imports that comes back) is an error: one module of the ring sees the
 * other half-initialised at load time. A cycle that needs at least one type-only import is erased by tsc and
 * cannot misorder a load, so it is reported as a warning (visible, not failing): today the scope facade
 * (scope/scope.ts) names Supervisor, WorkerHandle and ScopedPool in its signatures, and those name it back.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-runtime-cycle',
      severity: 'error',
      comment: 'A ring of value imports: one of its modules runs before the others are initialised.',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'type-only-cycle',
      severity: 'warn',
      comment: 'A ring that closes only through `import type`: erased at build time, kept visible.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'shared-imports-nothing-above',
      severity: 'error',
      comment:
        'shared/ crosses thread boundaries and is imported by every side; it imports only shared/ and the leaf errors.ts.',
      from: { path: '^src/shared/' },
      to: { path: '^src/', pathNot: ['^src/shared/', '^src/errors\\.ts$'] },
    },
    {
      name: 'errors-is-a-leaf',
      severity: 'error',
      comment:
        'errors.ts sits below shared/ (latches throw its InvalidWorkerSpecError); it imports only the exit shape, which imports nothing.',
      from: { path: '^src/(errors|shared/exit)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/shared/exit\\.ts$' },
    },
    {
      name: 'worker-not-registrant-or-supervisor',
      severity: 'error',
      comment: 'A worker talks to the supervisor and the registrant only through shared/ (memory and protocol).',
      from: { path: '^src/worker/' },
      to: { path: '^src/(registrant|supervisor)/' },
    },
    {
      name: 'supervisor-not-registrant',
      severity: 'error',
      comment: 'The supervisor thread never loads the registrant-side engine; they meet in shared/.',
      from: { path: '^src/supervisor/' },
      to: { path: '^src/(registrant|scope|pool)/|^src/(handle|record|channel|index|worker)\\.ts$' },
    },
    {
      name: 'core-not-foreman',
      severity: 'error',
      comment: 'The core never loads the Foreman (or its database drivers); only the foreman entry and the worker-side defineJobs do.',
      from: { path: '^src/', pathNot: ['^src/foreman/', '^src/foreman\\.ts$', '^src/worker\\.ts$'] },
      to: { path: ['^src/foreman/', '^src/foreman\\.ts$', 'node_modules/(better-sqlite3|pg)/'] },
    },
    {
      name: 'drivers-only-in-their-queue',
      severity: 'error',
      comment: 'better-sqlite3 is loaded only by the SQLite queue, pg only by the PostgreSQL queue (lazily, when opened).',
      from: { pathNot: ['^src/foreman/sqlite[^/]*\\.ts$'] },
      to: { path: 'node_modules/better-sqlite3/' },
    },
    {
      name: 'pg-only-in-its-queue',
      severity: 'error',
      comment: 'pg is loaded only by the PostgreSQL queue (lazily, when connected).',
      from: { pathNot: ['^src/foreman/postgres[^/]*\\.ts$'] },
      to: { path: 'node_modules/pg/' },
    },
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A module nothing imports is dead code, unless it is an entry point (public or a thread/process main).',
      from: {
        orphan: true,
        pathNot: [
          '^src/(index|worker|foreman)\\.ts$',
          '^src/foreman/cli\\.ts$',
          '^src/supervisor/thread\\.ts$',
          '^src/worker/(bootstrap|process-bootstrap|watchdog)\\.ts$',
          '^src/pool/pool-worker\\.ts$',
          '\\.d\\.ts$',
        ],
      },
      to: {},
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing fails at load time.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-undeclared-package',
      severity: 'error',
      comment: 'src/ may load only node: built-ins and the packages in package.json "dependencies" (pino), and the optional peer drivers, whose places the two rules above fix.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev', 'npm-no-pkg', 'npm-unknown', 'npm-optional', 'npm-peer'], pathNot: 'node_modules/(better-sqlite3|pg)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
