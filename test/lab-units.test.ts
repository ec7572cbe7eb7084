// The lab's pieces on their own, in one thread: the ledger's journal and
// repair (a transfer interrupted at every step), the script language, the
// keys, the tour's table, and the screen's 80x24 shape.
import { describe, expect, it } from 'vitest';
import { JOB_WINDOW, Ledger, PHASE_CREDITED, PHASE_DEBITING, PHASE_IDLE, type RecordStore, type Transfer } from '../src/workers/ledger.js';
import { parseScript, ScriptError } from '../src/lab/script.js';
import { keyAction, splitKeys } from '../src/lab/keys.js';
import { renderScreen } from '../src/lab/screen.js';
import { figuresText, tourTable } from '../src/lab/tour.js';
import { runDemo, tourDemos } from '../demos/lib/demo-tour.js';
import { fileURLToPath } from 'node:url';
import { readThreadStat } from '../src/locks/owner.js';
import type { LabEvent, LabSnapshot, ParticipantView } from '../src/lab/controller.js';

/** Thrown from a hook to stand in for a death at that point (the stores before it are done, the ones after are not). */
class Died extends Error {}

/** A record store that remembers what is live, and can "die" at a chosen call. */
class FakeRecords implements RecordStore {
  live = new Set<number>();
  next = 64;
  dieOn: 'write' | 'discard' | undefined;
  doubleFrees = 0;
  write(_txId: number, _t: Transfer): number {
    const offset = this.next;
    this.next += 32;
    this.live.add(offset);
    if (this.dieOn === 'write') throw new Died();
    return offset;
  }
  discard(offset: number): boolean {
    if (!this.live.delete(offset)) {
      this.doubleFrees++;
      return false;
    }
    if (this.dieOn === 'discard') throw new Died();
    return true;
  }
}

function freshLedger(): Ledger {
  return Ledger.initialize(new SharedArrayBuffer(Ledger.bytes(4)), 0, 4, 1000);
}

describe('ledger', () => {
  it('a transfer moves money, counts it, records it, and keeps the total', () => {
    const ledger = freshLedger();
    const records = new FakeRecords();
    ledger.transfer({ from: 0, to: 3, amount: 250, participant: 0 }, { records });
    expect([0, 1, 2, 3].map((a) => ledger.balance(a))).toEqual([750, 1000, 1000, 1250]);
    expect(ledger.stats()).toMatchObject({ txCount: 1, phase: PHASE_IDLE });
    expect(ledger.liveRecords()).toHaveLength(1);
    expect(ledger.checkInvariant()).toEqual({ holds: true, sum: 4000, total: 4000, negative: false });
  });

  it('refuses overdrafts and nonsense without changing anything', () => {
    const ledger = freshLedger();
    expect(() => ledger.transfer({ from: 0, to: 1, amount: 1001, participant: 0 })).toThrow(/less than/);
    expect(() => ledger.transfer({ from: 1, to: 1, amount: 5, participant: 0 })).toThrow(/two accounts/);
    expect(() => ledger.transfer({ from: 0, to: 9, amount: 5, participant: 0 })).toThrow(/account must be/);
    expect(ledger.checkInvariant().holds).toBe(true);
    expect(ledger.stats().txCount).toBe(0);
  });

  it('death between debit and credit: the invariant is broken, repair rolls back, twice is harmless', () => {
    const ledger = freshLedger();
    expect(() =>
      ledger.transfer({ from: 1, to: 2, amount: 300, participant: 0 }, {
        midTransfer: () => {
          throw new Died();
        },
      }),
    ).toThrow(Died);
    expect(ledger.phase).toBe(PHASE_DEBITING);
    expect(ledger.checkInvariant()).toMatchObject({ holds: false, sum: 3700 });
    const report = ledger.repair();
    expect(report).toMatchObject({ rolled: 'back', invariant: { holds: true, sum: 4000 } });
    expect([ledger.balance(1), ledger.balance(2)]).toEqual([1000, 1000]);
    expect(ledger.repair().rolled).toBe('none');
    expect(ledger.stats()).toMatchObject({ txCount: 0, repairs: 1, rolledBack: 1 });
    // the ledger works on afterwards
    ledger.transfer({ from: 1, to: 2, amount: 300, participant: 0 });
    expect(ledger.checkInvariant().holds).toBe(true);
  });

  it('death inside the record bookkeeping: balances are final, repair rolls forward and finishes the ring without a double free', () => {
    for (const dieOn of ['write', 'discard'] as const) {
      const ledger = freshLedger();
      const records = new FakeRecords();
      // fill the ring slot this transfer will reuse, so the old record must be freed
      for (let i = 0; i < 32; i++) ledger.transfer({ from: 0, to: 1, amount: 1, participant: 0 }, { records });
      const liveBefore = records.live.size;
      records.dieOn = dieOn;
      expect(() => ledger.transfer({ from: 2, to: 3, amount: 100, participant: 0 }, { records })).toThrow(Died);
      records.dieOn = undefined;
      expect(ledger.phase).toBe(PHASE_CREDITED);
      expect(ledger.checkInvariant().holds).toBe(true);
      const report = ledger.repair(records);
      expect(report.rolled).toBe('forward');
      expect(report.invariant.holds).toBe(true);
      expect([ledger.balance(2), ledger.balance(3)]).toEqual([900, 1100]);
      expect(ledger.stats()).toMatchObject({ txCount: 33, rolledForward: 1, phase: PHASE_IDLE });
      if (dieOn === 'discard') {
        // died right after freeing the old record: repair's free is refused by the store, the new one is in the ring
        expect(records.doubleFrees).toBe(1);
        expect(ledger.liveRecords().every((o) => records.live.has(o))).toBe(true);
        expect(records.live.size).toBe(liveBefore);
      } else {
        // died inside the allocation: that block is the heap's business (its own recovery), the ring is untouched
        expect(ledger.liveRecords()).toHaveLength(32);
      }
    }
  });

  it('a job transfer commits its job id with the money: a roll back leaves it unapplied, a roll forward applies it, once', () => {
    const ledger = freshLedger();
    const records = new FakeRecords();
    ledger.transfer({ from: 0, to: 1, amount: 10, participant: 0, jobId: 7 }, { records });
    expect(ledger.jobApplied(7)).toBe(true);
    expect(ledger.jobApplied(8)).toBe(false);
    // died between debit and credit: rolled back, the job's money did not move and the job is not applied
    expect(() => ledger.transfer({ from: 0, to: 1, amount: 10, participant: 0, jobId: 8 }, { midTransfer: () => { throw new Died(); } })).toThrow(Died);
    expect(ledger.jobApplied(8)).toBe(false);
    expect(ledger.repair(records).rolled).toBe('back');
    expect(ledger.jobApplied(8)).toBe(false);
    // died in the bookkeeping after the credit: the job was noted with the credit; rolling forward does not note it twice
    records.dieOn = 'write';
    expect(() => ledger.transfer({ from: 0, to: 1, amount: 10, participant: 0, jobId: 8 }, { records })).toThrow(Died);
    records.dieOn = undefined;
    expect(ledger.phase).toBe(PHASE_CREDITED);
    expect(ledger.jobApplied(8)).toBe(true);
    expect(ledger.repair(records).rolled).toBe('forward');
    expect(ledger.jobApplied(8)).toBe(true);
    expect(ledger.stats()).toMatchObject({ jobsApplied: 2, jobsAppliedTwice: 0 });
    expect([ledger.balance(0), ledger.balance(1)]).toEqual([980, 1020]);
    // a caller that applies a job again anyway is counted
    ledger.transfer({ from: 0, to: 1, amount: 1, participant: 0, jobId: 8 });
    expect(ledger.stats().jobsAppliedTwice).toBe(1);
    // the window: a job JOB_WINDOW ids later takes the slot over, the old id reads as not applied
    ledger.transfer({ from: 0, to: 1, amount: 1, participant: 0, jobId: 7 + JOB_WINDOW });
    expect(ledger.jobApplied(7 + JOB_WINDOW)).toBe(true);
    expect(ledger.jobApplied(7)).toBe(false);
    expect(() => ledger.transfer({ from: 0, to: 1, amount: 1, participant: 0, jobId: -1 })).toThrow(/job id/);
  });

  it('Ledger.open finds the same ledger again by name', () => {
    const buffer = new SharedArrayBuffer(64 + Ledger.bytes(8));
    const objects = new Map<string, number>();
    const host = {
      buffer,
      findOrCreate(name: string, _bytes: number, init?: (o: number) => void) {
        const known = objects.get(name);
        if (known !== undefined) return { offset: known, created: false };
        objects.set(name, 64);
        init?.(64);
        return { offset: 64, created: true };
      },
    };
    const a = Ledger.open(host, 'x', 8, 10);
    a.transfer({ from: 0, to: 1, amount: 5, participant: 0 });
    const b = Ledger.open(host, 'x', 8, 10);
    expect(b.balance(1)).toBe(15);
    expect(b.total).toBe(80);
  });
});

describe('script language', () => {
  it('parses every command, with aliases, comments and both separators', () => {
    expect(parseScript('park 2; kill 2\nstop 4; cont 4; chaos 5s; quit')).toEqual([
      { op: 'park', n: 2, where: 'ledger' },
      { op: 'kill', n: 2 },
      { op: 'stop', n: 4 },
      { op: 'cont', n: 4 },
      { op: 'chaos-for', ms: 5000, rate: undefined },
      { op: 'quit' },
    ]);
    expect(parseScript('# a comment\npark 3 heap; release 3; continue 4; add thread; add worker; add process; respawn; ready')).toEqual([
      { op: 'park', n: 3, where: 'heap' },
      { op: 'unpark', n: 3 },
      { op: 'cont', n: 4 },
      { op: 'add', kind: 'pool' },
      { op: 'add', kind: 'worker' },
      { op: 'add', kind: 'process' },
      { op: 'respawn' },
      { op: 'ready' },
    ]);
    expect(parseScript('kill 2; redelivered')).toEqual([{ op: 'kill', n: 2 }, { op: 'redelivered' }]);
    expect(() => parseScript('redelivered 2')).toThrow(/takes 0 argument/);
    expect(parseScript('add auditor; add auditor worker; add auditor pool')).toEqual([
      { op: 'add', kind: 'process', role: 'auditor' },
      { op: 'add', kind: 'worker', role: 'auditor' },
      { op: 'add', kind: 'pool', role: 'auditor' },
    ]);
    expect(() => parseScript('add auditor goblin')).toThrow(/add what\?/);
    expect(() => parseScript('add worker auditor')).toThrow(/takes 1 argument/);
    expect(parseScript('chaos 1.5s rate 4; chaos 200 kills rate 8; chaos 3 kills; chaos on 2; chaos off; rate 0.5; wait 250ms; select 1')).toEqual([
      { op: 'chaos-for', ms: 1500, rate: 4 },
      { op: 'chaos-kills', kills: 200, rate: 8 },
      { op: 'chaos-kills', kills: 3, rate: undefined },
      { op: 'chaos', on: true, rate: 2 },
      { op: 'chaos', on: false, rate: undefined },
      { op: 'rate', rate: 0.5 },
      { op: 'wait', ms: 250 },
      { op: 'select', n: 1 },
    ]);
  });

  it.each([
    ['kill', /takes 1 argument/],
    ['kill zero', /participant number/],
    ['kill 0', /participant number/],
    ['park 2 roof', /'ledger' \(default\) or 'heap'/],
    ['add robot', /add what/],
    ['wait soon', /duration/],
    ['chaos 5s rate 99', /rate from 0.1 to 50/],
    ['chaos 0 kills', /N from 1/],
    ['quit now', /takes 0 argument/],
    ['dance', /unknown command 'dance'/],
  ])('rejects %j', (script, message) => {
    expect(() => parseScript(`wait 1s; ${script}`)).toThrow(ScriptError);
    expect(() => parseScript(`wait 1s; ${script}`)).toThrow(message);
    expect(() => parseScript(`wait 1s; ${script}`)).toThrow(/command 2/);
  });
});

describe('keys', () => {
  it('every action key maps to the script command of the same action, for the selection', () => {
    expect(keyAction('k', 3)).toEqual({ kind: 'command', command: { op: 'kill', n: 3 } });
    expect(keyAction('p', 2)).toEqual({ kind: 'command', command: { op: 'park', n: 2, where: 'ledger' } });
    expect(keyAction('P', 2)).toEqual({ kind: 'command', command: { op: 'park', n: 2, where: 'heap' } });
    expect(keyAction('u', 2)).toEqual({ kind: 'command', command: { op: 'unpark', n: 2 } });
    expect(keyAction('s', 4)).toEqual({ kind: 'command', command: { op: 'stop', n: 4 } });
    expect(keyAction('t', 1)).toEqual({ kind: 'command', command: { op: 'add', kind: 'pool' } });
    expect(keyAction('w', 1)).toEqual({ kind: 'command', command: { op: 'add', kind: 'worker' } });
    expect(keyAction('n', 1)).toEqual({ kind: 'command', command: { op: 'add', kind: 'process' } });
    expect(keyAction('r', 1)).toEqual({ kind: 'command', command: { op: 'respawn' } });
    expect(keyAction('c', 1)).toEqual({ kind: 'chaos-toggle' });
    expect(keyAction('+', 1)).toEqual({ kind: 'chaos-rate', factor: 2 });
    expect(keyAction('-', 1)).toEqual({ kind: 'chaos-rate', factor: 0.5 });
    expect(keyAction('7', 1)).toEqual({ kind: 'select', n: 7 });
    expect(keyAction('\x1b[B', 1)).toEqual({ kind: 'move', delta: 1 });
    expect(keyAction('?', 1)).toEqual({ kind: 'help' });
    expect(keyAction('q', 1)).toEqual({ kind: 'quit' });
    expect(keyAction('\x03', 1)).toEqual({ kind: 'quit' });
    expect(keyAction('z', 1)).toEqual({ kind: 'unknown', key: 'z' });
  });

  it('splits a chunk holding several keys and escape sequences', () => {
    expect(splitKeys('2p')).toEqual(['2', 'p']);
    expect(splitKeys('\x1b[A\x1b[Bk')).toEqual(['\x1b[A', '\x1b[B', 'k']);
    expect(splitKeys('\x1bOAq')).toEqual(['\x1bOA', 'q']);
  });
});

function snapshot(participants: number): LabSnapshot {
  const views: ParticipantView[] = [];
  for (let i = 1; i <= participants; i++) {
    views.push({
      number: i,
      kind: i % 3 === 0 ? 'process' : i % 3 === 1 ? 'pool' : 'worker',
      role: i === 8 ? 'auditor' : 'transfer',
      generation: 1,
      tid: 100_000 + i,
      pid: 99_999,
      status: (['waiting', 'critical', 'parked', 'stopped', 'dead', 'running', 'starting'] as const)[i % 7]!,
      ops: i * 12_345,
      hung: false,
      ownsMutex: i === 2,
    });
  }
  return {
    uptimeMs: 754_000,
    regionPath: '/dev/shm/x',
    participants: views,
    mutex: { state: 'owner-dead', owner: { tid: 100_002, pid: 99_999, startTime: 1 }, ownerAlive: false, depth: 1, waiters: 5, waitersExact: true, timesAbandoned: 123, policy: 'posix', asyncWaits: 'futex_waitv', deathDetection: 'robust-list' },
    ownerNumber: 2,
    invariant: 'broken',
    sum: 79_950,
    total: 80_000,
    txCount: 1_234_567,
    ledgerRepairs: 120,
    heap: { capacity: 60_000, used: 2048, free: 58_000, busyBlocks: 32, freeBlocks: 2, poisoned: true, timesPoisoned: 3, recoveries: 2 },
    liveRecords: 32,
    chaos: { on: true, rate: 4, kills: 321 },
    counters: { kills: 321, abandonedObserved: 120, repairs: 120, heapRecoveries: 2, sharesReclaimed: 4, auditFailures: 0, jobsRedelivered: 7, jobsAlreadyApplied: 1, respawns: 321, hangs: 0, invariantHeld: true, logLost: 0 },
    queue: { waiting: 60, inFlight: [{ id: 1001, deliveries: 2, holder: 3, tid: 100_003, alive: true }], enqueued: 2000, acked: 1939, redelivered: 7, deadLetters: [], deadLettersCleared: 0, capacity: 256, failed: null },
  };
}

describe('screen', () => {
  const events: LabEvent[] = Array.from({ length: 40 }, (_, i) => ({ t: i * 1000, kind: 'killed', text: `event number ${i} ${'x'.repeat(i * 3)}` }));

  it.each([1, 7, 16])('fits 80x24 exactly with %i participants, every fact in words (no colour)', (n) => {
    const lines = renderScreen(snapshot(n), events, { selected: Math.min(3, n), message: '', help: false }, { width: 80, height: 24, color: false });
    expect(lines).toHaveLength(24);
    for (const line of lines) expect(line).toHaveLength(80);
    const text = lines.join('\n');
    expect(text).not.toMatch(/\x1b/);
    expect(text).toMatch(/owner #2 tid 100002 \(DEAD\)/);
    expect(text).toMatch(/invariant BROKEN/);
    expect(text).toMatch(/POISONED/);
    expect(text).toMatch(/CHAOS 4\/s/);
    expect(lines.at(-2)).toMatch(/event number 39/); // the newest event is on screen
    if (n >= 3) expect(text).toMatch(/^>\s*3 /m);
  });

  it('a failed queue gets a line of its own, red, naming the error; the screen still fits 80x24 and keeps the newest event', () => {
    const failed = snapshot(16);
    failed.queue = { ...failed.queue, failed: 'RegionCorruptError: queue at byte offset 96320: free stack names slot 3, which is not free' };
    const lines = renderScreen(failed, events, { selected: 1, message: '', help: false }, { width: 80, height: 24, color: false });
    expect(lines).toHaveLength(24);
    for (const line of lines) expect(line).toHaveLength(80);
    expect(lines.find((l) => l.startsWith('queue '))).toMatch(/^queue +FAILED, no longer touched: RegionCorruptError: queue at byte offset/);
    expect(lines.at(-2)).toMatch(/event number 39/);
    expect(renderScreen(snapshot(16), events, { selected: 1, message: '', help: false }, { width: 80, height: 24, color: false }).some((l) => l.startsWith('queue '))).toBe(false);
    const coloured = renderScreen(failed, events, { selected: 1, message: '', help: false }, { width: 80, height: 24, color: true });
    expect(coloured.find((l) => l.includes('FAILED, no longer touched'))).toMatch(/^\x1b\[31m/);
  });

  it('shows the help in place of the events, and colour only adds escape codes', () => {
    const plain = renderScreen(snapshot(7), events, { selected: 1, message: 'hello', help: true }, { width: 80, height: 24, color: false });
    expect(plain.join('\n')).toMatch(/k {2}kill it now/);
    expect(plain.at(-1)).toMatch(/^> hello/);
    const coloured = renderScreen(snapshot(7), events, { selected: 1, message: 'hello', help: true }, { width: 80, height: 24, color: true });
    expect(coloured.map((l) => l.replace(/\x1b\[\d+m/g, ''))).toEqual(plain);
  });
});

describe('tour', () => {
  it('lists the promised demos even when they are missing, and renders a table', () => {
    const demos = tourDemos('/nonexistent-dir');
    expect(demos).toContain('shared-counter');
    expect(demos).toContain('heap-at-exit');
    const table = tourTable([
      { demo: 'heap-misuse', status: 'ok', seconds: 1.23, figures: { doubleFree: 'no', blocks: 12, ratio: 0.5 }, note: '' },
      { demo: 'pool-abort', status: 'not available', seconds: 0, figures: {}, note: 'not written yet' },
    ]);
    expect(table).toMatch(/heap-misuse\s+ok\s+1\.2s\s+doubleFree=no blocks=12 ratio=0\.50/);
    expect(table).toMatch(/pool-abort\s+not available\s+-\s+not written yet/);
    expect(figuresText({ a: 1, b: 0.5, c: null, d: { e: 1 }, f: 'x' })).toBe('a=1 b=0.50 f=x');
  });

  it('never cuts a figure: every key=value is whole, a long name widens its column, what does not fit in eight lines ends in "..."', () => {
    // The tour's own lab row, which lost the last digit of repairs=11 to an 80-column cut.
    const lab = { kills: 16, abandonedObserved: 11, repairs: 11, invariantHeld: true, hangs: 0, respawns: 16, heapRecoveries: 1, sharesReclaimed: 2, auditFailures: 0, transactions: 5021 };
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`figure${i}`, i * 1111]));
    const table = tourTable([
      { demo: 'lock-lab --script', status: 'ok', seconds: 5.3, figures: lab, note: '' },
      { demo: 'rwlock-reader-death', status: 'ok', seconds: 2, figures: { deaths: 3 }, note: '' },
      { demo: 'many', status: 'ok', seconds: 1, figures: many, note: '' },
    ]);
    const lines = table.split('\n');
    const words = lines.flatMap((l) => l.split(/\s+/)).filter((w) => w.includes('='));
    for (const [k, v] of Object.entries(lab)) expect(words).toContain(`${k}=${String(v)}`);
    for (const w of words) expect(w).toMatch(/^(\w+)=(\d+|true|false|\d+\.\d\d)$/);
    // The columns line up under the widest name.
    const heads = lines.filter((l) => /^\S/.test(l) && !l.startsWith('-')).map((l) => l.search(/ (ok|result) /));
    expect(new Set(heads).size).toBe(1);
    const manyLines = lines.slice(lines.findIndex((l) => l.startsWith('many ')));
    expect(manyLines).toHaveLength(8);
    expect(manyLines[7]).toMatch(/ \.\.\.$/);
  });
});

describe('tour runner', () => {
  const fixtures = fileURLToPath(new URL('./fixtures', import.meta.url));

  it('reads a demo\'s summary line, reports a failing one, and lists a missing one without running anything', async () => {
    const ok = await runDemo(fixtures, 'lab-tour-ok', 30_000);
    expect(ok).toMatchObject({ demo: 'lab-tour-ok', status: 'ok', figures: { widgets: 3, ratio: 0.25 } });
    const bad = await runDemo(fixtures, 'lab-tour-bad', 30_000);
    expect(bad).toMatchObject({ status: 'failed', figures: { broken: true } });
    const missing = await runDemo(fixtures, 'lab-tour-missing', 30_000);
    expect(missing).toMatchObject({ status: 'not available', seconds: 0 });
  }, 60_000);

  it('kills a demo that overruns its time, and the processes it started', async () => {
    const row = await runDemo(fixtures, 'lab-tour-hang', 3000);
    expect(row.status).toBe('timed out');
    expect(row.note).toMatch(/killed after 3 s/);
    // the demo's own child died with the demo's process group (a zombie awaiting init is dead too)
    const childPid = row.figures['childPid'] as number;
    expect(childPid).toBeGreaterThan(0);
    // SIGKILL reached it with the group: gone, a zombie, or already exiting (PF_EXITING)
    // On a loaded machine the kernel may not have scheduled the dying child yet when we look, so look
    // until it is dead; 5 s is a safety net, never reached when the kill worked.
    const dead = (s: ReturnType<typeof readThreadStat>) => s === null || s.state === 'Z' || s.state === 'X' || (s.flags & 0x4) !== 0;
    const deadline = Date.now() + 5000;
    let stat = readThreadStat(childPid);
    while (!dead(stat) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      stat = readThreadStat(childPid);
    }
    expect(dead(stat), JSON.stringify(stat)).toBe(true);
  }, 30_000);
});
