// `npm run bench`: the mutex, contended, heap and rwlock benches one after the
// other, on this Node or, with --node, on another one (its own build of the
// addon). The whole command line is checked before anything starts; each bench
// gets only the options it takes.
import { spawn, spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CHECK_ONLY_ENV, listOption } from './lib/bench-cli.js';
import { usageErrorFor } from '../src/lab/command-line.js';
import { RUN_BENCHES } from './lib/bench-options.js';
import { cleanUpOnInterrupt, interrupted, nestedBench } from './lib/cleanup.js';
import { buildAddonFor, resolveNode, OtherNodeError, type BuiltAddon } from './lib/other-node.js';

type Bench = keyof typeof RUN_BENCHES;
const BENCHES = Object.keys(RUN_BENCHES) as Bench[];
type OptionSpec = { type: 'string' | 'boolean' };

/**
 * Bench options run.ts does not pass on: --only is run.ts's own (contended's
 * --only process,thread: run bench/contended.ts itself), and one --svg for
 * every bench would have each overwrite the one before.
 */
const NOT_PASSED: Record<string, string> = {
  svg: 'every bench would write that one file (each writes bench/results/<name>.svg; give --svg to a bench run alone: npx tsx bench/<name>.ts --svg <file>)',
};

/** Every option any of the benches takes (but NOT_PASSED and --only), and which benches take it. */
const benchOptions = new Map<string, { spec: OptionSpec; benches: Bench[] }>();
for (const bench of BENCHES) {
  for (const [name, spec] of Object.entries(RUN_BENCHES[bench]) as [string, OptionSpec][]) {
    if (name === 'only' || name in NOT_PASSED) continue;
    const known = benchOptions.get(name);
    if (known && known.spec.type !== spec.type) throw new Error(`bench option --${name} is a ${known.spec.type} in one bench and a ${spec.type} in ${bench}`);
    if (known) known.benches.push(bench);
    else benchOptions.set(name, { spec, benches: [bench] });
  }
}
const optionLines = [...benchOptions]
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([name, { spec, benches }]) => `  ${`--${name}${spec.type === 'string' ? ' <value>' : ''}`.padEnd(24)} ${benches.length === BENCHES.length ? 'all four' : benches.join(', ')}`);

const HELP = `Usage: npm run bench -- [--node 22|24|26|<path to node>] [--only mutex,contended,heap,rwlock] [bench options]

Runs bench/mutex.ts, bench/contended.ts, bench/heap.ts and bench/rwlock.ts in turn (or the
--only subset, in the order given). The command line is checked first: an option no bench takes, or
one that none of the selected benches takes, stops it before anything runs. A bench that refuses
a value (exit code 2) stops the run too.

Options:
  --node <n>     run the benches on another Node: a major from the Node cache
                 (\${ROBUST_SHM_NODE_CACHE:-\${XDG_CACHE_HOME:-~/.cache}/robust-shm/nodes}/<major>-<arch>,
                 filled by tools/fetch-nodes.mjs) or a path to a node binary with its headers at
                 ../include/node. The addon is built for that Node's ABI in a temp dir
                 (build/ is left alone) and handed over in ROBUST_SHM_NATIVE_BINARY.
  --only <list>  a comma-separated subset of ${BENCHES.join(', ')}
  -h, --help     this help

Bench options, each passed only to the benches that take it (see npx tsx bench/<name>.ts --help):
${optionLines.join('\n')}
Not passed on: --svg (every bench would write that one file; each writes bench/results/<name>.svg,
or run one bench alone with --svg <file>) and contended's own --only process,thread (run
npx tsx bench/contended.ts --only ... itself).`;

const fail: (message: string) => never = usageErrorFor('bench/run');

let parsed: ReturnType<typeof parseArgs>;
try {
  parsed = parseArgs({
    args: process.argv.slice(2),
    options: {
      node: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...Object.fromEntries([...benchOptions].map(([name, { spec }]) => [name, spec])),
    },
    strict: true,
    tokens: true,
  });
} catch (error) {
  const message = (error as Error).message;
  const name = /^Unknown option '--([^'=]+)'/.exec(message)?.[1];
  fail(name && NOT_PASSED[name] ? `--${name} is not passed on: ${NOT_PASSED[name]}` : message);
}
if (parsed.values['help']) {
  process.stdout.write(HELP + '\n');
  process.exit(0);
}
const nodeSpec = parsed.values['node'] as string | undefined;
const only = listOption('only', parsed.values['only'] as string | undefined, BENCHES, fail);

// Each bench's command line: the options it takes, in the order given.
const argsFor = new Map<Bench, string[]>(only.map((b) => [b, []]));
for (const token of parsed.tokens ?? []) {
  if (token.kind !== 'option' || token.name === 'node' || token.name === 'only' || token.name === 'help') continue;
  const known = benchOptions.get(token.name)!;
  const takers = known.benches.filter((b) => only.includes(b));
  if (takers.length === 0) fail(`--${token.name} is an option of ${known.benches.join(', ')}, none of which runs here (--only ${only.join(',')})`);
  for (const b of takers) argsFor.get(b)!.push(`--${token.name}`, ...(known.spec.type === 'string' ? [token.value!] : []));
}

cleanUpOnInterrupt('bench/run');
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
  // First pass: every bench checks its own command line (values too) and exits, so a value one of
  // them refuses stops the run before any bench has run for minutes.
  let refused = false;
  for (const bench of only) {
    const script = fileURLToPath(new URL(`./${bench}.ts`, import.meta.url));
    const checked = spawnSync(binary, ['--import', 'tsx', script, ...argsFor.get(bench)!], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...env, [CHECK_ONLY_ENV]: '1' } });
    if (checked.status !== 0) {
      progress(`${bench} refused its command line: no bench is started`);
      refused = true;
      break;
    }
  }
  let failed = 0;
  for (const bench of refused ? [] : only) {
    if (interrupted()) break;
    const script = fileURLToPath(new URL(`./${bench}.ts`, import.meta.url));
    const args = ['--import', 'tsx', script, ...argsFor.get(bench)!];
    progress(`${bench}: ${[binary, ...args].join(' ')}`);
    const code = await new Promise<number | null>((resolve) => {
      const child = nestedBench(spawn(binary, args, { stdio: 'inherit', env }));
      child.once('error', (error) => {
        progress(`${bench}: ${error.message}`);
        resolve(null);
      });
      child.once('exit', (c, signal) => resolve(signal ? 128 + constants.signals[signal] : c));
    });
    if (interrupted()) break;
    if (code !== 0) {
      failed++;
      progress(`${bench} exited with ${code}`);
    }
    if (code === 2) {
      refused = true;
      progress(`${bench} refused its command line: the rest is not started`);
      break;
    }
  }
  process.exitCode = refused ? 2 : failed ? 1 : 0;
} catch (error) {
  if (error instanceof OtherNodeError) fail(error.message);
  throw error;
} finally {
  addon?.remove();
}
