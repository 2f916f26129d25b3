// Byte runs joined into one: weight files into a model's weight data, quantized tensors into one buffer, HTTP
// chunks into a body. Pure; runs anywhere.

/** The parts one after another in a new array of its own (never a view of a part, so its buffer is exactly it). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
