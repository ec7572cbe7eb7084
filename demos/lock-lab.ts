// The lock lab (`npm start`): the package's `robust-shm-lab` command
// (src/lab/cli.ts), whose tour (no terminal) here goes on with every demo of
// this repo (demos/lib/demo-tour.ts).
import { fileURLToPath } from 'node:url';
import { runLabCommand } from '../src/lab/cli.js';
import { runDemo, tourDemos } from './lib/demo-tour.js';
import type { TourRow } from '../src/lab/tour.js';

const demosDir = fileURLToPath(new URL('.', import.meta.url));

await runLabCommand({
  usage: 'npm start --',
  async moreTour({ budgetMs, demoCapMs, say, row }) {
    const started = performance.now();
    const rows: TourRow[] = [];
    for (const name of tourDemos(demosDir)) {
      const left = budgetMs - (performance.now() - started);
      let r: TourRow;
      if (left < 5000) r = { demo: name, status: 'timed out', seconds: 0, figures: {}, note: `skipped: the tour ran out of its ${Math.round(budgetMs / 1000)} s budget` };
      else {
        say(`running demos/${name}.ts --json ...`);
        r = await runDemo(demosDir, name, Math.min(demoCapMs, left));
      }
      rows.push(r);
      row(r);
    }
    return rows;
  },
});
