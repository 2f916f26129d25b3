#!/usr/bin/env bash
# Builds the training engine's WebAssembly kernels (src/core/engine/wasm/*.c, freestanding C with SIMD128) into
# src/core/engine/wasm/generated/engine.wasm (git-ignored), which trainer.ts instantiates in Node and workers.
# Run by `npm run assets`, so by dev, build and test; skips the build when the .wasm is newer than every source.
# Needs Debian's clang and lld (wasm32 target and wasm-ld).
set -euo pipefail
cd "$(dirname "$0")/.."

SRC_DIR=src/core/engine/wasm
OUT_DIR="$SRC_DIR/generated"
OUT="$OUT_DIR/engine.wasm"
SOURCES=("$SRC_DIR"/*.c)

if [ -f "$OUT" ] && [ -z "$(find "$SRC_DIR" -maxdepth 1 \( -name '*.c' -o -name '*.h' \) -newer "$OUT")" ] && [ "$OUT" -nt "$0" ]; then
  echo "build-wasm: $OUT is up to date"
  exit 0
fi

CLANG="${CLANG:-clang}"
if ! command -v "$CLANG" >/dev/null 2>&1 || ! command -v wasm-ld >/dev/null 2>&1; then
  echo "build-wasm: the engine's WebAssembly kernels need clang and wasm-ld (lld). Install them with:" >&2
  echo "  apt-get install -y clang lld" >&2
  exit 1
fi

mkdir -p "$OUT_DIR"
# -nostdlib/-ffreestanding: no libc (the kernels need none); bulk memory turns memset into memory.fill; the
# memory is exported so the TypeScript side grows it once and lays out every buffer in it; __heap_base says
# where that layout may start (below it: the C stack and data).
"$CLANG" --target=wasm32 -std=c11 -O3 -msimd128 -mbulk-memory -mnontrapping-fptoint -ffreestanding -nostdlib \
  -Wall -Wextra \
  -Wl,--no-entry -Wl,--export=__heap_base -Wl,--strip-all \
  -o "$OUT.tmp" "${SOURCES[@]}"
mv "$OUT.tmp" "$OUT"
echo "build-wasm: wrote $OUT ($(wc -c <"$OUT") bytes)"
