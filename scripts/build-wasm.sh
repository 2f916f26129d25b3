#!/usr/bin/env bash
# Builds the training engine's WebAssembly kernels (src/core/engine/wasm/*.c, freestanding C with SIMD128) twice,
# into src/core/engine/wasm/generated/ (git-ignored), which trainer.ts instantiates in Node and workers:
#   engine.wasm          one thread; its own memory, exported
#   engine-threads.wasm  the same kernels for several threads: a shared memory it imports (every thread's instance
#                        gets the same one) and its C stack pointer exported, so each thread's stack can be set
#                        apart (threads.ts). Runs where SharedArrayBuffer does: cross-origin isolated pages, Node.
# Run by `npm run assets`, so by dev, build and test; skips the build when the .wasm is newer than every source.
# Needs Debian's clang and lld (wasm32 target and wasm-ld).
set -euo pipefail
cd "$(dirname "$0")/.."

SRC_DIR=src/core/engine/wasm
OUT_DIR="$SRC_DIR/generated"
OUT="$OUT_DIR/engine.wasm"
OUT_THREADS="$OUT_DIR/engine-threads.wasm"
SOURCES=("$SRC_DIR"/*.c)

up_to_date() {
  [ -f "$1" ] && [ -z "$(find "$SRC_DIR" -maxdepth 1 \( -name '*.c' -o -name '*.h' \) -newer "$1")" ] && [ "$1" -nt "$0" ]
}
if up_to_date "$OUT" && up_to_date "$OUT_THREADS"; then
  echo "build-wasm: $OUT and $OUT_THREADS are up to date"
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
# Threads: atomics (shared memory), mutable globals (the exported stack pointer); the memory starts at 2 pages
# (threads.ts THREADS_INITIAL_PAGES creates it so) and may grow to what a 32-bit module addresses, as the
# one-thread build may.
"$CLANG" --target=wasm32 -std=c11 -O3 -msimd128 -mbulk-memory -matomics -mmutable-globals -mnontrapping-fptoint -ffreestanding -nostdlib \
  -Wall -Wextra \
  -Wl,--no-entry -Wl,--export=__heap_base -Wl,--export=__stack_pointer -Wl,--import-memory -Wl,--shared-memory \
  -Wl,--initial-memory=131072 -Wl,--max-memory=4294967296 -Wl,--strip-all \
  -o "$OUT_THREADS.tmp" "${SOURCES[@]}"
mv "$OUT_THREADS.tmp" "$OUT_THREADS"
echo "build-wasm: wrote $OUT_THREADS ($(wc -c <"$OUT_THREADS") bytes)"
