// Shared command-line shape of the lab (`robust-shm-lab`) and of every demo in
// the repo: --help, --json, one JSON object per line, a final summary line
// with "ok", exit code 0 exactly when ok.
import { parseArgs, type ParseArgsConfig } from 'node:util';

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

/** The running demo's name (one demo per process), for usageError(). */
let demoName = 'demo';

/** A bad command line: `<demo>: <message>` and `Try --help.` on stderr, exit code 2 (no stack trace, nothing started). */
export function usageError(message: string): never {
  process.stderr.write(`${demoName}: ${message}\nTry --help.\n`);
  process.exit(2);
}

export function startDemo<O extends Options>(spec: DemoSpec<O>, argv = process.argv.slice(2)) {
  demoName = spec.name;
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

/** Parse an integer option from min to max, `fallback` when absent; anything else (an empty string too) is a usageError. */
export function intOption(name: string, raw: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) usageError(`--${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  return n;
}
