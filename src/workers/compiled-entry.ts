// Where library code finds the module a worker thread or child process of its
// own starts on. The library never registers a loader and never bundles at run
// time: a thread or process it starts runs compiled JavaScript.
//
// - Installed package (dist/): the entry is the sibling `.js` of the running module.
// - Checkout, running from the TypeScript sources (vitest, tsx: tests, demos,
//   `npm start`): there is no sibling `.js` in src/, so the entry is the same
//   path under dist/. `npm install` (prepare), `npm start` (prestart) and
//   `npm test` (vitest's globalSetup) run `npm run build` first, so dist/
//   matches src/. This fallback is the only dev-specific branch and loads nothing.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sep } from 'node:path';
import { RobustShmError } from '../errors.js';

/** The compiled build a checkout's TypeScript sources need is missing. */
export class NotBuiltError extends RobustShmError {
  constructor(path: string) {
    super('ERR_NOT_BUILT', `robust-shm: ${path} does not exist: run \`npm run build\` (the library starts threads and processes on compiled JavaScript)`);
  }
}

/** The compiled module `name` (no extension) beside the module at `moduleUrl` (pass `import.meta.url`). */
export function compiledSibling(moduleUrl: string, name: string): URL {
  const sibling = new URL(`./${name}.js`, moduleUrl);
  if (!moduleUrl.endsWith('.ts')) return sibling;
  const path = fileURLToPath(sibling);
  const src = `${sep}src${sep}`;
  const at = path.lastIndexOf(src);
  if (at < 0) throw new NotBuiltError(path);
  const compiled = `${path.slice(0, at)}${sep}dist${sep}${path.slice(at + src.length)}`;
  if (!existsSync(compiled)) throw new NotBuiltError(compiled);
  return pathToFileURL(compiled);
}
