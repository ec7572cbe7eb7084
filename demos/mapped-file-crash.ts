// Demo for seed 003: what happens to the dirty pages of a MAP_SHARED file when
// the process that wrote them is killed, and whether views of one file are coherent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirOption, intOption, startDemo } from './lib/cli.js';
import {
  type CoherenceResult,
  type CrashResult,
  regionWriterDies,
  unlinkWhileMapped,
  viewInWorkerThread,
  viewsInTwoProcesses,
  twoViewsInOneProcess,
  writerDies,
} from './lib/mapped-file-scenarios.js';

const demo = startDemo({
  name: 'mapped-file-crash',
  summary:
    'A child process writes a pattern through a MAP_SHARED file mapping and is SIGKILLed (and, separately, exits) with no msync ' +
    'and no close; the file is then read with read(2) and through a new mapping. Then views of one file are checked for ' +
    'coherence: two mappings in one process, two processes, a worker thread, and a file unlinked while mapped.',
  options: {
    size: { type: 'string', default: '1048576' },
    dir: { type: 'string' },
  },
  descriptions: {
    size: 'bytes in each test file (a multiple of the page size is not required)',
    dir: 'directory for the temporary files (default: os.tmpdir(), a disk file system here)',
  },
});

const size = intOption('size', demo.values.size, 1 << 20, 1, 256 << 20);
// The region gets the pattern in a named object; the region header and directory take the rest.
const regionSize = Math.ceil(Math.max(size, 1 << 16) / 4096) * 4096;
const objectBytes = Math.floor(regionSize / 2);
// A bad --dir is a usage error before anything is made.
const work = mkdtempSync(join(dirOption('dir', demo.values.dir) ?? tmpdir(), 'mapped-file-crash-'));
let bytesChecked = 0;
let bytesLost = 0;
let viewsCoherent = true;

function coherence(kind: string, r: CoherenceResult): void {
  bytesChecked += 2 * r.bytes;
  bytesLost += r.mismatchesAtoB + r.mismatchesBtoA;
  const ok = r.mismatchesAtoB === 0 && r.mismatchesBtoA === 0;
  viewsCoherent &&= ok;
  demo.event(kind, { ...r, coherent: ok },
    `  ${r.views}: A->B ${r.mismatchesAtoB} bytes differ, B->A ${r.mismatchesBtoA} bytes differ, no flush => ${ok ? 'coherent' : 'NOT coherent'}` +
      (r.detail ? `\n    (${r.detail})` : ''));
}

try {
  demo.say(`Files under ${work}, ${size} bytes each.`);
  demo.say('1. Writer dies with dirty pages and no other view of the file:');
  demo.say('   (there is no munmap in the native layer: a JS reference to an unmapped SharedArrayBuffer would crash,');
  demo.say('    so the view is "closed" by the writer process ending; the kernel unmaps it for the dead process)');
  const runs: Array<() => Promise<CrashResult & { object?: string; objectOffset?: number; objectFound?: boolean }>> = [
    () => regionWriterDies(join(work, 'crash-region.bin'), regionSize, objectBytes, 10, 'SIGKILL'),
    () => writerDies(join(work, 'crash-kill.bin'), size, 11, 'SIGKILL'),
    () => writerDies(join(work, 'crash-exit.bin'), size, 12, 'exit'),
  ];
  for (const run of runs) {
    const r = await run();
    if (r.objectFound === false) viewsCoherent = false;
    bytesChecked += 2 * r.bytes;
    bytesLost += r.lostViaRead + r.lostViaNewMapping;
    demo.event('writer-died', { ...r },
      `   ${r.object ? `region object "${r.object}" at offset ${r.objectOffset}, ` : 'plain file, '}${r.ending}: read(2) finds ${r.bytes - r.lostViaRead}/${r.bytes} bytes, a new mapping finds ${r.bytes - r.lostViaNewMapping}/${r.bytes}` +
        (r.stillDirtyAfterDeath === null ? '' : r.stillDirtyAfterDeath
          ? '; its first page is still dirty in the page cache: dying wrote nothing back, the page simply stayed'
          : '; its first page is already clean (written back by the flusher)'));
  }
  demo.say('2. Coherence of views (a write in one view is read in the other with no msync):');
  coherence('coherence', twoViewsInOneProcess(join(work, 'two-views.bin'), size, 21));
  coherence('coherence', await viewsInTwoProcesses(join(work, 'two-processes.bin'), size, 31));
  coherence('coherence', await viewInWorkerThread(join(work, 'worker.bin'), size, 41));
  demo.say('3. The file is unlinked while this process and a child map it:');
  const u = await unlinkWhileMapped(join(work, 'unlinked.bin'), size, 51);
  coherence('unlinked', u);
  viewsCoherent &&= u.nameGone;
  if (u.mismatchesViaMapFiles !== null) {
    bytesChecked += u.bytes;
    bytesLost += u.mismatchesViaMapFiles;
  }
  demo.event('unlinked-data', { nameGone: u.nameGone, mapsSaysDeleted: u.mapsSaysDeleted, mismatchesViaMapFiles: u.mismatchesViaMapFiles },
    `  the name is ${u.nameGone ? 'gone' : 'STILL THERE'}; /proc/self/maps ${u.mapsSaysDeleted ? 'shows the view as "(deleted)"' : 'does not say "(deleted)"'}` +
      (u.mismatchesViaMapFiles === null ? '' : `; read through /proc/self/map_files the orphaned inode has ${u.bytes - u.mismatchesViaMapFiles}/${u.bytes} bytes of the last write`) +
      '\n  What happens to the data: Linux keeps the inode (and its page cache) alive while any view or fd refers to it, so the views' +
      '\n  keep sharing writes. When the last view goes the inode and its pages are freed: nothing is flushed because no name can' +
      '\n  ever reach the file again. Unlike the DELETE_ON_CLOSE bug in the comment, no view ever reads back zeros.');
  const ok = bytesLost === 0 && viewsCoherent;
  demo.finish(ok, { bytesChecked, bytesLost, viewsCoherent },
    `mapped-file-crash: ${ok ? 'OK' : 'FAILED'}: ${bytesChecked} bytes checked, ${bytesLost} lost, views ${viewsCoherent ? 'coherent' : 'NOT coherent'}`);
} catch (error) {
  process.stderr.write(`mapped-file-crash: ${(error as Error).stack ?? String(error)}\n`);
  demo.finish(false, { bytesChecked, bytesLost, viewsCoherent, error: (error as Error).message });
} finally {
  rmSync(work, { recursive: true, force: true });
}
