// Int8-weight GEMM: packing, per-row activation quantization and the micro-kernels of both schemes.
#include "kernels/qgemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <string>

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace jv3 {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// kI16: the most activation bits that keep every int32 sum exact with |w| ≤ 128 (a hostile file may
// hold -128); 12 bits are already far below the model's own noise.
int I16Levels(size_t ksteps) {
  const double bound = double(std::numeric_limits<int32_t>::max()) / (128.0 * 2.0 * double(ksteps));
  return int(std::min<double>(2047, std::floor(bound)));
}

#if defined(__wasm_relaxed_simd__)
// The relaxed dot's second operand is exact for 0..127 everywhere; x86 with VNNI (Chromium here)
// also takes it as unsigned 0..255, ARM's sdot and SSSE3's pmaddubsw lowering do not. Checked
// once at run time with a product that only the full unsigned reading gets right.
int ProbeU8Levels() {
  volatile int8_t wv = -128, wv2 = 127;
  volatile uint8_t av = 255;
  const v128_t a = wasm_i8x16_splat(int8_t(av));
  const v128_t r1 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_i8x16_splat(wv), a, wasm_i32x4_splat(0));
  const v128_t r2 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_i8x16_splat(wv2), a, wasm_i32x4_splat(1));
  const bool exact = wasm_i32x4_all_true(wasm_i32x4_eq(r1, wasm_i32x4_splat(-4 * 128 * 255))) &&
                     wasm_i32x4_all_true(wasm_i32x4_eq(r2, wasm_i32x4_splat(4 * 127 * 255 + 1)));
  return exact ? 255 : 127;
}
#endif

int DefaultU8Levels() {
#if defined(__wasm_relaxed_simd__)
  static const int levels = ProbeU8Levels();
  return levels;
#else
  return 255;  // plain loops are exact at any width
#endif
}

// ---- kI16: k in pairs, int16 activations -------------------------------------------------------

#if defined(__wasm_simd128__)
// A tile's exact int32 sums (MR rows × the panel's 8 columns, columns 0–3 in acc0, 4–7 in acc1) to
// y = sum · row scale · column scale + bias, storing only the columns the layer has.
template <int MR>
void StoreTile(const PackedI8& w, const v128_t* acc0, const v128_t* acc1, const RowQuant* rq, size_t p, float* y) {
  const size_t n0 = p * kPanelCols;
  const v128_t s0 = wasm_v128_load(w.scale.data() + n0), s1 = wasm_v128_load(w.scale.data() + n0 + 4);
  const v128_t c0 = wasm_v128_load(w.bias.data() + n0), c1 = wasm_v128_load(w.bias.data() + n0 + 4);
  const size_t cols = std::min(kPanelCols, w.out - n0);
  for (int m = 0; m < MR; ++m) {
    const v128_t qs = wasm_f32x4_splat(rq[m].scale);
    const v128_t y0 = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc0[m]), wasm_f32x4_mul(s0, qs)), c0);
    const v128_t y1 = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc1[m]), wasm_f32x4_mul(s1, qs)), c1);
    float* out = y + m * w.out + n0;
    if (cols == kPanelCols) {
      wasm_v128_store(out, y0);
      wasm_v128_store(out + 4, y1);
    } else {
      alignas(16) float tmp[kPanelCols];
      wasm_v128_store(tmp, y0);
      wasm_v128_store(tmp + 4, y1);
      std::copy(tmp, tmp + cols, out);
    }
  }
}

// Rows of q against one panel: per k pair, two 8-byte weight loads widened to int16 (4 columns ×
// 2 k each), one 32-bit activation splat per row, two dot-and-add per row.
template <int MR>
void TileI16(const PackedI8& w, const int16_t* q, size_t ldq, const RowQuant* rq, size_t p, float* y) {
  v128_t acc0[MR], acc1[MR];
  for (int m = 0; m < MR; ++m) acc0[m] = acc1[m] = wasm_i32x4_splat(0);
  const int8_t* b = w.w.data() + p * w.ksteps * 2 * kPanelCols;
  for (size_t s = 0; s < w.ksteps; ++s, b += 2 * kPanelCols) {
    const v128_t b0 = wasm_i16x8_load8x8(b);
    const v128_t b1 = wasm_i16x8_load8x8(b + 8);
    for (int m = 0; m < MR; ++m) {
      const v128_t a = wasm_v128_load32_splat(q + m * ldq + 2 * s);
      acc0[m] = wasm_i32x4_add(acc0[m], wasm_i32x4_dot_i16x8(a, b0));
      acc1[m] = wasm_i32x4_add(acc1[m], wasm_i32x4_dot_i16x8(a, b1));
    }
  }
  StoreTile<MR>(w, acc0, acc1, rq, p, y);
}
constexpr int kI16Rows = 4;
#else
constexpr int kI16Rows = 1;
#endif

// ---- kU8: k in quads, unsigned 8-bit activations ----------------------------------------------

#if defined(__wasm_relaxed_simd__)
// Per k quad: two 16-byte weight loads (4 columns × 4 k each), one 32-bit activation splat per
// row, two relaxed dots per row; the zero point comes off at the end through the column sums.
template <int MR>
void TileU8(const PackedI8& w, const uint8_t* q, size_t ldq, const RowQuant* rq, size_t p, float* y) {
  v128_t acc0[MR], acc1[MR];
  for (int m = 0; m < MR; ++m) acc0[m] = acc1[m] = wasm_i32x4_splat(0);
  const int8_t* b = w.w.data() + p * w.ksteps * 4 * kPanelCols;
  for (size_t s = 0; s < w.ksteps; ++s, b += 4 * kPanelCols) {
    const v128_t b0 = wasm_v128_load(b);
    const v128_t b1 = wasm_v128_load(b + 16);
    for (int m = 0; m < MR; ++m) {
      const v128_t a = wasm_v128_load32_splat(q + m * ldq + 4 * s);
      acc0[m] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(b0, a, acc0[m]);
      acc1[m] = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(b1, a, acc1[m]);
    }
  }
  const size_t n0 = p * kPanelCols;
  const v128_t k0 = wasm_v128_load(w.colsum.data() + n0), k1 = wasm_v128_load(w.colsum.data() + n0 + 4);
  for (int m = 0; m < MR; ++m) {
    const v128_t z = wasm_i32x4_splat(rq[m].zero);
    acc0[m] = wasm_i32x4_sub(acc0[m], wasm_i32x4_mul(z, k0));
    acc1[m] = wasm_i32x4_sub(acc1[m], wasm_i32x4_mul(z, k1));
  }
  StoreTile<MR>(w, acc0, acc1, rq, p, y);
}
constexpr int kU8Rows = 6;  // 12 accumulators + 2 weight vectors + 1 splat: x86's 16 vector registers
#else
constexpr int kU8Rows = 1;
#endif

// Both schemes as plain loops: one output at a time, the SIMD tiles' arithmetic and rounding order.
template <typename T>
void TileScalar(const PackedI8& w, const T* q, size_t ldq, const RowQuant* rq, size_t mr, size_t p, float* y) {
  const size_t n0 = p * kPanelCols, ks = w.kstep;
  const size_t cols = std::min(kPanelCols, w.out - n0);
  const int8_t* panel = w.w.data() + p * w.ksteps * ks * kPanelCols;
  for (size_t m = 0; m < mr; ++m) {
    for (size_t c = 0; c < cols; ++c) {
      int32_t acc = 0;
      for (size_t s = 0; s < w.ksteps; ++s) {
        const int8_t* b = panel + (s * kPanelCols + c) * ks;
        for (size_t t = 0; t < ks; ++t) acc += int32_t(q[m * ldq + s * ks + t]) * b[t];
      }
      if (w.scheme == QScheme::kU8) acc -= rq[m].zero * w.colsum[n0 + c];
      y[m * w.out + n0 + c] = float(acc) * (w.scale[n0 + c] * rq[m].scale) + w.bias[n0 + c];
    }
  }
}

template <typename T, typename Tile>
void RunTiles(const PackedI8& w, const T* q, const RowQuant* rq, size_t r0, size_t nrows, size_t p0, size_t p1,
              float* y, int rows_per_tile, Tile tile) {
  const size_t ldq = w.ksteps * w.kstep;
  for (size_t r = r0; r < r0 + nrows; r += rows_per_tile) {
    const size_t mr = std::min<size_t>(rows_per_tile, r0 + nrows - r);
    for (size_t p = p0; p < p1; ++p) tile(q + r * ldq, ldq, rq + r, mr, p, y + r * w.out);
  }
}

// One weight row into its panel: KS bytes per k step, kPanelCols · KS apart (a compile-time step
// size: packing is most of the load time left, ~4× slower with a run-time one).
template <size_t KS>
void ScatterRow(const int8_t* row, size_t in, int8_t* dst) {
  size_t k = 0;
  for (; k + KS <= in; k += KS, dst += KS * kPanelCols) std::memcpy(dst, row + k, KS);
  for (size_t t = 0; k + t < in; ++t) dst[t] = row[k + t];
}

}  // namespace

QScheme NativeQScheme() {
#if defined(__wasm_relaxed_simd__)
  return QScheme::kU8;
#else
  return QScheme::kI16;
#endif
}

Status PackI8(size_t in, size_t out, const int8_t* weight, const float* scales, const float* bias, QScheme scheme,
              PackedI8* packed, int levels, bool transposed) {
  if (in == 0 || out == 0) return Status(Code::kInvalidArgument, "int8 linear layer with an empty shape");
  PackedI8 p;
  std::vector<int8_t> gathered;  // [in] one row of a transposed weight
  p.scheme = scheme;
  p.in = in;
  p.out = out;
  p.kstep = scheme == QScheme::kI16 ? 2 : 4;
  p.ksteps = (in + p.kstep - 1) / p.kstep;
  p.panels = (out + kPanelCols - 1) / kPanelCols;
  if (scheme == QScheme::kI16) {
    p.levels = levels ? std::min(levels, I16Levels(p.ksteps)) : I16Levels(p.ksteps);
  } else {
    p.levels = levels ? levels : DefaultU8Levels();
    if (p.levels > 255) p.levels = 255;
  }
  // kU8: Σ q·w and zero · Σ w each within ±255 · 128 · in, kept below 2^30 so their difference fits.
  const bool too_wide = scheme == QScheme::kU8 ? double(in) * 255.0 * 128.0 > double(1 << 30) : p.levels < 1;
  if (too_wide) {
    return Status(Code::kInvalidArgument, "int8 linear layer input size " + std::to_string(in) + " is too large");
  }
  JV3_RETURN_IF_ERROR(OrOutOfMemory(
      [&] {
        p.w.assign(p.panels * p.ksteps * p.kstep * kPanelCols, 0);
        p.scale.assign(p.panels * kPanelCols, 0.0f);
        p.bias.assign(p.panels * kPanelCols, 0.0f);
        if (scheme == QScheme::kU8) p.colsum.assign(p.panels * kPanelCols, 0);
        if (transposed) gathered.resize(in);
      },
      "packing an int8 layer [" + std::to_string(out) + ", " + std::to_string(in) + "]"));
  for (size_t n = 0; n < out; ++n) {
    const int8_t* row = weight + n * in;
    if (transposed) {
      for (size_t k = 0; k < in; ++k) gathered[k] = weight[k * out + n];
      row = gathered.data();
    }
    int8_t* dst = p.w.data() + (n / kPanelCols) * p.ksteps * p.kstep * kPanelCols + (n % kPanelCols) * p.kstep;
    if (scheme == QScheme::kI16) {
      ScatterRow<2>(row, in, dst);
    } else {
      ScatterRow<4>(row, in, dst);
      int32_t sum = 0;
      for (size_t k = 0; k < in; ++k) sum += row[k];
      p.colsum[n] = sum;
    }
    p.scale[n] = scales[n];
    if (bias) p.bias[n] = bias[n];
  }
  *packed = std::move(p);
  return Status::Ok();
}

RowQuant QuantizeRow(const PackedI8& w, const float* x, void* out) {
  const size_t in = w.in, padded = w.ksteps * w.kstep;
  float lo = 0.0f, hi = 0.0f;
  bool finite = true;
  size_t j = 0;
#if defined(__wasm_simd128__)
  // The row's range in four lanes; x·0 is NaN exactly for inf and NaN, so one sum tells finiteness.
  v128_t vlo = wasm_f32x4_splat(0.0f), vhi = vlo, vnan = vlo;
  for (; j + 4 <= in; j += 4) {
    const v128_t v = wasm_v128_load(x + j);
    vlo = wasm_f32x4_pmin(v, vlo);
    vhi = wasm_f32x4_pmax(v, vhi);
    vnan = wasm_f32x4_add(vnan, wasm_f32x4_mul(v, wasm_f32x4_splat(0.0f)));
  }
  for (int i = 0; i < 4; ++i) {
    lo = std::min(lo, wasm_f32x4_extract_lane(vlo, 0));
    hi = std::max(hi, wasm_f32x4_extract_lane(vhi, 0));
    finite &= wasm_f32x4_extract_lane(vnan, 0) == 0.0f;
    vlo = wasm_i32x4_shuffle(vlo, vlo, 1, 2, 3, 0);
    vhi = wasm_i32x4_shuffle(vhi, vhi, 1, 2, 3, 0);
    vnan = wasm_i32x4_shuffle(vnan, vnan, 1, 2, 3, 0);
  }
#endif
  for (; j < in; ++j) {
    finite &= std::isfinite(x[j]);
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  if (w.scheme == QScheme::kI16) {
    auto* q = static_cast<int16_t*>(out);
    const float maxabs = std::max(-lo, hi);
    if (!finite || maxabs == 0.0f) {
      std::fill(q, q + padded, int16_t(0));
      return {finite ? 0.0f : kNaN, 0};
    }
    const float inv = float(w.levels) / maxabs;
    size_t k = 0;
#if defined(__wasm_simd128__)
    const v128_t vinv = wasm_f32x4_splat(inv);
    for (; k + 8 <= in; k += 8) {
      const v128_t a = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + k), vinv)));
      const v128_t b = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + k + 4), vinv)));
      wasm_v128_store(q + k, wasm_i16x8_narrow_i32x4(a, b));
    }
#endif
    // |x · inv| ≤ levels, so the conversion is in range.
    for (; k < in; ++k) q[k] = int16_t(std::nearbyint(x[k] * inv));
    std::fill(q + in, q + padded, int16_t(0));
    return {maxabs / float(w.levels), 0};
  }
  // kU8: [lo, hi] (which holds 0) onto [0, levels]; 0 maps exactly onto the zero point.
  auto* q = static_cast<uint8_t*>(out);
  if (!finite) {
    std::fill(q, q + padded, uint8_t(0));
    return {kNaN, 0};
  }
  if (hi == lo) {
    std::fill(q, q + padded, uint8_t(0));
    return {0.0f, 0};
  }
  const float inv = float(w.levels) / (hi - lo);
  const int32_t zero = std::clamp(int32_t(std::nearbyint(-lo * inv)), int32_t(0), int32_t(w.levels));
  size_t k = 0;
#if defined(__wasm_simd128__)
  const v128_t vinv = wasm_f32x4_splat(inv), vz = wasm_i32x4_splat(zero), vmax = wasm_i16x8_splat(int16_t(w.levels));
  for (; k + 16 <= in; k += 16) {
    v128_t v[4];
    for (int i = 0; i < 4; ++i) {
      v[i] = wasm_i32x4_add(
          wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + k + 4 * i), vinv))), vz);
    }
    const v128_t lo16 = wasm_i16x8_min(wasm_i16x8_narrow_i32x4(v[0], v[1]), vmax);
    const v128_t hi16 = wasm_i16x8_min(wasm_i16x8_narrow_i32x4(v[2], v[3]), vmax);
    wasm_v128_store(q + k, wasm_u8x16_narrow_i16x8(lo16, hi16));
  }
#endif
  for (; k < in; ++k) {
    q[k] = uint8_t(std::clamp(int32_t(std::nearbyint(x[k] * inv)) + zero, int32_t(0), int32_t(w.levels)));
  }
  // Padding: its weights are 0 and the column sums cover only real k, so 0 is as good as any.
  std::fill(q + in, q + padded, uint8_t(0));
  return {(hi - lo) / float(w.levels), zero};
}

void QGemmRows(const PackedI8& w, const void* q, const RowQuant* rq, size_t r0, size_t nrows, size_t p0, size_t p1,
               float* y) {
  if (w.scheme == QScheme::kI16) {
    const auto* qi = static_cast<const int16_t*>(q);
#if defined(__wasm_simd128__)
    RunTiles(w, qi, rq, r0, nrows, p0, p1, y, kI16Rows,
             [&](const int16_t* qr, size_t ldq, const RowQuant* rr, size_t mr, size_t p, float* yr) {
               switch (mr) {
                 case 4: TileI16<4>(w, qr, ldq, rr, p, yr); break;
                 case 3: TileI16<3>(w, qr, ldq, rr, p, yr); break;
                 case 2: TileI16<2>(w, qr, ldq, rr, p, yr); break;
                 default: TileI16<1>(w, qr, ldq, rr, p, yr); break;
               }
             });
#else
    RunTiles(w, qi, rq, r0, nrows, p0, p1, y, kI16Rows,
             [&](const int16_t* qr, size_t ldq, const RowQuant* rr, size_t mr, size_t p, float* yr) {
               TileScalar(w, qr, ldq, rr, mr, p, yr);
             });
#endif
    return;
  }
  const auto* qu = static_cast<const uint8_t*>(q);
#if defined(__wasm_relaxed_simd__)
  if (w.levels <= DefaultU8Levels()) {
    RunTiles(w, qu, rq, r0, nrows, p0, p1, y, kU8Rows,
             [&](const uint8_t* qr, size_t ldq, const RowQuant* rr, size_t mr, size_t p, float* yr) {
               switch (mr) {
                 case 6: TileU8<6>(w, qr, ldq, rr, p, yr); break;
                 case 5: TileU8<5>(w, qr, ldq, rr, p, yr); break;
                 case 4: TileU8<4>(w, qr, ldq, rr, p, yr); break;
                 case 3: TileU8<3>(w, qr, ldq, rr, p, yr); break;
                 case 2: TileU8<2>(w, qr, ldq, rr, p, yr); break;
                 default: TileU8<1>(w, qr, ldq, rr, p, yr); break;
               }
             });
    return;
  }
#endif
  RunTiles(w, qu, rq, r0, nrows, p0, p1, y, kU8Rows,
           [&](const uint8_t* qr, size_t ldq, const RowQuant* rr, size_t mr, size_t p, float* yr) {
             TileScalar(w, qr, ldq, rr, mr, p, yr);
           });
}

}  // namespace jv3
