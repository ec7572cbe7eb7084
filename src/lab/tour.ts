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

/** The figures of a row as `key=value` words (objects and nulls left out). */
export function figuresText(figures: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(figures)) {
    if (v === null || typeof v === 'object') continue;
    parts.push(`${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v)}`);
  }
  return parts.join(' ');
}

/** Lines of the figures column a row may take (the scripted lab's row needs about 8); more figures end in "...". */
const FIGURE_LINES = 8;

export function tourTable(rows: TourRow[], width = 80): string {
  const nameWidth = Math.max(18, ...rows.map((r) => r.demo.length));
  const indent = nameWidth + 1 + 13 + 1 + 6 + 2;
  // The figures column is at least 30 wide: a narrower table is wider than `width` rather than cut.
  const column = Math.max(30, width - indent);
  const lines = [`${'demo'.padEnd(nameWidth)} ${'result'.padEnd(13)} ${'time'.padStart(6)}  what it showed`, '-'.repeat(Math.min(width, indent + column))];
  for (const r of rows) {
    const time = r.status === 'not available' ? '-' : `${r.seconds.toFixed(1)}s`;
    const shown = r.note && Object.keys(r.figures).length === 0 ? r.note : figuresText(r.figures);
    // Whole words only: a figure is never cut, and what does not fit ends in "...".
    const chunks = wrapWords(shown, column, FIGURE_LINES);
    lines.push(`${r.demo.padEnd(nameWidth)} ${r.status.padEnd(13)} ${time.padStart(6)}  ${chunks[0] ?? ''}`.trimEnd());
    for (const chunk of chunks.slice(1)) lines.push(`${' '.repeat(indent)}${chunk}`);
  }
  return lines.join('\n');
}

/** `text` in lines of at most `width` (a single longer word gets a line of its own), at most `maxLines`, the last ending in "..." when words were left out. */
function wrapWords(text: string, width: number, maxLines: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ').filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  if (out.length <= maxLines) return out;
  const kept = out.slice(0, maxLines);
  let last = kept[maxLines - 1]!;
  while (last.length + 4 > width && last.includes(' ')) last = last.slice(0, last.lastIndexOf(' '));
  kept[maxLines - 1] = `${last} ...`;
  return kept;
}
