// `npm run bench`: the mutex, heap and rwlock benches one after the other,
// on this Node or, with --node, on another one (its own build of the addon).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { listOption } from './lib/bench-cli.js';
import { buildAddonFor, resolveNode, OtherNodeError, type BuiltAddon } from './lib/other-node.js';

const HELP = `Usage: npm run bench -- [--node 22|24|26|<path to node>] [--only mutex,heap,rwlock] [bench options]

Runs bench/mutex.ts, bench/contended.ts, bench/heap.ts and bench/rwlock.ts in turn. Any other
option is passed to each of them (e.g. --json; see each bench's --help).

Options:
  --node <n>     run the benches on another Node: a major from the Node cache
                 (\${ROBUST_SHM_NODE_CACHE:-\${XDG_CACHE_HOME:-~/.cache}/robust-shm/nodes}/<major>-<arch>,
                 filled by tools/fetch-nodes.mjs) or a path to a node binary with its headers at
                 ../include/node. The addon is built for that Node's ABI in a temp dir
                 (build/ is left alone) and handed over in ROBUST_SHM_NATIVE_BINARY.
  --only <list>  a comma-separated subset of mutex, contended, heap, rwlock
  -h, --help     this help`;

const BENCHES = ['mutex', 'contended', 'heap', 'rwlock'] as const;
function fail(message: string): never {
  process.stderr.write(`bench: ${message}\nTry --help.\n`);
  process.exit(2);
}

// Our own options are taken out; everything else goes to each bench untouched.
const argv = process.argv.slice(2);
let nodeSpec: string | undefined;
let only: string[] = [...BENCHES];
const passOn: string[] = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  const value = (name: string): string => {
    const eq = a.indexOf('=');
    if (eq >= 0) return a.slice(eq + 1);
    const v = argv[++i];
    if (v === undefined) fail(`${name} needs a value`);
    return v;
  };
  if (a === '-h' || a === '--help') {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  } else if (a === '--node' || a.startsWith('--node=')) nodeSpec = value('--node');
  else if (a === '--only' || a.startsWith('--only=')) {
    only = listOption('only', value('--only'), BENCHES, fail);
  } else passOn.push(a);
}

const progress = (m: string) => process.stderr.write(`[bench] ${m}\n`);
let addon: BuiltAddon | undefined;
let binary = process.execPath;
const env: NodeJS.ProcessEnv = { ...process.env };
try {
  if (nodeSpec !== undefined) {
    const node = await resolveNode(nodeSpec);
    addon = await buildAddonFor(node, progress);
    binary = node.binary;
    env['ROBUST_SHM_NATIVE_BINARY'] = addon.file;
    progress(`running on Node ${node.version} (abi ${node.abi}): ${node.binary}`);
  } else {
    progress(`running on this Node, ${process.version} (abi ${process.versions.modules})`);
  }
  let failed = 0;
  for (const bench of only) {
    const script = fileURLToPath(new URL(`./${bench}.ts`, import.meta.url));
    progress(`${bench}: ${[binary, '--import', 'tsx', script, ...passOn].join(' ')}`);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(binary, ['--import', 'tsx', script, ...passOn], { stdio: 'inherit', env });
      child.once('exit', (c, signal) => resolve(signal ? 128 : c));
    });
    if (code !== 0) {
      failed++;
      progress(`${bench} exited with ${code}`);
    }
  }
  process.exitCode = failed ? 1 : 0;
} catch (error) {
  if (error instanceof OtherNodeError) fail(error.message);
  throw error;
} finally {
  addon?.remove();
}
