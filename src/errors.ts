// Named error classes. Each carries a stable string `code` (like Node's fs
// errors) so callers switch on the code, not on message text.

export class RobustShmError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A file is not a usable region: wrong magic, other version, bad sizes, truncated. */
export class RegionFormatError extends RobustShmError {}

/** Bad arguments to a mapping or region call (sizes, offsets, modes, paths). */
export class InvalidArgumentError extends RobustShmError {
  constructor(message: string) {
    super('ERR_INVALID_ARG', message);
  }
}
