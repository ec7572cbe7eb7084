// The article's page-lifecycle table, performed on the live kernel: for each
// page type and each operation, a fresh page is set up, the operation is done
// for real, and what the kernel reports is recorded after every step.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { mapFile } from '../../src/shm/map-file.js';
import { native } from '../../src/native/index.js';
import { clearSoftDirty, inspectPage } from '../../src/inspect/page-inspector.js';
import { startMappedWriter } from './mapped-writer-client.js';

export type PageType = 'zero-initialised' | 'allocated' | 'mapped file' | 'mapped file (tmpfs)';
export type Operation = 'page in' | 'make dirty' | 'page out dirty' | 'page out clean' | 'decommit dirty' | 'decommit clean';
export const OPERATIONS: Operation[] = ['page in', 'make dirty', 'page out dirty', 'page out clean', 'decommit dirty', 'decommit clean'];

/** What the article says each page type does for each operation. */
export const ARTICLE: Record<'zero-initialised' | 'allocated' | 'mapped file', Record<Operation, string>> = {
  'zero-initialised': {
    'page in': 'Fill the page with zeroes.',
    'make dirty': 'Locate a free page in the swap file, assign it to this page, set type to "allocated memory".',
    'page out dirty': '(never happens)',
    'page out clean': 'Do nothing.',
    'decommit dirty': '(never happens)',
    'decommit clean': 'Do nothing.',
  },
  allocated: {
    'page in': 'Read page contents from swap file.',
    'make dirty': 'Do nothing.',
    'page out dirty': 'Write page contents to swap file.',
    'page out clean': 'Do nothing.',
    'decommit dirty': 'Free the page from the swap file.',
    'decommit clean': 'Free the page from the swap file.',
  },
  'mapped file': {
    'page in': 'Read page contents from file.',
    'make dirty': 'Do nothing.',
    'page out dirty': 'Write page contents to file.',
    'page out clean': 'Do nothing.',
    'decommit dirty': 'Write page contents to file.',
    'decommit clean': 'Do nothing.',
  },
};

/** What the kernel reports about the page (byte 0 of a one-page mapping). */
export interface Snapshot {
  /** mincore: in memory (for a file: in the page cache, mapped here or not). */
  resident: boolean;
  /** pagemap: mapped in this process's page table. */
  present: boolean;
  swapped: boolean;
  pfn: number;
  /** null: this kernel does not track soft-dirty. Cleared before each step. */
  softDirty: boolean | null;
  /** kpageflags of the physical page; null when not mapped here (no PFN to look up). */
  zeroPage: boolean | null;
  pageCacheDirty: boolean | null;
  /** smaps of the VMA holding the page (adjacent anonymous mappings merge, so compare before/after). */
  privateDirtyKb: number;
  sharedDirtyKb: number;
  rssKb: number;
  /** Size of that VMA: when it is more than one page, the smaps figures include neighbours. */
  vmaKb: number;
  /** File byte 0 through read(2) (taken last, after the other fields). */
  fileByte?: number;
}

export interface Step {
  action: string;
  after: Snapshot;
  /** Byte 0 as read through the mapping, when the step reads it. */
  value?: number;
  note?: string;
}

export type Verdict = 'as the article' | 'differs' | 'never happens';

export interface Cell {
  pageType: PageType;
  operation: Operation;
  article: string;
  setup: string;
  before: Snapshot;
  steps: Step[];
  verdict: Verdict;
  /** The observed effect in one sentence (the table cell). */
  effect: string;
}

const FILE_BYTE = 0x11;
const WRITE_BYTE = 0x5a;

interface Subject {
  sab: SharedArrayBuffer;
  view: Uint8Array;
  path?: string;
}

function snapshot(s: Subject): Snapshot {
  const r = inspectPage(s.sab, 0, s.path ? { path: s.path, position: 0, count: 1 } : undefined);
  const out: Snapshot = {
    resident: r.resident,
    present: r.pagemap.present,
    swapped: r.pagemap.swapped,
    pfn: r.pagemap.pfn,
    softDirty: r.pagemap.softDirty,
    zeroPage: r.flags ? r.flags.zeroPage : null,
    pageCacheDirty: r.flags ? r.flags.dirty : null,
    privateDirtyKb: r.smaps?.privateDirtyKb ?? 0,
    sharedDirtyKb: r.smaps?.sharedDirtyKb ?? 0,
    rssKb: r.smaps?.rssKb ?? 0,
    vmaKb: r.smaps?.sizeKb ?? 0,
  };
  if (r.fileBytes) out.fileByte = r.fileBytes[0];
  return out;
}

/** MADV_PAGEOUT is a hint (Linux >= 5.4); an older kernel answers EINVAL and we record that instead. */
function pageout(s: Subject): string | undefined {
  try {
    native().madvise(s.sab, 0, 1, 'pageout');
    return undefined;
  } catch (error) {
    if ((error as { code?: string }).code === 'EINVAL') return 'this kernel does not know MADV_PAGEOUT (EINVAL): nothing was done';
    throw error;
  }
}

class CellRun {
  readonly steps: Step[] = [];
  before!: Snapshot;
  constructor(readonly subject: Subject) {}
  start(): this {
    this.before = snapshot(this.subject);
    return this;
  }
  private record(action: string, extra: { value?: number; note?: string } = {}): Step {
    const step: Step = { action, after: snapshot(this.subject), ...extra };
    if (step.note === undefined) delete step.note;
    this.steps.push(step);
    clearSoftDirty();
    return step;
  }
  read(): Step {
    return this.record('read byte 0', { value: this.subject.view[0] ?? -1 });
  }
  write(byte = WRITE_BYTE): Step {
    this.subject.view[0] = byte;
    return this.record(`write 0x${byte.toString(16)} to byte 0`);
  }
  pageout(): Step {
    const note = pageout(this.subject);
    return this.record('madvise(MADV_PAGEOUT)', note ? { note } : {});
  }
  dontneed(): Step {
    native().madvise(this.subject.sab, 0, 1, 'dontneed');
    return this.record('madvise(MADV_DONTNEED)');
  }
  msync(): Step {
    native().msync(this.subject.sab, 0, 1, false);
    return this.record('msync(MS_SYNC)');
  }
  /** Decommit by unmapping: a child maps the file, (dirty: writes byte 0), and dies; the kernel unmaps its view. */
  async childView(dirty: boolean): Promise<Step> {
    const path = this.subject.path!;
    const writer = await startMappedWriter(path, native().pageSize());
    try {
      if (dirty) await writer.request({ op: 'write', offset: 0, length: native().pageSize(), seed: 3 });
      else await writer.request({ op: 'touch', offset: 0, length: native().pageSize() });
      if (dirty) await writer.kill();
      else await writer.exit();
    } finally {
      if (writer.child.exitCode === null && writer.child.signalCode === null) await writer.kill();
    }
    return this.record(dirty ? 'a child maps the file, writes the page and is SIGKILLed (its view is unmapped by the kernel)' : 'a child maps the file, reads the page and exits (its view is unmapped by the kernel)');
  }
  get last(): Step {
    return this.steps[this.steps.length - 1]!;
  }
}

function anonymous(): Subject {
  const sab = native().mapAnonymous(native().pageSize(), false);
  return { sab, view: new Uint8Array(sab) };
}

let fileCounter = 0;
function fileIn(dir: string): Subject {
  const path = join(dir, `page-${process.pid}-${fileCounter++}.bin`);
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, Buffer.alloc(native().pageSize(), FILE_BYTE));
    fsyncSync(fd); // start from a clean page cache page: the file's bytes are on disk
  } finally {
    closeSync(fd);
  }
  const mapped = mapFile(path, { mode: 'open' });
  return { sab: mapped.buffer, view: new Uint8Array(mapped.buffer), path };
}

const kb = (s: Snapshot) => s.privateDirtyKb + s.sharedDirtyKb;
/** "smaps dirty a->b kB", only when both readings are of this page's own one-page VMA (anonymous VMAs merge with neighbours). */
function dirtyKb(before: Snapshot, after: Snapshot): string {
  const page = native().pageSize() / 1024;
  if (before.vmaKb !== page || after.vmaKb !== page) return 'smaps: the VMA merged with neighbours, see the JSON';
  return `smaps dirty ${kb(before)}->${kb(after)} kB`;
}
const hex = (n: number | undefined) => (n === undefined ? '?' : `0x${n.toString(16)}`);

function cell(pageType: PageType, operation: Operation, setup: string, run: CellRun, verdict: Verdict, effect: string): Cell {
  const row = pageType === 'mapped file (tmpfs)' ? 'mapped file' : pageType;
  return { pageType, operation, article: ARTICLE[row][operation], setup, before: run.before, steps: run.steps, verdict, effect };
}

async function zeroCells(): Promise<Cell[]> {
  const t: PageType = 'zero-initialised';
  const cells: Cell[] = [];
  {
    const r = new CellRun(anonymous()).start();
    const s = r.read();
    const zeroPage = s.after.zeroPage === true;
    cells.push(cell(t, 'page in', 'fresh private anonymous page, never touched', r, s.value === 0 ? 'as the article' : 'differs',
      `reads ${s.value}; ${zeroPage ? "the kernel maps its one shared zero page read-only: nothing is filled, no memory is used" : 'a zero-filled page is mapped'}`));
  }
  {
    const r = new CellRun(anonymous()).start();
    const s = r.write();
    cells.push(cell(t, 'make dirty', 'fresh private anonymous page, never touched', r, 'differs',
      `a private page is allocated and zero-filled at the write fault (new PFN ${s.after.pfn}, zero page: ${String(s.after.zeroPage)}, ${dirtyKb(r.before, s.after)}); ` +
        `it is now allocated memory, but no swap slot is reserved: Linux picks one only when it pages out${s.after.swapped ? '' : ' (and this machine may have no swap)'}`));
  }
  {
    const r = new CellRun(anonymous()).start();
    r.pageout();
    cells.push(cell(t, 'page out dirty', 'fresh private anonymous page, never touched', r, 'never happens',
      `nothing to page out (present: ${String(r.last.after.present)}): a zero-initialised page cannot be dirty, the first write makes it allocated memory`));
  }
  {
    const r = new CellRun(anonymous());
    r.subject.view[0];
    r.start();
    const s = r.pageout();
    cells.push(cell(t, 'page out clean', 'private anonymous page read once (the zero page is mapped)', r, s.after.present || !s.after.swapped ? 'as the article' : 'differs',
      s.note ?? (s.after.present ? 'nothing happens: the shared zero page stays mapped' : 'the zero-page mapping is dropped; the next read maps it again, no I/O')));
  }
  {
    const r = new CellRun(anonymous()).start();
    r.dontneed();
    cells.push(cell(t, 'decommit dirty', 'fresh private anonymous page, never touched', r, 'never happens',
      `nothing to free (present: ${String(r.last.after.present)}): a zero-initialised page cannot be dirty`));
  }
  {
    const r = new CellRun(anonymous());
    r.subject.view[0];
    r.start();
    r.dontneed();
    const s = r.read();
    cells.push(cell(t, 'decommit clean', 'private anonymous page read once (the zero page is mapped)', r, s.value === 0 ? 'as the article' : 'differs',
      `the zero-page mapping is removed, nothing is freed; reading again gives ${s.value}`));
  }
  return cells;
}

async function allocatedCells(): Promise<Cell[]> {
  const t: PageType = 'allocated';
  const written = () => {
    const s = anonymous();
    s.view[0] = WRITE_BYTE;
    return s;
  };
  const cells: Cell[] = [];
  {
    const r = new CellRun(written());
    pageout(r.subject);
    r.start();
    const s = r.read();
    const fromSwap = r.before.swapped;
    cells.push(cell(t, 'page in', 'private anonymous page written, then MADV_PAGEOUT (to push it to swap)', r, fromSwap ? 'as the article' : 'differs',
      fromSwap ? `read back ${hex(s.value)} from swap` : `the page never left memory (no swap to write it to), so the read is a plain memory read of ${hex(s.value)}, no page-in`));
  }
  {
    const r = new CellRun(written()).start();
    const s = r.write(0x6b);
    cells.push(cell(t, 'make dirty', 'private anonymous page already written', r, s.after.pfn === r.before.pfn ? 'as the article' : 'differs',
      `nothing happens: same physical page (${s.after.pfn === r.before.pfn ? 'unchanged PFN' : 'PFN changed'}), ${dirtyKb(r.before, s.after)}`));
  }
  for (const [operation, setup] of [['page out dirty', 'private anonymous page written'], ['page out clean', 'private anonymous page written (an anonymous page is clean only while a copy sits in swap)']] as const) {
    const r = new CellRun(written()).start();
    const s = r.pageout();
    const swapped = s.after.swapped;
    cells.push(cell(t, operation, setup, r, swapped || (operation === 'page out clean' && s.after.present) ? 'as the article' : 'differs',
      s.note ?? (swapped ? 'written to swap, the page is freed' : `nothing happens: still resident (${String(s.after.resident)}), no swap to write it to; without swap Linux cannot page anonymous memory out at all`)));
  }
  for (const operation of ['decommit dirty', 'decommit clean'] as const) {
    const r = new CellRun(written()).start();
    r.dontneed();
    const s = r.read();
    cells.push(cell(t, operation, 'private anonymous page written', r, s.value === 0 ? 'as the article' : 'differs',
      `the page is freed and its contents discarded (present ${String(r.before.present)}->${String(r.steps[0]!.after.present)}, ${dirtyKb(r.before, r.steps[0]!.after)}); reading again gives ${s.value} (a fresh zero page)` +
        (operation === 'decommit clean' ? '; Linux has no clean/dirty distinction here' : '')));
  }
  return cells;
}

async function fileCells(dir: string, t: PageType): Promise<Cell[]> {
  const cells: Cell[] = [];
  const mappedClean = () => {
    const s = fileIn(dir);
    void s.view[0]; // map the (clean, fsynced) page
    return s;
  };
  const what = t === 'mapped file (tmpfs)' ? 'MAP_SHARED page of a tmpfs file' : 'MAP_SHARED page of a disk file';
  {
    const r = new CellRun(mappedClean());
    pageout(r.subject);
    r.start();
    const evictedFirst = !r.before.resident;
    const s = r.read();
    const pfnNew = s.after.pfn !== 0;
    cells.push(cell(t, 'page in', `${what}, clean, then MADV_PAGEOUT to evict it`, r, s.value === FILE_BYTE ? (evictedFirst ? 'as the article' : 'differs') : 'differs',
      evictedFirst
        ? `read ${hex(s.value)} from the file into a new page${pfnNew ? ` (PFN ${s.after.pfn})` : ''}`
        : `the page could not be evicted first (still in the page cache${t === 'mapped file (tmpfs)' ? ': tmpfs pages are swap-backed and there is no swap' : ''}), so the read found it in memory: ${hex(s.value)}`));
  }
  {
    const r = new CellRun(mappedClean()).start();
    const s = r.write();
    cells.push(cell(t, 'make dirty', `${what}, clean and mapped`, r, 'as the article',
      `the page is marked dirty (page-cache DIRTY ${String(r.before.pageCacheDirty)}->${String(s.after.pageCacheDirty)}${t === 'mapped file (tmpfs)' ? ': tmpfs pages are always dirty, there is no disk behind them' : ''}, ${dirtyKb(r.before, s.after)}); ` +
        `read(2) sees ${hex(s.after.fileByte)} at once: the mapping IS the page cache`));
  }
  {
    const r = new CellRun(mappedClean());
    r.subject.view[0] = WRITE_BYTE;
    r.start();
    const p = r.pageout();
    r.msync();
    const back = r.read();
    const p2 = r.pageout();
    const wroteAtPageout = !p.after.resident;
    cells.push(cell(t, 'page out dirty', `${what}, written`, r, wroteAtPageout ? 'as the article' : 'differs',
      p.note ??
        (wroteAtPageout
          ? `written back to the file and dropped; read(2) gives ${hex(p.after.fileByte)}`
          : `MADV_PAGEOUT only unmapped it (still in the page cache, dirty); ` +
            (back.after.pageCacheDirty
              ? 'msync had nothing to write it to (tmpfs: the page cache is the file, the page stays DIRTY), '
              : 'msync wrote it to the file (clean after msync), ') +
            `then a second MADV_PAGEOUT ${p2.after.resident ? 'still could not drop it' : 'dropped it'}; the file holds ${hex(p2.after.fileByte)}`)));
  }
  {
    const r = new CellRun(mappedClean()).start();
    const p = r.pageout();
    const s = r.read();
    cells.push(cell(t, 'page out clean', `${what}, clean and mapped`, r, s.value === FILE_BYTE ? 'as the article' : 'differs',
      p.note ??
        (p.after.resident
          ? `not dropped (still in the page cache${t === 'mapped file (tmpfs)' ? ': tmpfs pages are swap-backed and there is no swap' : ''}); nothing written; reading gives ${hex(s.value)}`
          : `dropped without writing anything; the next read pages it in again from the file: ${hex(s.value)}${s.after.pfn !== r.before.pfn ? ' (a new physical page)' : ''}`)));
  }
  {
    const r = new CellRun(mappedClean());
    r.subject.view[0] = WRITE_BYTE;
    r.start();
    const d = r.dontneed();
    const s = r.read();
    const c = await r.childView(true);
    const childByte = c.after.fileByte;
    const kept = s.value === WRITE_BYTE && d.after.fileByte === WRITE_BYTE;
    cells.push(cell(t, 'decommit dirty', `${what}, written`, r, kept ? 'as the article' : 'differs',
      `MADV_DONTNEED unmaps the view but the dirty page stays in the page cache (resident ${String(d.after.resident)}): read(2) ${hex(d.after.fileByte)}, ` +
        `read through the view again ${hex(s.value)}${s.after.pageCacheDirty ? ', still DIRTY (written to the file later by writeback, not at decommit)' : ''}; ` +
        `a child's write survives its SIGKILL: read(2) ${hex(childByte)}`));
  }
  {
    const r = new CellRun(mappedClean()).start();
    const d = r.dontneed();
    const c = await r.childView(false);
    cells.push(cell(t, 'decommit clean', `${what}, clean and mapped`, r, d.after.fileByte === FILE_BYTE && c.after.fileByte === FILE_BYTE ? 'as the article' : 'differs',
      `nothing written: MADV_DONTNEED only unmaps (page stays cached: ${String(d.after.resident)}); a child reading and exiting changes nothing; the file holds ${hex(c.after.fileByte)}`));
  }
  return cells;
}

/** Walk the whole table. `diskDir` should be on a disk file system, `tmpfsDir` on tmpfs (or omitted). */
export async function walkLifecycle(diskDir: string, tmpfsDir?: string): Promise<Cell[]> {
  clearSoftDirty();
  const cells = [...(await zeroCells()), ...(await allocatedCells()), ...(await fileCells(diskDir, 'mapped file'))];
  if (tmpfsDir) cells.push(...(await fileCells(tmpfsDir, 'mapped file (tmpfs)')));
  return cells;
}
