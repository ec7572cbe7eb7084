#!/usr/bin/env node
// The support matrix: every supported Node (20, 22, 24, 26) on every CPU (x64, arm64), each running
// the package as users install it and a core subset of the suite.
//
// 1. The Nodes come from the node cache (tools/node-cache.mjs), fetched when missing.
// 2. One `npm pack` here (prepack: dist/ and all 8 prebuilt binaries, tools/prebuild-all.mjs).
// 3. Per Node and CPU, vitest runs under THAT node binary (`<node> node_modules/vitest/vitest.mjs`),
//    with its bin/ first on PATH (so `npm`, `npx` and the lab bin's `#!/usr/bin/env node` run on it):
//    - test/package-install.test.ts on the packed tarball (ROBUST_SHM_TEST_TARBALL), installed with
//      --ignore-scripts: the prebuilt binary must load, no compiler involved;
//    - the core subset from the checkout, loading the checkout's prebuilds/ (PREBUILDS_ONLY=1: never a
//      build/Release compiled for the Node that runs npm here).
//    arm64 runs in a copy of the checkout whose node_modules holds the arm64 builds of the dev tools'
//    own native parts (rolldown under vitest, esbuild under tsx): `npm ci --cpu=arm64` there.
//    arm64 runs under qemu-user (Debian's qemu-user-static, registered with binfmt_misc from
//    /usr/lib/binfmt.d/qemu-aarch64.conf, QEMU_LD_PREFIX=/usr/aarch64-linux-gnu), so child processes
//    of the arm64 node are arm64 too. qemu-user refuses set_robust_list: there the fallback serves.
// 4. One summary line per Node and CPU, and --json for the figures.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ABI_OF_MAJOR, ARCHES, MAJORS, ensureNode, nodeBinary, nodeCacheRoot } from './node-cache.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

// The core subset: every native function is called by one of these (mutex-hard-cases' case 10 calls
// each with bad arguments too). Chosen to keep arm64 under qemu-user within CI's budget.
const CORE = {
  'test/foundation.test.ts': 'mapped memory across processes and threads, futex wait/wake, region create/open',
  'test/mutex-hard-cases.test.ts': 'mutex death by SIGKILL, terminate(), process.exit(); every native function with bad arguments',
  'test/mutex-glibc-coexistence.test.ts': "sharing glibc's robust list (x64: on it; arm64 under qemu: the fallback, nothing linked)",
  'test/rwlock.test.ts': 'rwlock reader and writer death',
  'test/async-wake.test.ts': 'async waits woken by the kernel (futex_waitv) or by slices',
  'test/die-with-parent.test.ts': 'parent death (PR_SET_PDEATHSIG)',
};
// Needs the host kernel's seccomp on the same CPU: qemu-user cannot run a seccomp filter for its guest
// (under qemu the robust-list syscalls are refused anyway, which is what this test emulates).
const X64_ONLY = { 'test/robust-list-fallback.test.ts': 'set_robust_list refused by seccomp: the fallback' };
const PACKAGE = 'test/package-install.test.ts';
// Left out under qemu-user. Mostly what qemu-user (7.2, Debian 12) does not emulate, so those tests have
// nothing to test there: it answers
// set_robust_list and futex_waitv with ENOSYS. The robust list's absence is the fallback under test on
// arm64; glibc's list that the coexistence test shares does not exist, and async waits are served by
// slices (the one async-wake test of that mode runs). Real arm64 hardware has both.
const NOT_UNDER_QEMU = {
  'test/mutex-glibc-coexistence.test.ts': { reason: "no robust list under qemu-user: glibc's list it shares is not there" },
  'test/async-wake.test.ts': { only: 'without futex_waitv', reason: 'no futex_waitv under qemu-user: only its slice-polling test applies' },
  // Not a qemu limit, CI's budget: emulated, the rwlock's fairness and starvation streams take minutes.
  'test/rwlock.test.ts': { only: 'dies holding a share|killed mid-write', reason: "CI time: under qemu-user only the rwlock's reader and writer death tests" },
};

const USAGE = `usage: npm run matrix -- [--node 20,22,24,26] [--arch x64,arm64] [--json] [--keep-going] [--tarball <file>]
       node tools/matrix.mjs [same options]
  Runs, with each Node and CPU (arm64 under qemu-user), the installed-tarball tests
  (${PACKAGE}) and the core subset:
${Object.entries({ ...CORE, ...X64_ONLY }).map(([f, why]) => `    ${f}  ${why}${f in X64_ONLY ? ' (x64 only)' : ''}`).join('\n')}
  Nodes are fetched into ${nodeCacheRoot()} when missing. arm64 needs qemu-user-static,
  g++-aarch64-linux-gnu (its glibc) and, to register qemu with binfmt_misc, root.
  --node        majors (default ${MAJORS.join(',')})
  --arch        CPUs (default ${ARCHES.join(',')})
  --tarball     test this tarball instead of running npm pack
  --keep-going  run every combination even after one failed
  --json        print the results as JSON on stdout (progress and summaries go to stderr)
  Exit status 0 only if every combination passed.
`;

let args;
try {
  args = parseArgs({ options: { node: { type: 'string' }, arch: { type: 'string' }, tarball: { type: 'string' }, json: { type: 'boolean' }, 'keep-going': { type: 'boolean' }, help: { type: 'boolean' } } }).values;
} catch (error) {
  process.stderr.write(`matrix: ${error.message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
function list(value, allowed, what) {
  if (!value) return allowed;
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.map(String).includes(item)) {
      process.stderr.write(`matrix: unknown ${what} '${item}' (expected ${allowed.join(', ')})\n${USAGE}`);
      process.exit(2);
    }
  }
  return items;
}
const majors = list(args.node, MAJORS, 'Node major').map(Number);
const arches = list(args.arch, ARCHES, 'arch');
const log = (line) => process.stderr.write(`matrix: ${line}\n`);
function fail(message) {
  process.stderr.write(`matrix: ${message}\n`);
  process.exit(1);
}
if (process.arch !== 'x64') fail(`runs on an x64 host (this is ${process.arch})`);
if (args.tarball && !existsSync(args.tarball)) fail(`no such tarball: ${args.tarball}`);

const QEMU_LD_PREFIX = '/usr/aarch64-linux-gnu';
const BINFMT = '/proc/sys/fs/binfmt_misc';

/** Register qemu-aarch64 with binfmt_misc (idempotent): arm64 node and everything it spawns then run. */
function setUpQemu() {
  const missing = [];
  if (spawnSync('sh', ['-c', 'command -v qemu-aarch64-static'], { stdio: 'ignore' }).status !== 0) missing.push('qemu-aarch64-static (apt-get install -y qemu-user-static)');
  if (!existsSync(join(QEMU_LD_PREFIX, 'lib', 'ld-linux-aarch64.so.1'))) missing.push(`the arm64 glibc in ${QEMU_LD_PREFIX} (apt-get install -y g++-aarch64-linux-gnu)`);
  if (missing.length) fail(`arm64 needs ${missing.join(' and ')}`);
  if (!existsSync(join(BINFMT, 'register'))) {
    log(`mounting binfmt_misc on ${BINFMT}`);
    const mount = spawnSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT], { encoding: 'utf8' });
    if (mount.status !== 0) fail(`cannot mount binfmt_misc (${mount.stderr.trim()}); as root: mount -t binfmt_misc binfmt_misc ${BINFMT}`);
  }
  if (!existsSync(join(BINFMT, 'qemu-aarch64'))) {
    const conf = '/usr/lib/binfmt.d/qemu-aarch64.conf';
    if (!existsSync(conf)) fail(`${conf} is missing (apt-get install -y qemu-user-static)`);
    const line = readFileSync(conf, 'utf8').split('\n').find((l) => l.trim() && !l.startsWith('#'));
    log(`registering qemu-aarch64 with binfmt_misc from ${conf}`);
    try {
      writeFileSync(join(BINFMT, 'register'), line);
    } catch (error) {
      fail(`cannot register qemu-aarch64 (${error.message}); as root: grep -v '^#' ${conf} > ${BINFMT}/register`);
    }
  }
  if (readFileSync(join(BINFMT, 'qemu-aarch64'), 'utf8').split('\n')[0] !== 'enabled') fail(`${BINFMT}/qemu-aarch64 is registered but not enabled`);
}

const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'robust-shm-matrix-'));
const cleanUp = () => rmSync(work, { recursive: true, force: true });
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

// 1. Nodes and qemu.
const combos = [];
for (const major of majors) {
  for (const arch of arches) {
    const r = ensureNode(major, arch, { log: (l) => log(`node ${major} ${arch}: ${l}`) });
    combos.push({ major, arch, version: r.version, abi: ABI_OF_MAJOR[major] });
  }
}
if (arches.includes('arm64')) setUpQemu();

// 2. The tarball (prepack builds and checks all 8 binaries).
let tarball = args.tarball;
if (!tarball) {
  log('npm pack (prepack: dist/ and the 8 prebuilt binaries) ...');
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const info = JSON.parse(out.slice(out.indexOf('[')))[0];
  tarball = join(work, info.filename);
  log(`${info.filename}: ${(info.size / 1024).toFixed(0)} KiB packed, ${info.files.filter((f) => f.path.startsWith('prebuilds/')).length} prebuilt binaries`);
}
const packed = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' });

/**
 * The checkout as another CPU's developer would have it: the working tree's files (tracked and
 * untracked, not ignored), this run's dist/ and prebuilds/, and `npm ci` for that CPU, so the dev
 * tools' native bindings (rolldown, esbuild) are that CPU's. Made once per run.
 */
const trees = { x64: root };
function treeFor(arch) {
  if (trees[arch]) return trees[arch];
  const tree = join(work, `${arch}-tree`);
  log(`a copy of the checkout with ${arch} dev dependencies (npm ci --cpu=${arch}) ...`);
  let listed;
  try {
    listed = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' });
  } catch (error) {
    fail(`listing the checkout's files needs git (${error.message})`);
  }
  for (const file of listed.split('\0').filter(Boolean)) {
    if (existsSync(join(root, file))) cpSync(join(root, file), join(tree, file), { recursive: true });
  }
  for (const built of ['dist', 'prebuilds', '.tsbuildinfo']) {
    if (existsSync(join(root, built))) cpSync(join(root, built), join(tree, built), { recursive: true });
  }
  execFileSync('npm', ['ci', `--cpu=${arch}`, '--os=linux', '--libc=glibc', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: tree, stdio: ['ignore', 2, 2] });
  trees[arch] = tree;
  return tree;
}

// 3. Each Node and CPU.
/** Run vitest with `node` on `files`; resolves with its JSON report's counts. */
function vitest(combo, node, files, env, label, cwd, namePattern) {
  const report = join(work, `${combo.major}-${combo.arch}-${label}.json`);
  const logFile = join(work, `${combo.major}-${combo.arch}-${label}.log`);
  return new Promise((resolve) => {
    const child = spawn(node, [join(cwd, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files, ...(namePattern ? ['-t', namePattern] : []), '--reporter=dot', '--reporter=json', `--outputFile=${report}`], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    // A generous net: a hung combination must not eat CI's whole budget.
    const timer = setTimeout(() => {
      output += `\nmatrix: killed after 30 min\n`;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, 30 * 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        process.kill(-child.pid, 'SIGKILL'); // anything the run left behind
      } catch {}
      writeFileSync(logFile, output);
      let r = { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, testResults: [] };
      try {
        r = JSON.parse(readFileSync(report, 'utf8'));
      } catch {}
      const failures = r.testResults.flatMap((file) => file.assertionResults.filter((a) => a.status === 'failed').map((a) => `${file.name.replace(cwd, '')}: ${a.fullName}: ${(a.failureMessages[0] ?? '').split('\n').slice(0, 8).join('\n    ')}`));
      if (code !== 0 && failures.length === 0) failures.push(`vitest exited with ${code}: ${output.trim().split('\n').slice(-5).join(' | ')}`);
      const fileSeconds = Object.fromEntries(r.testResults.map((file) => [relative(cwd, file.name), Math.round((file.endTime - file.startTime) / 1000)]));
      resolve({ passed: r.numPassedTests, failed: r.numFailedTests + (code !== 0 && r.numFailedTests === 0 ? 1 : 0), skipped: r.numPendingTests, failures, output, fileSeconds });
    });
  });
}

const results = [];
for (const [i, combo] of combos.entries()) {
  const t0 = Date.now();
  const node = nodeBinary(combo.major, combo.arch);
  const tree = treeFor(combo.arch);
  const prebuilt = `prebuilds/linux-${combo.arch}/robust-shm.abi${combo.abi}.glibc.node`;
  const inTarball = packed.includes(`package/${prebuilt}`);
  const env = { ...process.env, PATH: `${join(node, '..')}:${process.env.PATH}`, ROBUST_SHM_TEST_TARBALL: tarball, PREBUILDS_ONLY: '1' };
  delete env.NODE_OPTIONS;
  // Test-only C (the glibc-mutex addon) is compiled for the CPU under test.
  // Under qemu-user a lab participant can wait its turn longer than the lab's 5 s hang threshold.
  if (combo.arch === 'arm64') Object.assign(env, { QEMU_LD_PREFIX, ROBUST_SHM_TEST_CC: 'aarch64-linux-gnu-gcc', ROBUST_SHM_TEST_LAB_HANG_MS: '60000' });
  log(`[${i + 1}/${combos.length}] node ${combo.version} ${combo.arch}${combo.arch === 'arm64' ? ' (qemu-user)' : ''} ...`);
  const probe = spawnSync(node, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(join(tree, 'dist', 'index.js'))}); const { native } = await import(${JSON.stringify(join(tree, 'dist', 'native', 'index.js'))}); native(); console.log(JSON.stringify({ abi: process.versions.modules, arch: process.arch, detection: m.deathDetection() }))`], { env, encoding: 'utf8', timeout: 300_000 });
  let path = 'unknown';
  let probeError = '';
  try {
    const p = JSON.parse(probe.stdout);
    path = p.detection.path;
    if (p.abi !== String(combo.abi) || p.arch !== combo.arch) probeError = `the node reports abi${p.abi} ${p.arch}`;
  } catch {
    probeError = `probe failed: ${(probe.stderr || '').trim().split('\n').slice(-3).join(' | ')}`;
  }
  const emulated = combo.arch !== process.arch;
  const files = [...Object.keys(CORE), ...(combo.arch === 'x64' ? Object.keys(X64_ONLY) : [])].filter((f) => !(emulated && f in NOT_UNDER_QEMU));
  const pkg = await vitest(combo, node, [PACKAGE], env, 'package', tree);
  const core = await vitest(combo, node, files, env, 'core', tree);
  // Under qemu: the parts of the left-out files that apply (the rest is reported as skipped, with why).
  const partly = emulated ? Object.entries(NOT_UNDER_QEMU).filter(([, how]) => how.only) : [];
  for (const [file, how] of partly) {
    const part = await vitest(combo, node, [file], env, `part-${file.replace(/\W/g, '_')}`, tree, how.only);
    for (const k of ['passed', 'failed', 'skipped']) core[k] += part[k];
    core.failures.push(...part.failures);
    core.output += part.output;
    Object.assign(core.fileSeconds, part.fileSeconds);
  }
  const notApplicable = emulated ? Object.entries(NOT_UNDER_QEMU).map(([file, how]) => `${file}${how.only ? ` (all but '${how.only}')` : ''}: ${how.reason}`) : [];
  const seconds = Math.round((Date.now() - t0) / 1000);
  const passed = pkg.passed + core.passed;
  const failed = pkg.failed + core.failed + (probeError ? 1 : 0) + (inTarball ? 0 : 1);
  const failures = [...(inTarball ? [] : [`${prebuilt} is not in the tarball`]), ...(probeError ? [probeError] : []), ...pkg.failures, ...core.failures];
  const result = { node: combo.version, major: combo.major, arch: combo.arch, abi: combo.abi, binary: inTarball ? `prebuilt abi${combo.abi}` : 'none', passed, failed, skipped: pkg.skipped + core.skipped, path, seconds, fileSeconds: { ...pkg.fileSeconds, ...core.fileSeconds }, notApplicable, failures };
  results.push(result);
  const line = `node ${combo.major} ${combo.arch}: ${result.binary}, ${passed} passed, ${failed} failed${result.skipped ? `, ${result.skipped} skipped` : ''}, path: ${path}, ${seconds} s`;
  process.stderr.write(`${line}\n`);
  for (const n of notApplicable) process.stderr.write(`  not run under qemu: ${n}\n`);
  for (const f of failures) process.stderr.write(`  FAILED ${f}\n`);
  if (failed) {
    const kept = join(tmpdir(), `robust-shm-matrix-${combo.major}-${combo.arch}.log`);
    writeFileSync(kept, `${pkg.output}\n${core.output}`);
    process.stderr.write(`  full output: ${kept}\n`);
    if (!args['keep-going']) break;
  }
}

const total = Math.round((Date.now() - started) / 1000);
process.stderr.write(`\nmatrix summary (${total} s):\n${results.map((r) => `node ${r.major} ${r.arch}: ${r.binary}, ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}, path: ${r.path}, ${r.seconds} s`).join('\n')}\n`);
if (args.json) process.stdout.write(`${JSON.stringify({ seconds: total, results }, null, 2)}\n`);
const ok = results.length === combos.length && results.every((r) => r.failed === 0 && r.passed > 0);
// The plain closing count of every combination together (CI reads the last such line).
process.stderr.write(`matrix: ${results.reduce((n, r) => n + r.passed, 0)} passed, ${results.reduce((n, r) => n + r.failed, 0)} failed\n`);
process.exit(ok ? 0 : 1);
