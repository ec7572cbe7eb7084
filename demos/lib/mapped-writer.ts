// Child process (started with forkTs) that holds a MAP_SHARED view of a file and
// does what its parent asks over IPC. It never calls msync and never closes
// anything: it ends by process.exit() or by being SIGKILLed, and the kernel
// unmaps its view. (There is no munmap in the native layer on purpose: a JS
// reference to an unmapped SharedArrayBuffer would segfault, so "decommit by
// unmapping the view" is done by a process that dies.)
//
// argv: <path> <size> [file|region]. With "region" the child creates (or opens)
// a region at <path> with openRegion and writes into a named object of it.
import { mapFile } from '../../src/shm/map-file.js';
import { openRegion, type Region } from '../../src/shm/region.js';
import { countMismatches, fillPattern } from './mapped-pattern.js';
import type { WriterReply, WriterRequest } from './mapped-writer-client.js';

const [path, sizeArg, kind = 'file'] = process.argv.slice(2);
if (!path || !sizeArg || !process.send) {
  process.stderr.write('usage: forkTs(mapped-writer.ts, [path, size]) with an IPC channel\n');
  process.exit(2);
}
let region: Region | undefined;
let buffer: SharedArrayBuffer;
if (kind === 'region') {
  region = await openRegion(path, { size: Number(sizeArg), create: true });
  buffer = region.buffer;
} else {
  buffer = mapFile(path, { mode: 'open', size: Number(sizeArg) }).buffer;
}
const view = new Uint8Array(buffer);
const reply = (message: WriterReply) => process.send!(message);

process.on('message', (raw) => {
  const request = raw as WriterRequest;
  switch (request.op) {
    case 'write': {
      let offset = request.offset;
      if (request.object !== undefined) {
        if (!region) throw new Error('mapped-writer: a named object needs region mode');
        offset = region.findOrCreate(request.object, request.length).offset;
      }
      fillPattern(view, offset, request.length, request.seed);
      reply({ op: 'written', offset, length: request.length });
      break;
    }
    case 'read':
      reply({ op: 'checked', mismatches: countMismatches(view, request.offset, request.length, request.seed) });
      break;
    case 'touch': {
      // Read one byte of every page so the view maps them (a clean page-in).
      let sum = 0;
      for (let i = request.offset; i < request.offset + request.length; i += 4096) sum += view[i] ?? 0;
      reply({ op: 'touched', sum });
      break;
    }
    case 'exit':
      process.exit(0);
  }
});
reply({ op: 'ready', pid: process.pid });
