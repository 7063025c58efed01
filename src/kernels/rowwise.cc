// Row-wise kernels: LayerNorm, the LoRA side path and the rotary tables, loops written for the
// compiler to vectorize.
#include "kernels/rowwise.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace jv3 {
namespace {

// Σ term(j) for j < n in 8 independent partial sums, lanes the vectorizer keeps in registers (a
// single running sum is a serial chain it may not reorder); the tail first, then the lanes.
template <typename F>
float LaneSum(size_t n, F term) {
  constexpr size_t kLanes = 8;
  float acc[kLanes] = {};
  size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (size_t l = 0; l < kLanes; ++l) acc[l] += term(j + l);
  }
  float s = 0.f;
  for (; j < n; ++j) s += term(j);
  for (size_t l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

}  // namespace

void AddLayerNorm(float* x, const float* residual, size_t rows, size_t d, const float* gamma, const float* beta,
                  float eps, ThreadPool* pool) {
  // Two passes (mean, then Σ(x − mean)²) in lane sums: short chains, so f32 stays as close to
  // torch's float moments as f64 did.
  ForBlocks(pool, rows, [&](size_t r) {
    float* __restrict row = x + r * d;
    if (residual) {
      const float* __restrict res = residual + r * d;
      for (size_t j = 0; j < d; ++j) row[j] += res[j];
    }
    const float mean = LaneSum(d, [&](size_t j) { return row[j]; }) / static_cast<float>(d);
    const float var = LaneSum(d, [&](size_t j) { return (row[j] - mean) * (row[j] - mean); });
    const float inv = 1.f / std::sqrt(var / static_cast<float>(d) + eps);
    for (size_t j = 0; j < d; ++j) row[j] = (row[j] - mean) * inv * gamma[j] + beta[j];
  });
}

void AddLoraDelta(const float* x, size_t rows, size_t in, const float* a, const float* bt, size_t rank, size_t out,
                  float scale, float* y, ThreadPool* pool) {
  // Dot products in lane sums, then rank passes of y += t[k]·bᵀ[k] along the row.
  ForBlocks(pool, rows, [&](size_t r) {
    float t[64];  // rank is small (4 for jina-embeddings-v3); checked at load
    const float* xr = x + r * in;
    for (size_t k = 0; k < rank; ++k) {
      const float* ak = a + k * in;
      t[k] = LaneSum(in, [&](size_t j) { return xr[j] * ak[j]; }) * scale;
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
  JV3_RETURN_IF_ERROR(OrOutOfMemory(
      [&] {
        cos_.resize(positions * half_);
        sin_.resize(positions * half_);
      },
      "for rotary tables"));
  for (size_t p = have; p < positions; ++p) {
    for (int i = 0; i < half_; ++i) {
      const float angle = static_cast<float>(p) * inv_freq_[i];
      cos_[p * half_ + i] = std::cos(angle);
      sin_[p * half_ + i] = std::sin(angle);
    }
  }
  return Status::Ok();
}

}  // namespace jv3
