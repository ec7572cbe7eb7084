// The page's files (lab-page/ at the package root: HTML, CSS and plain
// browser JavaScript, no build step), read once at start and served from
// memory, gzipped for browsers that accept it. The path is the same from
// src/lab/web/ (tsx in a checkout) and from dist/lab/web/ (the package): three
// folders up. Only these names are served, so no request path ever reaches
// the file system.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { LabWebError } from './auth.js';

/** One file of the page, ready to send. */
export interface PageFile {
  type: string;
  body: Buffer;
  gzipped: Buffer;
}

const PAGE_DIR = new URL('../../../lab-page/', import.meta.url);
const FILES: Record<string, { name: string; type: string }> = {
  '/': { name: 'index.html', type: 'text/html; charset=utf-8' },
  '/lab.css': { name: 'lab.css', type: 'text/css; charset=utf-8' },
  '/lab.js': { name: 'lab.js', type: 'text/javascript; charset=utf-8' },
  '/favicon.svg': { name: 'favicon.svg', type: 'image/svg+xml' },
};

/** Read the page's files (throws LabWebError naming the missing file, e.g. a package built without lab-page/). */
export function loadPageFiles(dir: URL = PAGE_DIR): Map<string, PageFile> {
  const files = new Map<string, PageFile>();
  for (const [path, { name, type }] of Object.entries(FILES)) {
    let body: Buffer;
    try {
      body = readFileSync(new URL(name, dir));
    } catch (error) {
      throw new LabWebError('ERR_LAB_PAGE_MISSING', `the lab page's ${name} is not at ${new URL(name, dir).pathname}`, { cause: error });
    }
    files.set(path, { type, body, gzipped: gzipSync(body, { level: 9 }) });
  }
  return files;
}
