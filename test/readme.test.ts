// The README's runnable example, run for real with plain node (no tsx) in the
// checkout, where 'robust-shm' resolves to the package itself (its exports ->
// dist/, built by test/global-setup.ts); twice: the second run finds what the
// first made. test/package-install.test.ts runs it from the installed tarball.
import { describe, expect, it, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
const script = fileURLToPath(new URL(`./fixtures/.readme-example-${process.pid}.mjs`, import.meta.url));
const regionPath = `/dev/shm/robust-shm-test-readme-${process.pid}-${Math.random().toString(36).slice(2)}.region`;

describe('README example', () => {
  afterEach(() => {
    for (const path of [script, regionPath, `${regionPath}.lock`]) rmSync(path, { force: true, recursive: true });
  });

  it('runs as written (plain node, ESM) and counts across runs', () => {
    expect(example).toContain("from 'robust-shm'");
    expect(example.split('\n').length).toBeLessThanOrEqual(25);
    expect(example).toContain("openRegion('/dev/shm/readme-example.region'");
    writeFileSync(script, example.replace('/dev/shm/readme-example.region', regionPath));
    const env = { ...process.env };
    delete env['NODE_OPTIONS'];
    const run = () => execFileSync(process.execPath, [script], { encoding: 'utf8', timeout: 30_000, env });
    expect(run()).toMatch(/count 1 free/);
    expect(run()).toMatch(/count 2 free/);
  }, 60_000);
});
