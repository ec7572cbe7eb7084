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
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

export interface ParticipantBundle {
  dir: string;
  threadEntry: URL;
  processEntry: URL;
}

const root = fileURLToPath(new URL('../../', import.meta.url));

export async function buildParticipantBundle(): Promise<ParticipantBundle | null> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    return null;
  }
  const dir = join(root, 'node_modules', '.cache', 'robust-shm-lab', String(process.pid));
  try {
    mkdirSync(dir, { recursive: true });
    await esbuild.build({
      entryPoints: {
        'participant-thread': fileURLToPath(new URL('./participant-thread.ts', import.meta.url)),
        'participant-process': fileURLToPath(new URL('./participant-process.ts', import.meta.url)),
      },
      outdir: dir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      // The one module that locates a file from its own URL is the native
      // loader (build/Release/*.node relative to src/shm/native): keep its view.
      define: { 'import.meta.url': JSON.stringify(pathToFileURL(join(root, 'src', 'shm', 'native', 'index.ts')).href) },
      logLevel: 'silent',
    });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return {
    dir,
    threadEntry: pathToFileURL(join(dir, 'participant-thread.mjs')),
    processEntry: pathToFileURL(join(dir, 'participant-process.mjs')),
  };
}

export function removeParticipantBundle(bundle: ParticipantBundle | null): void {
  if (bundle) rmSync(bundle.dir, { recursive: true, force: true });
}
