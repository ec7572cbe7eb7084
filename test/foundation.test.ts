import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { lstatSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { mapFile } from '../src/shm/map-file.js';
import { openRegion, Region } from '../src/shm/region.js';
import { native } from '../src/native/index.js';
import { HEADER_BYTES } from '../src/shm/region-layout.js';
import { exited, nextMessage, useResources } from './helpers/resources.js';

const child = new URL('./fixtures/foundation-child.ts', import.meta.url);
const adder = new URL('./fixtures/foundation-worker.ts', import.meta.url);

describe('mapped memory shared by processes and threads', () => {
  const res = useResources();

  it('2 processes + 2 worker threads x 1e6 Atomics.add on one mapped word give an exact total', async () => {
    const path = res.path('counter');
    const { buffer } = mapFile(path, { mode: 'createExclusive', size: 4096 });
    const count = 1_000_000;
    const children = [0, 1].map(() => res.fork(child, [JSON.stringify({ op: 'add', path, index: 3, count })]));
    const workers = [0, 1].map(() => res.worker(adder, { buffer, index: 3, count }));
    const results = await Promise.all([
      ...children.map((c) => nextMessage<{ result?: number }>(c, (m) => 'result' in m)),
      ...workers.map(async (w) => (await once(w, 'message'))[0] as { done: number }),
    ]);
    expect(results).toHaveLength(4);
    expect(Atomics.load(new Int32Array(buffer), 3)).toBe(4 * count);
  });

  it('a futex waiter in a child process is woken by the parent (not by its timeout)', async () => {
    const path = res.path('futex');
    const { buffer } = mapFile(path, { mode: 'createExclusive', size: 4096 });
    const waiter = res.fork(child, [JSON.stringify({ op: 'futexWait', path, index: 1, expected: 0, timeoutMs: 30_000 })]);
    await nextMessage(waiter, (m) => 'waiting' in m);
    // The child may not be inside FUTEX_WAIT yet: wake until the kernel says one waiter woke.
    let woken = 0;
    while (woken === 0) {
      woken = native().futexWake(buffer, 4, 1);
      if (woken === 0) await new Promise((r) => setImmediate(r));
    }
    const { result } = await nextMessage<{ result: { outcome: string; waitedMs: number } }>(waiter, (m) => 'result' in m);
    expect(woken).toBe(1);
    expect(result.outcome).toBe('ok');
    expect(result.waitedMs).toBeLessThan(30_000);
  });

  it('a timed futex wait with nobody waking returns timed-out; a changed word returns not-equal', () => {
    const buffer = new SharedArrayBuffer(64);
    expect(native().futexWait(buffer, 8, 0, 20)).toBe('timed-out');
    expect(native().futexWait(buffer, 8, 7, 20)).toBe('not-equal');
  });

  it('bytes written through one process mapping are read by another with no flush', async () => {
    const path = res.path('coherent');
    mapFile(path, { mode: 'createExclusive', size: 8192 });
    const writer = res.fork(child, [JSON.stringify({ op: 'write', path, offset: 5000, text: 'written by the writer' })]);
    await nextMessage(writer, (m) => 'result' in m);
    await exited(writer);
    const reader = res.fork(child, [JSON.stringify({ op: 'read', path, offset: 5000, length: 21 })]);
    const { result } = await nextMessage<{ result: string }>(reader, (m) => 'result' in m);
    expect(result).toBe('written by the writer');
  });
});

describe('regions', () => {
  const res = useResources();

  it('8 processes racing openRegion on one new path: one initialisation, identical content everywhere', async () => {
    const path = res.path('race');
    const size = 64 * 1024;
    const racers = Array.from({ length: 8 }, () => res.fork(child, [JSON.stringify({ op: 'openRegion', path, size })]));
    const results = await Promise.all(
      racers.map(async (c) => (await nextMessage<{ result: { created: boolean; creationId: number; hash: string } }>(c, (m) => 'result' in m)).result),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.creationId)).size).toBe(1);
    expect(new Set(results.map((r) => r.hash)).size).toBe(1);
    const mine = await openRegion(path, { size });
    expect(mine.created).toBe(false);
    expect(mine.creationId).toBe(results[0]!.creationId);
  });

  it('named objects are found by independent openers; threads-only regions need no file', async () => {
    const path = res.path('named');
    const a = await openRegion(path, { size: 16384, create: true });
    const first = a.findOrCreate('bank', 512);
    const b = await openRegion(path, { size: 16384 });
    expect(b.findOrCreate('bank', 512)).toEqual({ offset: first.offset, created: false });
    expect(b.list().map((o) => o.name)).toEqual(['bank']);
    const odd = await openRegion(res.path('odd-size'), { size: 16387, create: true });
    expect(odd.findOrCreate('tail', 64).offset).toBeGreaterThan(0);
    const plain = Region.create(8192);
    const attached = Region.attach(plain.buffer);
    expect(attached.findOrCreate('x', 64).offset).toBe(plain.findOrCreate('x', 64).offset);
  });
});

describe('bad input gets a clear error and changes nothing', () => {
  const res = useResources();

  async function expectUnchanged(path: string, open: () => Promise<unknown>, code: string) {
    const before = readFileSync(path);
    await expect(open()).rejects.toMatchObject({ code });
    expect(readFileSync(path).equals(before)).toBe(true);
  }

  async function validRegionFile(label: string, size = 16384): Promise<string> {
    const path = res.path(label);
    (await openRegion(path, { size, create: true })).findOrCreate('something', 100);
    return path;
  }

  it('an existing file that is not a region (wrong magic)', async () => {
    const path = res.path('not-a-region');
    writeFileSync(path, Buffer.alloc(16384, 0x41), { mode: 0o600 });
    await expectUnchanged(path, () => openRegion(path, { size: 16384, create: true }), 'ERR_REGION_BAD_MAGIC');
    await expectUnchanged(path, () => openRegion(path), 'ERR_REGION_BAD_MAGIC');
  });

  it('another format version', async () => {
    const path = await validRegionFile('version');
    const bytes = readFileSync(path);
    bytes.writeInt32LE(99, 4);
    writeFileSync(path, bytes);
    await expectUnchanged(path, () => openRegion(path, { size: 16384, create: true }), 'ERR_REGION_VERSION');
  });

  it('a file smaller than the header', async () => {
    const path = res.path('tiny');
    writeFileSync(path, Buffer.from('RSHR'));
    await expectUnchanged(path, () => openRegion(path), 'ERR_REGION_TOO_SMALL');
    const junk = res.path('junk');
    writeFileSync(path, Buffer.from('junk'));
    writeFileSync(junk, Buffer.from('junk'));
    await expectUnchanged(junk, () => openRegion(junk), 'ERR_REGION_BAD_MAGIC');
    const small = res.path('small-region');
    const header = Buffer.alloc(100);
    header.writeInt32LE(0x52485352, 0);
    header.writeInt32LE(1, 4);
    writeFileSync(small, header);
    await expectUnchanged(small, () => openRegion(small), 'ERR_REGION_TOO_SMALL');
    await expect(openRegion(res.path('never'), { size: 100, create: true })).rejects.toMatchObject({ code: 'ERR_REGION_TOO_SMALL' });
  });

  it('a file truncated after creation is refused before mapping (no SIGBUS)', async () => {
    const path = await validRegionFile('truncated', 64 * 1024);
    truncateSync(path, 8192);
    await expectUnchanged(path, () => openRegion(path), 'ERR_REGION_TRUNCATED');
    await expectUnchanged(path, () => openRegion(path, { size: 64 * 1024, create: true }), 'ERR_REGION_TRUNCATED');
  });

  it('a size other than the existing region says', async () => {
    const path = await validRegionFile('mismatch');
    await expectUnchanged(path, () => openRegion(path, { size: 32768, create: true }), 'ERR_REGION_SIZE_MISMATCH');
  });

  it('a symlink where a region is to be created is refused, and its target untouched', async () => {
    const target = res.path('target');
    writeFileSync(target, 'precious');
    const link = res.path('link');
    symlinkSync(target, link);
    await expectUnchanged(target, () => openRegion(link, { size: 16384, create: true }), 'ERR_REGION_SYMLINK');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(() => mapFile(link, { mode: 'openOrCreate', size: 8192 })).toThrow(expect.objectContaining({ code: 'ELOOP' }));
  });

  it('a path in a missing directory', async () => {
    await expect(openRegion('/dev/shm/robust-shm-no-such-dir/region', { size: 16384, create: true })).rejects.toMatchObject({
      code: 'ENOENT',
      message: expect.stringContaining('does not exist'),
    });
  });

  it('new region files are created mode 0600', async () => {
    const path = await validRegionFile('mode');
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
  });
});

describe('mapping lifetime', () => {
  const res = useResources();

  it('is unmapped only when the last reference, in any thread, is collected', async () => {
    const path = res.path('lifetime');
    mapFile(path, { mode: 'createExclusive', size: 8192 });
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', new URL('./fixtures/unmap-on-gc.ts', import.meta.url).pathname, path], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(JSON.parse(out)).toEqual({ afterMap: true, afterMainDropped: true, afterBothDropped: false });
  });
});
