// Shared by the engine's WebAssembly kernels (freestanding C, no libc, built by scripts/build-wasm.sh): the export
// attribute, the f32x4 helpers and the layout every kernel assumes — NHWC activations, Keras' HWIO/HWC1 filters,
// pointers as byte offsets into the module's one exported memory, which the TypeScript side (trainer.ts) lays out.
#pragma once
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define INLINE static inline __attribute__((always_inline))

typedef v128_t f4;

INLINE f4 load4(const float *p) { return wasm_v128_load(p); }
INLINE void store4(float *p, f4 v) { wasm_v128_store(p, v); }
INLINE f4 splat4(float v) { return wasm_f32x4_splat(v); }
INLINE f4 splat_at(const float *p) { return wasm_v128_load32_splat(p); }
/** a + b·c, as two IEEE operations (WebAssembly SIMD has no fused multiply-add, so rounding is tfjs's f32 kind). */
INLINE f4 madd(f4 a, f4 b, f4 c) { return wasm_f32x4_add(a, wasm_f32x4_mul(b, c)); }

INLINE int min_int(int a, int b) { return a < b ? a : b; }
INLINE int max_int(int a, int b) { return a > b ? a : b; }

