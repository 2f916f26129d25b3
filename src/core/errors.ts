// Typed, expected failures of data handling: each carries a code the UI can branch on and a message a
// person can act on. Thrown by pure core code in workers and in Node; only plain data crosses threads,
// so workers turn these into `DataErrorInfo` objects (see `toErrorInfo`).

/** Every code a DataError can carry, with what it means; kept as values so an error that crossed threads is recognised. */
export const DATA_ERROR_CODES = [
  'empty',            // a file with no bytes or no drawings
  'truncated',        // fewer bytes than the header or manifest promises
  'bad-header',       // not the format it claims to be
  'bad-record',       // one record (an ndjson line, an image) cannot be read
  'checksum',         // bytes arrived but their SHA-256 is not the manifest's
  'unknown-category', // a category name outside the dataset or the Quick, Draw! list
  'bad-manifest',     // manifest.json is missing fields or inconsistent
  'http',             // the server answered with an error status
  'network',          // the connection failed or dropped mid-transfer
  'quota',            // the browser refused to store more (disk full or quota reached)
  'storage',          // the browser's storage failed a write for a reason it does not name as a full disk
  'outdated',         // a newer version of the app upgraded the database since this page loaded: reload
  'not-image',        // a dropped file that is not an image
  'cancelled',        // the user stopped it
] as const;

export type DataErrorCode = (typeof DATA_ERROR_CODES)[number];

export class DataError extends Error {
  override readonly name = 'DataError';
  constructor(
    readonly code: DataErrorCode,
    message: string,
    /** The file or URL the problem is in, when there is one. */
    readonly file?: string,
    /** Whether trying the same thing again may succeed (HTTP 5xx, dropped connection). */
    readonly transient = false,
  ) {
    super(message);
  }
}

/** The plain-data form of an error, safe to post between threads. */
export interface DataErrorInfo {
  code: DataErrorCode | 'internal';
  message: string;
  file?: string;
}

/** A problem that is no DataError (a config to fix, a run that failed), in the shape every page's banner shows. */
export function problem(message: string): DataErrorInfo {
  return { code: 'internal', message };
}

/** The message of anything thrown, for a person to read. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The code of a DataError, also of one that crossed threads as a plain Error with its fields (workers/thread-errors.ts). */
export function dataErrorCodeOf(error: unknown): DataErrorCode | null {
  if (error instanceof DataError) return error.code;
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return (DATA_ERROR_CODES as readonly unknown[]).includes(code) ? (code as DataErrorCode) : null;
}

/** The plain-data form of anything thrown: a DataError's code, message and file (also after it crossed threads), a
 * full disk as 'quota', anything else as 'internal' with its message. */
export function toErrorInfo(error: unknown): DataErrorInfo {
  const code = dataErrorCodeOf(error);
  if (code !== null) {
    const { message, file } = error as { message: string; file?: unknown };
    return typeof file === 'string' ? { code, message, file } : { code, message };
  }
  if (isQuotaError(error)) return { code: 'quota', message: quotaError('the drawings').message };
  return { code: 'internal', message: messageOf(error) };
}

/** The message a full disk gets: what happened, that nothing is lost, and what to free. */
export function quotaError(what: string): DataError {
  return new DataError(
    'quota',
    `The browser's storage is full (its quota is used up or the disk is full), so ${what} could not be stored; everything stored before is kept. ` +
      'Delete a dataset you no longer need (Data page, "Delete dataset"), free disk space, or download fewer drawings per category.',
  );
}

/**
 * The message for any other failed write (Chromium reports some failures on a nearly full disk only as
 * "UnknownError"): what failed, with the browser's own words, that nothing stored is lost, and what to try.
 */
export function storageError(what: string, cause: { name: string; message: string }): DataError {
  return new DataError(
    'storage',
    `The browser could not store ${what} (${cause.name}: ${cause.message}); everything stored before is kept. ` +
      'Try again; if it fails again, check that the disk has free space.',
  );
}

/**
 * The message when the browser will not open the site's database at all: storage switched off for the site (some
 * private windows, a setting that blocks site data), a newer version of the app in another tab, or a failure the
 * browser names. Nothing stored is touched by the failed open.
 */
export function unopenedError(cause: { name: string; message: string }): DataError {
  if (cause.name === 'VersionError') {
    return new DataError('outdated', 'A newer version of Doodle Lab has stored data in this browser since this page loaded: reload the page to use it. Nothing stored is lost.');
  }
  return new DataError(
    'storage',
    `The browser would not open this site's storage (${cause.name}: ${cause.message}), so stored drawings, runs and models cannot be read. ` +
      'Check that this site may keep data (a private window or a setting that blocks site data prevents it) and that the disk has free space, then reload; nothing stored is lost.',
  );
}

export function isQuotaError(error: unknown): boolean {
  const code = dataErrorCodeOf(error);
  if (code !== null) return code === 'quota';
  if (typeof error !== 'object' || error === null) return false;
  // IndexedDB reports a full disk as a DOMException named QuotaExceededError, sometimes wrapped as the
  // `error` of an aborted transaction (an AbortError whose cause is the quota failure).
  const named = error as { name?: unknown; message?: unknown };
  if (named.name === 'QuotaExceededError') return true;
  // Chromium keeps large values as blob files beside its LevelDB; when the disk itself fills up it fails those
  // writes with a DOMException named DataError, "Failed to write blobs (IOError)", instead (seen on a real small
  // disk in e2e/errors.spec.ts; UnknownError is the name other IndexedDB I/O failures get).
  return (named.name === 'DataError' || named.name === 'UnknownError') && typeof named.message === 'string' && DISK_FULL_MESSAGE.test(named.message);
}

const DISK_FULL_MESSAGE = /failed to write blobs|no space left|ENOSPC|IO ?error/i;
