// The experiments behind demos/mapped-file-crash.ts and test/mapped-file-crash.test.ts:
// what happens to a MAP_SHARED file's dirty pages when the process that wrote
// them dies, and whether views of one file in threads and processes are coherent.
// Each scenario does the thing for real and reports what it saw; callers judge.
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, unlinkSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { mapFile } from '../../src/shm/map-file.js';
import { openRegion } from '../../src/shm/region.js';
import { native } from '../../src/native/index.js';
import { inspectPage } from '../../src/inspect/page-inspector.js';
import { startTsWorker } from '../../tools/ts-spawn.js';
import { countMismatches, fillPattern } from './mapped-pattern.js';
import { startMappedWriter, type MappedWriter } from './mapped-writer-client.js';
import type { ViewWorkerReply, ViewWorkerRequest } from './mapped-view-worker.js';

export interface CrashResult {
  /** How the writer ended: 'SIGKILL' or 'exit(0)'. */
  ending: string;
  bytes: number;
  /** Bytes that differ from the pattern when read with read(2). */
  lostViaRead: number;
  /** Bytes that differ from the pattern through a fresh mapping. */
  lostViaNewMapping: number;
  /** First page still dirty in the page cache after the death (the death wrote nothing back: the page cache kept the page). Null if unknown. */
  stillDirtyAfterDeath: boolean | null;
}

function expect(reply: { op: string }, op: string): void {
  if (reply.op !== op) throw new Error(`expected '${op}' from the child, got ${JSON.stringify(reply)}`);
}

/**
 * A child maps `path`, writes the pattern over all of it, reports "written",
 * and is then SIGKILLed (or exits with process.exit(0)): no msync, no close.
 * This process holds no view while that happens, so nothing else keeps the
 * pages mapped. Then the file is read back with read(2) and through a new mapping.
 */
export async function writerDies(path: string, size: number, seed: number, ending: 'SIGKILL' | 'exit'): Promise<CrashResult> {
  // Create and size the file without mapping it here: the child's view is the only one.
  const fd = openSync(path, 'wx', 0o600);
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  const writer = await startMappedWriter(path, size);
  let how: string;
  try {
    expect(await writer.request({ op: 'write', offset: 0, length: size, seed }), 'written');
    how = await endWriter(writer, ending);
  } finally {
    if (writer.child.exitCode === null && writer.child.signalCode === null) await writer.kill();
  }
  const onDisk = new Uint8Array(readFileSync(path));
  const lostViaRead = onDisk.length === size ? countMismatches(onDisk, 0, size, seed) : size;
  const fresh = mapFile(path, { mode: 'open', size });
  const lostViaNewMapping = countMismatches(new Uint8Array(fresh.buffer), 0, size, seed);
  // countMismatches read page 0 through the new view, so it is mapped: its page flags tell whether it is still dirty.
  const flags = inspectPage(fresh.buffer, 0).flags;
  return { ending: how, bytes: size, lostViaRead, lostViaNewMapping, stillDirtyAfterDeath: flags ? flags.dirty : null };
}

async function endWriter(writer: MappedWriter, ending: 'SIGKILL' | 'exit'): Promise<string> {
  if (ending === 'SIGKILL') {
    const signal = await writer.kill();
    if (signal !== 'SIGKILL') throw new Error(`writer ended by ${String(signal)}, not SIGKILL`);
    return 'SIGKILL';
  }
  const code = await writer.exit();
  if (code !== 0) throw new Error(`writer exited with ${String(code)}`);
  return 'exit(0)';
}

export interface RegionCrashResult extends CrashResult {
  object: string;
  objectOffset: number;
  /** The object is found again, at the same offset, by a fresh openRegion. */
  objectFound: boolean;
}

/**
 * The same through the region format: the child creates a region at `path`,
 * writes the pattern into a named object and dies. A fresh openRegion must find
 * the object where the child put it, with every byte; read(2) must see them too.
 */
export async function regionWriterDies(path: string, size: number, objectBytes: number, seed: number, ending: 'SIGKILL' | 'exit'): Promise<RegionCrashResult> {
  const object = 'crash-pattern';
  const writer = await startMappedWriter(path, size, 'region');
  let how: string;
  let objectOffset: number;
  try {
    const reply = await writer.request({ op: 'write', offset: 0, length: objectBytes, seed, object });
    if (reply.op !== 'written') throw new Error(`expected 'written' from the child, got ${JSON.stringify(reply)}`);
    objectOffset = reply.offset;
    how = await endWriter(writer, ending);
  } finally {
    if (writer.child.exitCode === null && writer.child.signalCode === null) await writer.kill();
  }
  const onDisk = new Uint8Array(readFileSync(path));
  const lostViaRead = onDisk.length === size ? countMismatches(onDisk, objectOffset, objectBytes, seed) : objectBytes;
  const region = await openRegion(path, { size });
  const found = region.find(object);
  const lostViaNewMapping = found === objectOffset ? countMismatches(new Uint8Array(region.buffer), objectOffset, objectBytes, seed) : objectBytes;
  const flags = inspectPage(region.buffer, objectOffset).flags;
  region.close();
  return {
    ending: how,
    bytes: objectBytes,
    lostViaRead,
    lostViaNewMapping,
    stillDirtyAfterDeath: flags ? flags.dirty : null,
    object,
    objectOffset,
    objectFound: found === objectOffset,
  };
}

export interface CoherenceResult {
  views: string;
  bytes: number;
  /** Mismatches seen by the second view after the first wrote, and the other way round. */
  mismatchesAtoB: number;
  mismatchesBtoA: number;
  detail?: string;
}

/** Two separate mmaps of one file in this process: different addresses, same pages. */
export function twoViewsInOneProcess(path: string, size: number, seed: number): CoherenceResult {
  const a = mapFile(path, { mode: 'openOrCreate', size });
  const b = mapFile(path, { mode: 'open', size });
  const va = new Uint8Array(a.buffer);
  const vb = new Uint8Array(b.buffer);
  fillPattern(va, 0, size, seed);
  const mismatchesAtoB = countMismatches(vb, 0, size, seed);
  fillPattern(vb, 0, size, seed + 1);
  const mismatchesBtoA = countMismatches(va, 0, size, seed + 1);
  const addrA = native().addressOf(a.buffer, 0);
  const addrB = native().addressOf(b.buffer, 0);
  const pfnA = inspectPage(a.buffer, 0).pagemap.pfn;
  const pfnB = inspectPage(b.buffer, 0).pagemap.pfn;
  return {
    views: 'two mappings in one process',
    bytes: size,
    mismatchesAtoB,
    mismatchesBtoA,
    detail: `view A at 0x${addrA.toString(16)}, view B at 0x${addrB.toString(16)}; page 0 is physical frame ${pfnA} in A and ${pfnB} in B`,
  };
}

/** This process and a child, each with its own mapping; IPC only says "your turn" (it carries no data). */
export async function viewsInTwoProcesses(path: string, size: number, seed: number): Promise<CoherenceResult> {
  const mine = mapFile(path, { mode: 'openOrCreate', size });
  const view = new Uint8Array(mine.buffer);
  let writer: MappedWriter | undefined;
  try {
    writer = await startMappedWriter(path, size);
    fillPattern(view, 0, size, seed);
    const seen = await writer.request({ op: 'read', offset: 0, length: size, seed });
    expect(seen, 'checked');
    expect(await writer.request({ op: 'write', offset: 0, length: size, seed: seed + 1 }), 'written');
    const mismatchesBtoA = countMismatches(view, 0, size, seed + 1);
    return {
      views: 'this process and a child process',
      bytes: size,
      mismatchesAtoB: seen.op === 'checked' ? seen.mismatches : size,
      mismatchesBtoA,
      detail: `child pid ${writer.pid}; no msync on either side`,
    };
  } finally {
    await writer?.kill();
  }
}

/** A worker thread given this mapping's SharedArrayBuffer by postMessage. */
export async function viewInWorkerThread(path: string, size: number, seed: number): Promise<CoherenceResult> {
  const mine = mapFile(path, { mode: 'openOrCreate', size });
  const view = new Uint8Array(mine.buffer);
  const worker = startTsWorker(new URL('./mapped-view-worker.ts', import.meta.url));
  const ask = async (request: ViewWorkerRequest): Promise<ViewWorkerReply> => {
    const reply = Promise.race([
      once(worker, 'message') as Promise<[ViewWorkerReply]>,
      once(worker, 'error').then(([error]) => Promise.reject(error as Error)),
    ]);
    worker.postMessage(request);
    return (await reply)[0];
  };
  try {
    await ask({ op: 'adopt', buffer: mine.buffer });
    fillPattern(view, 0, size, seed);
    const seen = await ask({ op: 'read', offset: 0, length: size, seed });
    await ask({ op: 'write', offset: 0, length: size, seed: seed + 1 });
    return {
      views: 'this thread and a worker thread',
      bytes: size,
      mismatchesAtoB: seen.op === 'checked' ? seen.mismatches : size,
      mismatchesBtoA: countMismatches(view, 0, size, seed + 1),
      detail: 'the SharedArrayBuffer was posted, so both threads use the one mapping',
    };
  } finally {
    await worker.terminate();
  }
}

export interface UnlinkResult extends CoherenceResult {
  nameGone: boolean;
  /** /proc/self/maps shows the mapping's file as "(deleted)". */
  mapsSaysDeleted: boolean;
  /** Bytes that differ when the orphaned file is read through /proc/self/map_files (root only); null if unreadable. */
  mismatchesViaMapFiles: number | null;
}

/**
 * The Linux counterpart of the DELETE_ON_CLOSE comment: unlink the file while
 * this process and a child both map it. The views keep working and stay
 * coherent; the name is gone; the data lives on in the inode until the last
 * view (and fd) goes away, then it is freed with the inode, not flushed anywhere.
 */
export async function unlinkWhileMapped(path: string, size: number, seed: number): Promise<UnlinkResult> {
  const mine = mapFile(path, { mode: 'createExclusive', size });
  const view = new Uint8Array(mine.buffer);
  let writer: MappedWriter | undefined;
  try {
    writer = await startMappedWriter(path, size);
    unlinkSync(path);
    const nameGone = !existsSync(path);
    fillPattern(view, 0, size, seed);
    const seen = await writer.request({ op: 'read', offset: 0, length: size, seed });
    expect(await writer.request({ op: 'write', offset: 0, length: size, seed: seed + 1 }), 'written');
    const mismatchesBtoA = countMismatches(view, 0, size, seed + 1);
    const start = native().addressOf(mine.buffer, 0).toString(16);
    const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.startsWith(`${start}-`)) ?? '';
    const mapsSaysDeleted = line.endsWith('(deleted)');
    let mismatchesViaMapFiles: number | null = null;
    try {
      const entry = readdirSync('/proc/self/map_files').find((name) => name.startsWith(`${start}-`));
      if (entry) {
        const link = join('/proc/self/map_files', entry);
        if (readlinkSync(link).endsWith('(deleted)')) mismatchesViaMapFiles = countMismatches(new Uint8Array(readFileSync(link)), 0, size, seed + 1);
      }
    } catch {
      mismatchesViaMapFiles = null; // map_files needs CAP_SYS_ADMIN
    }
    return {
      views: 'this process and a child, after unlink',
      bytes: size,
      mismatchesAtoB: seen.op === 'checked' ? seen.mismatches : size,
      mismatchesBtoA,
      nameGone,
      mapsSaysDeleted,
      mismatchesViaMapFiles,
    };
  } finally {
    await writer?.kill();
    rmSync(path, { force: true });
  }
}
