// What the kernel reports about one page of a mapping: residency (mincore),
// the page-table entry (/proc/self/pagemap), the physical page's flags
// (/proc/kpageflags), the mapping's dirty totals (/proc/self/smaps) and, for a
// file mapping, the file's bytes as read(2) sees them.
//
// Kernel facts this relies on (Documentation/admin-guide/mm/pagemap.rst):
// - pagemap has one 64-bit little-endian entry per virtual page: bit 63 present,
//   62 swapped, 61 file-page or shared-anon, 56 exclusively mapped, 55 soft-dirty,
//   bits 0-54 the PFN (zero unless the reader has CAP_SYS_ADMIN).
// - Writing "4" to /proc/self/clear_refs clears every soft-dirty bit of the
//   process (and write-protects the PTEs so the next write sets it again). Without
//   CONFIG_MEM_SOFT_DIRTY the write is accepted and nothing is tracked: bit 55
//   stays 0, so support is probed (softDirtySupported) rather than assumed.
// - kpageflags is indexed by PFN: bit 4 DIRTY (the page cache page has data not
//   yet written to its file), 8 WRITEBACK, 11 MMAP, 12 ANON, 14 SWAPBACKED,
//   24 ZERO_PAGE (the one shared page every untouched private anonymous read maps).
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { native } from '../native/index.js';

/** One page's /proc/self/pagemap entry (Documentation/admin-guide/mm/pagemap.rst). */
export interface PagemapEntry {
  /** Bit 63: a page is mapped at this address in this process. */
  present: boolean;
  /** Bit 62: the page is in swap. */
  swapped: boolean;
  /** Bit 61: a page cache page of a file, or shared anonymous memory (shmem). */
  fileOrSharedAnon: boolean;
  /** Bit 56: mapped by exactly one process. */
  exclusive: boolean;
  /** Bit 55; null when this kernel does not track soft-dirty (CONFIG_MEM_SOFT_DIRTY off). */
  softDirty: boolean | null;
  /** Physical frame number; 0 when not present or not visible to this user. */
  pfn: number;
}

/** The /proc/kpageflags bits of a physical page that the page-lifecycle story needs. */
export interface PageFlags {
  /** KPF_DIRTY: modified since last written back. */
  dirty: boolean;
  /** KPF_WRITEBACK: being written back now. */
  writeback: boolean;
  /** KPF_ANON: anonymous memory (not a file page). */
  anon: boolean;
  /** KPF_SWAPBACKED: backed by swap (anonymous or shmem). */
  swapBacked: boolean;
  /** KPF_ZERO_PAGE: the shared zero page. */
  zeroPage: boolean;
  /** Every flag bit as read. */
  raw: bigint;
}

/** kB totals of the whole mapping (VMA) that contains an address, from /proc/self/smaps. */
export interface SmapsTotals {
  /** The VMA's address range. Adjacent compatible anonymous mappings merge into one VMA, so
   *  these totals can include neighbouring pages: compare before/after an operation. */
  range: string;
  /** Size: virtual size of the VMA. */
  sizeKb: number;
  /** Rss: resident in this process. */
  rssKb: number;
  /** Private_Clean. */
  privateCleanKb: number;
  /** Private_Dirty. */
  privateDirtyKb: number;
  /** Shared_Clean. */
  sharedCleanKb: number;
  /** Shared_Dirty. */
  sharedDirtyKb: number;
  /** Swap. */
  swapKb: number;
}

/** Everything inspectPage() learns about one page of a mapping. */
export interface PageReport {
  /** mincore bit 0: for a file mapping this is "in the page cache", mapped here or not. */
  resident: boolean;
  /** This process's page table entry for the page. */
  pagemap: PagemapEntry;
  /** Flags of the physical page; null when not present or PFNs are hidden. */
  flags: PageFlags | null;
  /** Totals of the VMA holding the page; null when none was found. */
  smaps: SmapsTotals | null;
  /** The file's first bytes of this page through read(2) (the page cache), when a file was given. */
  fileBytes?: number[];
}

const PAGEMAP_PRESENT = 1n << 63n;
const PAGEMAP_SWAPPED = 1n << 62n;
const PAGEMAP_FILE = 1n << 61n;
const PAGEMAP_EXCLUSIVE = 1n << 56n;
const PAGEMAP_SOFT_DIRTY = 1n << 55n;
const PAGEMAP_PFN_MASK = (1n << 55n) - 1n;

const KPF_DIRTY = 4n;
const KPF_WRITEBACK = 8n;
const KPF_ANON = 12n;
const KPF_SWAPBACKED = 14n;
const KPF_ZERO_PAGE = 24n;

function readU64At(path: string, index: number): bigint {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(8);
    const n = readSync(fd, out, 0, 8, index * 8);
    if (n !== 8) throw new Error(`${path}: short read at entry ${index}`);
    return out.readBigUInt64LE(0);
  } finally {
    closeSync(fd);
  }
}

/** Clear the soft-dirty bits of every page of this process. */
export function clearSoftDirty(): void {
  writeFileSync('/proc/self/clear_refs', '4');
}

let softDirtyProbe: boolean | undefined;

/**
 * Does this kernel track soft-dirty? Probed once on a private anonymous page:
 * clear, write, look at bit 55. Kernels built without CONFIG_MEM_SOFT_DIRTY say no.
 */
export function softDirtySupported(): boolean {
  if (softDirtyProbe !== undefined) return softDirtyProbe;
  const probe = native().mapAnonymous(native().pageSize(), false);
  const bytes = new Uint8Array(probe);
  bytes[0] = 1;
  clearSoftDirty();
  bytes[0] = 2;
  const raw = readU64At('/proc/self/pagemap', native().addressOf(probe, 0) / native().pageSize());
  softDirtyProbe = (raw & PAGEMAP_SOFT_DIRTY) !== 0n;
  return softDirtyProbe;
}

/** The pagemap entry of the page holding byte `offset` of `sab` (a mapping the addon made). */
export function pagemapEntry(sab: SharedArrayBuffer, offset: number): PagemapEntry {
  const page = native().pageSize();
  const raw = readU64At('/proc/self/pagemap', Math.floor(native().addressOf(sab, offset) / page));
  const present = (raw & PAGEMAP_PRESENT) !== 0n;
  return {
    present,
    swapped: (raw & PAGEMAP_SWAPPED) !== 0n,
    fileOrSharedAnon: (raw & PAGEMAP_FILE) !== 0n,
    exclusive: (raw & PAGEMAP_EXCLUSIVE) !== 0n,
    softDirty: softDirtySupported() ? (raw & PAGEMAP_SOFT_DIRTY) !== 0n : null,
    pfn: present ? Number(raw & PAGEMAP_PFN_MASK) : 0,
  };
}

/** Flags of a physical page; null when kpageflags is unreadable (needs root). */
export function pageFlags(pfn: number): PageFlags | null {
  if (pfn === 0) return null;
  let raw: bigint;
  try {
    raw = readU64At('/proc/kpageflags', pfn);
  } catch {
    return null;
  }
  const bit = (b: bigint) => ((raw >> b) & 1n) === 1n;
  return { dirty: bit(KPF_DIRTY), writeback: bit(KPF_WRITEBACK), anon: bit(KPF_ANON), swapBacked: bit(KPF_SWAPBACKED), zeroPage: bit(KPF_ZERO_PAGE), raw };
}

/** mincore(2): the page holding byte `offset` is resident (for a file: in the page cache). */
export function isResident(sab: SharedArrayBuffer, offset: number): boolean {
  return ((native().mincore(sab, offset, 1)[0] ?? 0) & 1) === 1;
}

/** The smaps totals of the mapping that contains `address`, or null if none does. */
export function smapsFor(address: number): SmapsTotals | null {
  const text = readFileSync('/proc/self/smaps', 'utf8');
  const header = /^([0-9a-f]+)-([0-9a-f]+) /;
  let current: SmapsTotals | null = null;
  for (const line of text.split('\n')) {
    const h = header.exec(line);
    if (h) {
      if (current) return current;
      const start = parseInt(h[1]!, 16);
      const end = parseInt(h[2]!, 16);
      if (address >= start && address < end) {
        current = { range: `${h[1]}-${h[2]}`, sizeKb: 0, rssKb: 0, privateCleanKb: 0, privateDirtyKb: 0, sharedCleanKb: 0, sharedDirtyKb: 0, swapKb: 0 };
      }
      continue;
    }
    if (!current) continue;
    const field = /^(\w+):\s+(\d+) kB/.exec(line);
    if (!field) continue;
    const kb = Number(field[2]);
    switch (field[1]) {
      case 'Size': current.sizeKb = kb; break;
      case 'Rss': current.rssKb = kb; break;
      case 'Private_Clean': current.privateCleanKb = kb; break;
      case 'Private_Dirty': current.privateDirtyKb = kb; break;
      case 'Shared_Clean': current.sharedCleanKb = kb; break;
      case 'Shared_Dirty': current.sharedDirtyKb = kb; break;
      case 'Swap': current.swapKb = kb; break;
    }
  }
  return current;
}

/** The first `count` bytes at `position` of a file, read with read(2) (through the page cache). */
export function fileBytes(path: string, position: number, count: number): number[] {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(count);
    const n = readSync(fd, out, 0, count, position);
    return [...out.subarray(0, n)];
  } finally {
    closeSync(fd);
  }
}

/**
 * Everything the kernel reports about the page holding byte `offset` of `sab`.
 * Reading these files does not touch the page, so inspecting does not change
 * what is inspected (pass `file` to also read the file's bytes; that read goes
 * through the page cache and may bring the page in, so it is done last).
 */
export function inspectPage(sab: SharedArrayBuffer, offset: number, file?: { path: string; position: number; count?: number }): PageReport {
  const resident = isResident(sab, offset);
  const pagemap = pagemapEntry(sab, offset);
  const report: PageReport = {
    resident,
    pagemap,
    flags: pageFlags(pagemap.pfn),
    smaps: smapsFor(native().addressOf(sab, offset)),
  };
  if (file) report.fileBytes = fileBytes(file.path, file.position, file.count ?? 4);
  return report;
}
