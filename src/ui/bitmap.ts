// Paints a stored 28×28 drawing (white ink on black, as Quick, Draw! stores it) onto a canvas as dark ink on
// white, the way people draw. Main thread; used as a Svelte attachment.
export function paintBitmap(canvas: HTMLCanvasElement, bitmap: Uint8Array, sidePx = 28): void {
  const context = canvas.getContext('2d');
  if (context === null) return;
  const image = context.createImageData(sidePx, sidePx);
  for (let i = 0; i < sidePx * sidePx; i++) {
    const ink = 255 - (bitmap[i] ?? 0);
    image.data[i * 4] = ink;
    image.data[i * 4 + 1] = ink;
    image.data[i * 4 + 2] = ink;
    image.data[i * 4 + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}
