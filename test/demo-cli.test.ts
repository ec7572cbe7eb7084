// The demos' command lines: a bad --dir, --region or --chart path (and a bad
// number) is one line on stderr, `<demo>: <message naming the path>`, then
// `Try --help.`, exit code 2: no stack trace, and nothing made anywhere (the
// check comes before any work). Each demo runs as `node --import tsx` in a
// fresh temp directory; whatever a test starts is killed in afterEach.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { openRegion } from '../src/shm/region.js';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { useResources } from './helpers/resources.js';

// tsx by its file URL: the demos run with a temp dir as their working directory, where `--import tsx` would not resolve.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const demoPath = (name: string): string => new URL(`../demos/${name}.ts`, import.meta.url).pathname;
/** Where the demos make their files when not told: the temp dir and /dev/shm. */
const SCRATCH = [tmpdir(), ...(existsSync('/dev/shm') ? ['/dev/shm'] : [])];

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'demo-cli-test-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

describe('demo command lines', () => {
  const res = useResources();

  /** Run a demo (in `base`) to its end: exit code, output, pid. */
  async function run(name: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
    const child = res.track(spawn(process.execPath, ['--import', TSX, demoPath(name), ...args], { cwd: base, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    return { code, stdout, stderr, pid: child.pid! };
  }

  /** What is in the scratch directories under this name prefix. */
  const entries = (prefix: string): Set<string> =>
    new Set(SCRATCH.flatMap((dir) => readdirSync(dir).filter((n) => n.startsWith(prefix)).map((n) => join(dir, n))));

  /** The usage error's shape: exit 2, two lines on stderr (the message, then Try --help.), no stack, nothing on stdout. */
  function expectUsageError(r: { code: number | null; stdout: string; stderr: string }, name: string, mentions: string[]): void {
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(2);
    expect(lines[0]!.startsWith(`${name}: `), lines[0]).toBe(true);
    for (const m of mentions) expect(lines[0]).toContain(m);
    expect(lines[1]).toBe('Try --help.');
    expect(r.stderr).not.toMatch(/^ {4}at /m);
  }

  for (const name of ['page-lifecycle', 'mapped-file-crash']) {
    it(`${name} --dir <missing>: one line naming it, exit 2, no temp dirs made`, { timeout: 60_000 }, async () => {
      const missing = join(base, 'missing');
      const before = entries(`${name}-`);
      const r = await run(name, ['--dir', missing]);
      expectUsageError(r, name, [`--dir ${missing}`, 'no such directory']);
      expect(entries(`${name}-`)).toEqual(before);
      expect(readdirSync(base)).toEqual([]);
    });
  }

  it('page-lifecycle --dir <relative missing>, and --dir <a file>: the same', { timeout: 60_000 }, async () => {
    const before = entries('page-lifecycle-');
    expectUsageError(await run('page-lifecycle', ['--dir', 'abc']), 'page-lifecycle', ['--dir abc: no such directory']);
    writeFileSync(join(base, 'plain'), 'x');
    expectUsageError(await run('page-lifecycle', ['--dir', join(base, 'plain')]), 'page-lifecycle', [`--dir ${join(base, 'plain')}: not a directory`]);
    expect(entries('page-lifecycle-')).toEqual(before);
    expect(readdirSync(base)).toEqual(['plain']);
  });

  it('soak --region in a missing directory: one line naming it, exit 2, no region, nothing started', { timeout: 60_000 }, async () => {
    const region = join(base, 'missing', 'x.region');
    const r = await run('soak', ['--kills', '1', '--json', '--region', region]);
    expectUsageError(r, 'soak', [`--region ${region}`, `no such directory ${join(base, 'missing')}`]);
    expect(entries(`robust-shm-soak-${r.pid}-`)).toEqual(new Set());
    expect(entries(`soak-${r.pid}`)).toEqual(new Set());
    expect(readdirSync(base)).toEqual([]);
  });

  it('soak --region that is a directory, and --chart in a missing directory: refused before the run, not after it', { timeout: 60_000 }, async () => {
    const dir = join(base, 'a-dir');
    mkdirSync(dir);
    expectUsageError(await run('soak', ['--kills', '1', '--region', dir]), 'soak', [`--region ${dir}: a directory`]);
    const chart = join(base, 'missing', 'c.svg');
    const r = await run('soak', ['--kills', '1', '--json', '--chart', chart]);
    expectUsageError(r, 'soak', [`--chart ${chart}`, 'no such directory']);
    expect(entries(`robust-shm-soak-${r.pid}-`)).toEqual(new Set());
    expect(readdirSync(base)).toEqual(['a-dir']);
  });

  it('soak and lock-lab --region naming another program\'s file (or a link to one): refused, and the file is left as it was', { timeout: 60_000 }, async () => {
    const theirs = join(base, 'their-file');
    writeFileSync(theirs, 'not a region, someone else\'s data');
    const link = join(base, 'a-link');
    symlinkSync(theirs, link);
    expectUsageError(await run('soak', ['--kills', '1', '--region', theirs]), 'soak', [`--region ${theirs}: exists and is not a robust-shm region`]);
    expectUsageError(await run('lock-lab', ['--script', 'quit', '--region', theirs]), 'lock-lab', [`--region ${theirs}: exists and is not a robust-shm region`]);
    expectUsageError(await run('lock-lab', ['--script', 'quit', '--region', link]), 'lock-lab', [`--region ${link}: exists and is not a robust-shm region`]);
    expect(readFileSync(theirs, 'utf8')).toBe('not a region, someone else\'s data');
    expect(readdirSync(base).sort()).toEqual(['a-link', 'their-file']);
    // A stale region at the path is the lab's to replace: it runs, and removes it at the end.
    const stale = join(base, 'stale.region');
    const region = await openRegion(stale, { size: 1 << 20, create: true });
    region.close();
    const r = await run('lock-lab', ['--json', '--processes', '0', '--workers', '0', '--threads', '2', '--script', 'quit', '--region', stale]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(stale)).toBe(false);
  });

  it.skipIf(process.getuid?.() !== 0)('lock-lab --region naming another user\'s region: refused as another user\'s, and left as it was (run as root, to chown it)', { timeout: 60_000 }, async () => {
    const theirs = join(base, 'their.region');
    (await openRegion(theirs, { size: 1 << 20, create: true })).close();
    chownSync(theirs, 65534, 65534);
    const before = readFileSync(theirs);
    expectUsageError(await run('lock-lab', ['--script', 'quit', '--region', theirs]), 'lock-lab', [`--region ${theirs}: another user's file`]);
    expect(readFileSync(theirs).equals(before)).toBe(true);
  });

  it('a bad number has the same shape in every demo: <demo>: --<option> must be ..., Try --help.', { timeout: 60_000 }, async () => {
    expectUsageError(await run('mapped-file-crash', ['--size', 'big']), 'mapped-file-crash', ["--size must be an integer from 1 to 268435456, got 'big'"]);
    expectUsageError(await run('soak', ['--kills', '0']), 'soak', ["--kills must be an integer from 1 to 10000000, got '0'"]);
  });
});
