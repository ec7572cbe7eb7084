#!/usr/bin/env node
// Fetches the Node releases the prebuilds and the matrix need into the cache outside the repo
// (tools/node-cache.mjs says where). Idempotent: what is cached is skipped.
import { parseArgs } from 'node:util';
import { ARCHES, MAJORS, ensureNode, nodeCacheRoot } from './node-cache.mjs';

const USAGE = `usage: node tools/fetch-nodes.mjs [--node 20,22,24,26] [--arch x64,arm64] [--json]
  Fetches node-linux-<arch>@<major> (newest release of each major) with \`npm pack\` into
  ${nodeCacheRoot()}/<major>-<arch>/
  (set ROBUST_SHM_NODE_CACHE or XDG_CACHE_HOME to move it). Skips Nodes already there.
  --node   majors to fetch (default: ${MAJORS.join(',')})
  --arch   CPUs to fetch (default: ${ARCHES.join(',')})
  --json   print the result as JSON on stdout (progress goes to stderr)
`;

/** Parse a comma list and check every member against the allowed values. */
function parseList(value, allowed, what) {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.map(String).includes(item)) throw new Error(`unknown ${what} '${item}' (expected ${allowed.join(', ')})`);
  }
  return items;
}

let args;
try {
  args = parseArgs({ options: { node: { type: 'string' }, arch: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }).values;
} catch (error) {
  process.stderr.write(`fetch-nodes: ${error.message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
let majors, arches;
try {
  majors = args.node ? parseList(args.node, MAJORS, 'Node major').map(Number) : MAJORS;
  arches = args.arch ? parseList(args.arch, ARCHES, 'arch') : ARCHES;
} catch (error) {
  process.stderr.write(`fetch-nodes: ${error.message}\n${USAGE}`);
  process.exit(2);
}
const results = [];
let index = 0;
const total = majors.length * arches.length;
for (const major of majors) {
  for (const arch of arches) {
    index += 1;
    const log = (line) => process.stderr.write(`[${index}/${total}] ${line}\n`);
    try {
      const started = Date.now();
      const r = ensureNode(major, arch, { log });
      log(`node ${major} ${arch}: ${r.version} ${r.fetched ? `fetched in ${((Date.now() - started) / 1000).toFixed(0)} s` : 'already cached'} (${r.dir})`);
      results.push({ major, arch, ...r });
    } catch (error) {
      process.stderr.write(`fetch-nodes: node ${major} ${arch}: ${error.message}\n`);
      process.exit(1);
    }
  }
}
if (args.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
