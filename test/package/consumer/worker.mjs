// An ESM worker entry of the consumer project: bgworkers/worker as installed.
import { defineWorker } from 'bgworkers/worker';
export default defineWorker((ctx) => ({ data: ctx.data, pid: process.pid }));
