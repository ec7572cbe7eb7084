// What a tool that replaces a stale region at a path (the lab, the soak) finds
// there before it removes anything. /dev/shm is shared with other users and
// tools: a path given by mistake, or a name another program chose, must not
// cost that program its file.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { REGION_MAGIC } from './region-layout.js';

/**
 * 'absent', 'region' (a regular file that starts with a robust-shm region's
 * magic: a region file is linked at its path only once initialised, so a
 * stale one has it), or 'other' (anything else: not ours to remove). A
 * symbolic link is 'other' (O_NOFOLLOW): removing it would not remove what
 * it names, and following it could reach anywhere.
 */
export function regionFileState(path: string): 'absent' | 'region' | 'other' {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : 'other';
  }
  try {
    if (!fstatSync(fd).isFile()) return 'other';
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.readInt32LE(0) === REGION_MAGIC ? 'region' : 'other';
  } catch {
    return 'other';
  } finally {
    closeSync(fd);
  }
}
