// Scalar kernels written for the compiler to vectorize; the heavy products go through gemm.h and qgemm.h.
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace jv3 {
namespace {

// Splits [0, n) into about 4 blocks per thread, so ParallelFor's per-call overhead stays small.
template <typename F>
void ForBlocks(ThreadPool* pool, size_t n, F&& body) {
  const size_t blocks = std::min(n, static_cast<size_t>(pool->threads()) * 4);
  if (blocks == 0) return;
  pool->ParallelFor(blocks, [&](size_t b) {
    const size_t lo = n * b / blocks, hi = n * (b + 1) / blocks;
    for (size_t i = lo; i < hi; ++i) body(i);
  });
}

}  // namespace

void AddLayerNorm(float* x, const float* residual, size_t rows, size_t d, const float* gamma, const float* beta,
                  float eps, ThreadPool* pool) {
  ForBlocks(pool, rows, [&](size_t r) {
    float* row = x + r * d;
    if (residual) {
      const float* res = residual + r * d;
      for (size_t j = 0; j < d; ++j) row[j] += res[j];
    }
    double sum = 0;
    for (size_t j = 0; j < d; ++j) sum += row[j];
    const double mean = sum / d;
    double var = 0;
    for (size_t j = 0; j < d; ++j) var += (row[j] - mean) * (row[j] - mean);
    const float inv = static_cast<float>(1.0 / std::sqrt(var / d + eps));
    const float m = static_cast<float>(mean);
    for (size_t j = 0; j < d; ++j) row[j] = (row[j] - m) * inv * gamma[j] + beta[j];
  });
}

void AddLoraDelta(const float* x, size_t rows, size_t in, const float* a, const float* bt, size_t rank, size_t out,
                  float scale, float* y, ThreadPool* pool) {
  // Loops shaped for the vectorizer: 8 independent partial sums per dot product (a single running
  // sum is a serial chain it may not reorder), then rank passes of y += t[k]·bᵀ[k] along the row.
  constexpr size_t kLanes = 8;
  ForBlocks(pool, rows, [&](size_t r) {
    float t[64];  // rank is small (4 for jina-embeddings-v3); checked at load
    const float* xr = x + r * in;
    for (size_t k = 0; k < rank; ++k) {
      const float* ak = a + k * in;
      float acc[kLanes] = {};
      size_t j = 0;
      for (; j + kLanes <= in; j += kLanes) {
        for (size_t l = 0; l < kLanes; ++l) acc[l] += xr[j + l] * ak[j + l];
      }
      float s = 0.f;
      for (; j < in; ++j) s += xr[j] * ak[j];
      for (size_t l = 0; l < kLanes; ++l) s += acc[l];
      t[k] = s * scale;
    }
    float* yr = y + r * out;
    for (size_t k = 0; k < rank; ++k) {
      const float* bk = bt + k * out;
      const float tk = t[k];
      for (size_t o = 0; o < out; ++o) yr[o] += tk * bk[o];
    }
  });
}

RopeTable::RopeTable(int head_dim, float base) : half_(head_dim / 2), inv_freq_(head_dim / 2) {
  // inv_freq = 1 / base^(arange(0, dim, 2) / dim), every step in f32 like torch.
  for (int i = 0; i < half_; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq_[i] = 1.f / std::pow(base, e);
  }
}

Status RopeTable::Reserve(size_t positions) {
  const size_t have = cos_.size() / std::max(half_, 1);
  if (positions <= have) return Status::Ok();
  try {
    cos_.resize(positions * half_);
    sin_.resize(positions * half_);
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, "out of memory for rotary tables");
  }
  for (size_t p = have; p < positions; ++p) {
    for (int i = 0; i < half_; ++i) {
      const float angle = static_cast<float>(p) * inv_freq_[i];
      cos_[p * half_ + i] = std::cos(angle);
      sin_[p * half_ + i] = std::sin(angle);
    }
  }
  return Status::Ok();
}

Status Attention::Create(int num_heads, int head_dim, bool int8, std::unique_ptr<Attention>* out,
                         size_t score_budget) {
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
  try {
    q_.resize(H * S * dh + over);
    k_.resize(H * S * dh + over);
    v_.resize(H * S * dh + over);
    q_tile_.resize(H * tile * dh + over);
    scores_.resize(H * tile * S + over);
    out_tile_.resize(H * tile * dh + over);
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, "out of memory for attention over " + std::to_string(S) + " tokens");
  }

  // Split heads, rotate q and k (rotate-half: pairs (i, i + dh/2)). The softmax scale 1/√dh goes
  // into q here (exact for the usual power-of-two head sizes) so the scores need no extra pass.
  const float scale = 1.f / std::sqrt(static_cast<float>(dh));
  ForBlocks(pool, S, [&](size_t s) {
    const float* row = qkv + s * 3 * d;
    const float* c = rope.cos(s);
    const float* sn = rope.sin(s);
    for (size_t h = 0; h < H; ++h) {
      const float* q = row + h * dh;
      const float* k = row + d + h * dh;
      float* qo = &q_[(h * S + s) * dh];
      float* ko = &k_[(h * S + s) * dh];
      for (size_t i = 0; i < half; ++i) {
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

// src [rows, cols], a row's values `step` apart and rows `row_stride` apart (step > 1: reading a
// transpose) → int8 rows with one symmetric scale each (max |x| ↦ 127). A row holding inf or NaN
// gets scale NaN: its products, and so the embedding, come out NaN, as in f32.
void QuantizeRowsSym(const float* src, size_t rows, size_t cols, size_t row_stride, size_t step, int8_t* q,
                     float* scale) {
  for (size_t r = 0; r < rows; ++r) {
    const float* x = src + r * row_stride;
    float maxabs = 0.f;
    bool finite = true;
    for (size_t c = 0; c < cols; ++c) {
      finite &= std::isfinite(x[c * step]);
      maxabs = std::max(maxabs, std::fabs(x[c * step]));
    }
    int8_t* qr = q + r * cols;
    if (!finite || maxabs == 0.f) {
      std::fill(qr, qr + cols, int8_t(0));
      scale[r] = finite ? 0.f : std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    const float inv = 127.f / maxabs;  // |x · inv| ≤ 127: the conversion is in range
    for (size_t c = 0; c < cols; ++c) qr[c] = static_cast<int8_t>(std::nearbyint(x[c * step] * inv));
    scale[r] = maxabs / 127.f;
  }
}

}  // namespace

Status Attention::PackKeysValues(size_t S, size_t tile, ThreadPool* pool) {
  const size_t H = heads_, dh = head_dim_;
  try {
    packed_k_.resize(H);
    packed_v_.resize(H);
    q8_.resize(H * S * dh);
    q8_scale_.resize(H * std::max(S, dh));
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, "out of memory for attention over " + std::to_string(S) + " tokens");
  }
  std::vector<Status> status(H);
  pool->ParallelFor(H, [&](size_t h) {
    int8_t* q = &q8_[h * S * dh];
    float* sc = &q8_scale_[h * std::max(S, dh)];
    // Keys as the weights of q·kᵀ: [S, dh], a scale per key.
    QuantizeRowsSym(&k_[h * S * dh], S, dh, dh, 1, q, sc);
    status[h] = PackI8(dh, S, q, sc, nullptr, NativeQScheme(), &packed_k_[h]);
    if (!status[h].ok()) return;
    // Values as the weights of p·v: vᵀ [dh, S], a scale per channel.
    QuantizeRowsSym(&v_[h * S * dh], dh, S, 1, dh, q, sc);
    status[h] = PackI8(S, dh, q, sc, nullptr, NativeQScheme(), &packed_v_[h]);
  });
  for (const Status& st : status) JV3_RETURN_IF_ERROR(st);
  const size_t row_bytes = std::max(packed_k_[0].row_bytes(), packed_v_[0].row_bytes());
  try {
    rows_.resize(H * tile * row_bytes);
    row_quant_.resize(H * tile);
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, "out of memory for attention over " + std::to_string(S) + " tokens");
  }
  return Status::Ok();
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
