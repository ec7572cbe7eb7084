/**
 * `robust-shm/inspect`: what the kernel says about one page of a mapping
 * (mincore residency, /proc/self/pagemap, /proc/kpageflags, /proc/self/smaps),
 * for demonstrations and diagnostics of mapped memory.
 *
 * @packageDocumentation
 */
// Entry point `robust-shm/inspect`: beside src/shm in the layer order (it uses only the native layer).
export {
  inspectPage,
  pagemapEntry,
  pageFlags,
  smapsFor,
  isResident,
  fileBytes,
  clearSoftDirty,
  softDirtySupported,
  type PageReport,
  type PagemapEntry,
  type PageFlags,
  type SmapsTotals,
} from './page-inspector.js';
