// Every demo's command-line shape is the lab's (the lab is a demo that ships as
// the package's `robust-shm-lab` bin): one implementation, in src/lab. This
// file adds what the demos check of their options before any work starts, each
// bad value reported the same way as a bad option: `<demo>: <message>`, then
// `Try --help.`, exit code 2 (no stack trace, nothing created yet).
import { accessSync, constants, lstatSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { usageError } from '../../src/lab/command-line.js';
import { regionFileState } from '../../src/shm/stale-region.js';

export { startDemo, intOption, usageError, type Demo, type DemoSpec } from '../../src/lab/command-line.js';

/**
 * Why `dir` cannot take new files (no such directory, not a directory, not
 * writable), null when it can; `named`: the phrase names the directory.
 */
function directoryProblem(dir: string, named: boolean): string | null {
  const it = named ? `${dir} is` : '';
  try {
    if (!statSync(dir).isDirectory()) return `${it} not a directory`.trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return named ? `no such directory ${dir}` : 'no such directory';
    if (code === 'ENOTDIR') return `${it} not a directory`.trim();
    if (code === 'EACCES') return `${it} out of reach (permission denied)`.trim();
    return `${named ? `${dir}: ` : ''}${code ?? (error as Error).message}`;
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    return `${it} not writable${(error as NodeJS.ErrnoException).code === 'EROFS' ? ' (read-only file system)' : ''}`.trim();
  }
  return null;
}

/** A directory option (the demo makes its files there): undefined when absent, a usage error unless it is a writable directory. */
export function dirOption(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const problem = directoryProblem(raw, false);
  if (problem) usageError(`--${name} ${raw}: ${problem}`);
  return raw;
}

/**
 * A file option (the demo creates or writes the file): undefined when absent;
 * a usage error unless its directory is a writable directory and the path is
 * not a directory.
 */
export function fileOption(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw === '') usageError(`--${name} needs a file path`);
  const problem = directoryProblem(dirname(raw), true);
  if (problem) usageError(`--${name} ${raw}: ${problem}`);
  if (statOrNull(name, raw)?.isDirectory()) usageError(`--${name} ${raw}: a directory, not a file`);
  return raw;
}

/**
 * A region file option (the demo replaces a stale region at the path, makes
 * the region there and removes it at the end): a fileOption where something
 * already at the path must be a robust-shm region (never another program's
 * file, a device or a link), and whose directory is no symbolic link
 * (openRegion refuses one: it checks the directory with lstat).
 */
export function regionOption(name: string, raw: string | undefined): string | undefined {
  if (fileOption(name, raw) === undefined) return undefined;
  if (regionFileState(raw!) === 'other') usageError(`--${name} ${raw}: exists and is not a robust-shm region; it would be replaced, so it is left alone`);
  const dir = dirname(raw!);
  if (lstatSync(dir).isSymbolicLink()) usageError(`--${name} ${raw}: its directory ${dir} is a symbolic link; give the directory it points to`);
  return raw;
}

/** What is at `path` (following links), null when nothing is; a usage error when it cannot be told. */
function statOrNull(name: string, path: string): Stats | null {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    usageError(`--${name} ${path}: ${code ?? (error as Error).message}`);
  }
}
