// Row-wise kernels of the forward pass: LayerNorm, the LoRA side path, rotary position tables.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "base/status.h"
#include "kernels/thread_pool.h"

namespace jv3 {

// x[r] = LayerNorm(x[r] + residual[r]) · gamma + beta for each of `rows` rows of width d
// (residual may be null). The moments are f32 lane sums (short chains), as close to torch's as f64 was.
void AddLayerNorm(float* x, const float* residual, size_t rows, size_t d, const float* gamma, const float* beta,
                  float eps, ThreadPool* pool);

// y[rows, out] += scale · (x[rows, in] · a[r, in]ᵀ) · bt[r, out]: the LoRA side path of one task
// (bt is lora_B transposed, as the model stores it after loading).
void AddLoraDelta(const float* x, size_t rows, size_t in, const float* a, const float* bt, size_t rank, size_t out,
                  float scale, float* y, ThreadPool* pool);

// Rotary position tables: cos/sin of pos·inv_freq (GPT-NeoX rotate-half), formed in f32 as upstream.
class RopeTable {
 public:
  RopeTable(int head_dim, float base);
  // Makes positions [0, positions) available.
  Status Reserve(size_t positions);
  const float* cos(size_t pos) const { return &cos_[pos * half_]; }  // [head_dim / 2]
  const float* sin(size_t pos) const { return &sin_[pos * half_]; }
  int half() const { return half_; }

 private:
  int half_;
  std::vector<float> inv_freq_;   // [head_dim / 2]
  std::vector<float> cos_, sin_;  // [positions, head_dim / 2]
};

}  // namespace jv3
