// The README's runnable example, run for real (twice: the second run finds what the first made).
import { describe, expect, it, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
const script = fileURLToPath(new URL(`./fixtures/.readme-example-${process.pid}.ts`, import.meta.url));
const regionPath = /openRegion\('([^']+)'/.exec(example)?.[1] ?? '';

describe('README example', () => {
  afterEach(() => {
    for (const path of [script, regionPath, `${regionPath}.lock`]) if (path) rmSync(path, { force: true, recursive: true });
  });

  it('runs as written and counts across runs', () => {
    expect(example).toContain("from 'robust-shm'");
    expect(example.split('\n').length).toBeLessThanOrEqual(25);
    writeFileSync(script, example);
    const run = () => execFileSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 });
    expect(run()).toMatch(/count 1 free/);
    expect(run()).toMatch(/count 2 free/);
  }, 60_000);
});
