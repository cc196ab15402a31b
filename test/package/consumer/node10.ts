// Type-checked with moduleResolution node10 (tsconfig.node10.json): both entry points resolve to their types.
import { Supervisor, type WorkerHandle } from 'bgworkers';
import { defineWorker } from 'bgworkers/worker';

export const double = defineWorker<{ n: number }, number>((ctx) => ctx.data.n * 2);
export async function run(): Promise<WorkerHandle<number>> {
  const sup = await Supervisor.start();
  return sup.register<{ n: number }, number>({ entry: './double.js', data: { n: 2 } });
}
