#!/usr/bin/env node
// Builds the prebuilt addon that `npm pack` puts into the tarball:
// prebuilds/<platform>-<arch>/robust-shm.abi<N>.glibc.node, for the platform and
// Node ABI running this script (the addon uses the V8 API, not N-API, so a
// binary is tied to one ABI). node-gyp-build (src/native/index.ts) picks it up
// from an installed package; other ABIs fall back to compiling at install.
//
// prebuildify runs `node-gyp rebuild --target=<this Node>` against the headers
// npm is configured with (nodedir), so nothing is downloaded.
import { createRequire } from 'node:module';
import { copyFileSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

if (process.argv.includes('--help')) {
  process.stdout.write('usage: node tools/prebuild.mjs [--quiet]\n  writes prebuilds/<platform>-<arch>/robust-shm.abi<N>.glibc.node for this Node (prebuildify)\n');
  process.exit(0);
}
// node-gyp and the header location (nodedir) come from npm: run this as `npm run prebuild:native`.
if (!process.env['npm_config_node_gyp']) {
  process.stderr.write('prebuild: run it through npm (`npm run prebuild:native`): npm provides node-gyp and the nodedir setting\n');
  process.exit(2);
}
const root = fileURLToPath(new URL('..', import.meta.url));
const prebuildify = createRequire(import.meta.url)('prebuildify');
const out = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
// One binary per ABI: stale ones from another Node would only bloat the tarball.
rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
prebuildify(
  {
    cwd: root,
    napi: false,
    strip: true,
    tagLibc: true,
    nodeGyp: process.env['npm_config_node_gyp'],
    quiet: process.argv.includes('--quiet'),
    targets: [{ runtime: 'node', target: process.versions.node }],
  },
  (error) => {
    if (error) {
      process.stderr.write(`prebuild: ${error.message ?? error}\n`);
      process.exit(1);
    }
    const files = readdirSync(out);
    // prebuildify moves the binary out of build/Release; put a copy back so the
    // checkout keeps its local build (node-gyp-build looks there first).
    copyFileSync(join(out, files[0]), join(root, 'build', 'Release', 'robust_shm_native.node'));
    process.stdout.write(`prebuild: ${files.map((f) => join('prebuilds', `${process.platform}-${process.arch}`, f)).join(', ')}\n`);
  },
);
