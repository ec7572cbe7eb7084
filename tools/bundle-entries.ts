// Dev only (never in the package): bundle participant entry modules
// (TypeScript, run through tsx otherwise) into plain ESM files for Node 20, so
// that a new worker or child process is a plain `new Worker(x.mjs)` /
// `fork(x.mjs)`: no tsx module hooks and no TypeScript loading at start-up.
// Used by the mutex bench and the mutex tests.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The one module that locates a file from its own URL is the native loader
 * (the package root relative to src/native): inside a bundle every
 * `import.meta.url` is replaced by that module's URL so it keeps its view.
 */
const nativeLoaderUrl = pathToFileURL(fileURLToPath(new URL('../src/native/index.ts', import.meta.url))).href;

export interface BundleEntriesOptions {
  /** Output name (the file is `<outdir>/<name>.mjs`) -> entry module. */
  entries: Record<string, URL>;
  /** Created (with its parents) when missing, once esbuild is loaded. */
  outdir: string;
  /**
   * 'external': bare imports stay imports, so `outdir` must be where they
   * resolve (below the project's node_modules). 'inline': everything goes
   * into the bundle (it may live anywhere, e.g. a temp dir), and the ESM
   * bundle gets a require() for the CommonJS dependencies (piscina & co.).
   */
  packages: 'external' | 'inline';
}

/** Bundles each entry; resolves with the path of each output file by name. Rejects when esbuild cannot be loaded or fails. */
export async function bundleEntries(options: BundleEntriesOptions): Promise<Record<string, string>> {
  const esbuild = await import('esbuild');
  mkdirSync(options.outdir, { recursive: true });
  const entryPoints: Record<string, string> = {};
  const files: Record<string, string> = {};
  for (const [name, url] of Object.entries(options.entries)) {
    entryPoints[name] = fileURLToPath(url);
    files[name] = join(options.outdir, `${name}.mjs`);
  }
  await esbuild.build({
    entryPoints,
    outdir: options.outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    ...(options.packages === 'external'
      ? { packages: 'external' as const }
      : { banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } }),
    define: { 'import.meta.url': JSON.stringify(nativeLoaderUrl) },
    logLevel: 'silent',
  });
  return files;
}
