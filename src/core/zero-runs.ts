// Zero-run coding for drawing bitmaps, the compression of shard format v2. Sketches are mostly background:
// 71 % of the default dataset's pixels are 0, in long runs between short runs of stroke pixels. The stream is
// a sequence of tokens `[zeros: u8][literals: u8][literal bytes…]`: skip `zeros` pixels (left 0), then copy
// `literals` bytes. On the ten default categories it is 2.55× smaller than raw and decodes at about 1.4 GB/s
// in V8, where gzip is 2.92× smaller but inflates at 200–500 MB/s (fflate, or the browser's
// DecompressionStream, which measured slower than fetching the raw bytes on loopback). Pure.

/** Encodes `pixels`; decoding the result with `decodeZeroRuns(…, pixels.length)` gives them back exactly. */
export function encodeZeroRuns(pixels: Uint8Array): Uint8Array {
  // A safe bound: every token but the last covers at least one pixel and costs 2 bytes plus its literals
  // (the real worst case, alternating zero and non-zero pixels, is 1.5 bytes a pixel).
  const out = new Uint8Array(3 * pixels.length + 2);
  let o = 0, i = 0;
  const n = pixels.length;
  while (i < n) {
    let zeros = 0;
    while (i < n && zeros < 255 && pixels[i] === 0) { zeros++; i++; }
    const start = i;
    while (i < n && i - start < 255 && pixels[i] !== 0) i++;
    out[o++] = zeros;
    out[o++] = i - start;
    out.set(pixels.subarray(start, i), o);
    o += i - start;
  }
  return out.slice(0, o);
}

/**
 * Decodes a zero-run stream into a new array of `length` pixels. Returns null when the stream is damaged: it
 * ends inside a token, or describes more or fewer than `length` pixels.
 */
export function decodeZeroRuns(stream: Uint8Array, length: number): Uint8Array | null {
  const pixels = new Uint8Array(length);
  const n = stream.length;
  let o = 0, i = 0;
  while (i < n) {
    if (i + 1 >= n) return null;
    o += stream[i] as number;
    const literals = stream[i + 1] as number;
    i += 2;
    if (o + literals > length || i + literals > n) return null;
    for (let k = 0; k < literals; k++) pixels[o + k] = stream[i + k] as number;
    o += literals;
    i += literals;
  }
  return o === length ? pixels : null;
}
