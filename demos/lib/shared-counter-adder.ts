// One adder of the shared-counter demo, as a child process (argv[2] = JSON)
// or a worker thread (workerData.data): maps the region, waits for the start
// signal (so all adders run at once), then Atomics.add 1 `adds` times on one word.
import { parentPort, workerData } from 'node:worker_threads';
import { openRegion } from '../../src/shm/region.js';
import { native } from '../../src/native/index.js';

interface AdderData {
  path: string;
  counterOffset: number;
  startOffset: number;
  adds: number;
}
const data: AdderData = parentPort ? (workerData.data as AdderData) : (JSON.parse(process.argv[2] ?? '{}') as AdderData);
const region = await openRegion(data.path);
const words = new Int32Array(region.buffer);
const send = (m: unknown) => (parentPort ? parentPort.postMessage(m) : process.send!(m));
send({ type: 'ready' });
// The start word goes 0 -> 1 once; the parent wakes every process with a futex wake.
while (Atomics.load(words, data.startOffset / 4) === 0) native().futexWait(region.buffer, data.startOffset, 0, 50);
const counter = data.counterOffset / 4;
for (let i = 0; i < data.adds; i++) Atomics.add(words, counter, 1);
send({ type: 'done' });
if (!parentPort) process.disconnect();
