// Linear layers y[M, N] = x[M, K] · W[N, K]ᵀ + b, the bulk of the forward pass: one interface, two
// implementations chosen by the weights' dtype: int8 through our kernels (qgemm.h, threaded here),
// f32 through XNNPACK (xnnpack.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "kernels/qgemm.h"
#include "kernels/thread_pool.h"

namespace jv3 {

// Activation buffers handed to the kernels must stay readable this many bytes past their end
// (XNNPACK's vector kernels over-read).
constexpr size_t kGemmOverreadBytes = 256;

// The per-row quantized activations of the int8 LinearOps. A model's ops run one after another, so
// they share one (sized for the widest input) instead of each keeping rows × in bytes: at 8192
// tokens that is 56 MB per layer, 1.3 GB for the model.
class QuantScratch {
 public:
  // Makes room for `rows` quantized rows of row_bytes each and their parameters.
  Status ReserveRows(size_t rows, size_t row_bytes);
  uint8_t* rows() { return rows_.data(); }
  RowQuant* row_quant() { return row_quant_.data(); }

 private:
  std::vector<uint8_t> rows_;        // [rows * row_bytes]
  std::vector<RowQuant> row_quant_;  // [rows]
};

class LinearOp {
 public:
  // int8 weight [out, in] with one scale per output channel, packed for this build's kernel at
  // creation; the activations are quantized per row on the fly into `scratch` (shared between the
  // ops of one model; a private one when null).
  static Status CreateI8(size_t in, size_t out, const int8_t* weight, const float* scales, const float* bias,
                         std::unique_ptr<LinearOp>* op, std::shared_ptr<QuantScratch> scratch = nullptr);
  // f32 weight [out, in], through XNNPACK.
  static Status CreateF32(size_t in, size_t out, const float* weight, const float* bias, std::unique_ptr<LinearOp>* op);
  virtual ~LinearOp() = default;

  size_t in() const { return in_; }
  size_t out() const { return out_; }
  // x: [rows, in] (+ kGemmOverreadBytes); y: [rows, out].
  virtual Status Run(const float* x, size_t rows, float* y, ThreadPool* pool) = 0;

 protected:
  LinearOp(size_t in, size_t out) : in_(in), out_(out) {}
  size_t in_, out_;
};

}  // namespace jv3
