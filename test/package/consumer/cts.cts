// A CommonJS TypeScript module (module nodenext): `import x = require()` of the ESM package type-checks, as Node
// loads it (require(esm)).
import bgworkers = require('bgworkers');
import worker = require('bgworkers/worker');

export const def = worker.defineWorker<string, number>((ctx) => ctx.data.length);
export const start: () => Promise<bgworkers.Supervisor> = () => bgworkers.Supervisor.start();
