// The --script language: the same actions as the keys, written as words,
// separated by ';' or newlines. Parsed fully before anything runs, so a typo
// is reported with its position instead of after half a run.
//
//   kill N | park N [heap] | unpark N | stop N | cont N | select N
//   add pool|worker|process | add auditor [pool|worker|process] (default process) | respawn
//   chaos <duration> [rate R] | chaos <N> kills [rate R] | chaos on [R] | chaos off | rate R
//   wait <duration> | ready (until every live participant has made progress)
//   redelivered (until every job a killed participant held was taken again and reported) | quit
// Durations: 500ms, 2s, 1.5s. Participants are numbered from 1 as on screen.
import { RobustShmError } from '../errors.js';
import type { ParticipantKind, ParticipantRole } from './participant-loop.js';

export type ScriptCommand =
  | { op: 'kill' | 'unpark' | 'stop' | 'cont' | 'select'; n: number }
  | { op: 'park'; n: number; where: 'ledger' | 'heap' }
  | { op: 'add'; kind: ParticipantKind; role?: ParticipantRole }
  | { op: 'respawn' }
  | { op: 'chaos-for'; ms: number; rate: number | undefined }
  | { op: 'chaos-kills'; kills: number; rate: number | undefined }
  | { op: 'chaos'; on: boolean; rate: number | undefined }
  | { op: 'rate'; rate: number }
  | { op: 'wait'; ms: number }
  | { op: 'ready' }
  | { op: 'redelivered' }
  | { op: 'quit' };

export class ScriptError extends RobustShmError {
  constructor(message: string) {
    super('ERR_LAB_SCRIPT', message);
  }
}

const NUMBERED = new Set(['kill', 'unpark', 'stop', 'cont', 'select']);
const ALIASES: Record<string, string> = { continue: 'cont', release: 'unpark', k: 'kill', p: 'park', s: 'stop', q: 'quit', r: 'respawn', exit: 'quit', sleep: 'wait' };
const KINDS: Record<string, ParticipantKind> = { pool: 'pool', thread: 'pool', task: 'pool', worker: 'worker', process: 'process', proc: 'process' };

export function parseDuration(text: string | undefined, where: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text ?? '');
  if (!m) throw new ScriptError(`${where}: expected a duration like 500ms or 2s, got '${text ?? ''}'`);
  const value = Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
  if (value > 3_600_000) throw new ScriptError(`${where}: duration too long (max 1h)`);
  return value;
}

function parseRate(text: string | undefined, where: string): number {
  const rate = Number(text);
  if (!text || !(rate > 0 && rate <= 50)) throw new ScriptError(`${where}: expected a rate from 0.1 to 50 kills/s, got '${text ?? ''}'`);
  return rate;
}

export function parseScript(script: string): ScriptCommand[] {
  const out: ScriptCommand[] = [];
  const statements = script.split(/[;\n]/).map((s) => s.trim()).filter((s) => s.length > 0 && !s.startsWith('#'));
  statements.forEach((statement, index) => {
    const where = `command ${index + 1} '${statement}'`;
    const [rawWord, ...args] = statement.split(/\s+/);
    const word = ALIASES[rawWord!.toLowerCase()] ?? rawWord!.toLowerCase();
    const arity = (min: number, max: number) => {
      if (args.length < min || args.length > max) throw new ScriptError(`${where}: '${word}' takes ${min === max ? min : `${min} to ${max}`} argument(s)`);
    };
    const number = (text: string | undefined) => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1) throw new ScriptError(`${where}: expected a participant number (1, 2, ...), got '${text}'`);
      return n;
    };
    if (NUMBERED.has(word)) {
      arity(1, 1);
      out.push({ op: word as 'kill', n: number(args[0]) });
    } else if (word === 'park') {
      arity(1, 2);
      const place = (args[1] ?? 'ledger').toLowerCase();
      if (place !== 'ledger' && place !== 'heap') throw new ScriptError(`${where}: park N [heap]: where is 'ledger' (default) or 'heap', got '${args[1]}'`);
      out.push({ op: 'park', n: number(args[0]), where: place });
    } else if (word === 'add') {
      arity(1, 2);
      const auditor = args[0]!.toLowerCase() === 'auditor';
      if (!auditor) arity(1, 1);
      const kind = auditor ? (args[1] === undefined ? 'process' : KINDS[args[1].toLowerCase()]) : KINDS[args[0]!.toLowerCase()];
      if (!kind) throw new ScriptError(`${where}: add what? pool (thread), worker, process, or auditor [pool|worker|process]`);
      out.push(auditor ? { op: 'add', kind, role: 'auditor' } : { op: 'add', kind });
    } else if (word === 'respawn' || word === 'quit' || word === 'ready' || word === 'redelivered') {
      arity(0, 0);
      out.push({ op: word });
    } else if (word === 'wait') {
      arity(1, 1);
      out.push({ op: 'wait', ms: parseDuration(args[0], where) });
    } else if (word === 'rate') {
      arity(1, 1);
      out.push({ op: 'rate', rate: parseRate(args[0], where) });
    } else if (word === 'chaos') {
      arity(1, 4);
      const first = args[0]!.toLowerCase();
      if (args[1]?.toLowerCase() === 'kills') {
        const kills = Number(first);
        if (!Number.isInteger(kills) || kills < 1 || kills > 100_000) throw new ScriptError(`${where}: expected 'chaos <N> kills [rate R]' with N from 1 to 100000`);
        if (args.length !== 2 && !(args.length === 4 && args[2] === 'rate')) throw new ScriptError(`${where}: expected 'chaos <N> kills [rate R]'`);
        out.push({ op: 'chaos-kills', kills, rate: args.length === 4 ? parseRate(args[3], where) : undefined });
      } else if (first === 'on' || first === 'off') {
        if (first === 'off') arity(1, 1);
        else arity(1, 2);
        out.push({ op: 'chaos', on: first === 'on', rate: args[1] === undefined ? undefined : parseRate(args[1], where) });
      } else {
        const ms = parseDuration(first, where);
        let rate: number | undefined;
        if (args.length > 1) {
          if (args[1] !== 'rate' || args.length !== 3) throw new ScriptError(`${where}: expected 'chaos <duration> rate <R>'`);
          rate = parseRate(args[2], where);
        }
        out.push({ op: 'chaos-for', ms, rate });
      }
    } else {
      throw new ScriptError(`${where}: unknown command '${rawWord}' (kill, park, unpark, stop, cont, add, respawn, chaos, rate, wait, ready, redelivered, select, quit)`);
    }
  });
  return out;
}
