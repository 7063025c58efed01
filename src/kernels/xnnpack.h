// The XNNPACK operators the model uses besides its own int8 kernels: f32 linear layers (behind
// LinearOp::CreateF32, linear.h), GELU and softmax over rows, and f32 batch matmul. Only this file's
// .cc and thread_pool.cc include XNNPACK's headers, and only the kernels library links XNNPACK.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "kernels/thread_pool.h"

struct xnn_operator;  // xnnpack.h: typedef struct xnn_operator* xnn_operator_t

namespace jv3 {

// Owns one XNNPACK operator (xnn_delete_operator on destruction).
struct XnnOperatorDeleter {
  void operator()(xnn_operator* op) const;
};
using XnnOperator = std::unique_ptr<xnn_operator, XnnOperatorDeleter>;

// An in-place f32 operation on each row of [rows, cols], through XNNPACK's vectorized kernels:
//   kGelu:    x = 0.5·x·(1 + erf(x/√2)) (a rational approximation of erf; the scalar std::erf loop
//             took ~3% of a forward pass)
//   kSoftmax: x[r] = softmax(x[r]) (a scalar expf loop took as long as a fifth of the linear layers
//             at 2048 tokens)
class RowwiseOp {
 public:
  enum class Kind { kGelu, kSoftmax };
  static Status Create(Kind kind, std::unique_ptr<RowwiseOp>* op);
  Status Run(float* x, size_t rows, size_t cols, ThreadPool* pool);

 private:
  explicit RowwiseOp(Kind kind) : kind_(kind) {}
  const char* Name() const { return kind_ == Kind::kGelu ? "unary_elementwise_nc gelu" : "softmax_nc_f32"; }
  Kind kind_;
  XnnOperator op_;
  size_t rows_ = 0, cols_ = 0;  // the shape op_ is reshaped for
};

// c[b] = a[b] · bᵀ[b] (transpose_b) or a[b] · b[b], f32, for b in [0, batch).
// a: [batch, m, k]; b: [batch, n, k] (transposed) or [batch, k, n]; c: [batch, m, n].
class BatchMatMul {
 public:
  static Status Create(bool transpose_b, std::unique_ptr<BatchMatMul>* op);
  Status Run(size_t batch, size_t m, size_t k, size_t n, const float* a, const float* b, float* c, ThreadPool* pool);

 private:
  BatchMatMul() = default;
  XnnOperator op_;
  std::vector<uint8_t> workspace_;  // [XNNPACK's workspace size + alignment]
};

}  // namespace jv3
