// The lab's screen as plain lines: a pure function of the controller's
// snapshot, so it is the same in a test and in a terminal. Fits 80x24 and
// carries every fact in words (a '>' marks the selection, states are
// spelled out); colour, when on, only repeats what the words say.
import type { LabEvent, LabSnapshot, ParticipantView } from './controller.js';
import { KEY_HELP } from './keys.js';

export interface ScreenState {
  selected: number;
  message: string;
  help: boolean;
}

export interface ScreenOptions {
  width: number;
  height: number;
  color: boolean;
}

const KIND_SHORT = { pool: 'pool thr', worker: 'worker', process: 'process' } as const;
const STATUS_TEXT: Record<ParticipantView['status'], string> = {
  starting: 'starting',
  waiting: 'waiting',
  critical: 'in crit.sect',
  parked: 'PARKED (in CS)',
  stopped: 'STOPPED',
  dead: 'DEAD',
  running: 'running',
  exited: 'exited',
};

function fit(text: string, width: number): string {
  return text.length > width ? text.slice(0, width) : text.padEnd(width);
}

function bytes(n: number): string {
  return n >= 10_240 ? `${(n / 1024).toFixed(1)}K` : `${n}B`;
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const ANSI = { inverse: '\x1b[7m', bold: '\x1b[1m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', reset: '\x1b[0m' };

/** The screen, exactly `height` lines of exactly `width` visible characters. */
export function renderScreen(s: LabSnapshot, events: readonly LabEvent[], ui: ScreenState, o: ScreenOptions): string[] {
  const { width, height } = o;
  const paint = (line: string, code: string) => (o.color ? code + line + ANSI.reset : line);
  const lines: string[] = [];
  const alive = s.participants.filter((p) => p.status !== 'dead' && p.status !== 'exited').length;
  const chaos = s.chaos.on ? `CHAOS ${s.chaos.rate}/s` : `chaos off (${s.chaos.rate}/s)`;
  lines.push(fit(`LOCK LAB  ${alive}/${s.participants.length} alive  ${chaos}  kills ${s.counters.kills}  up ${clock(s.uptimeMs)}  h help q quit`, width));

  const m = s.mutex;
  const owner = m.owner ? `#${s.ownerNumber ?? '?'} tid ${m.owner.tid}${m.ownerAlive === false ? ' (DEAD)' : ''}` : 'none';
  const mutexLine = fit(`mutex   owner ${owner}  depth ${m.depth}  waiters ${m.waiters}  abandoned ${m.timesAbandoned}x  ${m.state}`, width);
  lines.push(m.state === 'owner-dead' || m.state === 'not-recoverable' ? paint(mutexLine, ANSI.red) : mutexLine);

  const inv = { holds: 'holds', repaired: 'REPAIRED, holds', 'mid-transfer': 'holds (tx in flight)', broken: 'BROKEN' }[s.invariant];
  const ledgerLine = fit(`ledger  sum ${s.sum}/${s.total}  invariant ${inv}  tx ${s.txCount}  repairs ${s.counters.repairs}`, width);
  lines.push(s.invariant === 'broken' ? paint(ledgerLine, ANSI.red) : s.invariant === 'repaired' ? paint(ledgerLine, ANSI.green) : ledgerLine);

  const h = s.heap;
  const heapLine = fit(
    `heap    used ${bytes(h.used)}  free ${bytes(h.free)}  records ${s.liveRecords}  ${h.poisoned ? 'POISONED' : 'not poisoned'}  recoveries ${h.recoveries}`,
    width,
  );
  lines.push(h.poisoned ? paint(heapLine, ANSI.red) : heapLine);
  if (s.queue.failed !== null) lines.push(paint(fit(`queue   FAILED, no longer touched: ${s.queue.failed}`, width), ANSI.red));

  lines.push(fit('  # kind      tid      pid      state             ops', width));
  // Participant rows, a window around the selection when they do not all fit.
  const maxRows = Math.max(3, Math.min(s.participants.length, height - 12));
  const selIndex = Math.max(0, s.participants.findIndex((p) => p.number === ui.selected));
  const first = Math.min(Math.max(0, selIndex - Math.floor(maxRows / 2)), Math.max(0, s.participants.length - maxRows));
  for (const p of s.participants.slice(first, first + maxRows)) {
    const mark = p.number === ui.selected ? '>' : ' ';
    const lock = p.ownsMutex ? ' LOCK' : '';
    const hung = p.hung ? ' HUNG' : '';
    const row = fit(
      `${mark}${String(p.number).padStart(2)}  ${(p.role === 'auditor' ? 'auditor' : KIND_SHORT[p.kind]).padEnd(8)}  ${String(p.tid || '-').padEnd(7)}  ${String(p.pid || '-').padEnd(7)}  ${STATUS_TEXT[p.status].padEnd(14)} ${String(p.ops).padStart(6)}${lock}${hung}`,
      width,
    );
    if (p.number === ui.selected) lines.push(paint(row, ANSI.inverse));
    else if (p.status === 'dead' || p.hung) lines.push(paint(row, ANSI.red));
    else if (p.status === 'stopped' || p.status === 'parked') lines.push(paint(row, ANSI.yellow));
    else lines.push(row);
  }
  const counters = s.counters;
  lines.push(fit(`-- events (abandoned ${counters.abandonedObserved}, repaired ${counters.repairs}, heap recovered ${counters.heapRecoveries}, hangs ${counters.hangs}) `.padEnd(width, '-'), width));

  const room = height - lines.length - 1;
  if (ui.help) {
    for (let i = 0; i < room; i++) lines.push(fit(KEY_HELP[i] ?? '', width));
  } else {
    const recent = events.slice(-room);
    for (let i = 0; i < room; i++) {
      const e = recent[i];
      lines.push(e ? fit(`${clock(e.t)} ${e.text}`, width) : fit('', width));
    }
  }
  const hint = 'k kill p park u unpark s stop/cont t/w/n add r respawn c chaos';
  lines.push(fit(ui.message ? `> ${ui.message}` : hint, width));
  return lines.slice(0, height);
}
