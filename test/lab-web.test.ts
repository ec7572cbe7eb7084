// The lab page (`robust-shm-lab --web`): its refusals over real HTTP (no
// token, a foreign Host header, a non-loopback bind nobody asked for, no CORS
// headers), and the page itself in Debian's chromium through playwright-core:
// park #2 and click SIGKILL on its card, see the card turn dead, the timeline
// say "abandoned → repaired" and "job N redelivered to #M", the lock panel
// show the job queue, and the invariant hold; chaos on for 5 s fills
// the detection-latency histogram. Each run ends with `q` on the lab's input
// and checks that nothing is left: no process, no region file, no listening socket.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { descendants, pidRunning } from './fixtures/lab-run.js';
import { CHROMIUM, LAB_BIN, openBrowser, parkAndKill, startWebLab, type WebLab } from '../tools/lab-browser.js';
import { startLabWebServer, LabWebError } from '../src/lab/web/server.js';
import type { LabController } from '../src/lab/controller.js';
import { corruptLabQueue } from './fixtures/lab-queue-corruption.js';
import { openRegion } from '../src/shm/region.js';
import { RobustQueue } from '../src/queue/robust-queue.js';

const OUTPUT = new URL('./output/lab-web/', import.meta.url);
let counter = 0;
const labs: WebLab[] = [];
const browsers: { close(): Promise<void> }[] = [];
const regions: string[] = [];

function regionPath(): string {
  const path = `/dev/shm/robust-shm-test-lab-web-${process.pid}-${++counter}.region`;
  regions.push(path);
  return path;
}

afterEach(async () => {
  for (const b of browsers.splice(0)) await b.close();
  for (const lab of labs.splice(0)) {
    lab.killGroup();
    await lab.exited;
  }
  for (const path of regions.splice(0)) {
    const { rmSync } = await import('node:fs');
    rmSync(path, { force: true });
    rmSync(`${path}.lock`, { force: true, recursive: true });
  }
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(port: number, path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

function corsHeaders(reply: Reply): string[] {
  return Object.keys(reply.headers).filter((h) => h.toLowerCase().startsWith('access-control-'));
}

/** Quit with `q`, then: exit code `code`, every process it ever had gone, region gone, port closed. */
async function expectQuitLeavesNothing(lab: WebLab, region: string, pids: number[], code: number): Promise<void> {
  lab.quit();
  expect(await lab.exited, lab.stderr()).toBe(code);
  for (const pid of pids) expect(pidRunning(pid), `pid ${pid}`).toBe(false);
  expect(existsSync(region)).toBe(false);
  expect(existsSync(`${region}.lock`)).toBe(false);
  expect(await listening(lab.port)).toBe(false);
}

/** Quit with `q`, then: exit 0, an OK summary, and nothing left (expectQuitLeavesNothing). */
async function expectCleanQuit(lab: WebLab, region: string, pids: number[]): Promise<void> {
  await expectQuitLeavesNothing(lab, region, pids, 0);
  // the summary line, in text or --json form
  expect(lab.stdout()).toMatch(/(lock-lab: OK |"summary":"lock-lab","ok":true,).*"invariantHeld":true/);
}

describe('lab page server: refusals over real HTTP', () => {
  it('no token or a wrong one: 403 and nothing happens; a foreign Host: 403; no CORS headers anywhere; q ends it clean', async () => {
    const region = regionPath();
    const lab = await startWebLab(['--region', region, '--json']);
    labs.push(lab);
    const token = new URL(lab.url).searchParams.get('token')!;
    const host = `127.0.0.1:${lab.port}`;

    const page = await http(lab.port, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>robust-shm lock lab</title>');

    // the API without the token, or with a wrong one
    expect((await http(lab.port, '/api/state')).status).toBe(403);
    expect((await http(lab.port, '/api/events')).status).toBe(403);
    expect((await http(lab.port, `/api/state?token=${token.slice(0, -1)}x`)).status).toBe(403);
    const noToken = await http(lab.port, '/api/command', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"command":"kill 4"}' });
    expect(noToken.status).toBe(403);
    const wrong = await http(lab.port, '/api/command', { method: 'POST', headers: { 'X-Lab-Token': 'guess' }, body: '{"command":"kill 4"}' });
    expect(wrong.status).toBe(403);

    // DNS rebinding: the right token, but a Host that is not the served address
    const rebound = await http(lab.port, `/api/state?token=${token}`, { headers: { Host: `evil.example:${lab.port}` } });
    expect(rebound.status).toBe(403);
    const reboundKill = await http(lab.port, '/api/command', { method: 'POST', headers: { Host: `evil.example:${lab.port}`, 'X-Lab-Token': token }, body: '{"command":"kill 4"}' });
    expect(reboundKill.status).toBe(403);
    expect((await http(lab.port, '/', { headers: { Host: `127.0.0.1:${lab.port + 1}` } })).status).toBe(403);

    // nothing was killed by any of those
    const state = await http(lab.port, `/api/state?token=${token}`, { headers: { Host: host } });
    expect(state.status).toBe(200);
    const view = (JSON.parse(state.body) as { view: { counters: { kills: number }; participants: { number: number; status: string }[] } }).view;
    expect(view.counters.kills).toBe(0);
    expect(view.participants.find((p) => p.number === 4)?.status).not.toBe('dead');

    // a CORS preflight gets no permission, and no reply carries an Access-Control header
    const preflight = await http(lab.port, '/api/command', { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-lab-token' } });
    const withOrigin = await http(lab.port, `/api/state?token=${token}`, { headers: { Origin: 'http://evil.example' } });
    for (const reply of [page, noToken, wrong, rebound, state, preflight, withOrigin]) expect(corsHeaders(reply)).toEqual([]);
    expect(preflight.status).toBeGreaterThanOrEqual(400);

    // with the token, a command runs
    const kill = await http(lab.port, '/api/command', { method: 'POST', headers: { 'X-Lab-Token': token }, body: '{"command":"kill 4"}' });
    expect(kill.status).toBe(200);
    expect(JSON.parse(kill.body)).toEqual({ ok: true, message: 'killed #4' });
    const quit = await http(lab.port, '/api/command', { method: 'POST', headers: { 'X-Lab-Token': token }, body: '{"command":"quit"}' });
    expect(quit.status).toBe(400);

    const pids = [lab.child.pid!, ...descendants(lab.child.pid!)];
    expect(pids.length).toBeGreaterThanOrEqual(3); // the lab and its live participant processes
    await expectCleanQuit(lab, region, pids);
  }, 60_000);

  it('--script runs beside the page: the address first, then the scripted kill, its abandonment and repair; the script\'s quit ends it clean', async () => {
    const region = regionPath();
    const lab = await startWebLab(['--region', region, '--json', '--script', 'ready; park 2; kill 2; ready; quit']);
    labs.push(lab);
    const pids = [lab.child.pid!, ...descendants(lab.child.pid!)];
    expect(await lab.exited, lab.stderr()).toBe(0);
    const lines = lab.stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^lab page: http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    const events = lines.slice(1).map((l) => JSON.parse(l) as Record<string, unknown>);
    const killed = events.find((e) => e['event'] === 'killed' && e['participant'] === 2);
    expect(killed).toMatchObject({ parkedAt: 'ledger', heldMutex: true });
    const abandoned = events.find((e) => e['event'] === 'abandoned' && e['prevTid'] === killed!['tid']);
    expect(abandoned).toBeDefined();
    expect(events.some((e) => e['event'] === 'repaired' && e['participant'] === abandoned!['participant'])).toBe(true);
    expect(events.at(-1)).toMatchObject({ summary: 'lock-lab', ok: true, kills: 1, invariantHeld: true });
    for (const pid of pids) expect(pidRunning(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(region)).toBe(false);
    expect(await listening(lab.port)).toBe(false);
  }, 60_000);

  it('a non-loopback bind is refused unless --host asks for it; --port takes only a port', async () => {
    // The server refuses before it touches the lab (there is none here): the check is the first thing it does.
    const noLab = {} as LabController;
    await expect(startLabWebServer(noLab, { host: '0.0.0.0' })).rejects.toMatchObject({ code: 'ERR_LAB_WEB_EXPOSED' });
    await expect(startLabWebServer(noLab, { host: '192.0.2.1' })).rejects.toBeInstanceOf(LabWebError);
    const region = regionPath();
    const bad = spawnSync(process.execPath, [LAB_BIN.pathname, '--web', '--port', '0.0.0.0:8080', '--region', region], { encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--port takes a port number.*use --host/);
    const stray = spawnSync(process.execPath, [LAB_BIN.pathname, '--host', '0.0.0.0', '--region', region], { encoding: 'utf8', timeout: 30_000 });
    expect(stray.status).toBe(2);
    expect(stray.stderr).toMatch(/--port and --host go with --web/);
    expect(existsSync(region)).toBe(false);
  }, 60_000);
});

/** A non-loopback IPv4 address of this machine, if it has one. */
function outsideAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

describe.runIf(outsideAddress() !== undefined)('lab page server on a non-loopback address', () => {
  it('--host <address> serves there with a warning on stderr, and still checks Host and token', async () => {
    const address = outsideAddress()!;
    const region = regionPath();
    const lab = await startWebLab(['--region', region, '--host', address, '--threads', '1', '--processes', '1', '--workers', '0']);
    labs.push(lab);
    expect(lab.url).toMatch(new RegExp(`^http://${address.replaceAll('.', '\\.')}:\\d+/\\?token=`));
    const token = new URL(lab.url).searchParams.get('token')!;
    const get = (headers: Record<string, string>, path = `/api/state?token=${token}`) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: address, port: lab.port, path, headers }, (res) => (res.resume(), resolve(res.statusCode ?? 0)));
        req.on('error', reject);
        req.end();
      });
    expect(await get({ Host: `${address}:${lab.port}` })).toBe(200);
    expect(await get({ Host: `127.0.0.1:${lab.port}` })).toBe(403); // not the address it serves
    expect(await get({ Host: `${address}:${lab.port}` }, '/api/state')).toBe(403);
    expect(lab.stderr()).toMatch(new RegExp(`WARNING: serving on ${address.replaceAll('.', '\\.')}, not loopback`));
    const pids = [lab.child.pid!, ...descendants(lab.child.pid!)];
    lab.quit();
    expect(await lab.exited, lab.stderr()).toBe(0);
    for (const pid of pids) expect(pidRunning(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(region)).toBe(false);
  }, 60_000);
});

// Skipped only on a developer's machine without chromium; under CI (which installs it) a missing
// browser fails the test instead of skipping it.
describe.runIf(existsSync(CHROMIUM) || process.env.CI === 'true')('lab page in chromium', () => {
  /** A lab on a new region, started with `args`, and its page open and ready in chromium; the page's errors are collected. */
  async function openLabPage(args: string[]) {
    const region = regionPath();
    const lab = await startWebLab(['--region', region, ...args]);
    labs.push(lab);
    const browser = await openBrowser({ width: 1280, height: 800 });
    browsers.push(browser);
    const { page } = browser;
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(lab.url);
    await page.locator('body[data-ready]').waitFor({ timeout: 20_000 });
    return { region, lab, page, errors };
  }

  /** The lock panel's row `name` (its <dd>). */
  const panelRow = (page: Awaited<ReturnType<typeof openLabPage>>['page'], name: string) => page.locator('#lock-panel dt', { hasText: name }).locator('xpath=following-sibling::dd[1]');

  it('park #2 and click SIGKILL: card dead, "abandoned → repaired" with its latency, invariant holds; chaos for 5 s fills the histogram; q leaves nothing', async () => {
    mkdirSync(OUTPUT, { recursive: true });
    // One pool thread first, so #2 is a process and its kill button is SIGKILL.
    const { region, lab, page, errors } = await openLabPage(['--threads', '1']);
    expect(new URL(page.url()).search).toBe(''); // the token left the address bar
    await page.locator('[data-participant="2"][data-kind="process"]').waitFor({ timeout: 20_000 });
    await page.locator('[data-participant="2"] .facts', { hasText: /ops [1-9]/ }).waitFor({ timeout: 20_000 });
    const pidsBefore = [lab.child.pid!, ...descendants(lab.child.pid!)];

    await parkAndKill(page, 2);
    const card = page.locator('[data-participant="2"]');
    expect(await card.locator('button.kill').count()).toBe(0);
    await expect.poll(() => card.locator('.state').textContent(), { timeout: 10_000 }).toContain('DEAD');

    const entry = page.locator('li[data-label="abandoned → repaired"]').first();
    await entry.waitFor({ timeout: 20_000 });
    const text = (await entry.textContent()) ?? '';
    expect(text).toMatch(/got the mutex ABANDONED by dead tid \d+/);
    expect(text).toMatch(/repaired the ledger: tx \d+ rolled back; sum 80000, invariant holds/);
    expect(text).toMatch(/after the kill of #2; repaired [\d.]+ ms after it/);
    await expect.poll(() => page.locator('#invariant').textContent(), { timeout: 10_000 }).toMatch(/holds/);
    const killed = page.locator('li[data-kind="killed"]', { hasText: 'killed #2 process with SIGKILL: parked mid-transfer' });
    expect(await killed.count()).toBe(1);
    // The transfer job #2 held came back at once to another participant: on the timeline, tied to the kill.
    const redelivered = page.locator('li[data-label="job redelivered"]').first();
    const queueRow = panelRow(page, 'queue');
    await redelivered.waitFor({ timeout: 20_000 }).catch(async (error: unknown) => {
      // Once seen in CI and never since: say where the job went (still in flight with the dead tid, dead-lettered, or taken back unnamed).
      const queue = await queueRow.textContent().catch(() => '?');
      const timeline = await page.locator('#timeline li').allTextContents().catch(() => []);
      throw new Error(`no "job redelivered" entry within 20 s. Queue: ${queue}. Timeline, newest first: ${timeline.slice(0, 30).join(' | ')}`, { cause: error });
    });
    const again = (await redelivered.textContent()) ?? '';
    expect(again).toMatch(/job \d+ redelivered to #(?!2\b)\d+ \(tid \d+ died\), delivery 2/);
    expect(again).toMatch(/after the kill of #2/);
    // The lock panel's queue row: waiting jobs, the jobs in flight with their holders, the redelivered count.
    await expect.poll(() => queueRow.textContent(), { timeout: 10_000 }).toMatch(/\d+ waiting · in flight .* · redelivered [1-9]\d* \(\d+ moved already, acked only\) · dead letters none · \d+ of \d+ acked/);

    await page.screenshot({ path: new URL('after-kill-1280x800.png', OUTPUT).pathname });

    // chaos on for 5 s through the switch; the histogram fills
    const before = Number(await page.locator('#histogram').getAttribute('data-total'));
    const rate = page.locator('#chaos-rate');
    await rate.fill('4');
    await rate.blur(); // a number input reports its change when it loses focus
    await page.locator('#message', { hasText: 'rate 4: chaos off' }).waitFor({ timeout: 10_000 });
    await page.locator('#chaos-switch').check();
    await page.locator('#chaos-state', { hasText: 'ON ⚡ 4/s' }).waitFor({ timeout: 10_000 });
    await page.waitForTimeout(5000); // the scenario's 5 s of chaos, not a synchronisation
    await page.locator('#chaos-switch').uncheck();
    await page.locator('#chaos-state', { hasText: 'off' }).waitFor({ timeout: 10_000 });
    await expect
      .poll(async () => Number(await page.locator('#histogram').getAttribute('data-total')), { timeout: 20_000 })
      .toBeGreaterThan(before);
    const bars = await page.locator('#histogram .bin').evaluateAll((bins) => bins.reduce((sum, b) => sum + Number(b.getAttribute('data-count')), 0));
    expect(bars).toBe(Number(await page.locator('#histogram').getAttribute('data-total')));
    await expect.poll(() => page.locator('#invariant').textContent(), { timeout: 10_000 }).toMatch(/holds/);
    await page.screenshot({ path: new URL('chaos-1280x800.png', OUTPUT).pathname });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: new URL('chaos-390x844.png', OUTPUT).pathname, fullPage: true });
    // at phone width nothing runs off the side
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    expect(errors).toEqual([]);

    const pids = [...new Set([...pidsBefore, ...descendants(lab.child.pid!)])];
    await expectCleanQuit(lab, region, pids);
    await page.locator('#connection', { hasText: 'the lab quit' }).waitFor({ timeout: 10_000 });
    expect(readFileSync(new URL('chaos-390x844.png', OUTPUT)).length).toBeGreaterThan(1000);
  }, 120_000);

  it('a job queue that throws: its row says FAILED with the error, the timeline has it, the ledger goes on, and q still leaves nothing', async () => {
    const { region, lab, page, errors } = await openLabPage(['--json', '--hang-ms', '1000']);

    await corruptLabQueue(region, () => lab.child.exitCode === null);
    const queueRow = panelRow(page, 'queue');
    await expect.poll(() => queueRow.textContent(), { timeout: 20_000 }).toMatch(/^FAILED · RegionCorruptError: queue at byte offset \d+: .+ · the lab no longer touches it; last seen \d+ waiting, \d+ of \d+ acked$/);
    expect(await queueRow.getAttribute('data-state')).toBe('failed');
    const entry = page.locator('li[data-kind="queue-failed"]');
    await entry.first().waitFor({ timeout: 10_000 });
    expect(await entry.count()).toBe(1);
    expect(await entry.first().textContent()).toMatch(/the job queue failed, and the lab no longer touches it: RegionCorruptError/);
    // The transferers take what is left in the queue, then wait for jobs that will not come: not a hang.
    // Once the queue is drained (read here, from the region), 3 × --hang-ms is the window in which the
    // lab would report one (a bound on a non-event, not a synchronisation).
    const mapped = await openRegion(region);
    const queue = RobustQueue.at(mapped.buffer, mapped.find('queue:lab-jobs')!);
    await expect.poll(() => queue.inspect(), { timeout: 30_000 }).toMatchObject({ ready: 0, taken: [] });
    mapped.close();
    await page.waitForTimeout(3000);
    const counts = panelRow(page, 'counts');
    expect(await counts.textContent()).toMatch(/ · hangs 0$/);
    await expect.poll(() => page.locator('#invariant').textContent(), { timeout: 10_000 }).toMatch(/holds/);
    expect(errors).toEqual([]);

    await expectQuitLeavesNothing(lab, region, [lab.child.pid!, ...descendants(lab.child.pid!)], 1);
    expect(lab.stderr()).not.toMatch(/RegionCorruptError/); // reported on stdout, not thrown
    expect(lab.stdout()).toMatch(/"summary":"lock-lab","ok":false,.*"invariantHeld":true,"hangs":0,.*"queueFailed":"RegionCorruptError: queue at byte offset/);
    // Nobody died of it: the corrupt slot is the producer's to meet (this thread's job was a real one).
    expect(lab.stdout()).not.toContain('"event":"died"');
  }, 120_000);
});
