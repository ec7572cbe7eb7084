// Dev only (tests, demos, benches of this repo; never in the package): the
// entry of a worker thread (plain or piscina) that runs a TypeScript module.
// Node 20 does not pass module hooks from `--import tsx` on to workers, so
// each worker registers tsx itself, then loads the real module named in
// workerData.robustShmEntry. Re-exporting its default lets piscina use it as
// the task handler (CriticalSectionPool's `bootModule`).
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
const mod = await import(workerData.robustShmEntry);
export default mod.default;
