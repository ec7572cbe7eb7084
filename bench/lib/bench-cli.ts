// The command line every bench shares: node:util's parseArgs (strict), --help
// and -h printing the bench's usage, and one way to refuse bad input
// ("bench/<name>: <message>" and "Try --help." on stderr, exit code 2). Once
// the command line is accepted, the bench's interrupt handling is installed
// (cleanup.ts): a Ctrl-C removes what it registered and kills its children.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { intOption, usageErrorFor } from '../../src/lab/command-line.js';
import { cleanUpOnInterrupt, runOutsideTsxCli } from './cleanup.js';

// `npx tsx bench/<name>.ts`: the tsx CLI would SIGKILL a bench that is slow to answer a
// Ctrl-C, so the bench runs one process further down (cleanup.ts). Before any bench code runs:
// this module is imported by every bench script, and its importers wait for this await.
const script = process.argv[1] ? resolve(process.argv[1]) : '';
if (dirname(script) === fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')) await runOutsideTsxCli(script);

type Options = NonNullable<ParseArgsConfig['options']>;

/** The parsed values: a string option gives a string, a boolean one a boolean (undefined when absent). */
export type BenchValues<O extends Options> = { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string };

/** What a bench gets back: its option values and its fail() (annotate it `(message: string) => never` where it narrows). */
export interface BenchCli<O extends Options> {
  values: BenchValues<O>;
  fail(message: string): never;
  /** The integer value of string option `name` (`fallback` when absent); anything else outside min..max fails. */
  int(name: keyof O & string, fallback: number, min?: number, max?: number): number;
  /**
   * Call once every option is read and checked: in `npm run bench`'s first pass
   * (CHECK_ONLY_ENV set) the bench ends here with exit 0, so that a bad value
   * for a later bench is refused before an earlier one runs for minutes.
   */
  optionsChecked(): void;
}

/** Set by bench/run.ts for its first pass: each bench checks its command line and exits. */
export const CHECK_ONLY_ENV = 'ROBUST_SHM_BENCH_CHECK_ONLY';

/**
 * Parse the bench's options (help is added); print `usage` and exit on --help,
 * exit 2 on bad input; then install the interrupt handling under `name`.
 */
export function benchCli<O extends Options>(name: string, usage: string, options: O, argv = process.argv.slice(2)): BenchCli<O> {
  const fail = usageErrorFor(name);
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true }).values;
  } catch (error) {
    return fail((error as Error).message);
  }
  if (values['help']) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  cleanUpOnInterrupt(name);
  const int = (option: keyof O & string, fallback: number, min?: number, max?: number): number =>
    intOption(option, values[option] as string | undefined, fallback, min, max, fail);
  const optionsChecked = (): void => {
    if (process.env[CHECK_ONLY_ENV] === '1') process.exit(0);
  };
  return { values: values as BenchValues<O>, fail, int, optionsChecked };
}

/**
 * A comma-separated subset of `allowed` (default: all of them), in the order
 * given, each once; an unknown name fails with the allowed list.
 */
export function listOption<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fail: (message: string) => never): T[] {
  if (value === undefined) return [...allowed];
  const picked: T[] = [];
  for (const item of value.split(',').map((s) => s.trim())) {
    if (!(allowed as readonly string[]).includes(item)) fail(`--${name}: unknown '${item}' (expected ${allowed.join(', ')})`);
    if (!picked.includes(item as T)) picked.push(item as T);
  }
  return picked;
}
