// Multi-head self-attention over one sequence, tiled over query rows (see attention.h).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

#include "kernels/linear.h"

namespace jv3 {

Status Attention::Create(int num_heads, int head_dim, bool int8, std::unique_ptr<Attention>* out, size_t score_budget) {
  std::unique_ptr<Attention> a(new Attention(num_heads, head_dim, int8, score_budget));
  JV3_RETURN_IF_ERROR(BatchMatMul::Create(/*transpose_b=*/true, &a->scores_op_));
  JV3_RETURN_IF_ERROR(BatchMatMul::Create(/*transpose_b=*/false, &a->values_op_));
  JV3_RETURN_IF_ERROR(RowwiseOp::Create(RowwiseOp::Kind::kSoftmax, &a->softmax_op_));
  *out = std::move(a);
  return Status::Ok();
}

Status Attention::Run(const float* qkv, size_t S, const RopeTable& rope, float* ctx, ThreadPool* pool) {
  const size_t H = heads_, dh = head_dim_, d = H * dh, half = dh / 2;
  // Query tile: keep the score block within the budget whatever the length.
  const size_t tile = std::max<size_t>(1, std::min<size_t>(S, budget_ / (H * S)));
  const size_t over = kGemmOverreadBytes / sizeof(float);
  JV3_RETURN_IF_ERROR(OrOutOfMemory(
      [&] {
        q_.resize(H * S * dh + over);
        k_.resize(H * S * dh + over);
        v_.resize(H * S * dh + over);
        q_tile_.resize(H * tile * dh + over);
        scores_.resize(H * tile * S + over);
        out_tile_.resize(H * tile * dh + over);
      },
      "for attention over " + std::to_string(S) + " tokens"));

  // Split heads, rotate q and k (rotate-half: pairs (i, i + dh/2)). The softmax scale 1/√dh goes
  // into q here (exact for the usual power-of-two head sizes) so the scores need no extra pass.
  const float scale = 1.f / std::sqrt(static_cast<float>(dh));
  ForBlocks(pool, S, [&](size_t s) {
    const float* row = qkv + s * 3 * d;
    const float* __restrict c = rope.cos(s);
    const float* __restrict sn = rope.sin(s);
    for (size_t h = 0; h < H; ++h) {
      const float* __restrict q = row + h * dh;
      const float* __restrict k = row + d + h * dh;
      float* __restrict qo = &q_[(h * S + s) * dh];
      float* __restrict ko = &k_[(h * S + s) * dh];
      size_t i = 0;
#if defined(__wasm_simd128__)
      const v128_t vscale = wasm_f32x4_splat(scale);
      for (; i + 4 <= half; i += 4) {
        const v128_t vc = wasm_v128_load(c + i), vs = wasm_v128_load(sn + i);
        const v128_t q0 = wasm_v128_load(q + i), q1 = wasm_v128_load(q + i + half);
        const v128_t k0 = wasm_v128_load(k + i), k1 = wasm_v128_load(k + i + half);
        wasm_v128_store(qo + i, wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_mul(q0, vc), wasm_f32x4_mul(q1, vs)), vscale));
        wasm_v128_store(qo + i + half,
                        wasm_f32x4_mul(wasm_f32x4_add(wasm_f32x4_mul(q1, vc), wasm_f32x4_mul(q0, vs)), vscale));
        wasm_v128_store(ko + i, wasm_f32x4_sub(wasm_f32x4_mul(k0, vc), wasm_f32x4_mul(k1, vs)));
        wasm_v128_store(ko + i + half, wasm_f32x4_add(wasm_f32x4_mul(k1, vc), wasm_f32x4_mul(k0, vs)));
      }
#endif
      for (; i < half; ++i) {
        qo[i] = (q[i] * c[i] - q[i + half] * sn[i]) * scale;
        qo[i + half] = (q[i + half] * c[i] + q[i] * sn[i]) * scale;
        ko[i] = k[i] * c[i] - k[i + half] * sn[i];
        ko[i + half] = k[i + half] * c[i] + k[i] * sn[i];
      }
      std::copy(row + 2 * d + h * dh, row + 2 * d + (h + 1) * dh, &v_[(h * S + s) * dh]);
    }
  });

  if (int8_) JV3_RETURN_IF_ERROR(PackKeysValues(S, tile, pool));
  for (size_t q0 = 0; q0 < S; q0 += tile) {
    const size_t m = std::min(tile, S - q0);
    if (int8_) {
      JV3_RETURN_IF_ERROR(RunTileI8(q0, m, S, pool));
    } else {
      for (size_t h = 0; h < H; ++h) {
        std::copy(&q_[(h * S + q0) * dh], &q_[(h * S + q0 + m) * dh], &q_tile_[h * m * dh]);
      }
      JV3_RETURN_IF_ERROR(scores_op_->Run(H, m, dh, S, q_tile_.data(), k_.data(), scores_.data(), pool));
      JV3_RETURN_IF_ERROR(softmax_op_->Run(scores_.data(), H * m, S, pool));
      JV3_RETURN_IF_ERROR(values_op_->Run(H, m, S, dh, scores_.data(), v_.data(), out_tile_.data(), pool));
    }
    for (size_t h = 0; h < H; ++h) {
      for (size_t r = 0; r < m; ++r) {
        const float* src = &out_tile_[(h * m + r) * dh];
        std::copy(src, src + dh, ctx + (q0 + r) * d + h * dh);
      }
    }
  }
  return Status::Ok();
}

namespace {

// Symmetric int8 quantization of an attention operand src [rows, cols] into q [rows, cols], with
// one scale per row (per_row) or per column (max |x| ↦ 127); `work` holds one float per scale. A
// row (column) holding inf or NaN gets scale NaN and zeros: its products, and so the embedding,
// come out NaN, as in f32. Scalar where there is no SIMD; the lanes compute the same values.
void QuantizeSym(const float* src, size_t rows, size_t cols, bool per_row, int8_t* q, float* scale, float* work) {
  const size_t n = per_row ? rows : cols;
  float* maxabs = scale;  // max |x| until the scales are set
  float* nan = work;      // Σ x·0: NaN exactly when an inf or NaN was seen
  std::fill(maxabs, maxabs + n, 0.f);
  std::fill(nan, nan + n, 0.f);
  for (size_t r = 0; r < rows; ++r) {
    const float* x = src + r * cols;
    size_t c = 0;
#if defined(__wasm_simd128__)
    if (per_row) {
      v128_t vm = wasm_f32x4_splat(0.f), vz = vm;
      for (; c + 4 <= cols; c += 4) {
        const v128_t v = wasm_v128_load(x + c);
        vm = wasm_f32x4_pmax(wasm_f32x4_abs(v), vm);
        vz = wasm_f32x4_add(vz, wasm_f32x4_mul(v, wasm_f32x4_splat(0.f)));
      }
      for (int l = 0; l < 4; ++l) {
        maxabs[r] = std::max(maxabs[r], wasm_f32x4_extract_lane(vm, 0));
        nan[r] += wasm_f32x4_extract_lane(vz, 0);
        vm = wasm_i32x4_shuffle(vm, vm, 1, 2, 3, 0);
        vz = wasm_i32x4_shuffle(vz, vz, 1, 2, 3, 0);
      }
    } else {
      for (; c + 4 <= cols; c += 4) {
        const v128_t v = wasm_v128_load(x + c);
        wasm_v128_store(maxabs + c, wasm_f32x4_pmax(wasm_f32x4_abs(v), wasm_v128_load(maxabs + c)));
        wasm_v128_store(nan + c, wasm_f32x4_add(wasm_v128_load(nan + c), wasm_f32x4_mul(v, wasm_f32x4_splat(0.f))));
      }
    }
#endif
    for (; c < cols; ++c) {
      const size_t i = per_row ? r : c;
      maxabs[i] = std::max(maxabs[i], std::fabs(x[c]));
      nan[i] += x[c] * 0.f;
    }
  }
  float* inv = work;  // 127 / max |x|, 0 for an all-zero or non-finite row (column)
  for (size_t i = 0; i < n; ++i) {
    const bool finite = nan[i] == 0.f;
    const float m = maxabs[i];
    inv[i] = finite && m > 0.f ? 127.f / m : 0.f;
    scale[i] = finite ? m / 127.f : std::numeric_limits<float>::quiet_NaN();
  }
  for (size_t r = 0; r < rows; ++r) {
    const float* x = src + r * cols;
    int8_t* qr = q + r * cols;
    size_t c = 0;
#if defined(__wasm_simd128__)
    // trunc_sat maps the NaN of a non-finite row (x · 0) to 0, like the scalar select below.
    for (; c + 16 <= cols; c += 16) {
      v128_t v[4];
      for (int l = 0; l < 4; ++l) {
        const v128_t s = per_row ? wasm_f32x4_splat(inv[r]) : wasm_v128_load(inv + c + 4 * l);
        v[l] = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + c + 4 * l), s)));
      }
      wasm_v128_store(
          qr + c, wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(v[0], v[1]), wasm_i16x8_narrow_i32x4(v[2], v[3])));
    }
#endif
    for (; c < cols; ++c) {
      const float v = x[c] * inv[per_row ? r : c];  // |v| ≤ 127, or NaN in a non-finite row
      qr[c] = static_cast<int8_t>(std::nearbyint(v == v ? v : 0.f));
    }
  }
}

}  // namespace

Status Attention::PackKeysValues(size_t S, size_t tile, ThreadPool* pool) {
  const size_t H = heads_, dh = head_dim_;
  JV3_RETURN_IF_ERROR(OrOutOfMemory(
      [&] {
        packed_k_.resize(H);
        packed_v_.resize(H);
        q8_.resize(H * S * dh);
        q8_scale_.resize(2 * H * std::max(S, dh));
      },
      "for attention over " + std::to_string(S) + " tokens"));
  std::vector<Status> status(H);
  pool->ParallelFor(H, [&](size_t h) {
    int8_t* q = &q8_[h * S * dh];
    float* sc = &q8_scale_[2 * h * std::max(S, dh)];
    float* work = sc + std::max(S, dh);
    // Keys as the weights of q·kᵀ: [S, dh], a scale per key.
    QuantizeSym(&k_[h * S * dh], S, dh, /*per_row=*/true, q, sc, work);
    status[h] = PackI8(dh, S, q, sc, nullptr, NativeQScheme(), &packed_k_[h]);
    if (!status[h].ok()) return;
    // Values as the weights of p·v: vᵀ [dh, S], a scale per channel, packed from v [S, dh].
    QuantizeSym(&v_[h * S * dh], S, dh, /*per_row=*/false, q, sc, work);
    status[h] = PackI8(S, dh, q, sc, nullptr, NativeQScheme(), &packed_v_[h], 0, /*transposed=*/true);
  });
  for (const Status& st : status) JV3_RETURN_IF_ERROR(st);
  const size_t row_bytes = std::max(packed_k_[0].row_bytes(), packed_v_[0].row_bytes());
  return OrOutOfMemory(
      [&] {
        rows_.resize(H * tile * row_bytes);
        row_quant_.resize(H * tile);
      },
      "for attention over " + std::to_string(S) + " tokens");
}

Status Attention::RunTileI8(size_t q0, size_t m, size_t S, ThreadPool* pool) {
  const size_t H = heads_, dh = head_dim_;
  const size_t row_bytes = rows_.size() / row_quant_.size();  // per head: m rows of either product
  // Scores: each head's query rows (scaled and rotated already) against its packed keys.
  pool->ParallelFor(H, [&](size_t h) {
    const PackedI8& k = packed_k_[h];
    uint8_t* rows = &rows_[h * m * row_bytes];
    RowQuant* rq = &row_quant_[h * m];
    for (size_t r = 0; r < m; ++r) rq[r] = QuantizeRow(k, &q_[(h * S + q0 + r) * dh], rows + r * k.row_bytes());
    QGemmRows(k, rows, rq, 0, m, 0, k.panels, &scores_[h * m * S]);
  });
  JV3_RETURN_IF_ERROR(softmax_op_->Run(scores_.data(), H * m, S, pool));
  // Context: each head's probability rows against its packed, transposed values.
  pool->ParallelFor(H, [&](size_t h) {
    const PackedI8& v = packed_v_[h];
    uint8_t* rows = &rows_[h * m * row_bytes];
    RowQuant* rq = &row_quant_[h * m];
    for (size_t r = 0; r < m; ++r) rq[r] = QuantizeRow(v, &scores_[(h * m + r) * S], rows + r * v.row_bytes());
    QGemmRows(v, rows, rq, 0, m, 0, v.panels, &out_tile_[h * m * dh]);
  });
  return Status::Ok();
}

}  // namespace jv3
