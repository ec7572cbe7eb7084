// The repo's part of the lab's tour (`npm start` without a terminal): every
// demo in turn with --json through tsx, reading its summary line. A demo that
// does not exist (yet) is listed as "not available"; one that overruns its
// share of the time budget is killed and listed as such.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TourRow } from '../../src/lab/tour.js';

/** The demos the issues promise, so a missing one is shown rather than silently absent. */
export const EXPECTED_DEMOS = ['shared-counter', 'abandoned-mutex', 'pool-abort', 'heap-at-exit', 'heap-misuse', 'mapped-file-crash', 'page-lifecycle'];

export function tourDemos(demosDir: string): string[] {
  const present = existsSync(demosDir)
    ? readdirSync(demosDir)
        .filter((f) => f.endsWith('.ts') && f !== 'lock-lab.ts' && f !== 'soak.ts') // the soak is a long stress run, not a story
        .map((f) => basename(f, '.ts'))
    : [];
  return [...new Set([...EXPECTED_DEMOS, ...present.sort()])];
}

/** Run one demo with --json; resolves with its row (never rejects). */
export function runDemo(demosDir: string, demo: string, timeoutMs: number): Promise<TourRow> {
  const file = join(demosDir, `${demo}.ts`);
  if (!existsSync(file)) return Promise.resolve({ demo, status: 'not available', seconds: 0, figures: {}, note: 'not written yet' });
  const started = performance.now();
  return new Promise((resolve) => {
    // Its own process group: on a timeout the demo *and* whatever it started are killed together.
    const child = spawn(process.execPath, ['--import', 'tsx', file, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-2000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const summary = lastSummary(out);
      if (timedOut) return resolve({ demo, status: 'timed out', seconds, figures: summary ?? {}, note: `killed after ${Math.round(timeoutMs / 1000)} s` });
      if (!summary) return resolve({ demo, status: 'no summary', seconds, figures: {}, note: `exit ${code}: ${err.trim().split('\n').pop() ?? ''}` });
      const { summary: _name, ok, ...figures } = summary;
      resolve({ demo, status: ok === true && code === 0 ? 'ok' : 'failed', seconds, figures, note: '' });
    });
  });
}

function lastSummary(stdout: string): Record<string, unknown> | undefined {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed && typeof parsed === 'object' && 'summary' in parsed) return parsed;
    } catch {
      // not JSON: a human line
    }
  }
  return undefined;
}
