#!/usr/bin/env bash
# Builds the training engine's WebAssembly kernels (src/core/engine/wasm/*.c, freestanding C with SIMD128) twice,
# into src/core/engine/wasm/generated/ (git-ignored), which trainer.ts instantiates in Node and workers:
#   engine.wasm          one thread; its own memory, exported
#   engine-threads.wasm  the same kernels for several threads: a shared memory it imports (every thread's instance
#                        gets the same one) and its C stack pointer exported, so each thread's stack can be set
#                        apart (threads.ts). Runs where SharedArrayBuffer does: cross-origin isolated pages, Node.
# Run by `npm run assets`, so by dev, build and test; skips the build when the .wasm is newer than every source.
# Needs clang and its lld (wasm32 target and wasm-ld): Debian's clang-19 and lld-19.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC_DIR=src/core/engine/wasm
OUT_DIR="$SRC_DIR/generated"
OUT="$OUT_DIR/engine.wasm"
OUT_THREADS="$OUT_DIR/engine-threads.wasm"
SOURCES=("$SRC_DIR"/*.c)

# clang 19 (Debian's clang-19 and lld-19) schedules the matrix products' inner loop without the address
# arithmetic clang 14 leaves in it: the same bits, products 1.1-1.15x faster in V8. Any clang with its wasm-ld
# builds the same kernels.
CLANG="${CLANG:-$(command -v clang-19 || echo clang)}"
if ! command -v "$CLANG" >/dev/null 2>&1 || ! command -v "$("$CLANG" -print-prog-name=wasm-ld)" >/dev/null 2>&1; then
  echo "build-wasm: the engine's WebAssembly kernels need clang and its wasm-ld (lld). Install them with:" >&2
  echo "  apt-get install -y clang-19 lld-19" >&2
  exit 1
fi
case "$("$CLANG" --version | head -1)" in
  *"version 19."*) ;;
  *) echo "build-wasm: building with $("$CLANG" --version | head -1); clang-19 (apt-get install -y clang-19 lld-19) builds the same kernels faster" ;;
esac
# The compiler that built the outputs, so that another one rebuilds them.
STAMP="$OUT_DIR/compiler.txt"
COMPILER="$("$CLANG" --version | head -1)"

up_to_date() {
  [ -f "$1" ] && [ -z "$(find "$SRC_DIR" -maxdepth 1 \( -name '*.c' -o -name '*.h' \) -newer "$1")" ] && [ "$1" -nt "$0" ] &&
    [ "$(cat "$STAMP" 2>/dev/null)" = "$COMPILER" ]
}
if up_to_date "$OUT" && up_to_date "$OUT_THREADS"; then
  echo "build-wasm: $OUT and $OUT_THREADS are up to date"
  exit 0
fi

mkdir -p "$OUT_DIR"
# -nostdlib/-ffreestanding: no libc (the kernels need none); bulk memory turns memset into memory.fill; the
# memory is exported so the TypeScript side grows it once and lays out every buffer in it; __heap_base says
# where that layout may start (below it: the C stack and data).
"$CLANG" --target=wasm32 -mcpu=mvp -std=c11 -O3 -msimd128 -mbulk-memory -mnontrapping-fptoint -ffreestanding -nostdlib \
  -Wall -Wextra \
  -Wl,--no-entry -Wl,--export=__heap_base -Wl,--strip-all \
  -o "$OUT.tmp" "${SOURCES[@]}"
mv "$OUT.tmp" "$OUT"
echo "build-wasm: wrote $OUT ($(wc -c <"$OUT") bytes)"
# Threads: atomics (shared memory), mutable globals (the exported stack pointer); the memory starts at 2 pages
# (threads.ts THREADS_INITIAL_PAGES creates it so) and may grow to what a 32-bit module addresses, as the
# one-thread build may.
"$CLANG" --target=wasm32 -mcpu=mvp -std=c11 -O3 -msimd128 -mbulk-memory -matomics -mmutable-globals -mnontrapping-fptoint -ffreestanding -nostdlib \
  -Wall -Wextra \
  -Wl,--no-entry -Wl,--export=__heap_base -Wl,--export=__stack_pointer -Wl,--import-memory -Wl,--shared-memory \
  -Wl,--initial-memory=131072 -Wl,--max-memory=4294967296 -Wl,--strip-all \
  -o "$OUT_THREADS.tmp" "${SOURCES[@]}"
mv "$OUT_THREADS.tmp" "$OUT_THREADS"
echo "build-wasm: wrote $OUT_THREADS ($(wc -c <"$OUT_THREADS") bytes)"
echo "$COMPILER" >"$STAMP"
