#!/usr/bin/env node
// Builds the prebuilt addons `npm pack` ships: prebuilds/linux-<arch>/robust-shm.abi<N>.glibc.node
// for x64 and arm64 and every supported Node (ABI 115, 127, 137, 147).
//
// Each binary is compiled against the headers of the Node it is for (that Node's package in the
// node cache, tools/node-cache.mjs), passed as --nodedir: npm's config on these machines points
// node-gyp at Node 20's headers, and a build that inherited it would be an abi115 binary under
// another name. arm64 is cross-compiled with Debian's aarch64-linux-gnu toolchain. Every binary is
// stripped, then checked before anything is replaced: its ELF machine and registered ABI match
// its name, and it loads in the Node it is for (arm64: that Node under qemu-user), which reports
// the same ABI. Any mismatch fails the whole run and leaves prebuilds/ as it was.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ABI_OF_MAJOR, ARCHES, MAJORS, cachedNodeVersion, ensureNode, nodeBinary, nodeCacheRoot, nodeDir } from './node-cache.mjs';
import { describeBinary } from './prebuilt-binary.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const USAGE = `usage: npm run prebuild:all [-- --force] [--no-fetch] [--json]
       node tools/prebuild-all.mjs [--force] [--no-fetch] [--json]
  Builds prebuilds/linux-{x64,arm64}/robust-shm.abi{115,127,137,147}.glibc.node with each Node's
  own headers from ${nodeCacheRoot()} (tools/fetch-nodes.mjs), checks every binary
  (ELF machine, registered ABI, loads in its Node; arm64 under qemu-user) and only then
  replaces prebuilds/. Skips the build when the sources and Nodes are those of the last run
  (the binaries are still checked).
  --force     build even if nothing changed
  --no-fetch  fail (instead of fetching) when a Node is not in the cache
  --json      print what was built as JSON on stdout
  Needs: make, python3, g++, aarch64-linux-gnu-g++ and qemu-aarch64-static
  (Debian: apt-get install -y g++-aarch64-linux-gnu qemu-user-static).
`;
let args;
try {
  args = parseArgs({ options: { force: { type: 'boolean' }, 'no-fetch': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }).values;
} catch (error) {
  process.stderr.write(`prebuild-all: ${error.message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const log = (line) => process.stderr.write(`prebuild-all: ${line}\n`);
function fail(message) {
  process.stderr.write(`prebuild-all: ${message}\n`);
  process.exit(1);
}

const TOOLS = { x64: { CC: 'gcc', CXX: 'g++', LINK: 'g++', STRIP: 'strip' }, arm64: { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', STRIP: 'aarch64-linux-gnu-strip' } };
const QEMU = 'qemu-aarch64-static';
const QEMU_LD_PREFIX = '/usr/aarch64-linux-gnu';

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}
const missing = ['make', 'python3', ...new Set(Object.values(TOOLS).flatMap((t) => [t.CXX, t.STRIP])), QEMU].filter((c) => !onPath(c));
if (missing.length) fail(`missing ${missing.join(', ')} (Debian: apt-get install -y build-essential python3 g++-aarch64-linux-gnu qemu-user-static)`);

/** npm's own node-gyp: the one `npm install` would run (npm sets npm_config_node_gyp for scripts). */
function nodeGypScript() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const globalRoot = execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim();
  const bundled = join(globalRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!existsSync(bundled)) fail(`cannot find node-gyp (looked for ${bundled}); run this as \`npm run prebuild:all\``);
  return bundled;
}

// 1. The Nodes.
const combos = [];
for (const major of MAJORS) {
  for (const arch of ARCHES) {
    if (args['no-fetch'] && !existsSync(nodeBinary(major, arch))) fail(`node ${major} ${arch} is not in ${nodeCacheRoot()}: run \`node tools/fetch-nodes.mjs\` first`);
    const r = ensureNode(major, arch, { log: (l) => log(`node ${major} ${arch}: ${l}`) });
    combos.push({ major, arch, version: r.version, abi: ABI_OF_MAJOR[major], dir: r.dir });
  }
}

// 2. Build (unless the stamp says the binaries in prebuilds/ are from these sources and Nodes).
const sources = ['binding.gyp', ...readdirSync(join(root, 'src', 'native')).filter((f) => /\.(cc|h)$/.test(f)).sort().map((f) => `src/native/${f}`)];
const hash = createHash('sha256');
for (const f of [...sources, 'tools/prebuild-all.mjs']) hash.update(f).update(readFileSync(join(root, f)));
for (const c of combos) hash.update(`${c.arch} ${c.version}`);
const stamp = hash.digest('hex');
const stampFile = join(root, 'node_modules', '.cache', 'robust-shm-prebuilds.json');
const fileOf = (c) => join('prebuilds', `linux-${c.arch}`, `robust-shm.abi${c.abi}.glibc.node`);
const upToDate = !args.force && existsSync(stampFile) && JSON.parse(readFileSync(stampFile, 'utf8')).stamp === stamp && combos.every((c) => existsSync(join(root, fileOf(c))));

const staging = mkdtempSync(join(tmpdir(), 'robust-shm-prebuild-'));
process.on('exit', () => rmSync(staging, { recursive: true, force: true }));
const outRoot = upToDate ? root : join(staging, 'out');
const started = Date.now();
if (upToDate) {
  log('prebuilds/ is from these sources and Nodes: checking it, not rebuilding (--force to rebuild)');
} else {
  const nodeGyp = nodeGypScript();
  let index = 0;
  for (const c of combos) {
    index += 1;
    const t0 = Date.now();
    log(`[${index}/${combos.length}] building linux-${c.arch} abi${c.abi} with the headers of Node ${c.version} ...`);
    // A private copy of the sources per build: node-gyp writes build/ next to binding.gyp, and the
    // checkout's own build/Release (for the Node running here) must stay.
    const src = join(staging, `${c.major}-${c.arch}`);
    mkdirSync(join(src, 'src'), { recursive: true });
    cpSync(join(root, 'binding.gyp'), join(src, 'binding.gyp'));
    cpSync(join(root, 'src', 'native'), join(src, 'src', 'native'), { recursive: true, filter: (f) => !f.endsWith('.ts') });
    const env = { ...process.env, ...TOOLS[c.arch], npm_config_nodedir: c.dir };
    // Nothing from npm's configuration may choose the headers or target for this build.
    for (const k of Object.keys(env)) if (/^npm_config_(target|dist_url|disturl|runtime|arch|target_arch)$/i.test(k)) delete env[k];
    const build = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${c.dir}`, `--arch=${c.arch}`, '--jobs=2', '--loglevel=warn'], { cwd: src, env, encoding: 'utf8' });
    if (build.status !== 0) fail(`build for linux-${c.arch} Node ${c.version} failed:\n${build.stdout}\n${build.stderr}`);
    const built = join(src, 'build', 'Release', 'robust_shm_native.node');
    const out = join(outRoot, fileOf(c));
    mkdirSync(join(out, '..'), { recursive: true });
    cpSync(built, out);
    execFileSync(TOOLS[c.arch].STRIP, ['--strip-unneeded', out]);
    log(`[${index}/${combos.length}] linux-${c.arch} abi${c.abi}: ${(statSync(out).size / 1024).toFixed(0)} KiB stripped, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
}

// 3. Check every binary: what its bytes say, then what its Node says when it loads it.
const PROBE = `const m = require(process.argv[1]); process.stdout.write(JSON.stringify({ abi: process.versions.modules, arch: process.arch, version: process.versions.node, exports: Object.keys(m).length }))`;
const results = [];
for (const c of combos) {
  const file = join(outRoot, fileOf(c));
  const what = describeBinary(readFileSync(file));
  const problems = [];
  if (what.machine !== c.arch) problems.push(`its ELF machine is ${what.machine}`);
  if (what.abis.length !== 1 || what.abis[0] !== c.abi) problems.push(`it registers for ABI ${what.abis.join(', ') || 'none'}`);
  const node = nodeBinary(c.major, c.arch);
  const probe =
    c.arch === process.arch
      ? spawnSync(node, ['-e', PROBE, file], { encoding: 'utf8', timeout: 120_000 })
      : spawnSync(QEMU, [node, '-e', PROBE, file], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, QEMU_LD_PREFIX } });
  let loaded;
  try {
    loaded = JSON.parse(probe.stdout);
  } catch {
    problems.push(`it does not load in Node ${c.version} ${c.arch}: ${(probe.stderr || probe.error?.message || '').trim().split('\n').slice(0, 6).join(' | ')}`);
  }
  if (loaded && (loaded.abi !== String(c.abi) || loaded.arch !== c.arch)) problems.push(`the Node that loaded it is abi${loaded.abi} ${loaded.arch}`);
  if (problems.length) fail(`${fileOf(c)} is not what its name says: ${problems.join('; ')}`);
  log(`checked ${fileOf(c)}: ELF ${what.machine}, registers abi${what.abis[0]}, loads in Node ${loaded.version} ${loaded.arch} (abi${loaded.abi}, ${loaded.exports} functions)`);
  results.push({ file: fileOf(c), arch: c.arch, abi: c.abi, node: loaded.version, bytes: statSync(file).size });
}

// 4. Only now replace prebuilds/ (all of it: binaries of other ABIs or CPUs would be stale).
if (!upToDate) {
  rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  renameSync(join(outRoot, 'prebuilds'), join(root, 'prebuilds'));
  mkdirSync(join(stampFile, '..'), { recursive: true });
  writeFileSync(stampFile, JSON.stringify({ stamp, nodes: combos.map((c) => `${c.arch} ${c.version}`) }, null, 2));
}
const total = results.reduce((s, r) => s + r.bytes, 0);
log(`${results.length} binaries in prebuilds/, ${(total / 1024).toFixed(0)} KiB, ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (args.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
