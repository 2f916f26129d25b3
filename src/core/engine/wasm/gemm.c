// The pointwise (1×1) convolutions and the dense layer as one blocked matrix product: C = A·B with A read through
// two strides, so the forward pass (X·W), the weight gradient (Xᵀ·dY) and, after `transpose`, the input gradient
// (dY·Wᵀ) are the same register-blocked microkernel. Single thread; called from trainer.ts (through parallel.ts,
// which gives each thread a range of C's rows and packing scratch of its own).
//
// Packing: the microkernel reads B's 8-column panel at a stride of B's row length, and A's 4 rows through two
// strides. Where a panel is read again by many row blocks (M ≥ PACK_MIN), it is first copied into the scratch as
// one contiguous run; where a 4-row block of A is read by many panels (N ≥ PACK_MIN), so is that block. The
// microkernel then walks both sequentially. On this 2-core machine's V8 that made MobileNet v1 α=0.75's products at
// 128 px 1.1–1.5× faster one by one, and its whole training step 1.14× on one thread (`npm run bench:wasm -- --model
// mobilenet_v1_0.75_224 --size 128`; 1.07× for α=0.25 at 48 px, whose products are smaller). A copy moves values
// without arithmetic and every sum runs in the same order, so the result has the same bits as without it.
#include "kernels.h"

/** Rows of C a microkernel keeps in registers. */
#define MR 4
/** Inner-dimension chunk: long reductions (a weight gradient sums over every position of the batch) are added to
 * C one chunk at a time, which keeps f32 rounding error near tfjs's double accumulation. */
#define KC 256
/** Rows (for B's panels) or columns (for A's blocks) from which copying an operand first pays for itself. */
#define PACK_MIN 32

/**
 * C[r, 0..4V) (= or +=) Σ_p A(r, p)·B[p, 0..4V) for R ≤ MR rows and V ≤ 2 vectors of columns; with R and V
 * constants after inlining, the accumulators are registers.
 */
INLINE void tile(int R, int V, int K, const float *A, int sai, int sap, const float *B, int ldb, float *C, int ldc, int accumulate) {
  f4 acc[MR][2];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < V; v++) acc[r][v] = accumulate ? load4(C + r * ldc + 4 * v) : splat4(0.0f);
  for (int p = 0; p < K; p++) {
    f4 b[2];
    for (int v = 0; v < V; v++) b[v] = load4(B + 4 * v);
    for (int r = 0; r < R; r++) {
      f4 a = splat_at(A + r * sai);
      for (int v = 0; v < V; v++) acc[r][v] = madd(acc[r][v], a, b[v]);
    }
    A += sap;
    B += ldb;
  }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < V; v++) store4(C + r * ldc + 4 * v, acc[r][v]);
}

/** Columns past the last multiple of 4 (a dense layer's odd class count), one dot product each. */
static void tail_columns(int j0, int M, int N, int K, const float *A, int sai, int sap, const float *B, int ldb, float *C, int accumulate) {
  for (int i = 0; i < M; i++) {
    for (int j = j0; j < N; j++) {
      float s = accumulate ? C[i * N + j] : 0.0f;
      for (int p = 0; p < K; p++) s += A[i * sai + p * sap] * B[p * ldb + j];
      C[i * N + j] = s;
    }
  }
}

/** Floats of packing scratch `gemm` needs for products with N columns: one chunk of B's panels and one block of A. */
EXPORT(gemm_pack_floats) int gemm_pack_floats(int N) { return KC * (N / 8 * 8) + MR * KC; }

/**
 * C[M×N] = A·B, where A(i, p) = A[i·sai + p·sap] and B(p, j) = B[p·ldb + j]. X·W: sai = K, sap = 1; Xᵀ·dY:
 * sai = 1, sap = (X's row length). `pack` holds gemm_pack_floats(N) floats, overwritten.
 */
EXPORT(gemm) void gemm(float *C, const float *A, int sai, int sap, const float *B, int ldb, int M, int N, int K, float *pack) {
  const int N8 = N / 8 * 8, packB = M >= PACK_MIN, packA = N8 >= PACK_MIN;
  float *Ap = pack + KC * N8;
  for (int k0 = 0; k0 < K; k0 += KC) {
    const int kc = min_int(KC, K - k0), acc = k0 > 0;
    const float *Ak = A + k0 * sap, *Bk = B + k0 * ldb;
    // B's 8-column panels for this chunk, each kc rows of 8 floats in a row: panel j starts at pack + j·kc.
    if (packB)
      for (int j = 0; j < N8; j += 8)
        for (int p = 0; p < kc; p++) {
          store4(pack + j * kc + 8 * p, load4(Bk + p * ldb + j));
          store4(pack + j * kc + 8 * p + 4, load4(Bk + p * ldb + j + 4));
        }
    int i = 0;
    for (; i + MR <= M; i += MR) {
      const float *Ai = Ak + i * sai;
      float *Ci = C + i * N;
      // This block's MR rows, interleaved: A(i + r, k0 + p) at Ap[MR·p + r].
      if (packA)
        for (int p = 0; p < kc; p++)
          for (int r = 0; r < MR; r++) Ap[MR * p + r] = Ai[r * sai + p * sap];
      int j = 0;
      for (; j + 8 <= N; j += 8) {
        if (packA && packB) tile(MR, 2, kc, Ap, 1, MR, pack + j * kc, 8, Ci + j, N, acc);
        else if (packA) tile(MR, 2, kc, Ap, 1, MR, Bk + j, ldb, Ci + j, N, acc);
        else if (packB) tile(MR, 2, kc, Ai, sai, sap, pack + j * kc, 8, Ci + j, N, acc);
        else tile(MR, 2, kc, Ai, sai, sap, Bk + j, ldb, Ci + j, N, acc);
      }
      for (; j + 4 <= N; j += 4) tile(MR, 1, kc, Ai, sai, sap, Bk + j, ldb, Ci + j, N, acc);
    }
    for (; i < M; i++) {
      const float *Ai = Ak + i * sai;
      float *Ci = C + i * N;
      int j = 0;
      for (; j + 8 <= N; j += 8) tile(1, 2, kc, Ai, sai, sap, Bk + j, ldb, Ci + j, N, acc);
      for (; j + 4 <= N; j += 4) tile(1, 1, kc, Ai, sai, sap, Bk + j, ldb, Ci + j, N, acc);
    }
    if (N % 4 != 0) tail_columns(N - N % 4, M, N, kc, Ak, sai, sap, Bk, ldb, C, acc);
  }
}

/** dst[cols×rows] = srcᵀ (a weight matrix, so the input gradient's B is read row by row). */
EXPORT(transpose) void transpose(const float *src, float *dst, int rows, int cols) {
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

/** y[m, n] += bias[n]: the dense layer's bias after its product, as tfjs adds it. */
EXPORT(add_bias) void add_bias(float *y, const float *bias, int M, int N) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) y[i * N + j] += bias[j];
}

/** db[n] = Σ_m dy[m, n], the bias gradient. */
EXPORT(column_sum) void column_sum(const float *dy, float *db, int M, int N) {
  for (int j = 0; j < N; j++) {
    double s = 0;
    for (int i = 0; i < M; i++) s += dy[i * N + j];
    db[j] = (float)s;
  }
}
