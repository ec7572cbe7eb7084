// Shared command-line shape of the lab (`robust-shm-lab`) and of every demo in
// the repo: --help, --json, one JSON object per line, a final summary line
// with "ok", exit code 0 exactly when ok. A bad value, a path included, is
// reported before any work as `<name>: <message>`, `Try --help.`, exit code 2
// (no stack trace, nothing created yet).
import { accessSync, constants, lstatSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { notReplacedBecause, regionFileState } from '../shm/stale-region.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface DemoSpec<O extends Options> {
  name: string;
  /** One paragraph: what the demo shows. */
  summary: string;
  /** Extra options beyond --help and --json, each with a description. */
  options: O;
  descriptions: { [K in keyof O]: string };
  /** How --help says to run it (default `npx tsx demos/<name>.ts`). */
  usage?: string;
}

export interface Demo<V> {
  values: V;
  json: boolean;
  /** A human line (text mode) or nothing (json mode). */
  say(text: string): void;
  /** A structured event: printed as a JSON line in json mode, as `text` otherwise. */
  event(kind: string, fields: Record<string, unknown>, text?: string): void;
  /** The summary line; sets the exit code from ok. */
  finish(ok: boolean, figures: Record<string, unknown>, text?: string): void;
}

/** How a program called `name` refuses its command line: `<name>: <message>` and `Try --help.` on stderr, exit code 2 (no stack trace, nothing started). */
export function usageErrorFor(name: string): (message: string) => never {
  return (message: string): never => {
    process.stderr.write(`${name}: ${message}\nTry --help.\n`);
    process.exit(2);
  };
}

/** The running demo's (one demo per process; startDemo names it). */
let demoUsageError = usageErrorFor('demo');

/** A bad command line of the running demo or lab (see usageErrorFor). */
export function usageError(message: string): never {
  return demoUsageError(message);
}

export function startDemo<O extends Options>(spec: DemoSpec<O>, argv = process.argv.slice(2)) {
  demoUsageError = usageErrorFor(spec.name);
  const options = { ...spec.options, help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' } } as const;
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  } catch (error) {
    usageError((error as Error).message);
  }
  const values = parsed.values as Record<string, unknown>;
  if (values['help']) {
    const lines = [`Usage: ${spec.usage ?? `npx tsx demos/${spec.name}.ts`} [options]`, '', spec.summary, '', 'Options:'];
    for (const [key, def] of Object.entries(spec.options)) {
      const flag = `--${key}${def.type === 'string' ? ' <value>' : ''}`;
      const fallback = def.default === undefined ? '' : ` (default ${String(def.default)})`;
      lines.push(`  ${flag.padEnd(24)} ${spec.descriptions[key as keyof O]}${fallback}`);
    }
    lines.push(`  ${'--json'.padEnd(24)} one JSON object per line; the last is the summary with "ok"`);
    lines.push(`  ${'-h, --help'.padEnd(24)} this help`);
    process.stdout.write(lines.join('\n') + '\n');
    process.exit(0);
  }
  const json = Boolean(values['json']);
  const demo = {
    values: values as { [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean | undefined : string | undefined },
    json,
    say(text: string) {
      if (!json) process.stdout.write(text + '\n');
    },
    event(kind: string, fields: Record<string, unknown>, text?: string) {
      if (json) process.stdout.write(JSON.stringify({ event: kind, ...fields }) + '\n');
      else if (text !== undefined) process.stdout.write(text + '\n');
    },
    finish(ok: boolean, figures: Record<string, unknown>, text?: string) {
      if (json) process.stdout.write(JSON.stringify({ summary: spec.name, ok, ...figures }) + '\n');
      else process.stdout.write((text ?? `${spec.name}: ${ok ? 'OK' : 'FAILED'} ${JSON.stringify(figures)}`) + '\n');
      process.exitCode = ok ? 0 : 1;
    },
  };
  return demo;
}

/** Parse an integer option from min to max, `fallback` when absent; anything else (an empty string too) goes to `fail` (the running demo's usageError). */
export function intOption(name: string, raw: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER, fail: (message: string) => never = usageError): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  return n;
}

/**
 * Why `dir` cannot take new files (no such directory, not a directory, not
 * writable), null when it can; `named`: the phrase names the directory.
 */
function directoryProblem(dir: string, named: boolean): string | null {
  const it = named ? `${dir} is` : '';
  try {
    if (!statSync(dir).isDirectory()) return `${it} not a directory`.trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return named ? `no such directory ${dir}` : 'no such directory';
    if (code === 'ENOTDIR') return `${it} not a directory`.trim();
    if (code === 'EACCES') return `${it} out of reach (permission denied)`.trim();
    return `${named ? `${dir}: ` : ''}${code ?? (error as Error).message}`;
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    return `${it} not writable${(error as NodeJS.ErrnoException).code === 'EROFS' ? ' (read-only file system)' : ''}`.trim();
  }
  return null;
}

/** A directory option (the demo or lab makes its files there): undefined when absent, a usage error unless it is a writable directory. */
export function dirOption(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const problem = directoryProblem(raw, false);
  if (problem) usageError(`--${name} ${raw}: ${problem}`);
  return raw;
}

/**
 * A file option (the program creates or writes the file): undefined when absent;
 * a usage error unless its directory is a writable directory and the path is
 * not a directory.
 */
export function fileOption(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw === '') usageError(`--${name} needs a file path`);
  const problem = directoryProblem(dirname(raw), true);
  if (problem) usageError(`--${name} ${raw}: ${problem}`);
  if (statOrNull(name, raw)?.isDirectory()) usageError(`--${name} ${raw}: a directory, not a file`);
  return raw;
}

/**
 * A region file option (the lab and the soak replace a stale region at the path, makes
 * the region there and removes it at the end): a fileOption where something
 * already at the path must be a robust-shm region (never another program's
 * file, a device or a link), and whose directory is no symbolic link
 * (openRegion refuses one: it checks the directory with lstat).
 */
export function regionOption(name: string, raw: string | undefined): string | undefined {
  if (fileOption(name, raw) === undefined) return undefined;
  const state = regionFileState(raw!);
  if (state === 'foreign' || state === 'other') usageError(`--${name} ${raw}: ${notReplacedBecause(state)}`);
  const dir = dirname(raw!);
  if (lstatSync(dir).isSymbolicLink()) usageError(`--${name} ${raw}: its directory ${dir} is a symbolic link; give the directory it points to`);
  return raw;
}

/** What is at `path` (following links), null when nothing is; a usage error when it cannot be told. */
function statOrNull(name: string, path: string): Stats | null {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    usageError(`--${name} ${path}: ${code ?? (error as Error).message}`);
  }
}
