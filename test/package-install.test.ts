// The package as a user gets it: `npm pack`, then install the tarball into an
// empty temporary project with --ignore-scripts (no compiler, no install
// script: the prebuilt binary must load), and with plain node (no tsx, no
// TypeScript, NODE_OPTIONS cleared):
// - the README example runs as ESM and through require();
// - a child process and a worker thread of that project open one region and
//   mutex; the process is SIGKILLed inside the critical section and the thread
//   gets 'abandoned', then the thread is terminated inside and a process gets 'abandoned';
// - the usual piscina set-up: a main thread that never imports the library, a
//   task aborted (AbortSignal) inside the critical section, the next task told
//   'abandoned', workers retired on idleTimeout, then destroy(); exit 0, no stderr;
// - `npx -- robust-shm-lab --script "park 2; kill 2; quit" --json` reports the
//   abandonment and the repair;
// - without a loadable binary: NativeUnavailableError (code, what was tried), threads-only still works;
// - the tarball holds a prebuilt binary for each CPU (x64, arm64) and ABI (115, 127, 137, 147), each
//   the CPU and ABI its name says; with install scripts on, nothing compiles where one fits; where
//   none fits, the install script compiles with the running Node's headers, not npm's nodedir.
// ROBUST_SHM_TEST_TARBALL names a tarball to test instead of packing one (tools/matrix.mjs packs once
// and runs this file with every Node and CPU; everything here runs with process.execPath and the
// `npm`/`npx` on PATH, which the matrix points at the Node under test).
// npm reaches only the registry (the dependencies are normally in its cache already).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error -- a plain .mjs tool without type declarations
import { describeBinary, parsePrebuildName } from '../tools/prebuilt-binary.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/consumer/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), `robust-shm-pack-${process.pid}-`));
const project = join(work, 'project');
const installed = join(project, 'node_modules', 'robust-shm');
const shmPrefix = `/dev/shm/robust-shm-test-installed-${process.pid}-${Math.random().toString(36).slice(2)}`;

/** Plain node: no tsx or vitest loader inherited through NODE_OPTIONS. */
const env = { ...process.env };
delete env['NODE_OPTIONS'];

let tarball = '';
// Under qemu-user (the arm64 matrix sets QEMU_LD_PREFIX) everything runs 10-20 times slower: the safety nets of the
// longest test stretch with it.
const EMULATED_NET = process.env['QEMU_LD_PREFIX'] ? 3 : 1;
let packedFiles: string[] = [];

function node(args: string[], timeout = 60_000): string {
  return execFileSync(process.execPath, args, { cwd: project, env, encoding: 'utf8', timeout });
}

/** The README's example, with its region path made unique to this test. */
function readmeExample(region: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  expect(example).toContain("openRegion('/dev/shm/readme-example.region'");
  return example.replace('/dev/shm/readme-example.region', region);
}

/** The same program for require(): `import { a } from 'x'` -> `const { a } = require('x')`, top-level await inside an async function. */
function asCommonJs(esm: string): string {
  const lines = esm.split('\n');
  const imports = lines.filter((l) => l.startsWith('import '));
  const body = lines.filter((l) => !l.startsWith('import '));
  const requires = imports.map((l) => {
    const m = /^import \{([^}]*)\} from '([^']+)';$/.exec(l);
    if (!m) throw new Error(`cannot convert: ${l}`);
    return `const {${m[1]}} = require('${m[2]}');`;
  });
  return `${requires.join('\n')}\n(async () => {\n${body.join('\n')}\n})().catch((e) => { console.error(e); process.exit(1); });\n`;
}

beforeAll(() => {
  const given = process.env['ROBUST_SHM_TEST_TARBALL'];
  if (given) {
    tarball = given;
    packedFiles = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();
    console.log(`tarball ${tarball} (ROBUST_SHM_TEST_TARBALL): ${packedFiles.length} files`);
  } else {
    // prepack builds dist/ and the prebuilt binaries for every supported Node and CPU (tools/prebuild-all.mjs).
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', timeout: 900_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const info = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    tarball = join(work, info[0]!.filename);
    packedFiles = info[0]!.files.map((f) => f.path).sort();
    console.log(`tarball ${info[0]!.filename}: ${info[0]!.size} bytes packed, ${info[0]!.unpackedSize} unpacked, ${packedFiles.length} files`);
  }
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'robust-shm-consumer', version: '1.0.0', private: true, type: 'commonjs' }, null, 2));
  const started = performance.now();
  execFileSync('npm', ['install', tarball, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: project,
    encoding: 'utf8',
    timeout: 300_000,
  });
  console.log(`npm install <tarball> --ignore-scripts: ${Math.round(performance.now() - started)} ms`);
  for (const f of ['participant.mjs', 'kill-inside.mjs', 'no-native.mjs', 'typed.mts', 'pool-main.mjs', 'pool-task.mjs']) copyFileSync(join(fixtures, f), join(project, f));
}, 1_200_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  for (const suffix of ['-readme-esm.region', '-readme-cjs.region', '-kill.region', '-pool.region']) {
    rmSync(shmPrefix + suffix, { force: true });
    rmSync(`${shmPrefix}${suffix}.lock`, { force: true, recursive: true });
  }
});

describe('installed from the tarball (npm pack; npm install --ignore-scripts; plain node)', () => {
  it('the tarball holds only dist, prebuilds, the native sources, README, LICENSE and package.json', () => {
    const allowed = [/^dist\/.*\.(js|d\.ts|js\.map)$/, /^prebuilds\/linux-(x64|arm64)\/robust-shm\.abi\d+\.glibc\.node$/, /^binding\.gyp$/, /^src\/native\/[^/]+\.(cc|h)$/, /^tools\/install\.mjs$/, /^README\.md$/, /^LICENSE$/, /^package\.json$/, /^lab-page\/(index\.html|lab\.css|lab\.js|favicon\.svg)$/];
    expect(packedFiles.filter((f) => !allowed.some((re) => re.test(f)))).toEqual([]);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/inspect/index.js', 'dist/testing/index.js', 'dist/lab/bin.js', 'binding.gyp', 'src/native/common.h', 'tools/install.mjs', 'README.md', 'LICENSE', 'package.json', 'lab-page/index.html', 'lab-page/lab.js', 'lab-page/lab.css']) {
      expect(packedFiles, f).toContain(f);
    }
    // Nothing of the checkout's dev side (the install script is the one tool a user needs).
    expect(packedFiles.filter((f) => /^(test|demos|bench|tools)\/|^dist\/.*tsbuildinfo/.test(f) && f !== 'tools/install.mjs')).toEqual([]);
  });

  it('ships a prebuilt binary for x64 and arm64 on ABI 115, 127, 137 and 147, each the CPU and ABI its name says (ELF header, registration symbol)', () => {
    const expected = ['x64', 'arm64'].flatMap((arch) => [115, 127, 137, 147].map((abi) => `prebuilds/linux-${arch}/robust-shm.abi${abi}.glibc.node`));
    expect(packedFiles.filter((f) => f.startsWith('prebuilds/')).sort()).toEqual(expected.sort());
    for (const file of expected) {
      const [, arch, name] = /^prebuilds\/linux-([^/]+)\/(.+)$/.exec(file)!;
      const bytes = readFileSync(join(installed, file));
      // Node looks up node_register_module_v<its ABI> when it loads an addon: one symbol, the named ABI.
      expect({ file, ...describeBinary(bytes) }).toEqual({ file, machine: arch, abis: [parsePrebuildName(name!).abi] });
      // Stripped: no .symtab section name left (the dynamic symbols Node needs stay).
      expect(bytes.includes(Buffer.from('.symtab\0')), `${file} is not stripped`).toBe(false);
    }
  });

  it('installed without compiling: no build/ directory, the prebuilt binary is what loads', () => {
    expect(existsSync(join(installed, 'build'))).toBe(false);
    const loaded = node(['-e', "require('node-gyp-build'); console.log(require('node-gyp-build').path(require('path').dirname(require.resolve('robust-shm/package.json'))))"]);
    expect(loaded.trim()).toMatch(new RegExp(`prebuilds/linux-${process.arch}/robust-shm\\.abi${process.versions.modules}\\.glibc\\.node$`));
  });

  it('with install scripts on, nothing compiles where a prebuilt binary fits', () => {
    const scripted = join(work, 'scripted');
    mkdirSync(scripted);
    writeFileSync(join(scripted, 'package.json'), JSON.stringify({ name: 'robust-shm-scripted', version: '1.0.0', private: true }, null, 2));
    // No compiler reachable: a compile attempt would fail the install, not pass unnoticed.
    execFileSync('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', '--foreground-scripts'], {
      cwd: scripted,
      env: { ...env, CXX: 'robust-shm-no-such-compiler', CC: 'robust-shm-no-such-compiler' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    const pkg = join(scripted, 'node_modules', 'robust-shm');
    expect(existsSync(join(pkg, 'build'))).toBe(false);
    const loaded = execFileSync(process.execPath, ['-e', "console.log(require('node-gyp-build').path(require('path').dirname(require.resolve('robust-shm/package.json'))))"], { cwd: scripted, env, encoding: 'utf8' });
    expect(loaded.trim()).toMatch(new RegExp(`prebuilds/linux-${process.arch}/robust-shm\\.abi${process.versions.modules}\\.glibc\\.node$`));
  }, 360_000);

  it("no prebuilt binary for this Node: the install script compiles with this Node's headers, not npm's nodedir of another ABI; or says what is missing", () => {
    const copy = join(work, 'no-prebuilt');
    cpSync(installed, copy, { recursive: true });
    rmSync(join(copy, 'prebuilds'), { recursive: true });
    // npm's nodedir naming headers of another ABI (the trap on these machines: Node 20's for every Node).
    const otherHeaders = join(work, 'other-node');
    mkdirSync(join(otherHeaders, 'include', 'node'), { recursive: true });
    writeFileSync(join(otherHeaders, 'include', 'node', 'node_version.h'), '#define NODE_MODULE_VERSION 99\n');
    const run = spawnSync(process.execPath, [join(copy, 'tools', 'install.mjs')], {
      cwd: copy,
      env: { ...env, npm_config_nodedir: otherHeaders, NODE_PATH: join(project, 'node_modules') },
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(run.stderr).toContain(`npm's nodedir (${otherHeaders}) holds headers for ABI 99, not this Node's (abi${process.versions.modules}): not used`);
    const machine = spawnSync('g++', ['-dumpmachine'], { encoding: 'utf8' }).stdout ?? '';
    if (machine.startsWith(process.arch === 'arm64' ? 'aarch64' : 'x86_64')) {
      // A compiler for this CPU: the build succeeds and is this Node's ABI.
      expect(run.status, run.stderr).toBe(0);
      const built = readFileSync(join(copy, 'build', 'Release', 'robust_shm_native.node'));
      expect(describeBinary(built)).toEqual({ machine: process.arch, abis: [Number(process.versions.modules)] });
    } else {
      // Under qemu-user the only g++ builds for the host CPU: one clear error, and no binary left behind.
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`no prebuilt binary for linux-${process.arch} abi${process.versions.modules}.*compiling one failed: g\\+\\+ builds for \\S+, not ${process.arch}`));
      expect(run.stderr).toContain('How to proceed');
      expect(existsSync(join(copy, 'build'))).toBe(false);
    }
  }, 360_000);

  it('a TypeScript user type-checks against the installed .d.ts of every entry point (nodenext); test hooks are not in the option types', () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];
    args.push('--typeRoots', join(root, 'node_modules', '@types'), '--types', 'node', 'typed.mts');
    let output = '';
    try {
      output = node(args, 120_000);
    } catch (error) {
      output = `tsc failed:\n${(error as { stdout?: string }).stdout ?? String(error)}`;
    }
    expect(output).toBe('');
  }, 150_000);

  it('the README example runs as ESM and through require(), and counts across runs', () => {
    const region = `${shmPrefix}-readme-esm.region`;
    writeFileSync(join(project, 'example.mjs'), readmeExample(region));
    expect(node(['example.mjs'])).toMatch(/count 1 free/);
    expect(node(['example.mjs'])).toMatch(/count 2 free/);
    const cjsRegion = `${shmPrefix}-readme-cjs.region`;
    writeFileSync(join(project, 'example.cjs'), asCommonJs(readmeExample(cjsRegion)));
    expect(node(['example.cjs'])).toMatch(/count 1 free/);
    expect(node(['example.cjs'])).toMatch(/count 2 free/);
    // Types and subpaths resolve through require() too.
    expect(node(['-e', "console.log(typeof require('robust-shm/testing').ParkingLot, typeof require('robust-shm/inspect').inspectPage)"]).trim()).toBe('function function');
  }, 120_000);

  it('a child process SIGKILLed inside the critical section -> the worker thread gets abandoned; the thread terminated inside -> a process gets abandoned', () => {
    const out = node(['kill-inside.mjs', `${shmPrefix}-kill.region`], 120_000);
    const result = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(result).toMatchObject({ processKilledBy: 'SIGKILL', threadSaw: 'abandoned', processSaw: 'abandoned' });
    // The thread was told which process died; the process was told the main process's thread died.
    expect(result['threadSawPreviousOwnerPid']).toBe(result['processParkedPid']);
    expect(result['processSawPreviousOwnerPid']).toBe(result['mainPid']);
  }, 180_000);

  it('npx -- robust-shm-lab --script "park 2; kill 2; quit" --json reports the abandonment and the repair', async () => {
    // Under qemu-user (tools/matrix.mjs, arm64) everything runs 10-20 times slower, and a waiter among
    // seven can go 5 s (the lab's default hang threshold) without its turn: the matrix raises it.
    const hang = process.env['ROBUST_SHM_TEST_LAB_HANG_MS'];
    const child = spawn('npx', ['--no', '--', 'robust-shm-lab', '--script', 'park 2; kill 2; quit', '--json', ...(hang ? ['--hang-ms', hang] : [])], {
      cwd: project,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => killGroup(child.pid!), 150_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearTimeout(timer);
    killGroup(child.pid!); // anything it left behind (nothing, normally)
    const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.find((l) => 'summary' in l);
    expect(code, stderr).toBe(0);
    expect(summary).toMatchObject({ summary: 'lock-lab', ok: true, kills: 1, invariantHeld: true, hangs: 0 });
    expect(summary!['abandonedObserved']).toBeGreaterThanOrEqual(1);
    expect(summary!['repairs']).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l['event'] === 'abandoned')).toBe(true);
    expect(lines.some((l) => l['event'] === 'repaired')).toBe(true);
  }, 180_000);

  it('robust-shm-lab --web from the installed package serves its page (found from dist/), and q ends it', async () => {
    const region = `${shmPrefix}-web.region`;
    const child = spawn(process.execPath, [join(installed, 'dist', 'lab', 'bin.js'), '--web', '--region', region], { cwd: project, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const timer = setTimeout(() => killGroup(child.pid!), 120_000);
    try {
      while (!stdout.includes('\n') && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      const url = /^lab page: (http:\/\/127\.0\.0\.1:\d+\/)\?token=\S+$/m.exec(stdout.split('\n')[0] ?? '')?.[1];
      expect(url, stdout + stderr).toBeDefined();
      const page = await fetch(url!);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<title>robust-shm lock lab</title>');
      expect((await fetch(`${url}lab.js`)).status).toBe(200);
      child.stdin.write('q\n');
      expect(await exited, stderr).toBe(0);
      expect(existsSync(region)).toBe(false);
    } finally {
      clearTimeout(timer);
      killGroup(child.pid!);
      rmSync(region, { force: true });
    }
  }, 150_000);

  it('a piscina pool whose main thread never imports the library: an aborted holder, abandoned and repaired, idle retirement, destroy(); exit 0', async () => {
    const child = spawn(process.execPath, ['pool-main.mjs', `${shmPrefix}-pool.region`], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000 * EMULATED_NET);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    // On failure the stages it printed say where it stopped.
    expect({ code, signal, stderr }, stdout).toEqual({ code: 0, signal: null, stderr: '' });
    const report = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(report).toMatchObject({ mappedBefore: false, mappedAfter: true, abortedWith: 'AbortError', holderGone: true, retiredGone: true, destroyedGone: true, heapValid: true });
    const statuses = report['statuses'] as string[];
    // Exactly one task met the aborted holder's death, and it named that thread.
    expect(statuses.filter((s) => s === 'abandoned')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'acquired')).toHaveLength(5);
    expect(report['abandonedNamed']).toEqual([report['holderTid']]);
    // Every completed step counted once; the aborted one did not count.
    expect(report['finalCount']).toBe(6);
  }, 150_000 * EMULATED_NET);

  it('with no loadable binary: NativeUnavailableError with a code and what was tried; threads-only use still works', () => {
    const prebuilds = join(installed, 'prebuilds');
    renameSync(prebuilds, `${prebuilds}.off`);
    try {
      const result = JSON.parse(node(['no-native.mjs', join(work, 'never-mapped')]).trim()) as Record<string, unknown>;
      expect(result).toMatchObject({ isNativeUnavailable: true, code: 'ERR_NATIVE_UNAVAILABLE', threadsOnlyAcquire: 'acquired' });
      expect((result['tried'] as string[]).some((t) => t.includes(`prebuilds/linux-${process.arch}`))).toBe(true);
      expect(result['message']).toMatch(/Threads-only use/);
    } finally {
      renameSync(`${prebuilds}.off`, prebuilds);
    }
  }, 60_000);
});

function killGroup(pgid: number): void {
  for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
    try {
      process.kill(-pgid, signal);
    } catch {
      // ESRCH: gone already
    }
  }
}
