/**
 * The `proper-lockfile` baseline for bench/mutex.ts: what a Node program uses
 * today for a cross-process lock, and how long it takes to notice a dead owner.
 *
 *  - lock+unlock: `lock()` + `release()` (async, the common use) and
 *    `lockSync()` + release (sync), median over many rounds, in a temp dir.
 *  - stale-lock recovery: a child process takes the lock and is SIGKILLed; this
 *    process is already retrying `lock()`; the figure is kill() -> lock() resolves.
 *
 * proper-lockfile has no owner-death detection: a lock is "stale" when the lock
 * directory's mtime is older than `stale` ms; the holder refreshes it every
 * `update` ms. Its README says `stale` has a minimum of 5000 and `update` a
 * minimum of 1000 (and at most stale/2); the 4.1.2 code actually clamps
 * `stale = max(stale, 2000)` and `update = max(min(update, stale/2), 1000)`.
 * We use the smallest values the code accepts, stale 2000 ms / update 1000 ms,
 * so the expected recovery is stale - (age of the last refresh at the kill),
 * i.e. between ~1000 and ~2000 ms, plus the waiter's retry interval. With the
 * defaults (stale 10000, update 5000) it would be ~5-10 s.
 *
 * Usage from a bench:
 *   const lf = await runLockfileBaseline({ lockUnlockRounds: 200, staleRounds: 3 });
 *   lf.lockUnlockAsync.median (µs), lf.staleRecovery?.median (ms)
 *
 * This module is also the holder child's entry (run with `--lockfile-holder`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import lockfile from 'proper-lockfile';
import { forkTs } from '../../tools/ts-spawn.js';
import { summarize, type Summary } from './stats.js';
import { removeAtExit } from './cleanup.js';

/** The smallest values proper-lockfile 4.1.2 accepts (it clamps anything lower). */
export const MIN_STALE_MS = 2000;
export const MIN_UPDATE_MS = 1000;

export interface LockfileBaselineOptions {
  /** lock+unlock rounds for each of the async and sync figures (default 200). */
  lockUnlockRounds?: number;
  /** Kill/recover rounds (default 3; each costs ~1-2 s plus a tsx child start). 0 skips it. */
  staleRounds?: number;
  /** The waiter's retry interval while the dead owner's lock is not yet stale (default 5 ms). */
  retryIntervalMs?: number;
}

export interface LockfileBaselineResult {
  library: string;
  /** Microseconds per lock()+release(), async API. */
  lockUnlockAsyncUs: Summary;
  /** Microseconds per lockSync()+release(). */
  lockUnlockSyncUs: Summary;
  /** Milliseconds from SIGKILL of the holder to the waiter's lock() resolving; null if staleRounds is 0. */
  staleRecoveryMs: Summary | null;
  settings: { stale: number; update: number; retryIntervalMs: number; note: string };
}

const HOLDER_FLAG = '--lockfile-holder';

function progress(message: string): void {
  process.stderr.write(`[baseline] ${message}\n`);
}

async function timeLockUnlock(file: string, rounds: number): Promise<{ async: Summary; sync: Summary }> {
  const asyncUs: number[] = [];
  const syncUs: number[] = [];
  const warmup = Math.min(20, rounds);
  for (let i = 0; i < rounds + warmup; i++) {
    const t0 = process.hrtime.bigint();
    const release = await lockfile.lock(file, { stale: MIN_STALE_MS, update: MIN_UPDATE_MS });
    await release();
    const dt = Number(process.hrtime.bigint() - t0) / 1e3;
    if (i >= warmup) asyncUs.push(dt);
  }
  for (let i = 0; i < rounds + warmup; i++) {
    const t0 = process.hrtime.bigint();
    const release = lockfile.lockSync(file, { stale: MIN_STALE_MS, update: MIN_UPDATE_MS });
    release();
    const dt = Number(process.hrtime.bigint() - t0) / 1e3;
    if (i >= warmup) syncUs.push(dt);
  }
  return { async: summarize(asyncUs), sync: summarize(syncUs) };
}

function onceMessage(child: ChildProcess, expected: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder child sent no '${expected}' within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', (m) => {
      if (m === expected) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`holder child exited early (code ${code}, signal ${signal})`));
    });
  });
}

function reap(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function staleRecoveryRound(file: string, retryIntervalMs: number): Promise<number> {
  const child = forkTs(new URL(import.meta.url), [HOLDER_FLAG, file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await onceMessage(child, 'locked', 30_000);
    // Kill at a random phase of the holder's mtime refresh cycle, so the samples
    // cover the whole stale - age range instead of one lucky or unlucky phase.
    await new Promise((r) => setTimeout(r, Math.random() * MIN_UPDATE_MS));
    let killedAt = 0n;
    // The waiter is already retrying when the owner dies, like a blocked mutex waiter.
    const acquired = lockfile.lock(file, {
      stale: MIN_STALE_MS,
      update: MIN_UPDATE_MS,
      retries: { retries: Math.ceil((4 * MIN_STALE_MS) / retryIntervalMs), factor: 1, minTimeout: retryIntervalMs, maxTimeout: retryIntervalMs },
    }).then((release) => ({ release, at: process.hrtime.bigint() }));
    killedAt = process.hrtime.bigint();
    child.kill('SIGKILL');
    const { release, at } = await acquired;
    await release();
    return Number(at - killedAt) / 1e6;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await reap(child);
  }
}

/** Times proper-lockfile; never throws for a failed stale round (it reports what it got), only for bad options. */
export async function runLockfileBaseline(opts: LockfileBaselineOptions = {}): Promise<LockfileBaselineResult> {
  const rounds = opts.lockUnlockRounds ?? 200;
  const staleRounds = opts.staleRounds ?? 3;
  const retryIntervalMs = opts.retryIntervalMs ?? 5;
  if (!Number.isSafeInteger(rounds) || rounds <= 0) throw new RangeError(`lockUnlockRounds must be a positive integer, got ${rounds}`);
  if (!Number.isSafeInteger(staleRounds) || staleRounds < 0) throw new RangeError(`staleRounds must be a non-negative integer, got ${staleRounds}`);
  if (!(retryIntervalMs >= 1)) throw new RangeError(`retryIntervalMs must be >= 1, got ${retryIntervalMs}`);

  const dir = await mkdtemp(join(tmpdir(), 'robust-shm-lockfile-'));
  const forget = removeAtExit(dir);
  try {
    const file = join(dir, 'resource');
    await writeFile(file, '');
    progress(`proper-lockfile: ${rounds} lock+unlock rounds (async and sync)`);
    const lu = await timeLockUnlock(file, rounds);
    const stale: number[] = [];
    for (let i = 0; i < staleRounds; i++) {
      progress(`proper-lockfile: stale-lock recovery round ${i + 1}/${staleRounds} (stale ${MIN_STALE_MS} ms, update ${MIN_UPDATE_MS} ms)`);
      stale.push(await staleRecoveryRound(file, retryIntervalMs));
    }
    return {
      library: 'proper-lockfile 4.x (mkdir lock dir + mtime refresh)',
      lockUnlockAsyncUs: lu.async,
      lockUnlockSyncUs: lu.sync,
      staleRecoveryMs: stale.length ? summarize(stale) : null,
      settings: {
        stale: MIN_STALE_MS,
        update: MIN_UPDATE_MS,
        retryIntervalMs,
        note: 'smallest values proper-lockfile accepts (code clamps stale >= 2000, update >= 1000; README states stale >= 5000)',
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
    forget();
  }
}

// ---------- holder child: take the lock, report, then wait to be killed ----------
if (process.argv[2] === HOLDER_FLAG) {
  const file = process.argv[3];
  if (!file || !process.send) {
    process.stderr.write('lockfile holder: needs a file argument and an IPC channel\n');
    process.exit(2);
  }
  await lockfile.lock(file, { stale: MIN_STALE_MS, update: MIN_UPDATE_MS });
  process.send('locked');
  // Stay alive (refreshing the mtime every update ms) until the parent SIGKILLs us.
  setInterval(() => {}, 1 << 30);
  // If the parent dies first, do not linger.
  process.on('disconnect', () => process.exit(0));
}
