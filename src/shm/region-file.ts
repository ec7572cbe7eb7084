// Opening and creating region files without ever touching what isn't ours.
//
// - Nothing at the path is opened before lstat says it is a regular file: a
//   FIFO, socket, device or directory gets a clear error and is never opened
//   (opening a FIFO blocks, opening a device can have effects). The open itself
//   adds O_NOFOLLOW | O_NONBLOCK, and every check is repeated on the fstat of
//   the descriptor that is then read and mapped, so a file swapped in between
//   is judged on what we actually hold.
// - A region is built complete under a temporary name in the same directory
//   (space reserved, header written) and then link(2)ed to its path. link
//   fails with EEXIST when someone else got there first: we attach to theirs.
//   So a file at a region path is always a complete region, or foreign: an
//   empty or all-zero file there was not made by robust-shm and is refused,
//   never re-initialised.
// - A creator killed at any step leaves at most its temporary file, which no
//   opener waits for (there is no lock): the next creator removes the
//   temporaries of dead creators it finds in the directory.
// - A file owned by another user, or writable by group or others, is refused
//   unless the caller passes allowUntrustedFile: in a world-writable /dev/shm
//   anyone can plant a file at a path we are about to open.
import { closeSync, constants, fstatSync, linkSync, lstatSync, openSync, readdirSync, readSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RegionFileError, RobustShmError } from '../errors.js';
import { currentThreadIdentity, readThreadStat } from '../locks/owner.js';
import { mapOpenFile, reserveSpace, type MappedFile } from './map-file.js';
import { checkHeader, writeHeader } from './region-header.js';
import { H, HEADER_BYTES } from './region-layout.js';
import type { TestHooks } from '../test-hooks.js';

export interface RegionFileOptions {
  size?: number;
  create?: boolean;
  allowUntrustedFile?: boolean;
  /** Test-only: called at each creation step (a fixture parks there and is killed). */
  onCreationStep?: TestHooks['onCreationStep'];
}

export type { CreationStep } from '../test-hooks.js';
export { CREATION_STEPS } from '../test-hooks.js';

/** Attempts at "create, or attach to the winner" before giving up (only a path deleted over and over needs more than two). */
const MAX_ATTEMPTS = 8;

export async function openRegionFile(path: string, options: RegionFileOptions): Promise<{ mapping: MappedFile; created: boolean }> {
  // Temporaries of dead creators are cleaned by whoever means to create, also when it finds the region in place
  // (a creator killed between its link and its unlink left one beside it).
  if (options.create) removeDeadCreatorsTemps(dirname(path));
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const existing = openExisting(path, options);
    if (existing !== 'missing') return { mapping: existing, created: false };
    if (!options.create) throw new RobustShmError('ENOENT', `no region at ${path} (pass create: true to make one)`);
    const made = await createByLink(path, options.size as number, options.onCreationStep);
    if (made !== 'lost') return { mapping: made, created: true };
    // Another creator linked its region first (or the path was removed under us): attach to what is there now.
  }
  throw new RobustShmError('ERR_REGION_UNSTABLE', `${path} kept appearing and disappearing while it was being opened (${MAX_ATTEMPTS} attempts)`);
}

/** The region at `path`, checked and mapped; 'missing' when nothing is there. */
function openExisting(path: string, options: RegionFileOptions): MappedFile | 'missing' {
  let before: Stats;
  try {
    before = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  checkFile(path, before, options);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    if (code === 'ELOOP') throw symlinkError(path);
    if (code === 'ENXIO') throw new RegionFileError('ERR_REGION_NOT_FILE', `${path} is not a regular file (a socket)`);
    if (code === 'EACCES' || code === 'EPERM') throw new RegionFileError(code, `${path}: permission denied opening it for reading and writing`);
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    checkFile(path, stat, options);
    if (stat.size === 0) {
      throw new RegionFileError(
        'ERR_REGION_EMPTY',
        `${path} is an empty file, not a region: robust-shm links only complete regions into place, so something else made it (remove it, or choose another path)`,
      );
    }
    const header = Buffer.alloc(Math.min(HEADER_BYTES, stat.size));
    const read = readSync(fd, header, 0, header.length, 0);
    const words = new Int32Array(header.buffer, header.byteOffset, read >> 2);
    const problem = checkHeader(words, stat.size, path, options.size);
    if (problem) throw problem;
    // Map what the header says, which checkHeader found the file holds: never past end-of-file (SIGBUS).
    return mapOpenFile(fd, path, words[H.totalSize]! >>> 0, false, false);
  } finally {
    closeSync(fd);
  }
}

function checkFile(path: string, stat: Stats, options: RegionFileOptions): void {
  if (stat.isSymbolicLink()) throw symlinkError(path);
  if (!stat.isFile()) throw new RegionFileError('ERR_REGION_NOT_FILE', `${path} is not a regular file (${fileKind(stat)}); it was not opened`);
  if (options.allowUntrustedFile) return;
  const uid = process.geteuid?.() ?? stat.uid;
  if (stat.uid !== uid) {
    throw new RegionFileError(
      'ERR_REGION_FOREIGN_OWNER',
      `${path} belongs to uid ${stat.uid}, not to this process (uid ${uid}): another user could have planted it; pass allowUntrustedFile: true to open it anyway`,
    );
  }
  if ((stat.mode & 0o022) !== 0) {
    throw new RegionFileError(
      'ERR_REGION_INSECURE_MODE',
      `${path} is writable by ${(stat.mode & 0o020) !== 0 ? 'its group' : ''}${(stat.mode & 0o022) === 0o022 ? ' and ' : ''}${(stat.mode & 0o002) !== 0 ? 'others' : ''} (mode ${(stat.mode & 0o777).toString(8)}): pass allowUntrustedFile: true to open it anyway`,
    );
  }
}

function symlinkError(path: string): RegionFileError {
  return new RegionFileError('ERR_REGION_SYMLINK', `${path} is a symbolic link; regions are never opened through links`);
}

function fileKind(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a file';
}

/** `.name.<tid>-<start time>-<random>.rshm-creating`: which thread made it, so others can tell when its creator is dead. */
const TEMP_PATTERN = /^\..*\.(\d+)-(\d+)-[0-9a-f]{8}\.rshm-creating$/;

function tempPathFor(path: string): string {
  const me = currentThreadIdentity();
  // NAME_MAX is 255 bytes: keep the region's own name short enough to leave room for the suffix.
  const base = Buffer.from(basename(path)).subarray(0, 160).toString();
  return join(dirname(path), `.${base}.${me.tid}-${me.startTime}-${randomBytes(4).toString('hex')}.rshm-creating`);
}

/**
 * Build a complete region under a temporary name and link it into place.
 * 'lost': another creator's region is at the path now (or ours was removed).
 */
async function createByLink(path: string, size: number, creationHook: TestHooks['onCreationStep']): Promise<MappedFile | 'lost'> {
  const temp = tempPathFor(path);
  let fd: number;
  try {
    fd = openSync(temp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    // The directory takes no new file (read-only, not ours, /proc): a named error, not the temp name's ENOENT or EACCES.
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw new RegionFileError(code, `cannot create the region ${path}: ${dirname(path)} takes no new file (${code})`, { cause: error });
  }
  try {
    await creationHook?.('temp-created', temp);
    reserveSpace(fd, size, path);
    await creationHook?.('space-reserved', temp);
    const mapping = mapOpenFile(fd, path, size, false, true);
    writeHeader(mapping.buffer, size);
    await creationHook?.('initialised', temp);
    try {
      linkSync(temp, path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // EEXIST: someone else's region is in place. ENOENT: our temporary was removed
      // by a creator that took us for dead (another PID namespace): start again.
      if (code === 'EEXIST' || code === 'ENOENT') return 'lost';
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
        throw new RegionFileError('ERR_REGION_NO_LINK', `the file system of ${dirname(path)} does not support hard links, which region creation needs (${code})`);
      }
      throw error;
    }
    await creationHook?.('linked', temp);
    return mapping;
  } finally {
    closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      // Already removed (by a creator that took us for dead): nothing left to clean.
    }
  }
}

/**
 * Remove temporaries whose creator is dead (its thread gone, a zombie, or its
 * TID now another thread's: the start time differs). Only our own user's regular files are
 * touched. A live creator's temporary is never removed.
 */
function removeDeadCreatorsTemps(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const uid = process.geteuid?.();
  for (const name of names) {
    const match = TEMP_PATTERN.exec(name);
    if (!match) continue;
    const tid = Number(match[1]);
    const startTime = Number(match[2]);
    const stat = readThreadStat(tid);
    if (stat !== null && stat.startTime === startTime && stat.state !== 'Z') continue;
    const full = join(dir, name);
    try {
      const file = lstatSync(full);
      if (!file.isFile() || (uid !== undefined && file.uid !== uid)) continue;
      unlinkSync(full);
    } catch {
      // Gone already (another creator cleaned it).
    }
  }
}
