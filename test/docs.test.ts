// Every code block of the guides in docs/ runs, as the README's example does
// (test/readme.test.ts): `js` as an ES module and `cjs` through require() with
// plain node, `ts` through tsx, each in the checkout where 'robust-shm'
// resolves to the package itself (its exports -> dist/). Blocks that are not
// programs say so by their tag (`sh`: commands to type; `text`: output); a
// block without a tag, or with another one, fails here. Region paths in a
// block are made unique to this run and removed afterwards.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url);
const RUN: Record<string, { ext: string; execArgv: string[] }> = {
  js: { ext: 'mjs', execArgv: [] },
  cjs: { ext: 'cjs', execArgv: [] },
  ts: { ext: 'mts', execArgv: ['--import', 'tsx'] },
};
const NOT_RUN = new Set(['sh', 'text']);

interface Block {
  file: string;
  line: number;
  lang: string;
  code: string;
}

function blocks(file: string): Block[] {
  const text = readFileSync(new URL(file, root), 'utf8');
  const out: Block[] = [];
  const re = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ file, line: text.slice(0, m.index).split('\n').length, lang: m[1]!.trim(), code: m[2]! });
  }
  return out;
}

const guides = readdirSync(new URL('docs/', root))
  .filter((f) => f.endsWith('.md'))
  .sort()
  .map((f) => `docs/${f}`);
const guideBlocks = guides.flatMap(blocks);
const leftovers: string[] = [];

afterEach(() => {
  for (const path of leftovers.splice(0)) rmSync(path, { force: true, recursive: true });
});

describe('the guides in docs/', () => {
  it('exist, one per concept, and every code block of them and of the README is tagged as a program or as not one', () => {
    expect(guides).toEqual(['docs/benchmarks.md', 'docs/design.md', 'docs/heap.md', 'docs/lab-and-soak.md', 'docs/mapped-files.md', 'docs/mutex.md', 'docs/queue.md', 'docs/rwlock-semaphore.md']);
    for (const b of [...guideBlocks, ...blocks('README.md')]) {
      expect(b.lang === '' ? `${b.file}:${b.line} has no language tag` : RUN[b.lang] || NOT_RUN.has(b.lang) ? 'ok' : `${b.file}:${b.line}: unknown tag '${b.lang}'`).toBe('ok');
    }
    expect(guideBlocks.filter((b) => RUN[b.lang]).length).toBeGreaterThan(0);
  });

  it('every link from the README and between the guides points at a file that exists', () => {
    for (const file of ['README.md', ...guides]) {
      const text = readFileSync(new URL(file, root), 'utf8');
      for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^https?:/.test(target) || target === 'docs/api/index.html') continue; // the typedoc output is generated, not committed
        const url = new URL(target, new URL(file, root));
        expect(() => readFileSync(url), `${file} links to ${target}`).not.toThrow();
      }
    }
  });

  for (const b of guideBlocks.filter((x) => RUN[x.lang])) {
    it(`${b.file}:${b.line} (${b.lang}) runs`, () => {
      const run = RUN[b.lang]!;
      const unique = `${process.pid}-${Math.random().toString(36).slice(2)}`;
      const code = b.code.replace(/'\/dev\/shm\/([\w.-]+)\.region'/g, (_, name: string) => {
        const path = `/dev/shm/robust-shm-test-docs-${name}-${unique}.region`;
        leftovers.push(path, `${path}.lock`);
        return `'${path}'`;
      });
      const script = fileURLToPath(new URL(`test/fixtures/.docs-block-${unique}.${run.ext}`, root));
      leftovers.push(script);
      writeFileSync(script, code);
      const env = { ...process.env };
      delete env['NODE_OPTIONS'];
      execFileSync(process.execPath, [...run.execArgv, script], { cwd: fileURLToPath(root), encoding: 'utf8', timeout: 30_000, env, stdio: 'pipe' });
    }, 60_000);
  }
});
