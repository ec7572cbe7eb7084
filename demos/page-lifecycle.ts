// Demo for seed 003: the article's page-lifecycle table (page in, make dirty,
// page out dirty/clean, decommit dirty/clean for zero-initialised, allocated
// and memory-mapped-file pages), each operation done for real on this kernel,
// with what mincore, /proc/self/pagemap, /proc/kpageflags, /proc/self/smaps and
// read(2) report, and where Linux differs from the article's model.
import { mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirOption, startDemo } from './lib/cli.js';
import { OPERATIONS, walkLifecycle, type Cell } from './lib/page-lifecycle-cells.js';
import { softDirtySupported } from '../src/inspect/page-inspector.js';

const demo = startDemo({
  name: 'page-lifecycle',
  summary:
    "Walks the article's page-lifecycle table on the live kernel: for zero-initialised (anonymous, untouched), allocated " +
    '(anonymous, written) and memory-mapped-file pages (a disk file, and a tmpfs file), performs page in (read), make dirty ' +
    '(write), page out dirty/clean (MADV_PAGEOUT, then msync), decommit dirty/clean (MADV_DONTNEED, and a child process whose ' +
    'view the kernel unmaps when it dies), and shows what the kernel reports after each step.',
  options: {
    dir: { type: 'string' },
    'no-tmpfs': { type: 'boolean' },
    verbose: { type: 'boolean', short: 'v' },
  },
  descriptions: {
    dir: 'directory for the disk-backed file (default: os.tmpdir())',
    'no-tmpfs': 'skip the row for a file on tmpfs (/dev/shm)',
    verbose: 'print every step of every cell with the kernel report',
  },
});

const TMPFS_MAGIC = 0x01021994;
// A bad --dir is a usage error before anything is made.
const diskDir = mkdtempSync(join(dirOption('dir', demo.values.dir) ?? tmpdir(), 'page-lifecycle-'));
const tmpfsDir = demo.values['no-tmpfs'] ? undefined : mkdtempSync('/dev/shm/page-lifecycle-');

function swapDevices(): number {
  try {
    return readFileSync('/proc/swaps', 'utf8').trim().split('\n').length - 1;
  } catch {
    return -1;
  }
}

function wrap(text: string, width: number, indent: string): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join('\n');
}

try {
  const swaps = swapDevices();
  const diskIsTmpfs = statfsSync(diskDir).type === TMPFS_MAGIC;
  const softDirty = softDirtySupported();
  demo.event('machine', { kernel: release(), swapDevices: swaps, softDirtyTracked: softDirty, diskDir, diskIsTmpfs, tmpfsDir: tmpfsDir ?? null },
    `Kernel ${release()}, ${swaps === 0 ? 'no swap' : swaps < 0 ? 'swap unknown' : `${swaps} swap device(s)`}, soft-dirty ${softDirty ? 'tracked' : 'NOT tracked (CONFIG_MEM_SOFT_DIRTY off: the bit stays 0, shown as null)'}; ` +
      `disk file under ${diskDir}${diskIsTmpfs ? ' (WARNING: that is tmpfs, not a disk)' : ''}.\n` +
      'There is no munmap in the native layer (a JS reference to an unmapped SharedArrayBuffer would segfault): "decommit by\n' +
      'unmapping the view" is done by a child process that maps the file and dies; the kernel unmaps its view.\n');
  const cells = await walkLifecycle(diskDir, tmpfsDir);
  for (const c of cells) {
    if (demo.json) {
      demo.event('cell', { ...c });
      continue;
    }
    demo.say(`[${c.pageType}] ${c.operation}  --  ${c.verdict.toUpperCase()}`);
    demo.say(wrap(`article: ${c.article}`, 110, '    '));
    demo.say(wrap(`observed: ${c.effect}`, 110, '    '));
    if (demo.values.verbose) {
      demo.say(`    setup: ${c.setup}; before: ${JSON.stringify(c.before)}`);
      for (const s of c.steps) demo.say(`    - ${s.action}${s.value === undefined ? '' : ` -> ${s.value}`}${s.note ? ` (${s.note})` : ''}: ${JSON.stringify(s.after)}`);
    }
  }
  if (!demo.json) {
    demo.say('\nThe table (A = as the article, D = differs, - = never happens):');
    const rows = [...new Set(cells.map((c) => c.pageType))];
    demo.say(`  ${''.padEnd(22)}${OPERATIONS.map((o) => o.padEnd(16)).join('')}`);
    for (const row of rows) {
      const marks = OPERATIONS.map((o) => {
        const v = cells.find((c) => c.pageType === row && c.operation === o)?.verdict;
        return (v === 'as the article' ? 'A' : v === 'differs' ? 'D' : '-').padEnd(16);
      });
      demo.say(`  ${row.padEnd(22)}${marks.join('')}`);
    }
    demo.say(
      '\nWhere this machine differs from the article:\n' +
        '  - no swap file is involved anywhere unless a swap device exists: a zero-initialised page that is written gets a page,\n' +
        '    not a swap slot (Linux picks a slot only when it pages out), and without swap anonymous memory cannot be paged out;\n' +
        '  - a discarded anonymous page (MADV_DONTNEED) comes back as zeroes;\n' +
        '  - MADV_PAGEOUT on a dirty file page only unmaps it: the page stays in the page cache and is written by msync or by\n' +
        '    the flusher (vm.dirty_expire_centisecs), not at page-out; decommitting a dirty file page writes nothing either,\n' +
        '    the page cache keeps it and writeback writes it later. Nothing is lost either way: every view sees the same page;\n' +
        '  - a tmpfs file is shared memory, not a disk file: its pages behave like anonymous memory (swap-backed).',
    );
  }
  const differs = cells.filter((c) => c.verdict === 'differs').length;
  const filesKept = cells.filter((c) => c.pageType.startsWith('mapped file') && c.operation === 'decommit dirty' && c.verdict === 'as the article').length;
  const fileRows = cells.filter((c) => c.pageType.startsWith('mapped file') && c.operation === 'decommit dirty').length;
  const ok = cells.length >= 18 && filesKept === fileRows;
  demo.finish(ok, { cells: cells.length, asTheArticle: cells.filter((c) => c.verdict === 'as the article').length, differs, neverHappens: cells.filter((c) => c.verdict === 'never happens').length, dirtyFilePagesKept: filesKept, swapDevices: swaps },
    `page-lifecycle: ${ok ? 'OK' : 'FAILED'}: ${cells.length} cells, ${differs} differ from the article; a decommitted dirty file page kept its data in ${filesKept}/${fileRows} rows`);
} catch (error) {
  process.stderr.write(`page-lifecycle: ${(error as Error).stack ?? String(error)}\n`);
  demo.finish(false, { error: (error as Error).message });
} finally {
  rmSync(diskDir, { recursive: true, force: true });
  if (tmpfsDir) rmSync(tmpfsDir, { recursive: true, force: true });
}
