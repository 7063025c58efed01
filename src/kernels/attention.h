// Attention: multi-head self-attention of one sequence (the model's attention layer, after the
// fused QKV projection and before the output projection).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "kernels/qgemm.h"
#include "kernels/rowwise.h"
#include "kernels/thread_pool.h"
#include "kernels/xnnpack.h"

namespace jv3 {

// Multi-head self-attention of one sequence, tiled over query rows so memory is
// heads × tile × S scores, never heads × S × S. int8 models run both products through the int8
// kernels (src/qgemm: keys int8 per key, values int8 per channel, queries and probabilities
// quantized per row as the build's scheme does); f32 models through XNNPACK f32.
class Attention {
 public:
  // score_budget: floats of scores held at once (heads × tile × S); the tile shrinks to fit it.
  static Status Create(int num_heads, int head_dim, bool int8, std::unique_ptr<Attention>* out,
                       size_t score_budget = size_t(2) << 20);
  // qkv: [S, 3·H·dh] (q | k | v, each head-major), positions 0..S-1; ctx: [S, H·dh].
  Status Run(const float* qkv, size_t seq_len, const RopeTable& rope, float* ctx, ThreadPool* pool);

 private:
  Attention(int heads, int head_dim, bool int8, size_t budget)
      : heads_(heads), head_dim_(head_dim), int8_(int8), budget_(budget) {}
  // The int8 path: keys and values of all heads quantized and packed once per call, then per query
  // tile scores_ and out_tile_ from them.
  Status PackKeysValues(size_t seq_len, size_t tile, ThreadPool* pool);
  Status RunTileI8(size_t q0, size_t m, size_t S, ThreadPool* pool);
  int heads_, head_dim_;
  bool int8_;
  size_t budget_;
  std::vector<PackedI8> packed_k_;          // [H] keys [S, dh] as weights: one scale per key
  std::vector<PackedI8> packed_v_;          // [H] values transposed [dh, S]: one scale per channel
  std::vector<int8_t> q8_;                  // [H, S, dh] staging for the packing
  std::vector<float> q8_scale_;             // [H, 2, max(S, dh)] scales, then scratch
  std::vector<uint8_t> rows_;               // [H, tile, row bytes] quantized queries / probabilities
  std::vector<RowQuant> row_quant_;         // [H, tile]
  std::unique_ptr<BatchMatMul> scores_op_;  // q · kᵀ
  std::unique_ptr<BatchMatMul> values_op_;  // p · v
  std::unique_ptr<RowwiseOp> softmax_op_;   // over each score row
  std::vector<float> q_, k_, v_;            // [H, S, dh] each, rotated
  std::vector<float> q_tile_;               // [H, tile, dh]
  std::vector<float> scores_;               // [H, tile, S]
  std::vector<float> out_tile_;             // [H, tile, dh]
};

}  // namespace jv3
