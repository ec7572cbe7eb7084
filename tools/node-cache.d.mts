// Types of tools/node-cache.mjs for the TypeScript that uses it (bench/lib/other-node.ts).
/** The Node majors the package supports and ships prebuilt binaries for. */
export const MAJORS: number[];
/** The CPUs, as Node names them (process.arch). */
export const ARCHES: string[];
/** The V8 module ABI (process.versions.modules) of each major. */
export const ABI_OF_MAJOR: Record<number, number>;
/** The cache root, honouring ROBUST_SHM_NODE_CACHE and XDG_CACHE_HOME. */
export function nodeCacheRoot(env?: NodeJS.ProcessEnv): string;
/** The extracted package directory of a Node (`<dir>/bin/node`, `<dir>/include/node`). */
export function nodeDir(major: number, arch?: string, env?: NodeJS.ProcessEnv): string;
/** The `node` binary of a cached Node (it may not exist yet). */
export function nodeBinary(major: number, arch?: string, env?: NodeJS.ProcessEnv): string;
