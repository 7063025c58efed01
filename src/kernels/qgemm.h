// Int8-weight GEMM of our own, weights int8 per output channel, activations quantized per row:
//  - kI16 (SIMD128): activations int16 (up to 12 bits, symmetric), summed exactly by
//    i32x4.dot_i16x8_s, k two at a time.
//  - kU8 (relaxed SIMD): activations unsigned 8 bits (7 where the engine's relaxed dot is exact only
//    for 7-bit operands), asymmetric, summed by i32x4.relaxed_dot_i8x16_i7x16_add_s, k four at a time.
// Both schemes also run as plain loops, so native tests check exactly the arithmetic wasm runs.
// docs/benchmarks.md has their speed against XNNPACK's kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/status.h"

namespace jv3 {

enum class QScheme { kI16, kU8 };

// The scheme this build's SIMD kernel implements (the other one runs as plain loops).
QScheme NativeQScheme();

// Columns per weight panel: the micro-kernel computes a few rows × kPanelCols outputs at a time.
constexpr size_t kPanelCols = 8;

// One int8 linear layer's weights in the micro-kernel's order.
struct PackedI8 {
  QScheme scheme = QScheme::kI16;
  size_t in = 0, out = 0;
  size_t kstep = 0;             // k consumed per dot: 2 (kI16) or 4 (kU8)
  size_t ksteps = 0;            // ceil(in / kstep)
  size_t panels = 0;            // ceil(out / kPanelCols)
  int levels = 0;               // kI16: activations in [-levels, levels]; kU8: in [0, levels] (255 or 127)
  std::vector<int8_t> w;        // [panels][ksteps][kPanelCols][kstep]: W[p*8+c, s*kstep+t], 0 past the edges
  std::vector<float> scale;     // [panels * kPanelCols] per output channel, 0 past out
  std::vector<float> bias;      // [panels * kPanelCols], 0 past out (or when the layer has none)
  std::vector<int32_t> colsum;  // [panels * kPanelCols] Σ_k W[n, k], kU8 only (zero-point correction)

  size_t row_bytes() const { return ksteps * kstep * (scheme == QScheme::kI16 ? 2 : 1); }
};

// One quantized activation row: x ≈ (q − zero) · scale. A row holding inf or NaN gets scale NaN,
// so its outputs are NaN, as f32 would be.
struct RowQuant {
  float scale;
  int32_t zero;
};

// Reorders weight [out, in] (row-major, one scale per row; or its transpose [in, out] when
// `transposed`) into `packed`. `levels` 0 picks the scheme's default (2047 for kI16, or what the
// engine's relaxed dot computes exactly for kU8).
Status PackI8(size_t in, size_t out, const int8_t* weight, const float* scales, const float* bias, QScheme scheme,
              PackedI8* packed, int levels = 0, bool transposed = false);

// Quantizes x[in] into q (row_bytes(), zero-padded past in).
RowQuant QuantizeRow(const PackedI8& w, const float* x, void* q);

// y[r, n] = (Σ_k (q[r, k] − zero[r]) · W[n, k]) · scale[r] · scale[n] + bias[n] for rows
// [r0, r0 + nrows) and the columns of panels [p0, p1). q: rows of row_bytes(); y: [rows, out].
void QGemmRows(const PackedI8& w, const void* q, const RowQuant* rq, size_t r0, size_t nrows, size_t p0, size_t p1,
               float* y);

}  // namespace jv3
