// mapFile: open (or create) a file and map it MAP_SHARED into a SharedArrayBuffer.
import { closeSync, constants, fstatSync, lstatSync, openSync, statfsSync, unlinkSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidArgumentError, RegionNoSpaceError } from '../errors.js';
import { native } from '../native/index.js';

/** How mapFile treats the file at its path. */
export type MapMode =
  /** The file must exist. */
  | 'open'
  /** Create the file if it is missing (sized to `size`), else open it. */
  | 'openOrCreate'
  /** Create the file; fail with EEXIST if anything is at the path. */
  | 'createExclusive';

/** Options of {@link mapFile}. */
export interface MapFileOptions {
  /** Default 'open': the file must exist. */
  mode?: MapMode;
  /** Bytes to map. Required when the file may be created; defaults to the file's size on open. */
  size?: number;
  /** Map a private copy: the file is opened read-only and writes never reach it. */
  readOnly?: boolean;
  /** Permission bits for a newly created file. Default 0o600: shared memory is private to its user. */
  fileMode?: number;
}

/** A file mapped MAP_SHARED (or a private copy) into a SharedArrayBuffer. */
export interface MappedFile {
  /** The file's path as given. */
  readonly path: string;
  /** The mapping: every view of the same file, in any thread or process, sees the same bytes. */
  readonly buffer: SharedArrayBuffer;
  /** Bytes mapped. */
  readonly size: number;
  /** A private copy (MAP_PRIVATE of a read-only file): writes stay in this process. */
  readonly readOnly: boolean;
  /** True when this call created the file. */
  readonly created: boolean;
  /** Flush dirty pages of [offset, offset+length) to the file (MS_SYNC, or MS_ASYNC with async). */
  msync(offset?: number, length?: number, options?: { async?: boolean }): void;
}

/** Largest mapping accepted: region offsets are stored as 32-bit words. */
export const MAX_MAPPING_SIZE = 0xffff_f000;

function checkSize(size: number): void {
  if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0 || size > MAX_MAPPING_SIZE) {
    throw new InvalidArgumentError(`size must be an integer from 1 to ${MAX_MAPPING_SIZE}, got ${String(size)}`);
  }
}

/**
 * Open (or create) the file at `path` and map it into a SharedArrayBuffer
 * (MAP_SHARED): writes are writes to the page cache, seen at once by every
 * other mapping and kept when the writer dies. The mapping lives until its
 * buffer is garbage-collected or the process ends (there is no munmap: a JS
 * reference to unmapped memory would crash). Needs the native addon
 * (NativeUnavailableError otherwise).
 */
export function mapFile(path: string, options: MapFileOptions = {}): MappedFile {
  const mode = options.mode ?? 'open';
  const readOnly = options.readOnly ?? false;
  if (options.size !== undefined) checkSize(options.size);
  if (mode !== 'open' && options.size === undefined) throw new InvalidArgumentError(`mode '${mode}' needs a size`);
  if (mode !== 'open' && readOnly) throw new InvalidArgumentError('a read-only mapping cannot create its file');
  // O_NOFOLLOW: a symlink planted at the path must not redirect our writes elsewhere.
  // O_NONBLOCK: opening a FIFO must not wait for a writer (fstat refuses it next).
  let flags = constants.O_NOFOLLOW | constants.O_NONBLOCK | (readOnly ? constants.O_RDONLY : constants.O_RDWR);
  if (mode === 'openOrCreate') flags |= constants.O_CREAT;
  if (mode === 'createExclusive') flags |= constants.O_CREAT | constants.O_EXCL;
  // Judge what is at the path before opening it: opening a device can have effects of its own.
  const existing = lstatIfAny(path);
  if (existing && !existing.isFile() && !existing.isSymbolicLink()) throw new InvalidArgumentError(`${path} is not a regular file`);
  const fd = openSync(path, flags, options.fileMode ?? 0o600);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new InvalidArgumentError(`${path} is not a regular file`);
    // An empty file is one we (or a racing creator) just made: sizing it twice to the same size is harmless.
    const created = mode === 'createExclusive' || (mode === 'openOrCreate' && stat.size === 0);
    const size = options.size ?? stat.size;
    if (size === 0) throw new InvalidArgumentError(`${path} is empty: nothing to map`);
    checkSize(size);
    if (created) {
      try {
        reserveSpace(fd, size, path);
      } catch (error) {
        if (mode === 'createExclusive') unlinkSync(path);
        throw error;
      }
    } else if (stat.size < size) {
      throw new InvalidArgumentError(`${path} is ${stat.size} bytes, shorter than the ${size} bytes to map`);
    }
    return mapOpenFile(fd, path, size, readOnly, created);
  } finally {
    closeSync(fd);
  }
}

function lstatIfAny(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Reserve the first `size` bytes of an open file (extending it). A file sized
 * by ftruncate alone is sparse: on a full tmpfs the first write to a missing
 * page through the mapping raises SIGBUS, which kills the process. Reserving
 * now turns that into ENOSPC here.
 */
export function reserveSpace(fd: number, size: number, path: string): void {
  try {
    native().reserveFileSpace(fd, size);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    throw new RegionNoSpaceError(`no space for ${size} bytes at ${path}: the file system is full (${spaceNote(path)})`);
  }
}

function spaceNote(path: string): string {
  try {
    const fs = statfsSync(dirname(path));
    return `${fs.bavail * fs.bsize} bytes free of ${fs.blocks * fs.bsize}`;
  } catch {
    return 'free space unknown';
  }
}

/** Map the first `size` bytes of an open file (the caller checked its type and size, and closes the fd). */
export function mapOpenFile(fd: number, path: string, size: number, readOnly: boolean, created: boolean): MappedFile {
  const buffer = native().mapFd(fd, size, readOnly);
  return {
    path,
    buffer,
    size,
    readOnly,
    created,
    msync(offset = 0, length = size - offset, opts = {}) {
      native().msync(buffer, offset, length, opts.async ?? false);
    },
  };
}
