// Where a list read from a worker stands, so a page says "loading", the list, or that it could not be read (the
// error banner then says why), never "none" for a list it has not seen.
export type ListState = 'loading' | 'loaded' | 'unreadable';
