// The started side of startTsWorker / forkTs (and of their bundled .mjs
// equivalents): a participant module runs either as a worker thread (its data
// in workerData.data, the SharedArrayBuffer passed directly) or as a child
// process (its data as JSON in argv[2], the memory mapped again from the
// region file at `path`), and talks to its starter over one message channel:
// parentPort for a thread, the IPC channel for a process.
import { parentPort, workerData } from 'node:worker_threads';

/** Where a participant finds the shared memory: the buffer itself (threads) or the region file (processes). */
export interface ParticipantMemory {
  /** A process participant: the region file to map. */
  path?: string;
  /** A thread participant: the region's buffer itself. */
  buffer?: SharedArrayBuffer;
}

/** What participantSide() gives a participant: its data, its shared memory and its channel to the starter. */
export interface ParticipantSide<D> {
  /** The data its starter gave it (workerData.data, or argv[2] as JSON). */
  data: D;
  /** The shared memory: the buffer passed in, or the region file mapped again. */
  buffer: SharedArrayBuffer;
  /** To the starter: parentPort.postMessage (thread) or process.send (process). */
  send(message: unknown): void;
  /** Every message from the starter. */
  onMessage(handler: (message: unknown) => void): void;
}

/**
 * The started side of a participant, the same code as a worker thread or a
 * child process: a thread reads `workerData.data` (its buffer passed
 * directly), a process reads argv[2] as JSON and maps the region file at
 * `path`; messages go over parentPort or the IPC channel.
 */
export async function participantSide<D extends ParticipantMemory>(): Promise<ParticipantSide<D>> {
  const port = parentPort;
  const data = (port ? workerData.data : JSON.parse(process.argv[2] ?? '{}')) as D;
  let buffer: SharedArrayBuffer;
  if (data.buffer) buffer = data.buffer;
  else {
    // Loaded only by processes: a thread never needs the region file machinery.
    const { openRegion } = await import('../shm/region.js');
    buffer = (await openRegion(data.path!)).buffer;
  }
  return {
    data,
    buffer,
    send: port ? (message) => port.postMessage(message) : (message) => void process.send!(message),
    onMessage: port ? (handler) => void port.on('message', handler) : (handler) => void process.on('message', handler),
  };
}
