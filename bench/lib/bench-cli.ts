// The command line every bench shares: node:util's parseArgs (strict), --help
// and -h printing the bench's usage, and one way to refuse bad input (the
// message and "Try --help." on stderr, exit code 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The parsed values: a string option gives a string, a boolean one a boolean (undefined when absent). */
export type BenchValues<O extends Options> = { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string };

/** What a bench gets back: its option values and its fail() (annotate it `(message: string) => never` where it narrows). */
export interface BenchCli<O extends Options> {
  values: BenchValues<O>;
  fail(message: string): never;
}

/** Parse the bench's options (help is added); print `usage` and exit on --help, exit 2 on bad input. */
export function benchCli<O extends Options>(name: string, usage: string, options: O, argv = process.argv.slice(2)): BenchCli<O> {
  const fail = (message: string): never => {
    process.stderr.write(`${name}: ${message}\nTry --help.\n`);
    process.exit(2);
  };
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
  return { values: values as BenchValues<O>, fail };
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
