// Region files: never touch what isn't ours, never block on a path, reserve
// space up front, and a creator killed at any step delays nobody.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { mapFile, MAX_MAPPING_SIZE } from '../src/shm/map-file.js';
import { forkTs } from '../tools/ts-spawn.js';
import { openRegion } from '../src/shm/region.js';
import { CREATION_STEPS } from '../src/shm/region-file.js';
import { exited, nextMessage, useResources } from './helpers/resources.js';

const child = new URL('./fixtures/foundation-child.ts', import.meta.url);
const filler = new URL('./fixtures/region-fill.ts', import.meta.url);
const isRoot = process.geteuid?.() === 0;

/** A fresh private directory (removed with everything in it after the test). */
function privateDir(res: ReturnType<typeof useResources>, label: string): string {
  const dir = res.path(label);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

/** What lstat says about a path, minus the access time (reading a file may move it). */
function identity(path: string): string {
  const s = lstatSync(path);
  return JSON.stringify({ mode: s.mode, uid: s.uid, size: s.size, ino: s.ino, rdev: s.rdev, mtimeMs: s.mtimeMs });
}

describe('a path that is not a regular file gets a clear error, never a hang, and is left as it was', () => {
  const res = useResources();

  async function expectRefused(path: string, code: string): Promise<void> {
    const before = identity(path);
    const started = performance.now();
    await expect(openRegion(path)).rejects.toMatchObject({ code });
    await expect(openRegion(path, { size: 16384, create: true })).rejects.toMatchObject({ code });
    // Well under any "it blocked" time: nothing here waits on the path.
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(identity(path)).toBe(before);
  }

  it('a FIFO (opening one for reading would wait for a writer for ever)', async () => {
    const path = join(privateDir(res, 'fifo-dir'), 'region');
    execFileSync('mkfifo', ['-m', '600', path]);
    await expectRefused(path, 'ERR_REGION_NOT_FILE');
    // mapFile too: O_NONBLOCK, then fstat refuses it.
    expect(() => mapFile(path)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('not a regular file') }));
    expect(lstatSync(path).isFIFO()).toBe(true);
  }, 30_000);

  it('a unix socket', async () => {
    const path = join(privateDir(res, 'socket-dir'), 'region');
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      chmodSync(path, 0o600);
      await expectRefused(path, 'ERR_REGION_NOT_FILE');
      expect(lstatSync(path).isSocket()).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);

  it.skipIf(!isRoot)('a character device (never opened: opening a device can have effects)', async () => {
    const path = join(privateDir(res, 'device-dir'), 'region');
    execFileSync('mknod', ['-m', '600', path, 'c', '1', '3']); // the /dev/null device numbers
    await expectRefused(path, 'ERR_REGION_NOT_FILE');
    expect(() => mapFile(path)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('not a regular file') }));
    expect(lstatSync(path).isCharacterDevice()).toBe(true);
  }, 30_000);

  it('a directory', async () => {
    const path = privateDir(res, 'a-directory');
    await expectRefused(path, 'ERR_REGION_NOT_FILE');
    expect(readdirSync(path)).toEqual([]);
  }, 30_000);
});

describe('a file robust-shm did not create is never re-initialised', () => {
  const res = useResources();

  async function expectUnchanged(path: string, open: () => Promise<unknown>, code: string, message?: RegExp) {
    const before = readFileSync(path);
    const stat = identity(path);
    const error = await open().then(
      () => null,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(error).toMatchObject({ code });
    if (message) expect(error!.message).toMatch(message);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(identity(path)).toBe(stat);
  }

  it('a zero-length file: its own error (not "being initialised"), with or without create', async () => {
    const path = res.path('empty');
    writeFileSync(path, '', { mode: 0o600 });
    await expectUnchanged(path, () => openRegion(path), 'ERR_REGION_EMPTY', /empty file, not a region/);
    await expectUnchanged(path, () => openRegion(path, { size: 16384, create: true }), 'ERR_REGION_EMPTY');
    expect(lstatSync(path).size).toBe(0);
  });

  it('all-zero files of several sizes written by another tool', async () => {
    for (const size of [100, 4096, 16384, 1 << 20]) {
      const path = res.path(`zeros-${size}`);
      writeFileSync(path, Buffer.alloc(size), { mode: 0o600 });
      const code = 'ERR_REGION_BAD_MAGIC';
      await expectUnchanged(path, () => openRegion(path, { size: 16384, create: true }), code);
      await expectUnchanged(path, () => openRegion(path), code);
    }
  });

  it('a header that says "initialising": robust-shm never links one into place, so it is refused', async () => {
    const path = res.path('unfinished');
    const bytes = Buffer.alloc(16384);
    bytes.writeInt32LE(0x52485352, 0);
    bytes.writeInt32LE(1, 4);
    bytes.writeInt32LE(1, 12); // init state: initialising
    writeFileSync(path, bytes, { mode: 0o600 });
    await expectUnchanged(path, () => openRegion(path, { size: 16384, create: true }), 'ERR_REGION_NOT_READY');
  });

  it.skipIf(!isRoot)('a region owned by another user is refused unless the caller opts in', async () => {
    const path = res.path('foreign');
    (await openRegion(path, { size: 16384, create: true })).findOrCreate('theirs', 64);
    chownSync(path, 12345, 12345);
    await expectUnchanged(path, () => openRegion(path), 'ERR_REGION_FOREIGN_OWNER', /uid 12345/);
    await expectUnchanged(path, () => openRegion(path, { size: 16384, create: true }), 'ERR_REGION_FOREIGN_OWNER');
    const trusted = await openRegion(path, { allowUntrustedFile: true });
    expect(trusted.find('theirs')).toBeGreaterThan(0);
  });

  it('a region writable by group or others is refused unless the caller opts in', async () => {
    for (const mode of [0o620, 0o602, 0o666]) {
      const path = res.path(`loose-${mode.toString(8)}`);
      (await openRegion(path, { size: 16384, create: true })).findOrCreate('x', 64);
      chmodSync(path, mode);
      await expectUnchanged(path, () => openRegion(path), 'ERR_REGION_INSECURE_MODE', /writable by/);
      await expectUnchanged(path, () => openRegion(path, { size: 16384, create: true }), 'ERR_REGION_INSECURE_MODE');
      expect((await openRegion(path, { allowUntrustedFile: true })).find('x')).toBeGreaterThan(0);
    }
  });

  it('too large a size has its own code', async () => {
    await expect(openRegion(res.path('huge'), { size: MAX_MAPPING_SIZE + 4096, create: true })).rejects.toMatchObject({ code: 'ERR_REGION_TOO_LARGE' });
    await expect(openRegion(res.path('tiny'), { size: 100, create: true })).rejects.toMatchObject({ code: 'ERR_REGION_TOO_SMALL' });
    await expect(openRegion(res.path('fraction'), { size: 16384.5, create: true })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});

describe('a creator SIGKILLed at any step of creation delays nobody', () => {
  const res = useResources();

  for (const step of CREATION_STEPS) {
    it(`killed at '${step}': the next opener succeeds at once`, async () => {
      const dir = privateDir(res, `killed-${step}`);
      const path = join(dir, 'region');
      const size = 64 * 1024;
      const creator = res.fork(child, [JSON.stringify({ op: 'openRegion', path, size, parkAt: step })]);
      const parked = await nextMessage<{ parked: string; tempPath: string }>(creator, (m) => 'parked' in m);
      expect(parked.parked).toBe(step);
      creator.kill('SIGKILL');
      await exited(creator);
      expect(readdirSync(dir)).toContain(parked.tempPath.slice(dir.length + 1));
      const started = performance.now();
      const region = await openRegion(path, { size, create: true });
      const tookMs = performance.now() - started;
      // No lock to go stale: well under proper-lockfile's 2 s minimum even on a loaded machine.
      expect(tookMs).toBeLessThan(1_000);
      // Before its link the dead creator's region was never visible; after it, it is complete and ours to use.
      expect(region.created).toBe(step !== 'linked');
      expect(region.validate()).toEqual({ valid: true, problems: [] });
      const object = region.findOrCreate('after-the-kill', 256);
      expect((await openRegion(path, { size })).find('after-the-kill')).toBe(object.offset);
      // The dead creator's temporary file was removed; only the region is left.
      expect(readdirSync(dir)).toEqual(['region']);
    }, 60_000);
  }

  it('8 processes racing to create one path: one creator, the others attach, no temporaries left', async () => {
    const dir = privateDir(res, 'race');
    const path = join(dir, 'region');
    const size = 64 * 1024;
    const racers = Array.from({ length: 8 }, () => res.fork(child, [JSON.stringify({ op: 'openRegion', path, size })]));
    const results = await Promise.all(
      racers.map(async (c) => (await nextMessage<{ result: { created: boolean; creationId: number } }>(c, (m) => 'result' in m)).result),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.creationId)).size).toBe(1);
    await Promise.all(racers.map(exited));
    expect(readdirSync(dir)).toEqual(['region']);
  }, 60_000);
});

describe('space is reserved up front: a full tmpfs is ENOSPC at open, never SIGBUS later', () => {
  const res = useResources();

  it('a 1 MiB tmpfs mounted by the test', async (ctx) => {
    const dir = privateDir(res, 'small-tmpfs');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    } catch (error) {
      const reason = `mounting a tmpfs was refused (${String((error as { stderr?: Buffer }).stderr ?? error).trim()})`;
      console.log(`skipped: ${reason}`);
      ctx.skip();
      return;
    }
    try {
      // Larger than the whole file system: refused at open, nothing left behind.
      const big = join(dir, 'big');
      await expect(openRegion(big, { size: 8 << 20, create: true })).rejects.toMatchObject({ code: 'ENOSPC', message: expect.stringContaining('file system is full') });
      expect(readdirSync(dir)).toEqual([]);
      expect(() => mapFile(join(dir, 'mapped'), { mode: 'createExclusive', size: 8 << 20 })).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      expect(readdirSync(dir)).toEqual([]);
      // One region that fits, filled to its last byte (in a child, where a SIGBUS would show as its exit signal).
      const first = res.track(
        forkTs(filler, [JSON.stringify({ path: join(dir, 'first'), size: 640 * 1024 })], {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      );
      const filled = await nextMessage<{ filled?: number; error?: string }>(first);
      expect(filled).toEqual({ filled: 640 * 1024 - 4096 });
      expect(await exited(first)).toEqual({ code: 0, signal: null });
      // A second that no longer fits beside it: ENOSPC at open, in this process, no SIGBUS, no file.
      await expect(openRegion(join(dir, 'second'), { size: 640 * 1024, create: true })).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(readdirSync(dir)).toEqual(['first']);
    } finally {
      // A mapping still alive here (a failed assertion's region) keeps the mount busy: detach it lazily then.
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
      rmdirSync(dir);
    }
  }, 60_000);
});
