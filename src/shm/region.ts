// Regions: a header + a directory of named objects + a payload, in a mapped
// file shared by processes (openRegion) or in a plain SharedArrayBuffer shared
// by threads (Region.create / Region.attach, no file and no addon).
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidArgumentError, RobustShmError } from '../errors.js';
import { RobustMutex } from '../locks/robust-mutex.js';
import { testHooksOf } from '../test-hooks.js';
import type { MappedFile } from './map-file.js';
import { checkHeader, checkRegionSize, writeHeader } from './region-header.js';
import { openRegionFile } from './region-file.js';
import {
  DIRECTORY_ENTRIES,
  DIRECTORY_MUTEX_OFFSET,
  DIRECTORY_OFFSET,
  ENTRY_BYTES,
  ENTRY_OFFSET_WORD,
  ENTRY_SIZE_WORD,
  H,
  HEADER_BYTES,
  NAME_BYTES,
  OBJECT_ALIGNMENT,
} from './region-layout.js';

/** Options of {@link openRegion}. */
export interface OpenRegionOptions {
  /** Total bytes, header included. Required with create; when given on open it must match the file. */
  size?: number;
  /** Create the region if nothing is at the path. */
  create?: boolean;
  /**
   * Open a region file owned by another user, or writable by its group or by
   * others. Refused by default: in a world-writable directory such as /dev/shm
   * another user could have planted it.
   */
  allowUntrustedFile?: boolean;
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

/** The region's header or directory was overwritten with values no region has (see Region.validate()). */
export class RegionCorruptError extends RobustShmError {
  constructor(message: string) {
    super('ERR_REGION_CORRUPT', message);
  }
}

/** What {@link Region.validate} found. */
export interface RegionValidation {
  /** True when nothing is wrong. */
  valid: boolean;
  /** What is wrong, most fundamental first. Empty when valid. */
  problems: string[];
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
  private readonly u8: Uint8Array;
  private readonly mapping: MappedFile | undefined;
  private directoryMutex: RobustMutex | undefined;

  private constructor(buffer: SharedArrayBuffer, created: boolean, mapping?: MappedFile) {
    this.buffer = buffer;
    this.created = created;
    this.mapping = mapping;
    this.path = mapping?.path;
    this.i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.u8 = new Uint8Array(buffer, 0, HEADER_BYTES);
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
    const count = this.directoryCount();
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
      const count = this.directoryCount();
      if (count >= DIRECTORY_ENTRIES) throw new RegionFullError(`the region directory is full (${DIRECTORY_ENTRIES} named objects)`);
      const offset = alignUp(this.nextFree(count), OBJECT_ALIGNMENT);
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

  /**
   * Check the header and directory (read without the directory mutex: a
   * snapshot). Names every value no region can hold: a scribbled header,
   * count, entry, or directory mutex. Never repairs.
   */
  validate(): RegionValidation {
    const problems: string[] = [];
    const headerProblem = checkHeader(this.i32, this.size, this.path);
    if (headerProblem) problems.push(headerProblem.message);
    else if ((Atomics.load(this.i32, H.totalSize) >>> 0) !== this.size) problems.push(`header says ${Atomics.load(this.i32, H.totalSize) >>> 0} bytes, the mapping has ${this.size}`);
    try {
      RobustMutex.at(this.buffer, DIRECTORY_MUTEX_OFFSET);
    } catch (error) {
      problems.push(`directory mutex: ${(error as Error).message}`);
    }
    let count = 0;
    try {
      count = this.directoryCount();
    } catch (error) {
      problems.push((error as Error).message);
    }
    const spans: { name: string; offset: number; end: number }[] = [];
    for (let i = 0; i < count; i++) {
      try {
        const entry = this.entry(i);
        spans.push({ name: entry.name, offset: entry.offset, end: entry.offset + entry.size });
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    spans.sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i]!.offset < spans[i - 1]!.end) problems.push(`directory entries '${spans[i - 1]!.name}' and '${spans[i]!.name}' overlap`);
    }
    const names = new Set<string>();
    for (const span of spans) {
      if (names.has(span.name)) problems.push(`the name '${span.name}' is in the directory twice`);
      names.add(span.name);
    }
    try {
      this.nextFree(count);
    } catch (error) {
      problems.push((error as Error).message);
    }
    return { valid: problems.length === 0, problems };
  }

  private mutex(): RobustMutex {
    this.directoryMutex ??= RobustMutex.at(this.buffer, DIRECTORY_MUTEX_OFFSET);
    return this.directoryMutex;
  }

  /** Published entries; a count no directory can have is corruption, not a loop bound. */
  private directoryCount(): number {
    const count = Atomics.load(this.i32, H.directoryCount);
    if (count < 0 || count > DIRECTORY_ENTRIES) {
      throw new RegionCorruptError(`the region directory count is ${count}, outside 0..${DIRECTORY_ENTRIES} (the header was overwritten)`);
    }
    return count;
  }

  /**
   * Where the next object goes. It must lie in the payload and past every
   * published object: a scribbled bump pointer would otherwise make
   * findOrCreate zero the header or another object.
   */
  private nextFree(count: number): number {
    const next = Atomics.load(this.i32, H.nextFree);
    if (next < HEADER_BYTES || next > this.size) {
      throw new RegionCorruptError(`the region's next-free offset is ${next}, outside its payload [${HEADER_BYTES}, ${this.size}] (the header was overwritten)`);
    }
    for (let i = 0; i < count; i++) {
      const { name, offset, size } = this.entry(i);
      if (offset + size > next) throw new RegionCorruptError(`the region's next-free offset ${next} lies inside '${name}' [${offset}, ${offset + size})`);
    }
    // Slots fill in order and the count moves last, so only slot `count` may
    // hold an unpublished entry (its constructor died). One further on means
    // the count itself was lowered: a new object would overwrite published ones.
    for (let i = count + 1; i < DIRECTORY_ENTRIES; i++) {
      if (this.u8[DIRECTORY_OFFSET + i * ENTRY_BYTES] !== 0) {
        throw new RegionCorruptError(`directory slot ${i} is in use beyond the directory count ${count} (the count was overwritten)`);
      }
    }
    if (count < DIRECTORY_ENTRIES && this.u8[DIRECTORY_OFFSET + count * ENTRY_BYTES] !== 0) {
      // A dead constructor wrote its entry and then (perhaps) the bump pointer: next is at or before its start, or at its end.
      const entry = new Int32Array(this.buffer, DIRECTORY_OFFSET + count * ENTRY_BYTES, ENTRY_BYTES / 4);
      const offset = Atomics.load(entry, ENTRY_OFFSET_WORD);
      const end = offset + Atomics.load(entry, ENTRY_SIZE_WORD);
      if (next > offset && next < end) {
        throw new RegionCorruptError(`the region's next-free offset ${next} lies inside the object of directory slot ${count} [${offset}, ${end}) (the count was overwritten)`);
      }
    }
    return next;
  }

  private entry(index: number): NamedObject {
    const base = DIRECTORY_OFFSET + index * ENTRY_BYTES;
    const entry = new Int32Array(this.buffer, base, ENTRY_BYTES / 4);
    const raw = new Uint8Array(this.buffer, base, NAME_BYTES);
    const end = raw.indexOf(0);
    const name = decoder.decode(raw.slice(0, end < 0 ? NAME_BYTES : end));
    const offset = Atomics.load(entry, ENTRY_OFFSET_WORD);
    const size = Atomics.load(entry, ENTRY_SIZE_WORD);
    if (end <= 0) throw new RegionCorruptError(`directory entry ${index} has ${end === 0 ? 'an empty' : 'an unterminated'} name`);
    if (offset < HEADER_BYTES || offset % OBJECT_ALIGNMENT !== 0 || size <= 0 || offset > this.size - size) {
      throw new RegionCorruptError(`directory entry ${index} ('${name}') says [${offset}, ${offset + size}), which is not an object of this ${this.size}-byte region`);
    }
    return { name, offset, size };
  }

  private lookup(encoded: Uint8Array): NamedObject | undefined {
    const count = this.directoryCount();
    for (let i = 0; i < count; i++) {
      const raw = new Uint8Array(this.buffer, DIRECTORY_OFFSET + i * ENTRY_BYTES, NAME_BYTES);
      if (sameName(raw, encoded)) return this.entry(i);
    }
    return undefined;
  }
}

/**
 * Open the region file at `path`; with `create`, make it if nothing is there.
 * Many processes may race to create the same path: each builds a complete
 * region under a temporary name and links it into place; exactly one link
 * wins (that opener sees `created: true`), the others attach to the winner's.
 * A creator killed at any step delays nobody. The region's pages are reserved
 * up front: where they do not fit, this fails with code ENOSPC and leaves no
 * file behind (no later write can SIGBUS). Anything at the path that is not a
 * complete region of this user's (a FIFO, device, directory, symlink, empty
 * or foreign file) is refused with a clear code and left untouched.
 */
export async function openRegion(path: string, options: OpenRegionOptions = {}): Promise<Region> {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('region path must be a non-empty string');
  if (options.size !== undefined) checkRegionSize(options.size);
  if (options.create && options.size === undefined) throw new InvalidArgumentError('creating a region needs a size');
  checkDirectory(path);
  const { mapping, created } = await openRegionFile(path, {
    size: options.size,
    create: options.create ?? false,
    allowUntrustedFile: options.allowUntrustedFile ?? false,
    // Test-only (src/test-hooks.ts): a test kills a creator at each step.
    onCreationStep: testHooksOf(options).onCreationStep,
  });
  return Region.fromMapping(mapping, created);
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
