// Regenerates the charts docs/benchmarks.md shows (docs/charts/*.svg, each with
// its .json of samples beside it): the death-detection distributions by victim
// and waiter (bench/death-split.ts) and the sync / async hand-over CDFs
// (bench/async-trace.ts), on this Node, with the C built in the same run.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { intOption } from '../demos/lib/cli.js';

const HELP = `Usage: npx tsx bench/charts.ts [--rounds <n>] [--out <dir>]

Runs bench/death-split.ts and bench/async-trace.ts and writes their charts
(plain SVG) and samples (JSON) into <dir> (default docs/charts): the charts
docs/benchmarks.md shows.

Options:
  --rounds <n>  kills / hand-overs per series (default 30, min 1)
  --out <dir>   where the SVG and JSON files go (default docs/charts)
  -h, --help    this help`;

let args;
try {
  args = parseArgs({ options: { rounds: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values;
} catch (error) {
  process.stderr.write(`bench/charts: ${(error as Error).message}\nTry --help.\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(HELP + '\n');
  process.exit(0);
}
const rounds = String(intOption('rounds', args.rounds, 30, 1));
const out = args.out ?? fileURLToPath(new URL('../docs/charts/', import.meta.url));
const runs: [string, string[]][] = [
  ['death-split.ts', ['--rounds', rounds, '--pairs', 'c-c,c-node,node-c,node-node,cmem-c,node-kill', '--svg', `${out}/death-split.svg`]],
  ['async-trace.ts', ['--rounds', rounds, '--svg', `${out}/async-handover.svg`]],
];
for (const [script, scriptArgs] of runs) {
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  process.stderr.write(`[charts] ${script} ${scriptArgs.join(' ')}\n`);
  const code = await new Promise<number | null>((resolve) => spawn(process.execPath, ['--import', 'tsx', path, ...scriptArgs], { stdio: 'inherit' }).once('exit', (c) => resolve(c)));
  if (code !== 0) {
    process.stderr.write(`bench/charts: ${script} exited with ${code}\n`);
    process.exit(1);
  }
}
