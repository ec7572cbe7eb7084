// Worker thread that receives a mapping's SharedArrayBuffer by postMessage (the
// same memory, not a copy) and reads or writes the pattern in it on request.
import { parentPort } from 'node:worker_threads';
import { countMismatches, fillPattern } from './mapped-pattern.js';

export type ViewWorkerRequest =
  | { op: 'adopt'; buffer: SharedArrayBuffer }
  | { op: 'write'; offset: number; length: number; seed: number }
  | { op: 'read'; offset: number; length: number; seed: number };

export type ViewWorkerReply = { op: 'adopted' } | { op: 'written' } | { op: 'checked'; mismatches: number };

let view: Uint8Array | undefined;
const port = parentPort!;
port.on('message', (request: ViewWorkerRequest) => {
  if (request.op === 'adopt') {
    view = new Uint8Array(request.buffer);
    port.postMessage({ op: 'adopted' } satisfies ViewWorkerReply);
    return;
  }
  if (!view) throw new Error('mapped-view-worker: no buffer adopted yet');
  if (request.op === 'write') {
    fillPattern(view, request.offset, request.length, request.seed);
    port.postMessage({ op: 'written' } satisfies ViewWorkerReply);
  } else {
    port.postMessage({ op: 'checked', mismatches: countMismatches(view, request.offset, request.length, request.seed) } satisfies ViewWorkerReply);
  }
});
