// The tour's table (`npm start` without a terminal): one row per part of the
// tour, what each showed. The repo's demos/lib/demo-tour.ts runs the demos;
// the installed package's tour is the scripted lab alone.

/** One part of the tour and what it showed. */
export interface TourRow {
  demo: string;
  status: 'ok' | 'failed' | 'not available' | 'timed out' | 'no summary';
  seconds: number;
  /** The summary line's figures (without "summary" and "ok"). */
  figures: Record<string, unknown>;
  note: string;
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
