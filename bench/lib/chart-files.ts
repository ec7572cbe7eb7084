// Where a bench's charts and samples go: --svg <file>, or bench/results/<bench>.svg
// (git-ignored); the JSON with the summary and every raw sample beside it, and
// any further chart of the same run as <base>-<name>.svg.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Writes `<base>.json` and the charts: `main` to `svgPath` (default
 * bench/results/<bench>.svg), each of `more` to `<base>-<name>.svg`. Returns the
 * files written.
 */
export function writeBenchCharts(bench: string, svgPath: string | undefined, data: unknown, main: string, more: Record<string, string> = {}): string[] {
  const path = svgPath ?? fileURLToPath(new URL(`../results/${bench}.svg`, import.meta.url));
  const base = path.replace(/\.svg$/, '');
  mkdirSync(dirname(path), { recursive: true });
  const files = [`${base}.json`, path];
  writeFileSync(`${base}.json`, JSON.stringify(data, null, 1) + '\n');
  writeFileSync(path, main);
  for (const [name, svg] of Object.entries(more)) {
    writeFileSync(`${base}-${name}.svg`, svg);
    files.push(`${base}-${name}.svg`);
  }
  process.stderr.write(`[${bench}] wrote ${files.join(', ')}\n`);
  return files;
}
