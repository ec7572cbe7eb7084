// Dev only (the lab page's browser test and `npm run screenshot:lab`): start
// the lab's compiled bin with --web in its own process group, read the page
// address off its first line, and open it in Debian's chromium through
// playwright-core (which downloads nothing when given executablePath).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** The package's `robust-shm-lab` bin, compiled (`npm run build`). */
export const LAB_BIN = new URL('../dist/lab/bin.js', import.meta.url);
export const CHROMIUM = '/usr/bin/chromium';

/** A lab started with --web. */
export interface WebLab {
  child: ChildProcess;
  /** The page's address, token included (the first line of its output). */
  url: string;
  port: number;
  /** Everything it wrote so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once it has exited. */
  exited: Promise<number | null>;
  /** Type `q` on its input: the lab quits as the terminal lab does. */
  quit(): void;
  /** SIGCONT + SIGKILL to its whole process group (cleanup after a failure). */
  killGroup(): void;
}

/** Start `node dist/lab/bin.js --web <args>`; resolves once it printed its address (safety net: `timeoutMs`). */
export async function startWebLab(args: string[], timeoutMs = 30_000): Promise<WebLab> {
  const child = spawn(process.execPath, [LAB_BIN.pathname, '--web', ...args], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const killGroup = () => {
    for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // the group is gone
      }
    }
  };
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address from the lab in ${timeoutMs} ms:\n${out}\n${err}`)), timeoutMs);
    const look = () => {
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        child.stdout!.off('data', look);
        resolve(out.slice(0, nl));
      }
    };
    child.stdout!.on('data', look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the lab exited (${code}) before printing its address:\n${out}\n${err}`));
    });
  }).catch((error: unknown) => {
    killGroup();
    throw error;
  });
  const match = /^lab page: (http:\/\/(?:\[[0-9a-f:]+\]|[^/:\s]+):(\d+)\/\?token=[A-Za-z0-9_-]+)$/.exec(first);
  if (!match) {
    killGroup();
    throw new Error(`the lab's first line is not its address: '${first}'`);
  }
  return {
    child,
    url: match[1]!,
    port: Number(match[2]),
    stdout: () => out,
    stderr: () => err,
    exited,
    quit: () => child.stdin!.write('q\n'),
    killGroup,
  };
}

/** A fresh headless chromium (its own profile folder, removed by close()). */
export async function openBrowser(viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; page: Page; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'robust-shm-lab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Through the page: park participant `n` inside its critical section, then click its kill button; resolves when its card says DEAD. */
export async function parkAndKill(page: Page, n: number, timeoutMs = 20_000): Promise<void> {
  const card = page.locator(`[data-participant="${n}"]`);
  await card.getByRole('button', { name: `park #${n}`, exact: true }).click({ timeout: timeoutMs });
  await page.locator(`[data-participant="${n}"][data-state="parked"]`).waitFor({ timeout: timeoutMs });
  await card.locator('button.kill').click({ timeout: timeoutMs });
  await page.locator(`[data-participant="${n}"][data-state="dead"]`).waitFor({ timeout: timeoutMs });
}
