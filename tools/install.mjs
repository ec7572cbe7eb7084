#!/usr/bin/env node
// robust-shm's install script (package.json "install"), shipped in the package.
//
// 1. A binary that loads in this Node (a prebuilt one for this CPU and ABI, or an earlier local
//    build) means nothing to do: no compiler is needed or run.
// 2. Otherwise compile from source with the headers of THIS Node. npm's `nodedir` setting may name
//    the headers of another Node (on the machines this was written on it names Node 20's), and
//    node-gyp would silently build a binary for that Node's ABI, which then fails to load; so a
//    nodedir is used only if its NODE_MODULE_VERSION is this Node's. Next come the headers that
//    sit beside this node binary (official tarballs and the node-linux-* packages ship
//    include/node), and last node-gyp's download of this exact version's headers.
// 3. If that fails: one error that says what is missing and how to proceed, and the install fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.argv.includes('--help')) {
  process.stdout.write('usage: node tools/install.mjs   (run by npm as robust-shm\'s install script)\n  uses a prebuilt binary when one loads here, else compiles the addon with this Node\'s headers\n');
  process.exit(0);
}

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const want = `linux-${process.arch} abi${process.versions.modules} (Node ${process.versions.node})`;
const say = (line) => process.stderr.write(`robust-shm: ${line}\n`);

function loads(file) {
  try {
    require(file);
    return true;
  } catch {
    return false;
  }
}

// 1. Something that loads already?
let found;
try {
  found = require('node-gyp-build').path(root);
} catch {
  found = undefined;
}
if (found && loads(found)) process.exit(0);

// 2. Compile.
function moduleVersionOf(nodedir) {
  try {
    const header = readFileSync(join(nodedir, 'include', 'node', 'node_version.h'), 'utf8');
    return /#define NODE_MODULE_VERSION (\d+)/.exec(header)?.[1];
  } catch {
    return undefined;
  }
}
const notes = [];
let nodedir;
const configured = process.env.npm_config_nodedir;
if (configured) {
  const abi = moduleVersionOf(configured);
  if (abi === process.versions.modules) nodedir = configured;
  else notes.push(`npm's nodedir (${configured}) holds ${abi ? `headers for ABI ${abi}` : 'no Node headers'}, not this Node's (abi${process.versions.modules}): not used`);
}
const besideBinary = dirname(dirname(process.execPath));
if (!nodedir && moduleVersionOf(besideBinary) === process.versions.modules) nodedir = besideBinary;

function fail(what) {
  const lines = [
    `no prebuilt binary for ${want}, and compiling one failed: ${what}`,
    ...notes,
    'How to proceed, any one of:',
    '  - use a Node with a prebuilt binary: 20, 22, 24 or 26 on linux x64/arm64 with glibc;',
    `  - install a C++ toolchain for ${process.arch} (python3, make, g++) and this Node's headers, then point npm at them: npm_config_nodedir=<dir with include/node> npm rebuild robust-shm;`,
    '  - install with --ignore-scripts and use robust-shm threads-only (no addon: worker threads of one process only).',
  ];
  say(lines.join('\nrobust-shm: '));
  process.exit(1);
}

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}
const cxx = process.env.CXX || 'g++';
const missing = ['python3', 'make', cxx].filter((c) => !onPath(c));
if (missing.length) fail(`${missing.join(', ')} not found`);
// A compiler for another CPU (e.g. x86-64 g++ under qemu-user emulating arm64) builds a binary that cannot load.
const GNU_ARCH = { x64: 'x86_64', arm64: 'aarch64' };
const machine = spawnSync(cxx, ['-dumpmachine'], { encoding: 'utf8' }).stdout.trim();
if (GNU_ARCH[process.arch] && !machine.startsWith(GNU_ARCH[process.arch])) fail(`${cxx} builds for ${machine || 'an unknown target'}, not ${process.arch}`);

function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    // The node-gyp bundled with the npm on PATH (npm/bin/npm-cli.js -> npm/node_modules/node-gyp).
    const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout?.trim();
    const bundled = npm && join(dirname(dirname(realpathSync(npm))), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (bundled && existsSync(bundled)) return [process.execPath, bundled];
    if (onPath('node-gyp')) return ['node-gyp'];
    return fail('node-gyp not found (it comes with npm; run the install through npm)');
  }
}
const env = { ...process.env };
for (const k of Object.keys(env)) if (/^npm_config_(nodedir|target|dist_url|disturl|runtime)$/i.test(k)) delete env[k];
const gyp = nodeGyp();
const gypArgs = [...gyp.slice(1), 'rebuild', `--target=${process.versions.node}`];
if (nodedir) gypArgs.push(`--nodedir=${nodedir}`);
say(`no prebuilt binary for ${want}: compiling with ${nodedir ? `the headers in ${nodedir}` : `the headers of Node ${process.versions.node} (downloaded by node-gyp)`}`);
for (const note of notes) say(note);
const build = spawnSync(gyp[0], gypArgs, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
if (build.status !== 0) fail(`node-gyp rebuild exited with ${build.status ?? build.signal}${nodedir ? '' : ' (no headers for this Node found locally, and downloading them failed?)'}`);
const built = join(root, 'build', 'Release', 'robust_shm_native.node');
if (!loads(built)) {
  rmSync(join(root, 'build'), { recursive: true, force: true });
  fail(`the compiled ${built} does not load in this Node`);
}
say(`compiled ${built} for ${want}`);
