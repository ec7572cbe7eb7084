// The lab page server's pure parts: which Host headers name the served
// address, what counts as loopback, the token comparison, and the timeline's
// pairing of recoveries with the kills that caused them (fed the event shapes
// the controller and monitor emit; test/lab-web.test.ts sees the same pairing
// on real kills in the browser).
import { describe, expect, it } from 'vitest';
import { allowedHostHeaders, isLoopbackHost, tokenMatches, newLabToken } from '../src/lab/web/auth.js';
import { LabTimeline } from '../src/lab/web/timeline.js';
import type { LabEvent } from '../src/lab/lab-types.js';

describe('lab page auth helpers', () => {
  it('loopback is 127.0.0.0/8, ::1 and localhost; nothing else', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.2', '10.0.0.1', 'example.com', 'localhost.example.com', '128.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
  });

  it('the Host headers accepted are the served address (and its loopback names), with the port', () => {
    expect([...allowedHostHeaders('127.0.0.1', 4242)].sort()).toEqual(['127.0.0.1:4242', '[::1]:4242', 'localhost:4242']);
    const exposed = allowedHostHeaders('192.0.2.7', 80);
    expect([...exposed]).toEqual(['192.0.2.7:80']);
    expect(allowedHostHeaders('::1', 9).has('[::1]:9')).toBe(true);
  });

  it('tokens: 128 random bits, compared whole', () => {
    const token = newLabToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(newLabToken()).not.toBe(token);
    expect(tokenMatches(token, token)).toBe(true);
    for (const wrong of [undefined, null, '', token.slice(1), `${token}x`, token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))]) expect(tokenMatches(wrong, token)).toBe(false);
  });
});

function ev(t: number, kind: string, text: string, fields: Record<string, unknown> = {}): LabEvent {
  return { t, kind: kind as LabEvent['kind'], text, ...fields };
}

describe('lab page timeline', () => {
  it('an abandoned hand-over is tied to the kill of its dead owner by tid, the repair merges into it, both with latencies', () => {
    const tl = new LabTimeline();
    tl.add(ev(100, 'killed', 'killed #2', { participant: 2, tid: 501, issuedAtMs: 99.5, parkedAt: 'ledger', heldReadShare: false }));
    tl.add(ev(101, 'killed', 'killed #3', { participant: 3, tid: 502, issuedAtMs: 100.8, parkedAt: null, heldReadShare: false }));
    const abandoned = tl.add(ev(150, 'abandoned', '#4 got the mutex ABANDONED by dead tid 501', { participant: 4, prevTid: 501, sawAtMs: 102.0 }));
    expect(abandoned).toMatchObject({ label: 'abandoned', cause: { participant: 2, t: 99.5 }, latencyMs: 2.5, detection: true });
    const merged = tl.add(ev(150, 'repaired', '#4 repaired the ledger', { participant: 4, sawAtMs: 103.5 }));
    expect(merged.id).toBe(abandoned.id);
    expect(merged).toMatchObject({ label: 'abandoned → repaired', latencyMs: 2.5, repairLatencyMs: 4 });
    expect(merged.text).toBe('#4 got the mutex ABANDONED by dead tid 501; #4 repaired the ledger');
    expect(tl.recent()).toHaveLength(3);
    // a repair with no open abandonment (e.g. after the final check) is its own entry
    expect(tl.add(ev(200, 'repaired', 'again', { participant: 4 }))).toMatchObject({ label: 'repaired', cause: null, latencyMs: null });
  });

  it('a reclaimed share goes to the latest auditor kill, a heap recovery to the latest heap-parked kill; each kill is detected once', () => {
    const tl = new LabTimeline();
    tl.add(ev(10, 'killed', 'auditor', { participant: 8, tid: 9, issuedAtMs: 10, heldReadShare: true, role: 'auditor' }));
    tl.add(ev(20, 'killed', 'heap', { participant: 5, tid: 7, issuedAtMs: 20, parkedAt: 'heap' }));
    expect(tl.add(ev(30, 'share-reclaimed', 'share', { participant: 1, sawAtMs: 12 }))).toMatchObject({ label: 'share reclaimed', cause: { participant: 8 }, latencyMs: 2, detection: true });
    expect(tl.add(ev(31, 'abandoned', 'by 7', { participant: 2, prevTid: 7, sawAtMs: 21 }))).toMatchObject({ cause: { participant: 5 }, latencyMs: 1, detection: true });
    // the heap recovery after that same death: tied to it, not a second detection
    expect(tl.add(ev(32, 'heap-recovered', 'heap', { participant: 2, sawAtMs: 23 }))).toMatchObject({ label: 'heap recovered', cause: { participant: 5 }, latencyMs: 3, detection: false });
    // an abandonment by a tid nobody killed (e.g. a participant that crashed) follows no kill
    expect(tl.add(ev(40, 'abandoned', 'by 99', { participant: 3, prevTid: 99 }))).toMatchObject({ cause: null, latencyMs: null, detection: false });
  });

  it('event kinds it does not know are kept as entries with their text', () => {
    const tl = new LabTimeline();
    const e = tl.add(ev(5, 'unit-returned' as string, 'unit 7 returned to #3', { participant: 3 }));
    expect(e).toMatchObject({ kind: 'unit-returned', label: 'unit returned', text: 'unit 7 returned to #3', participant: 3, cause: null });
  });

  it('a redelivered job is tied to the kill of its dead consumer by tid, timed to its take, and leaves the detection to the abandonment', () => {
    const tl = new LabTimeline();
    tl.add(ev(100, 'killed', 'killed #2', { participant: 2, tid: 501, issuedAtMs: 99.5, parkedAt: 'ledger', heldJob: 84 }));
    tl.add(ev(101, 'killed', 'killed #3', { participant: 3, tid: 502, issuedAtMs: 100.8 }));
    const back = tl.add(ev(150, 'job-redelivered', 'job 84 redelivered to #1 (tid 501 died), delivery 2', { participant: 1, prevTid: 501, jobId: 84, sawAtMs: 101.0 }));
    expect(back).toMatchObject({ kind: 'job-redelivered', label: 'job redelivered', participant: 1, cause: { participant: 2, t: 99.5 }, latencyMs: 1.5, detection: false });
    expect(tl.add(ev(151, 'abandoned', 'by 501', { participant: 4, prevTid: 501, sawAtMs: 102 }))).toMatchObject({ cause: { participant: 2 }, latencyMs: 2.5, detection: true });
    // a job given back by a thread nobody killed follows no kill
    expect(tl.add(ev(160, 'job-redelivered', 'job 90', { participant: 1, prevTid: 777, sawAtMs: 160 }))).toMatchObject({ cause: null, latencyMs: null });
  });
});
