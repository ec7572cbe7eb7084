// Regions: a header + a directory of named objects + a payload, in a mapped
// file shared by processes (openRegion) or in a plain SharedArrayBuffer shared
// by threads (Region.create / Region.attach, no file and no addon).
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomInt } from 'node:crypto';
import { InvalidArgumentError, RegionFormatError, RobustShmError } from '../errors.js';
import { RobustMutex } from '../locks/robust-mutex.js';
import { testHooksOf } from '../test-hooks.js';
import { MAX_MAPPING_SIZE, mapFile, type MappedFile } from './map-file.js';
import {
  DIRECTORY_ENTRIES,
  DIRECTORY_MUTEX_OFFSET,
  DIRECTORY_OFFSET,
  ENTRY_BYTES,
  ENTRY_OFFSET_WORD,
  ENTRY_SIZE_WORD,
  H,
  HEADER_BYTES,
  INIT_IN_PROGRESS,
  INIT_READY,
  MIN_REGION_SIZE,
  NAME_BYTES,
  OBJECT_ALIGNMENT,
  REGION_MAGIC,
  REGION_VERSION,
} from './region-layout.js';

/** Options of {@link openRegion}. */
export interface OpenRegionOptions {
  /** Total bytes, header included. Required with create; when given on open it must match the file. */
  size?: number;
  /** Create the region if the file does not exist (or a creator died before finishing it). */
  create?: boolean;
  /** proper-lockfile staleness (ms, >= 2000): a creation lock older than this whose holder stopped refreshing it is taken over. */
  staleLockMs?: number;
}

/** One entry of a region's directory. */
export interface NamedObject {
  /** Its name (UTF-8, at most 47 bytes). */
  name: string;
  /** Byte offset in the region's buffer (64-byte aligned). */
  offset: number;
  /** Bytes reserved for it. */
  size: number;
}

/** The region is out of payload space or directory entries. */
export class RegionFullError extends RobustShmError {
  constructor(message: string) {
    super('ERR_REGION_FULL', message);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A header, a directory of named objects (mutexes, heaps, your own arrays)
 * and a payload, in shared memory: a mapped file (openRegion, for processes
 * and threads) or a SharedArrayBuffer (Region.create / attach, threads only,
 * no addon). Objects are found by name with findOrCreate, so every opener
 * agrees on their offsets.
 */
export class Region {
  /** The region's memory: header, directory, payload. */
  readonly buffer: SharedArrayBuffer;
  /** The file behind the region, when there is one. */
  readonly path: string | undefined;
  /** True when this call initialised the region (exactly one opener sees true). */
  readonly created: boolean;
  private readonly i32: Int32Array;
  private readonly mapping: MappedFile | undefined;
  private directoryMutex: RobustMutex | undefined;

  private constructor(buffer: SharedArrayBuffer, created: boolean, mapping?: MappedFile) {
    this.buffer = buffer;
    this.created = created;
    this.mapping = mapping;
    this.path = mapping?.path;
    this.i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  }

  /** A new region in a fresh SharedArrayBuffer, for worker threads of one process. */
  static create(size: number): Region {
    checkRegionSize(size);
    const buffer = new SharedArrayBuffer(size);
    writeHeader(buffer, size);
    return new Region(buffer, true);
  }

  /** A region in a SharedArrayBuffer that Region.create made (e.g. posted to a worker). */
  static attach(buffer: SharedArrayBuffer): Region {
    const problem = checkHeader(new Int32Array(buffer, 0, Math.min(buffer.byteLength, HEADER_BYTES) >> 2), buffer.byteLength, undefined);
    if (problem) throw problem;
    return new Region(buffer, false);
  }

  /** @internal */
  static fromMapping(mapping: MappedFile, created: boolean): Region {
    return new Region(mapping.buffer, created, mapping);
  }

  /** Total bytes, header included. */
  get size(): number {
    return this.buffer.byteLength;
  }

  /** A random id written by the one process that initialised the region. */
  get creationId(): number {
    return Atomics.load(this.i32, H.creationId);
  }

  /** First byte of the payload. */
  get payloadOffset(): number {
    return HEADER_BYTES;
  }

  /** Bytes of payload not yet given to named objects. */
  get freeBytes(): number {
    return this.size - Atomics.load(this.i32, H.nextFree);
  }

  /** The offset of the object called `name`, or undefined. */
  find(name: string): number | undefined {
    return this.lookup(encodeName(name))?.offset;
  }

  /** Every named object, in creation order. */
  list(): NamedObject[] {
    const count = Atomics.load(this.i32, H.directoryCount);
    const out: NamedObject[] = [];
    for (let i = 0; i < count; i++) out.push(this.entry(i));
    return out;
  }

  /**
   * The object called `name`: found if some thread or process made it, else
   * made now (`bytes` long, 64-byte aligned, zeroed, then `init(offset)`) under
   * the region's directory mutex — like Boost.Interprocess find_or_construct.
   * An object becomes visible to others only after init returns, so a
   * constructor that dies halfway leaves nothing half-built behind.
   */
  findOrCreate(name: string, bytes: number, init?: (byteOffset: number) => void): {
    /** Byte offset of the object in `buffer`. */
    offset: number;
    /** True when this call made it. */
    created: boolean;
  } {
    const encoded = encodeName(name);
    if (!Number.isInteger(bytes) || bytes <= 0) throw new InvalidArgumentError(`object size must be a positive integer, got ${String(bytes)}`);
    const found = this.lookup(encoded);
    if (found) return checkSizeMatches(name, found, bytes);
    const mutex = this.mutex();
    const result = mutex.acquire();
    if (!result.owned) throw new RobustShmError('ERR_REGION_DIRECTORY', `directory mutex: ${result.status}`);
    try {
      // A constructor that died left no published entry; the directory itself is consistent.
      if (result.abandoned) mutex.markConsistent();
      const again = this.lookup(encoded);
      if (again) return checkSizeMatches(name, again, bytes);
      const count = Atomics.load(this.i32, H.directoryCount);
      if (count >= DIRECTORY_ENTRIES) throw new RegionFullError(`the region directory is full (${DIRECTORY_ENTRIES} named objects)`);
      const offset = alignUp(Atomics.load(this.i32, H.nextFree), OBJECT_ALIGNMENT);
      if (offset + bytes > this.size) {
        throw new RegionFullError(`no room for '${name}' (${bytes} bytes): ${this.size - offset} bytes of payload left`);
      }
      new Uint8Array(this.buffer, offset, bytes).fill(0);
      init?.(offset);
      const entry = new Int32Array(this.buffer, DIRECTORY_OFFSET + count * ENTRY_BYTES, ENTRY_BYTES / 4);
      const nameBytes = new Uint8Array(this.buffer, DIRECTORY_OFFSET + count * ENTRY_BYTES, NAME_BYTES);
      nameBytes.fill(0);
      nameBytes.set(encoded);
      Atomics.store(entry, ENTRY_OFFSET_WORD, offset);
      Atomics.store(entry, ENTRY_SIZE_WORD, bytes);
      Atomics.store(this.i32, H.nextFree, offset + bytes);
      // Publishing: the count moves only after the entry and the object are complete.
      Atomics.store(this.i32, H.directoryCount, count + 1);
      return { offset, created: true };
    } finally {
      mutex.release();
    }
  }

  /** Flush the region's dirty pages to its file (no-op without a file). */
  flush(options: { async?: boolean } = {}): void {
    this.mapping?.msync(0, this.size, options);
  }

  /**
   * Forget this handle. The mapping is unmapped when the last reference to
   * the buffer, in any thread, is garbage collected (never while in use).
   */
  close(): void {
    this.directoryMutex = undefined;
  }

  private mutex(): RobustMutex {
    this.directoryMutex ??= RobustMutex.at(this.buffer, DIRECTORY_MUTEX_OFFSET);
    return this.directoryMutex;
  }

  private entry(index: number): NamedObject {
    const base = DIRECTORY_OFFSET + index * ENTRY_BYTES;
    const entry = new Int32Array(this.buffer, base, ENTRY_BYTES / 4);
    const raw = new Uint8Array(this.buffer, base, NAME_BYTES);
    const end = raw.indexOf(0);
    return {
      name: decoder.decode(raw.slice(0, end < 0 ? NAME_BYTES : end)),
      offset: Atomics.load(entry, ENTRY_OFFSET_WORD),
      size: Atomics.load(entry, ENTRY_SIZE_WORD),
    };
  }

  private lookup(encoded: Uint8Array): NamedObject | undefined {
    const count = Atomics.load(this.i32, H.directoryCount);
    for (let i = 0; i < count; i++) {
      const raw = new Uint8Array(this.buffer, DIRECTORY_OFFSET + i * ENTRY_BYTES, NAME_BYTES);
      if (sameName(raw, encoded)) return this.entry(i);
    }
    return undefined;
  }
}

/**
 * Open the region file at `path`; with `create`, make it if it does not exist.
 * Many processes may race to create the same path: exactly one initialises it
 * (under a proper-lockfile lock on `<path>.lock`), the others wait until it is
 * ready. A creator killed halfway leaves a stale lock that proper-lockfile
 * takes over after `staleLockMs`, and a header still saying "initialising",
 * which the next creator redoes.
 */
export async function openRegion(path: string, options: OpenRegionOptions = {}): Promise<Region> {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('region path must be a non-empty string');
  if (options.size !== undefined) checkRegionSize(options.size);
  if (options.create && options.size === undefined) throw new InvalidArgumentError('creating a region needs a size');
  checkDirectory(path);
  const existing = inspectFile(path, options.size);
  if (existing === 'ready') return Region.fromMapping(mapFile(path, { mode: 'open', size: options.size }), false);
  if (existing instanceof Error) throw existing;
  if (!options.create) {
    throw existing === 'missing'
      ? new RobustShmError('ENOENT', `no region at ${path} (pass create: true to make one)`)
      : new RegionFormatError('ERR_REGION_NOT_READY', `${path} is still being initialised by its creator`);
  }
  const size = options.size as number;
  // Loaded here, on the creation path only: proper-lockfile (and graceful-fs,
  // which it patches fs with) is about half of `import('robust-shm')`'s cold time.
  const { default: lockfile } = await import('proper-lockfile');
  const release = await lockfile.lock(path, {
    realpath: false,
    stale: Math.max(2000, options.staleLockMs ?? 2000),
    retries: { retries: 1000, minTimeout: 5, maxTimeout: 100, factor: 1.5 },
  });
  try {
    // Another process may have finished while we waited for the lock.
    const now = inspectFile(path, size);
    if (now === 'ready') return Region.fromMapping(mapFile(path, { mode: 'open', size }), false);
    if (now instanceof Error) throw now;
    // 'missing', or 'unfinished': a creator died before marking it ready. We hold the lock: (re)build it.
    const mapping = mapFile(path, { mode: 'openOrCreate', size });
    const i32 = new Int32Array(mapping.buffer, 0, HEADER_BYTES / 4);
    Atomics.store(i32, H.magic, REGION_MAGIC);
    Atomics.store(i32, H.version, REGION_VERSION);
    Atomics.store(i32, H.initState, INIT_IN_PROGRESS);
    // Test-only (src/test-hooks.ts): a test kills a creator exactly here.
    await testHooksOf(options).onInitializing?.();
    writeHeader(mapping.buffer, size);
    return Region.fromMapping(mapping, true);
  } finally {
    await release();
  }
}

/** Write a complete, ready header (the init state goes last). */
function writeHeader(buffer: SharedArrayBuffer, size: number): void {
  const i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  new Uint8Array(buffer, 0, HEADER_BYTES).fill(0);
  Atomics.store(i32, H.magic, REGION_MAGIC);
  Atomics.store(i32, H.version, REGION_VERSION);
  Atomics.store(i32, H.totalSize, size);
  Atomics.store(i32, H.headerBytes, HEADER_BYTES);
  Atomics.store(i32, H.nextFree, HEADER_BYTES);
  Atomics.store(i32, H.creationId, randomInt(1, 0x7fff_ffff));
  RobustMutex.initialize(buffer, DIRECTORY_MUTEX_OFFSET, { policy: 'windows' });
  Atomics.store(i32, H.initState, INIT_READY);
}

type FileState = 'missing' | 'ready' | 'unfinished' | RobustShmError;

/**
 * Read the header with plain reads before anything is mapped: mapping a file
 * that is shorter than its header claims and touching the missing part would
 * raise SIGBUS and kill the process. Nothing here writes to the file.
 */
function inspectFile(path: string, expectedSize: number | undefined): FileState {
  try {
    if (lstatSync(path).isSymbolicLink()) {
      return new RegionFormatError('ERR_REGION_SYMLINK', `${path} is a symbolic link; regions are never opened through links`);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return new RegionFormatError('ERR_REGION_NOT_FILE', `${path} is not a regular file`);
    if (stat.size === 0) return 'unfinished';
    const header = Buffer.alloc(Math.min(HEADER_BYTES, stat.size));
    readSync(fd, header, 0, header.length, 0);
    const words = new Int32Array(header.buffer, header.byteOffset, header.length >> 2);
    // A creator killed before its first header write leaves zeros: unfinished, not foreign.
    if (words.length > H.version && words[H.magic] === 0 && words[H.version] === 0) return 'unfinished';
    const problem = checkHeader(words, stat.size, path, expectedSize);
    if (problem) return problem;
    return words[H.initState] === INIT_READY ? 'ready' : 'unfinished';
  } finally {
    closeSync(fd);
  }
}

function checkHeader(words: Int32Array, actualSize: number, path: string | undefined, expectedSize?: number): RobustShmError | undefined {
  const where = path ?? 'the buffer';
  if (actualSize < MIN_REGION_SIZE || words.length < HEADER_BYTES / 4) {
    if (words.length > 0 && words[H.magic] !== REGION_MAGIC) return new RegionFormatError('ERR_REGION_BAD_MAGIC', `${where} is not a robust-shm region (bad magic)`);
    return new RegionFormatError('ERR_REGION_TOO_SMALL', `${where} is ${actualSize} bytes, smaller than a region header (${HEADER_BYTES})`);
  }
  const magic = words[H.magic] ?? 0;
  if (magic !== REGION_MAGIC) {
    return new RegionFormatError('ERR_REGION_BAD_MAGIC', `${where} is not a robust-shm region (magic 0x${(magic >>> 0).toString(16)}, expected 0x${REGION_MAGIC.toString(16)})`);
  }
  const version = words[H.version] ?? 0;
  if (version !== REGION_VERSION) {
    return new RegionFormatError('ERR_REGION_VERSION', `${where} has region format version ${version}; this library reads version ${REGION_VERSION}`);
  }
  if (words[H.initState] !== INIT_READY) return undefined; // sizes are not written yet
  const total = (words[H.totalSize] ?? 0) >>> 0;
  if (total < MIN_REGION_SIZE) return new RegionFormatError('ERR_REGION_TOO_SMALL', `${where}: header says ${total} bytes, smaller than a region`);
  if (actualSize < total) {
    return new RegionFormatError('ERR_REGION_TRUNCATED', `${where} is ${actualSize} bytes but its header says ${total}: the file was truncated`);
  }
  if (expectedSize !== undefined && expectedSize !== total) {
    return new RegionFormatError('ERR_REGION_SIZE_MISMATCH', `${where} is a region of ${total} bytes, not ${expectedSize}`);
  }
  return undefined;
}

function checkRegionSize(size: number): void {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < MIN_REGION_SIZE || size > MAX_MAPPING_SIZE) {
    throw new RegionFormatError('ERR_REGION_TOO_SMALL', `region size must be an integer from ${MIN_REGION_SIZE} (header ${HEADER_BYTES} + payload) to ${MAX_MAPPING_SIZE}, got ${String(size)}`);
  }
}

function checkDirectory(path: string): void {
  try {
    if (!lstatSync(dirname(path)).isDirectory()) throw new InvalidArgumentError(`${dirname(path)} is not a directory`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RobustShmError('ENOENT', `the directory ${dirname(path)} does not exist (region ${path})`);
    }
    throw error;
  }
}

function encodeName(name: string): Uint8Array {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError('object name must be a non-empty string');
  const bytes = encoder.encode(name);
  if (bytes.length > NAME_BYTES - 1 || bytes.includes(0)) {
    throw new InvalidArgumentError(`object name must be 1..${NAME_BYTES - 1} UTF-8 bytes without NUL: '${name}'`);
  }
  return bytes;
}

function sameName(raw: Uint8Array, encoded: Uint8Array): boolean {
  if (raw[encoded.length] !== 0) return false;
  for (let i = 0; i < encoded.length; i++) if (raw[i] !== encoded[i]) return false;
  return true;
}

function checkSizeMatches(name: string, found: NamedObject, bytes: number): { offset: number; created: boolean } {
  if (found.size < bytes) {
    throw new InvalidArgumentError(`'${name}' exists with ${found.size} bytes, fewer than the ${bytes} asked for`);
  }
  return { offset: found.offset, created: false };
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
