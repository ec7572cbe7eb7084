// The scripted tour (`npm start` without a terminal): every demo in turn
// with --json, reading its summary line, then a table of what each showed.
// A demo that does not exist (yet) is listed as "not available"; one that
// overruns its share of the time budget is killed and listed as such.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';

/** The demos the issues promise, so a missing one is shown rather than silently absent. */
export const EXPECTED_DEMOS = ['shared-counter', 'abandoned-mutex', 'pool-abort', 'heap-at-exit', 'heap-misuse', 'mapped-file-crash', 'page-lifecycle'];

export interface TourRow {
  demo: string;
  status: 'ok' | 'failed' | 'not available' | 'timed out' | 'no summary';
  seconds: number;
  /** The summary line's figures (without "summary" and "ok"). */
  figures: Record<string, unknown>;
  note: string;
}

export function tourDemos(demosDir: string): string[] {
  const present = existsSync(demosDir)
    ? readdirSync(demosDir)
        .filter((f) => f.endsWith('.ts') && f !== 'lock-lab.ts')
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

/** The figures of a row, shortened to fit one table cell. */
export function figuresText(figures: Record<string, unknown>, width: number): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(figures)) {
    if (v === null || typeof v === 'object') continue;
    parts.push(`${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v)}`);
  }
  const text = parts.join(' ');
  return text.length > width ? text.slice(0, width - 3) + '...' : text;
}

export function tourTable(rows: TourRow[], width = 80): string {
  const indent = 40;
  const lines = [`${'demo'.padEnd(18)} ${'result'.padEnd(13)} ${'time'.padStart(6)}  what it showed`, '-'.repeat(width)];
  for (const r of rows) {
    const time = r.status === 'not available' ? '-' : `${r.seconds.toFixed(1)}s`;
    const shown = r.note && Object.keys(r.figures).length === 0 ? r.note : figuresText(r.figures, (width - indent) * 3);
    // The figures wrap onto up to two more lines under their column.
    const chunks = wrapWords(shown, width - indent);
    lines.push(`${r.demo.padEnd(18)} ${r.status.padEnd(13)} ${time.padStart(6)}  ${chunks[0] ?? ''}`.slice(0, width));
    for (const chunk of chunks.slice(1, 3)) lines.push(`${' '.repeat(indent)}${chunk}`);
  }
  return lines.join('\n');
}

function wrapWords(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out.map((l) => l.slice(0, width));
}
