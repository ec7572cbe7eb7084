#!/usr/bin/env node
// Package figures for the README and reports: tarball size, install time from
// the tarball (npm install --ignore-scripts into an empty project, dependencies
// from npm's cache), and the cold `import('robust-shm')` time with plain node
// (a new process each round: time of the import itself, and the whole process
// against an empty `node -e 0`). Medians and p90 of --rounds. Removes what it made.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, installs: { type: 'string', default: '3' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  process.stdout.write('usage: node tools/measure-package.mjs [--rounds 20] [--installs 3] [--json]\n  npm pack, install the tarball into empty projects, time cold imports with plain node\n');
  process.exit(0);
}
const rounds = Number(values.rounds);
const installs = Number(values.installs);
const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), `robust-shm-measure-${process.pid}-`));
const say = (t) => values.json || process.stderr.write(t + '\n');
const env = { ...process.env };
delete env.NODE_OPTIONS;
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: +at(0.5).toFixed(1), p90: +at(0.9).toFixed(1), n: s.length };
};
try {
  say('npm pack ...');
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [info] = JSON.parse(out.slice(out.indexOf('[')));
  const tarball = join(work, info.filename);
  const installMs = [];
  let project = '';
  for (let i = 0; i < installs; i++) {
    say(`install ${i + 1}/${installs} ...`);
    project = join(work, `p${i}`);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), '{"name":"m","version":"1.0.0","private":true}');
    const t = performance.now();
    execFileSync('npm', ['install', tarball, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, stdio: 'ignore' });
    installMs.push(performance.now() - t);
  }
  const importMs = [];
  const processMs = [];
  const emptyMs = [];
  const script = "const t = performance.now(); await import('robust-shm'); process.stdout.write(String(performance.now() - t));";
  for (let i = 0; i < rounds; i++) {
    if (i % 5 === 0) say(`cold imports ${i}/${rounds} ...`);
    let t = performance.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: project, env, encoding: 'utf8' });
    processMs.push(performance.now() - t);
    importMs.push(Number(r.stdout));
    t = performance.now();
    spawnSync(process.execPath, ['-e', '0'], { cwd: project, env });
    emptyMs.push(performance.now() - t);
  }
  const result = {
    summary: 'measure-package',
    tarball: info.filename,
    packedBytes: info.size,
    unpackedBytes: info.unpackedSize,
    files: info.files.length,
    installMs: stats(installMs),
    coldImportMs: stats(importMs),
    processWithImportMs: stats(processMs),
    emptyNodeProcessMs: stats(emptyMs),
    loadavg: loadavg().map((l) => +l.toFixed(2)),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
