// `npm run screenshot:lab`: regenerate the README's picture of the lab page
// (docs/lab.png). Starts the compiled lab with --web, opens it in Debian's
// chromium at 1280x800, parks #2 and SIGKILLs it from its card, runs chaos
// for a few seconds so the histogram and timeline have something in them,
// takes the picture, and quits the lab (q: everything reaped).
import { parseArgs } from 'node:util';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBrowser, parkAndKill, startWebLab } from './lab-browser.js';

const usage = `Usage: npm run screenshot:lab -- [--out docs/lab.png] [--chaos-seconds 4] [--width 1280] [--height 800]

Regenerates the README's picture of the lock lab page: starts the lab with --web
(dist/ must be built: npm run build), drives it in /usr/bin/chromium (park #2,
SIGKILL it from its card, a few seconds of chaos) and saves a PNG.`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      out: { type: 'string', default: fileURLToPath(new URL('../docs/lab.png', import.meta.url)) },
      'chaos-seconds': { type: 'string', default: '4' },
      width: { type: 'string', default: '1280' },
      height: { type: 'string', default: '800' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }));
} catch (error) {
  process.stderr.write(`screenshot-lab: ${(error as Error).message}\n${usage}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const number = (name: string, text: string, min: number, max: number) => {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) {
    process.stderr.write(`screenshot-lab: --${name} must be from ${min} to ${max}, got '${text}'\n`);
    process.exit(2);
  }
  return n;
};
const chaosSeconds = number('chaos-seconds', values['chaos-seconds'], 0, 60);
const viewport = { width: number('width', values.width, 320, 3840), height: number('height', values.height, 400, 2160) };
const region = `/dev/shm/robust-shm-lab-screenshot-${process.pid}.region`;

const say = (text: string) => process.stdout.write(`${text}\n`);
say('starting the lab with --web ...');
const lab = await startWebLab(['--region', region, '--threads', '1']);
const browser = await openBrowser(viewport);
try {
  const { page } = browser;
  await page.goto(lab.url);
  await page.locator('body[data-ready]').waitFor({ timeout: 20_000 });
  await page.locator('[data-participant="2"] .facts', { hasText: /ops [1-9]/ }).waitFor({ timeout: 20_000 });
  say('parking #2 and killing it from its card ...');
  await parkAndKill(page, 2);
  await page.locator('li[data-label="abandoned → repaired"]').first().waitFor({ timeout: 20_000 });
  if (chaosSeconds > 0) {
    say(`chaos for ${chaosSeconds} s ...`);
    await page.locator('#chaos-switch').check();
    await page.waitForTimeout(chaosSeconds * 1000);
    await page.locator('#chaos-switch').uncheck();
    await page.locator('#chaos-state', { hasText: 'off' }).waitFor({ timeout: 10_000 });
  }
  await page.getByRole('button', { name: 'respawn the dead' }).click();
  await page.locator('[data-state="dead"]').first().waitFor({ state: 'detached', timeout: 20_000 }).catch(() => {});
  mkdirSync(dirname(values.out), { recursive: true });
  await page.screenshot({ path: values.out });
  say(`wrote ${values.out} (${statSync(values.out).size} bytes, ${viewport.width}x${viewport.height})`);
} finally {
  await browser.close();
  lab.quit();
  const code = await Promise.race([lab.exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 20_000))]);
  if (code === 'late') lab.killGroup();
  if (code !== 0) process.exitCode = 1;
}
