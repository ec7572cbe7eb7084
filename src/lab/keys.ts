// The keyboard of the interactive lab: which key does what. Every action key
// maps to the same ScriptCommand the --script words produce.
import type { ScriptCommand } from './script.js';

export type KeyAction =
  | { kind: 'command'; command: ScriptCommand }
  | { kind: 'select'; n: number }
  | { kind: 'move'; delta: number }
  | { kind: 'chaos-toggle' }
  | { kind: 'chaos-rate'; factor: number }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'unknown'; key: string };

export const KEY_HELP: readonly string[] = [
  '1-9 / up,down  select a participant',
  'k  kill it now (process: SIGKILL, worker: terminate(), pool: abort)',
  'p  park it inside its critical section (mid-transfer, mutex held)',
  'P  park it inside a heap operation (heap lock held: death poisons it)',
  'u  unpark: let a parked participant finish its transfer',
  's  stop / continue a process (SIGSTOP / SIGCONT): stopped is alive',
  't  add a pool thread   w  add a worker thread   n  add a process   a  auditor',
  'r  respawn the dead',
  'c  chaos on/off (random kills, dead respawned)   + / -  chaos rate',
  'h or ?  this help (any key closes it)            q  quit (reaps all)',
];

/** What a key press means, given the selected participant number. */
export function keyAction(key: string, selected: number): KeyAction {
  if (/^[1-9]$/.test(key)) return { kind: 'select', n: Number(key) };
  switch (key) {
    case '\x1b[A':
    case '\x1bOA':
      return { kind: 'move', delta: -1 };
    case '\x1b[B':
    case '\x1bOB':
    case '\t':
      return { kind: 'move', delta: 1 };
    case 'k':
      return { kind: 'command', command: { op: 'kill', n: selected } };
    case 'p':
      return { kind: 'command', command: { op: 'park', n: selected, where: 'ledger' } };
    case 'P':
      return { kind: 'command', command: { op: 'park', n: selected, where: 'heap' } };
    case 'u':
      return { kind: 'command', command: { op: 'unpark', n: selected } };
    case 's':
      return { kind: 'command', command: { op: 'stop', n: selected } }; // the lab toggles: stop or continue
    case 't':
      return { kind: 'command', command: { op: 'add', kind: 'pool' } };
    case 'w':
      return { kind: 'command', command: { op: 'add', kind: 'worker' } };
    case 'n':
      return { kind: 'command', command: { op: 'add', kind: 'process' } };
    case 'a':
      return { kind: 'command', command: { op: 'add', kind: 'process', role: 'auditor' } };
    case 'r':
      return { kind: 'command', command: { op: 'respawn' } };
    case 'c':
      return { kind: 'chaos-toggle' };
    case '+':
    case '=':
      return { kind: 'chaos-rate', factor: 2 };
    case '-':
      return { kind: 'chaos-rate', factor: 0.5 };
    case 'h':
    case '?':
      return { kind: 'help' };
    case 'q':
    case '\x03': // Ctrl-C in raw mode
      return { kind: 'quit' };
    default:
      return { kind: 'unknown', key };
  }
}

/**
 * Split one chunk of raw terminal input into keys: a fast typist, a paste or
 * tmux send-keys can deliver several keys in one read ("2p"), and arrow keys
 * arrive as escape sequences (ESC [ A).
 */
export function splitKeys(chunk: string): string[] {
  const keys: string[] = [];
  for (let i = 0; i < chunk.length; ) {
    if (chunk[i] === '\x1b' && (chunk[i + 1] === '[' || chunk[i + 1] === 'O')) {
      let j = i + 2;
      while (j < chunk.length && !/[A-Za-z~]/.test(chunk[j]!)) j++;
      keys.push(chunk.slice(i, j + 1));
      i = j + 1;
    } else {
      const cp = chunk.codePointAt(i)!;
      const key = String.fromCodePoint(cp);
      keys.push(key);
      i += key.length;
    }
  }
  return keys;
}
