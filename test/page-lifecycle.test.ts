// Seed 003, page lifecycle: the transitions the kernel guarantees, checked on
// the live kernel. MADV_PAGEOUT is only a hint (and unknown before Linux 5.4),
// so page-out tests assert what must hold whether or not the kernel acted on it,
// and say which case they saw.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapFile } from '../src/shm/map-file.js';
import { native } from '../src/native/index.js';
import { clearSoftDirty, inspectPage, isResident, pagemapEntry, smapsFor, softDirtySupported } from '../src/inspect/page-inspector.js';
import { walkLifecycle } from '../demos/lib/page-lifecycle-cells.js';

const PAGE = native().pageSize();
let work: string;

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'page-lifecycle-test-'));
});
afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

function fileOfPages(name: string, pages: number, byte: number): string {
  const path = join(work, name);
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, Buffer.alloc(pages * PAGE, byte));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return path;
}

/** MADV_PAGEOUT, or the documented fallback: a kernel without it answers EINVAL and keeps the page. */
function tryPageout(sab: SharedArrayBuffer, offset: number, length: number): 'advised' | 'EINVAL' {
  try {
    native().madvise(sab, offset, length, 'pageout');
    return 'advised';
  } catch (error) {
    if ((error as { code?: string }).code === 'EINVAL') return 'EINVAL';
    throw error;
  }
}

describe('anonymous (private) pages', () => {
  it('a written page is mapped and resident; after MADV_DONTNEED it is unmapped and reads back zero', { timeout: 10_000 }, () => {
    const sab = native().mapAnonymous(2 * PAGE, false);
    const view = new Uint8Array(sab);
    view.fill(0xa5, 0, PAGE);
    expect(pagemapEntry(sab, 0).present).toBe(true);
    expect(isResident(sab, 0)).toBe(true);
    expect(pagemapEntry(sab, PAGE).present).toBe(false); // never touched: no page table entry
    native().madvise(sab, 0, PAGE, 'dontneed');
    expect(pagemapEntry(sab, 0).present).toBe(false);
    // man madvise(2): private anonymous pages are zero-fill-on-demand after MADV_DONTNEED.
    expect(view.subarray(0, PAGE).every((b) => b === 0)).toBe(true);
  });

  it('smaps finds the mapping that holds the page, and its dirty total drops when the page is discarded', { timeout: 10_000 }, () => {
    const sab = native().mapAnonymous(PAGE, false);
    new Uint8Array(sab)[0] = 1;
    const address = native().addressOf(sab, 0);
    const before = smapsFor(address);
    expect(before).not.toBeNull();
    expect(before!.sizeKb).toBeGreaterThanOrEqual(PAGE / 1024);
    expect(before!.privateDirtyKb).toBeGreaterThanOrEqual(PAGE / 1024);
    native().madvise(sab, 0, PAGE, 'dontneed');
    const after = smapsFor(address)!;
    // Other pages of a merged VMA do not change in between; this one leaves the count.
    expect(after.privateDirtyKb).toBe(before!.privateDirtyKb - PAGE / 1024);
  });

  it('soft-dirty: set by a write after clear_refs when the kernel tracks it, reported as null when it does not', { timeout: 10_000 }, () => {
    const sab = native().mapAnonymous(PAGE, false);
    const view = new Uint8Array(sab);
    view[0] = 1;
    clearSoftDirty();
    if (!softDirtySupported()) {
      console.info('this kernel does not track soft-dirty (CONFIG_MEM_SOFT_DIRTY off): checking it is reported as null');
      view[0] = 2;
      expect(pagemapEntry(sab, 0).softDirty).toBeNull();
      return;
    }
    clearSoftDirty();
    expect(pagemapEntry(sab, 0).softDirty).toBe(false);
    view[0] = 2;
    expect(pagemapEntry(sab, 0).softDirty).toBe(true);
  });
});

describe('memory-mapped file pages', () => {
  it('decommit dirty: a written page discarded from the view with MADV_DONTNEED keeps its data', { timeout: 10_000 }, () => {
    const path = fileOfPages('decommit.bin', 2, 0x11);
    const mapping = mapFile(path);
    const view = new Uint8Array(mapping.buffer);
    view.fill(0x5a, 0, PAGE);
    native().madvise(mapping.buffer, 0, 2 * PAGE, 'dontneed');
    expect(pagemapEntry(mapping.buffer, 0).present).toBe(false); // the view really let go of it
    // Shared file pages are not discarded: read(2), the same view and a new view see the write (no msync anywhere).
    const file = readFileSync(path);
    expect(file.subarray(0, PAGE).every((b) => b === 0x5a)).toBe(true);
    expect(file.subarray(PAGE).every((b) => b === 0x11)).toBe(true);
    expect(view.subarray(0, PAGE).every((b) => b === 0x5a)).toBe(true);
    expect(new Uint8Array(mapFile(path).buffer, 0, PAGE).every((b) => b === 0x5a)).toBe(true);
  });

  it('page out clean: a written, msynced page paged out reads back its content', { timeout: 10_000 }, () => {
    const path = fileOfPages('pageout-clean.bin', 1, 0x11);
    const mapping = mapFile(path);
    const view = new Uint8Array(mapping.buffer);
    view.fill(0x77);
    mapping.msync();
    const pfnBefore = pagemapEntry(mapping.buffer, 0).pfn;
    const outcome = tryPageout(mapping.buffer, 0, PAGE);
    const resident = isResident(mapping.buffer, 0);
    console.info(
      outcome === 'EINVAL'
        ? 'kernel has no MADV_PAGEOUT (EINVAL): checking the documented fallback, the page stays and keeps its content'
        : resident
          ? 'kernel kept the page after MADV_PAGEOUT (a hint it may ignore): checking the content is intact'
          : 'kernel dropped the clean page: checking it is read back from the file',
    );
    expect(view.every((b) => b === 0x77)).toBe(true);
    expect(readFileSync(path).every((b) => b === 0x77)).toBe(true);
    if (!resident && pfnBefore !== 0) expect(inspectPage(mapping.buffer, 0).pagemap.present).toBe(true);
  });

  it('page out dirty: a written page paged out without msync reads back its content, and msync then puts it in the file', { timeout: 10_000 }, () => {
    const path = fileOfPages('pageout-dirty.bin', 1, 0x11);
    const mapping = mapFile(path);
    const view = new Uint8Array(mapping.buffer);
    view.fill(0x66);
    const outcome = tryPageout(mapping.buffer, 0, PAGE);
    console.info(
      outcome === 'EINVAL'
        ? 'kernel has no MADV_PAGEOUT (EINVAL): checking the fallback'
        : `after MADV_PAGEOUT the dirty page is ${isResident(mapping.buffer, 0) ? 'still in the page cache' : 'out of memory (written back)'}`,
    );
    expect(view.every((b) => b === 0x66)).toBe(true);
    mapping.msync();
    expect(readFileSync(path).every((b) => b === 0x66)).toBe(true);
    const flags = inspectPage(mapping.buffer, 0).flags;
    if (flags) expect(flags.dirty).toBe(false); // after MS_SYNC writeback the page cache page is clean
  });
});

describe('the demo table', () => {
  it('walks every cell; on every file row a decommitted dirty page keeps its data', { timeout: 30_000 }, async () => {
    const disk = join(work, 'disk');
    const shm = mkdtempSync('/dev/shm/page-lifecycle-test-');
    try {
      mkdirSync(disk);
      const cells = await walkLifecycle(disk, shm);
      expect(cells).toHaveLength(24);
      for (const c of cells.filter((x) => x.pageType.startsWith('mapped file') && x.operation === 'decommit dirty')) {
        expect(c.verdict).toBe('as the article');
        expect(c.steps.find((s) => s.action === 'read byte 0')?.value).toBe(0x5a);
      }
      for (const c of cells.filter((x) => x.pageType === 'allocated' && x.operation.startsWith('decommit'))) {
        expect(c.steps.find((s) => s.action === 'read byte 0')?.value).toBe(0);
      }
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });
});
