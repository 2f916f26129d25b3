// SHA-256 as lowercase hex through WebCrypto, which browsers, workers and Node 20 all provide.
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // WebCrypto wants a BufferSource backed by an ArrayBuffer; copy only when `bytes` is a view on
  // something else (a SharedArrayBuffer, say).
  const source = bytes.buffer instanceof ArrayBuffer ? bytes : new Uint8Array(bytes);
  const digest = await crypto.subtle.digest('SHA-256', source as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
