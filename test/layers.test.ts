// Imports in src/ point down the layer order, never up:
//   0 native (+ errors.ts, test-hooks.ts)
//   1 locks
//   2 shm, inspect (beside each other)
//   3 heap, queue, and the main entry src/index.ts
//   4 workers, testing
//   5 lab
// Also: no entry point (src/index.ts, src/*/index.ts of an export) is imported
// by library code, nothing in src/ reaches outside src/ (tests, demos, tools),
// and its package imports are only node: built-ins and the runtime dependencies
// (no tsx, no esbuild: the library registers no loader and bundles nothing).
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');

const LAYERS: [prefix: string, layer: number][] = [
  ['native/', 0],
  ['errors.ts', 0],
  ['test-hooks.ts', 0],
  ['locks/', 1],
  ['shm/', 2],
  ['inspect/', 2],
  ['heap/', 3],
  ['queue/', 3],
  ['index.ts', 3],
  ['workers/', 4],
  ['testing/', 4],
  ['lab/', 5],
];
const ENTRY_POINTS = new Set(['index.ts', 'inspect/index.ts', 'testing/index.ts']);

/** Layer of a file given relative to src/ (posix separators); undefined = not placed. */
function layerOf(file: string): number | undefined {
  return LAYERS.find(([prefix]) => (prefix.endsWith('/') ? file.startsWith(prefix) : file === prefix))?.[1];
}

function allowedPackages(): Set<string> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return new Set(Object.keys(pkg.dependencies));
}

/** Every rule broken by `files` (path relative to src/ -> its text). */
function layerViolations(files: Map<string, string>, packages: Set<string>): string[] {
  const problems: string[] = [];
  for (const [file, text] of files) {
    const from = layerOf(file);
    if (from === undefined) {
      problems.push(`${file}: not in any layer (add its folder to LAYERS)`);
      continue;
    }
    for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
      if (spec.startsWith('node:')) continue;
      if (!spec.startsWith('.')) {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!packages.has(name)) problems.push(`${file}: imports '${spec}', which is not a runtime dependency`);
        continue;
      }
      const target = relative(src, resolve(join(src, dirname(file)), spec)).split(sep).join('/').replace(/\.js$/, '.ts');
      if (target.startsWith('..')) {
        problems.push(`${file}: imports '${spec}', outside src/`);
        continue;
      }
      if (ENTRY_POINTS.has(target)) problems.push(`${file}: imports the entry point ${target}`);
      const to = layerOf(target);
      if (to === undefined) problems.push(`${file}: imports ${target}, which is in no layer`);
      else if (to > from) problems.push(`${file} (layer ${from}) imports ${target} (layer ${to}): points up`);
    }
  }
  return problems;
}

function sources(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) sources(full, out);
    else if (/\.(ts|mts|js|mjs|cjs)$/.test(entry.name)) out.set(relative(src, full).split(sep).join('/'), readFileSync(full, 'utf8'));
  }
  return out;
}

describe('import direction in src/', () => {
  it('every import points down the layer order, stays in src/ and uses only runtime dependencies', () => {
    expect(layerViolations(sources(src), allowedPackages())).toEqual([]);
  });

  it('the check fails on an import that points up, leaves src/, imports an entry or a dev-only package', () => {
    const packages = new Set(['piscina']);
    const bad = new Map([
      ['locks/robust-mutex.ts', "import { Region } from '../shm/region.js';"],
      ['shm/region.ts', "const heap = await import('../heap/shared-heap.js');"],
      ['heap/shared-heap.ts', "export { ParkingLot } from '../workers/park.js';"],
      ['workers/pool.ts', "import { startTsWorker } from '../../tools/ts-spawn.js';\nimport { register } from 'tsx/esm/api';"],
      ['lab/cli.ts', "import { RobustMutex } from '../index.js';"],
      ['native/index.ts', "import { Piscina } from 'piscina';\nimport { x } from '../errors.js';"],
    ]);
    const problems = layerViolations(bad, packages);
    expect(problems).toEqual([
      'locks/robust-mutex.ts (layer 1) imports shm/region.ts (layer 2): points up',
      'shm/region.ts (layer 2) imports heap/shared-heap.ts (layer 3): points up',
      'heap/shared-heap.ts (layer 3) imports workers/park.ts (layer 4): points up',
      "workers/pool.ts: imports '../../tools/ts-spawn.js', outside src/",
      "workers/pool.ts: imports 'tsx/esm/api', which is not a runtime dependency",
      'lab/cli.ts: imports the entry point index.ts',
    ]);
  });
});
