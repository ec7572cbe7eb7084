// The cache of other Node.js releases that the prebuild, the matrix and the bench run with.
//
// Each Node comes from the npm registry's `node-linux-<arch>@<major>` package (bin/node and
// include/node, ~50 MB), fetched with `npm pack` and extracted to
//   ${ROBUST_SHM_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/robust-shm/nodes}/<major>-<arch>/
// It lives outside the repository and is not a devDependency: eight of these must not slow
// every `npm ci`. tools/fetch-nodes.mjs is the command line for it; the bench resolves
// `--node <major>` through nodeBinary() here, so keep this path convention.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Node majors the package supports and ships prebuilt binaries for. */
export const MAJORS = [20, 22, 24, 26];
/** The CPUs, as Node names them (process.arch). */
export const ARCHES = ['x64', 'arm64'];
/** The V8 module ABI (process.versions.modules) of each major. */
export const ABI_OF_MAJOR = { 20: 115, 22: 127, 24: 137, 26: 147 };

/** The cache root, honouring ROBUST_SHM_NODE_CACHE and XDG_CACHE_HOME. */
export function nodeCacheRoot(env = process.env) {
  if (env.ROBUST_SHM_NODE_CACHE) return env.ROBUST_SHM_NODE_CACHE;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'robust-shm', 'nodes');
}

function check(major, arch) {
  if (!MAJORS.includes(Number(major))) throw new Error(`unsupported Node major ${major} (expected one of ${MAJORS.join(', ')})`);
  if (!ARCHES.includes(arch)) throw new Error(`unsupported arch ${arch} (expected one of ${ARCHES.join(', ')})`);
}

/** The extracted package directory of a Node (`<dir>/bin/node`, `<dir>/include/node`). */
export function nodeDir(major, arch = process.arch, env = process.env) {
  check(major, arch);
  return join(nodeCacheRoot(env), `${major}-${arch}`);
}

/** The `node` binary of a cached Node (it may not exist yet: see isNodeCached / ensureNode). */
export function nodeBinary(major, arch = process.arch, env = process.env) {
  return join(nodeDir(major, arch, env), 'bin', 'node');
}

/** Whether a Node is fully extracted in the cache. */
export function isNodeCached(major, arch = process.arch, env = process.env) {
  const dir = nodeDir(major, arch, env);
  return existsSync(join(dir, 'bin', 'node')) && existsSync(join(dir, 'include', 'node', 'node_version.h'));
}

/** The exact version of a cached Node, read from its package.json. */
export function cachedNodeVersion(major, arch = process.arch, env = process.env) {
  return JSON.parse(readFileSync(join(nodeDir(major, arch, env), 'package.json'), 'utf8')).version;
}

/**
 * Fetch `node-linux-<arch>@<major>` (npm picks the newest release of that major) into the cache
 * unless it is there. Extraction goes to a temporary directory that is renamed into place, so an
 * interrupted fetch never leaves a half-extracted Node that looks cached.
 * Returns { dir, version, fetched }.
 */
export function ensureNode(major, arch = process.arch, { env = process.env, log = () => {} } = {}) {
  const dir = nodeDir(major, arch, env);
  if (isNodeCached(major, arch, env)) return { dir, version: cachedNodeVersion(major, arch, env), fetched: false };
  const root = nodeCacheRoot(env);
  mkdirSync(root, { recursive: true });
  const work = mkdtempSync(join(root, `.fetch-${major}-${arch}-`));
  try {
    log(`fetching node-linux-${arch}@${major} from the npm registry ...`);
    const packed = JSON.parse(
      execFileSync('npm', ['pack', `node-linux-${arch}@${major}`, '--json', '--pack-destination', work], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    const tarball = join(work, packed[0].filename);
    const extracted = join(work, 'package');
    mkdirSync(extracted);
    log(`extracting ${packed[0].filename} (${(packed[0].size / 1e6).toFixed(0)} MB) ...`);
    execFileSync('tar', ['-xzf', tarball, '-C', extracted, '--strip-components=1'], { stdio: 'inherit' });
    if (!existsSync(join(extracted, 'bin', 'node')) || !existsSync(join(extracted, 'include', 'node', 'node_version.h'))) {
      throw new Error(`node-linux-${arch}@${major} has no bin/node or include/node (contents: ${readdirSync(extracted).join(', ')})`);
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(extracted, dir);
    return { dir, version: packed[0].version, fetched: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
