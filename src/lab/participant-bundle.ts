// Participants start fast: the two participant entry modules are bundled
// once per lab (esbuild, the compiler tsx itself runs on) into plain ESM, so
// a respawned process or thread is a plain `node x.mjs` / `new Worker(x.mjs)`.
//
// Why: through tsx every new participant pays for a module-hooks thread and
// the loading of ~20 TypeScript modules: ~0.35 s of CPU per respawn, which
// made 200 chaos kills CPU-bound on a 2-core machine. A bundled participant
// starts in a fraction of that. When esbuild cannot be loaded, the lab falls
// back to tsx (correct, only slower).
//
// The bundle lives under node_modules/.cache so that its bare imports
// (piscina's worker side, proper-lockfile) resolve from the project's
// node_modules; it is removed when the lab quits.
import { rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { bundleEntries } from '../workers/bundle-entries.js';

export interface ParticipantBundle {
  dir: string;
  threadEntry: URL;
  processEntry: URL;
}

const root = fileURLToPath(new URL('../../', import.meta.url));

export async function buildParticipantBundle(): Promise<ParticipantBundle | null> {
  const dir = join(root, 'node_modules', '.cache', 'robust-shm-lab', String(process.pid));
  let files: Record<string, string>;
  try {
    files = await bundleEntries({
      entries: {
        'participant-thread': new URL('./participant-thread.ts', import.meta.url),
        'participant-process': new URL('./participant-process.ts', import.meta.url),
      },
      outdir: dir,
      packages: 'external',
    });
  } catch {
    // esbuild could not be loaded, or the build failed.
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return {
    dir,
    threadEntry: pathToFileURL(files['participant-thread']!),
    processEntry: pathToFileURL(files['participant-process']!),
  };
}

export function removeParticipantBundle(bundle: ParticipantBundle | null): void {
  if (bundle) rmSync(bundle.dir, { recursive: true, force: true });
}
