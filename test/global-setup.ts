// Before any test file: compile src/ to dist/ (incremental, so usually a second
// or two). The library starts its own worker threads and child processes on
// compiled JavaScript (src/workers/compiled-entry.ts), also when a test drives
// it from the TypeScript sources, so dist/ must match src/.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit', timeout: 300_000 });
}
