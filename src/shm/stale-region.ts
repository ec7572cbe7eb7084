// What a tool that replaces a stale region at a path (the lab, the soak) finds
// there before it removes anything. /dev/shm is shared with other users and
// tools: a path given by mistake, or a name another program chose, must not
// cost that program its file.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { REGION_MAGIC } from './region-layout.js';

/**
 * - 'absent';
 * - 'region': a regular file of this user that starts with a robust-shm
 *   region's magic (a region file is linked at its path only once
 *   initialised, so a stale one has it);
 * - 'foreign': another user's file, or one this user may not read: not ours
 *   to replace (in the sticky /dev/shm, not even removable);
 * - 'other': anything else (another program's file, a device, a directory, a
 *   symbolic link: O_NOFOLLOW, since removing a link would not remove what it
 *   names, and following it could reach anywhere).
 * Whether a region is still in use by a running program is not told here.
 */
export function regionFileState(path: string): 'absent' | 'region' | 'foreign' | 'other' {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'absent' : code === 'EACCES' || code === 'EPERM' ? 'foreign' : 'other';
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return 'other';
    if (process.getuid !== undefined && stats.uid !== process.getuid()) return 'foreign';
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.readInt32LE(0) === REGION_MAGIC ? 'region' : 'other';
  } catch {
    return 'other';
  } finally {
    closeSync(fd);
  }
}

/** Why the file at a path is not replaced, for a state other than 'absent' and 'region'. */
export function notReplacedBecause(state: 'foreign' | 'other'): string {
  return state === 'foreign' ? "another user's file (or one this user may not read), so it is left alone" : 'exists and is not a robust-shm region; it would be replaced, so it is left alone';
}
