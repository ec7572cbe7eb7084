// Who may talk to the lab page's server. The page can kill processes, so:
// every API request carries the random token printed with the address (a
// page on another site cannot read it: no CORS headers are ever sent), and a
// request whose Host header is not the address we serve is refused, which
// stops DNS rebinding (evil.example resolving to 127.0.0.1 still sends
// `Host: evil.example`).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { RobustShmError } from '../../errors.js';

/** A lab page server refused to start (a non-loopback bind that was not asked for, a port in use). */
export class LabWebError extends RobustShmError {}

/** A fresh token: 128 random bits, URL-safe. */
export function newLabToken(): string {
  return randomBytes(16).toString('base64url');
}

/** Whether `host` (an address or a name) only reaches this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

/**
 * The Host header values that name the served address: the bound host and
 * port, plus `localhost:<port>` and `127.0.0.1:<port>` when bound to loopback
 * (both reach only this machine, so no rebinding is possible through them).
 */
export function allowedHostHeaders(boundHost: string, port: number): Set<string> {
  const hostPart = isIP(boundHost) === 6 ? `[${boundHost}]` : boundHost;
  const allowed = new Set([`${hostPart}:${port}`.toLowerCase()]);
  if (isLoopbackHost(boundHost)) for (const name of ['localhost', '127.0.0.1', '[::1]']) allowed.add(`${name}:${port}`);
  return allowed;
}

/** Constant-time comparison of a presented token with the real one. */
export function tokenMatches(presented: string | null | undefined, token: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
