// Entry point for worker threads (plain workers and piscina) that run TypeScript.
// Node 20 does not pass module hooks from `--import tsx` on to workers, so
// each worker registers tsx itself, then loads the real module named in
// workerData. Re-exporting its default lets piscina use it as the task handler.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
const mod = await import(workerData.robustShmEntry);
export default mod.default;
