// A reader process is SIGKILLed holding a read lock.
//
// glibc: a process-shared pthread_rwlock_t (built from bench/baseline/pthread-rwlock.c
// at run time) has no robust attribute. The dead reader's share is never
// given back: a writer's pthread_rwlock_timedwrlock is still blocked when its
// bounded wait ends (ETIMEDOUT), and without the bound it would wait for ever.
//
// robust-shm: the reader's slot is a robust-futex word on its thread's kernel
// robust list. When the process dies the kernel marks the slot OWNER_DIED and
// wakes the writer that sleeps on it; the writer reclaims the share and gets in
// at once, and its result says how many shares it reclaimed.
import { rmSync } from 'node:fs';
import { fork, type ChildProcess } from 'node:child_process';
import { startDemo, intOption } from './lib/cli.js';
import { openRegion } from '../src/shm/region.js';
import { RobustRwLock } from '../src/locks/robust-rwlock.js';
import { awaitMessage } from '../src/workers/await-message.js';
import { runPthreadRwlockReaderDeath } from '../bench/lib/baselines.js';

const demo = startDemo({
  name: 'rwlock-reader-death',
  summary:
    'A reader process is SIGKILLed holding a read lock. With a process-shared glibc pthread_rwlock_t the writer is still ' +
    'blocked when its bounded wait ends; with RobustRwLock the kernel reports the death and the waiting writer gets in at ' +
    'once, told how many reader shares it reclaimed.',
  options: { 'wait-ms': { type: 'string', default: '500' } },
  descriptions: { 'wait-ms': "the glibc writer's bounded wait (pthread_rwlock_timedwrlock), and the robust writer's timeout" },
});
const waitMs = intOption('wait-ms', demo.values['wait-ms'], 500, 10, 60_000);

// --- glibc ---------------------------------------------------------------
demo.say(`glibc: a reader process takes a read lock of a process-shared pthread_rwlock_t and is SIGKILLed; a writer waits up to ${waitMs} ms ...`);
const glibc = await runPthreadRwlockReaderDeath({ waitMs });
let pthreadWriterBlocked: boolean | null = null;
if (glibc.available) {
  pthreadWriterBlocked = glibc.result.writerBlocked;
  demo.event('pthread', { ...glibc.result }, `glibc: the writer returned ${glibc.result.writerRc} after ${glibc.result.waitedMs} ms: ${glibc.result.writerBlocked ? 'still blocked by the dead reader' : 'got in'}`);
} else {
  demo.event('pthread-unavailable', { reason: glibc.reason }, `glibc baseline unavailable: ${glibc.reason}`);
}

// --- robust-shm ----------------------------------------------------------
const path = `/dev/shm/robust-shm-rwlock-reader-death-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const children: ChildProcess[] = [];
let robustWriterEntered = false;
let readerSharesReclaimed = 0;
let robustWriterEntryMs: number | null = null;
try {
  const region = await openRegion(path, { size: 64 * 1024, create: true });
  const rw = RobustRwLock.open(region, 'demo');
  const child = (role: string) => {
    const c = fork(new URL('./lib/rwlock-death-child.ts', import.meta.url), [JSON.stringify({ path, role })], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(c);
    return c;
  };
  const next = <T>(c: ChildProcess, type: string) => awaitMessage<T & { type: string }>(c, (m) => m.type === type, (code, signal) => new Error(`child ${c.pid} ended (${code ?? signal}) before '${type}'`)).answer;
  const reader = child('reader');
  const writer = child('writer');
  const holding = await next<{ tid: number }>(reader, 'holding');
  await next(writer, 'ready');
  demo.event('reader-holding', { pid: reader.pid, tid: holding.tid }, `robust-shm: reader process ${reader.pid} holds a read share`);
  const wrote = next<{ status: string; sharesReclaimed: number; enteredAt: string }>(writer, 'wrote');
  writer.send({ cmd: 'write', timeoutMs: waitMs });
  // The writer owns the writer word and sleeps on the reader's slot.
  const deadline = performance.now() + 20_000;
  while (rw.inspect().state !== 'draining') {
    if (performance.now() > deadline) throw new Error('the writer never started waiting');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const killedAt = process.hrtime.bigint();
  reader.kill('SIGKILL');
  const result = await wrote;
  robustWriterEntered = result.status === 'acquired';
  readerSharesReclaimed = result.sharesReclaimed;
  robustWriterEntryMs = Number(BigInt(result.enteredAt) - killedAt) / 1e6;
  demo.event(
    'robust',
    { writerStatus: result.status, sharesReclaimed: result.sharesReclaimed, killToEntryMs: robustWriterEntryMs, inspect: rw.inspect() },
    `robust-shm: reader SIGKILLed; the waiting writer got '${result.status}' ${robustWriterEntryMs.toFixed(3)} ms later, reclaiming ${result.sharesReclaimed} reader share(s)`,
  );
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
}
const ok = pthreadWriterBlocked === true && robustWriterEntered && readerSharesReclaimed === 1;
demo.finish(
  ok,
  { pthreadWriterBlocked, robustWriterEntered, readerSharesReclaimed, robustWriterEntryMs, waitMs },
  `rwlock-reader-death: ${ok ? 'OK' : 'FAILED'}: glibc writer blocked after ${waitMs} ms: ${pthreadWriterBlocked}; robust writer entered: ${robustWriterEntered} (${robustWriterEntryMs?.toFixed(3)} ms after the kill, ${readerSharesReclaimed} share reclaimed)`,
);
