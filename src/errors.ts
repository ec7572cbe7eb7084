// Named error classes. Each carries a stable string `code` (like Node's fs
// errors) so callers switch on the code, not on message text.

/** Base class of every error robust-shm throws: switch on `code`, not on the message. */
export class RobustShmError extends Error {
  /** Stable name of the failure, e.g. 'ERROR_POSSIBLE_DEADLOCK', 'ENOTRECOVERABLE', 'ERR_NATIVE_UNAVAILABLE'. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A file is not a usable region: wrong magic, other version, bad sizes, truncated. */
export class RegionFormatError extends RobustShmError {}

/**
 * The path holds something robust-shm will not open as a region: not a
 * regular file (FIFO, socket, device, directory, symlink), an empty file, a
 * file owned by another user or writable by group/others (unless the caller
 * opted in), or a file it may not open.
 */
export class RegionFileError extends RobustShmError {}

/** The file system has no room for the region's pages (posix_fallocate failed with ENOSPC). */
export class RegionNoSpaceError extends RobustShmError {
  constructor(message: string) {
    super('ENOSPC', message);
  }
}

/** Bad arguments to a mapping or region call (sizes, offsets, modes, paths). */
export class InvalidArgumentError extends RobustShmError {
  constructor(message: string) {
    super('ERR_INVALID_ARG', message);
  }
}

/**
 * The native addon could not be loaded: no prebuilt binary matches this
 * platform and Node ABI, no local build exists (or it failed to load), or
 * `ROBUST_SHM_NO_NATIVE=1` turned it off. `tried` lists every place looked at
 * and why each failed. Threads-only use (`Region.create`, a plain
 * `SharedArrayBuffer`, mutexes with the 'atomics' wait mechanism) still works.
 */
export class NativeUnavailableError extends RobustShmError {
  /** Each candidate looked at, with why it did not load. */
  readonly tried: readonly string[];
  constructor(reason: string, tried: readonly string[], options?: { cause?: unknown }) {
    super(
      'ERR_NATIVE_UNAVAILABLE',
      `robust-shm: the native addon is unavailable: ${reason}.` +
        (tried.length ? `\n  tried:\n${tried.map((t) => `    - ${t}`).join('\n')}` : '') +
        '\n  Threads-only use (Region.create over a SharedArrayBuffer, mutexes waiting with Atomics.wait) still works without it.' +
        '\n  To build it: `npm rebuild robust-shm` (node-gyp: needs python3, make and g++).',
      options,
    );
    this.tried = tried;
  }
}
