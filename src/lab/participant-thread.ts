// Entry of a thread participant, in either of two hosts:
// - a piscina pool task: the default export is the task handler (the pool's
//   workerData carries the region's SharedArrayBuffer); killed by aborting
//   the task's AbortSignal, which makes piscina terminate() the thread;
// - a plain worker thread: `autostart` in its
//   data runs the loop at once; killed by worker.terminate().
import { workerData } from 'node:worker_threads';
import { Region } from '../shm/region.js';
import { runParticipant, type ParticipantConfig, type ParticipantEnd } from './participant-loop.js';

interface ThreadData {
  buffer: SharedArrayBuffer;
  autostart?: ParticipantConfig;
}

const data = (workerData as { data: ThreadData }).data;

export default async function participantTask(config: ParticipantConfig): Promise<ParticipantEnd> {
  return runParticipant(Region.attach(data.buffer), config);
}

if (data.autostart) {
  participantTask(data.autostart).then(
    (end) => process.exit(end === 'exit-requested' ? 0 : 3),
    (error: unknown) => {
      throw error;
    },
  );
}
