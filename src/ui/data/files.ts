// Gathers files from a drop (walking dropped folders) or a file input and reads their bytes for the data
// worker. Main thread; reading is I/O only, all decoding happens in the worker.
import type { ImportFile } from '../../core/ingest/ingest-protocol.ts';

export interface PickedFile {
  /** "cat/001.png" for files inside a dropped folder, else the file name. */
  path: string;
  file: File;
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry: FileSystemEntry, prefix: string, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    // `isFile` guarantees the entry is a FileSystemFileEntry.
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ path: prefix + entry.name, file });
  } else if (entry.isDirectory) {
    // `isDirectory` guarantees a FileSystemDirectoryEntry; readEntries returns at most ~100 at a time.
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (let batch = await readEntries(reader); batch.length > 0; batch = await readEntries(reader)) {
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
    }
  }
}

export async function collectDropped(transfer: DataTransfer): Promise<PickedFile[]> {
  const entries = Array.from(transfer.items, (item) => item.webkitGetAsEntry()).filter((e) => e !== null);
  const out: PickedFile[] = [];
  if (entries.length === 0) {
    for (const file of Array.from(transfer.files)) out.push({ path: file.name, file });
    return out;
  }
  for (const entry of entries) await walk(entry, '', out);
  return out;
}

/**
 * A picked top-level folder "classes/" holding "cat/…", "dog/…": drop the outer name so that each class
 * is the folder right above its images.
 */
export function stripCommonRoot(files: PickedFile[]): PickedFile[] {
  const root = files[0]?.path.split('/')[0];
  const nested = files.every((f) => f.path.split('/').length >= 3 && f.path.startsWith(`${root}/`));
  return nested ? files.map((f) => ({ ...f, path: f.path.slice(`${root}/`.length) })) : files;
}

export async function readFiles(files: PickedFile[]): Promise<ImportFile[]> {
  return Promise.all(files.map(async ({ path, file }) => ({ path, bytes: await file.arrayBuffer() })));
}
