// Byte layout of a region (a mapped file, or a plain SharedArrayBuffer).
//
//    0  magic 'RSHR'           4  format version
//    8  total size (bytes)    12  init state (0 none, 1 initialising, 2 ready)
//   16  header bytes          20  next free payload offset (bump pointer)
//   24  directory count (entries published; an entry counts only once complete)
//   28  creation id (random, written by the one initialiser)
//   64  directory mutex (RobustMutex, 128 bytes)
//  256  directory: 32 entries x 64 bytes: name (48 bytes UTF-8, NUL padded), offset, size
// 4096  payload: named objects, 64-byte aligned
//
// All fields are little-endian 32-bit words, read with Atomics across processes.

export const REGION_MAGIC = 0x52485352; // 'RSHR'
export const REGION_VERSION = 1;
/** Bytes of a region's header and directory, before its payload (exported as REGION_HEADER_BYTES). */
export const HEADER_BYTES = 4096;
/** The smallest region: its header and one 64-byte object. */
export const MIN_REGION_SIZE = HEADER_BYTES + 64;

export const H = {
  magic: 0,
  version: 1,
  totalSize: 2,
  initState: 3,
  headerBytes: 4,
  nextFree: 5,
  directoryCount: 6,
  creationId: 7,
} as const;

export const INIT_NONE = 0;
export const INIT_IN_PROGRESS = 1;
export const INIT_READY = 2;

export const DIRECTORY_MUTEX_OFFSET = 64;
export const DIRECTORY_OFFSET = 256;
export const DIRECTORY_ENTRIES = 32;
export const ENTRY_BYTES = 64;
export const NAME_BYTES = 48;
/** Int32 index of an entry's offset / size word, relative to the entry's first byte / 4. */
export const ENTRY_OFFSET_WORD = NAME_BYTES / 4;
export const ENTRY_SIZE_WORD = NAME_BYTES / 4 + 1;

export const OBJECT_ALIGNMENT = 64;
