// The interactive lab in a real pseudo-terminal (tmux, 80x24): start it,
// park a participant inside its critical section, press the kill key, read
// "abandoned" and "repaired" off the screen, quit, and check that nothing it
// started is still running and its region file is gone.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { descendants, LAB_ENTRY, pidRunning } from './fixtures/lab-run.js';

const session = `lab-tty-${process.pid}`;
const region = `/dev/shm/robust-shm-test-lab-tty-${process.pid}.region`;
const done = `/dev/shm/robust-shm-test-lab-tty-${process.pid}.done`;
let seen: number[] = [];

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

function screen(): string {
  return tmux('capture-pane', '-p', '-t', session);
}

/** Wait until the screen satisfies `test` (re-read on each pane update; a generous safety-net bound). */
async function waitForScreen(test: (text: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  let text = '';
  while (performance.now() < deadline) {
    text = screen();
    if (test(text)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`screen never showed ${what}:\n${text}`);
}

function describePid(pid: number): string {
  try {
    return `${readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ')} [${readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.slice(0, 1)}]`;
  } catch {
    return 'gone';
  }
}

afterEach(() => {
  try {
    tmux('kill-session', '-t', session);
  } catch {
    // already gone: the lab quit and the pane closed
  }
  for (const pid of seen) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  seen = [];
  for (const path of [region, `${region}.lock`, done]) rmSync(path, { force: true, recursive: true });
});

describe('lock lab in a terminal', () => {
  it('park #2, press k: the screen shows abandoned, repaired and its job redelivered; q reaps everything', async () => {
    const command = `${process.execPath} --import tsx ${LAB_ENTRY.pathname} --region ${region}; echo $? > ${done}`;
    tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', session, '-c', process.cwd(), command);
    const panePid = Number(tmux('display-message', '-p', '-t', session, '#{pane_pid}').trim());

    // every participant running (no "starting" row, 7 rows with a count)
    const first = await waitForScreen((t) => t.includes('LOCK LAB') && t.includes('7/7 alive') && !t.includes('starting'), 'seven running participants');
    expect(first.split('\n').every((line) => line.length <= 80)).toBe(true);
    seen = descendants(panePid);
    const processRows = first.split('\n').filter((l) => /^[> ]\s*\d+\s+process\s/.test(l));
    expect(processRows).toHaveLength(3);

    tmux('send-keys', '-t', session, '2');
    await waitForScreen((t) => /^>\s*2\s+pool thr/m.test(t), 'participant 2 selected');
    tmux('send-keys', '-t', session, 'p');
    await waitForScreen((t) => /^>\s*2\s+pool thr.*PARKED \(in CS\).*LOCK/m.test(t), 'participant 2 parked holding the lock');

    tmux('send-keys', '-t', session, 'k');
    const after = await waitForScreen((t) => /abandoned/i.test(t) && /repaired the ledger/.test(t) && /redelivered to #/.test(t), '"abandoned", "repaired" and "job N redelivered to #M"');
    // the transfer job #2 held went to another participant
    expect(after).toMatch(/job \d+ redelivered to #(?!2\b)\d+ \(tid \d+ died\), delivery 2/);
    expect(after).toMatch(/killed #2 pool thread with AbortSignal: parked mid-transfer/);
    expect(after).toMatch(/got the mutex ABANDONED by dead tid \d+/);
    expect(after).toMatch(/repaired the ledger: tx \d+ rolled back; sum 80000, invariant holds/);
    expect(after).toMatch(/^>\s*2\s+pool thr.*DEAD/m);

    seen = [...new Set([...seen, ...descendants(panePid)])];
    expect(seen.length).toBeGreaterThanOrEqual(4); // the lab and its three participant processes
    tmux('send-keys', '-t', session, 'q');
    // the lab exits, the pane's shell writes its exit code
    const deadline = performance.now() + 20_000;
    while (!existsSync(done) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(done, 'utf8').trim()).toBe('0');
    for (const pid of seen) expect(pidRunning(pid), `pid ${pid}: ${describePid(pid)}`).toBe(false);
    expect(existsSync(region)).toBe(false);
    expect(existsSync(`${region}.lock`)).toBe(false);
  }, 60_000);
});
