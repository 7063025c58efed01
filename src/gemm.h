// GEMM wrapper: the thread pool and the linear layers (int8 through our own kernel, src/qgemm, or
// XNNPACK's qd8_f32_qc8w in the relaxed-SIMD build; f32 through XNNPACK), XNNPACK's row-wise
// operators and f32 batch matmul. This is the only part of the runtime that talks to XNNPACK.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "qgemm.h"
#include "status.h"

namespace jv3 {

// Activation buffers handed to these operators must stay readable this many bytes past their end
// (XNNPACK's vector kernels over-read).
constexpr size_t kGemmOverreadBytes = 256;

// Owns the pthreadpool that XNNPACK and the other kernels run on.
class ThreadPool {
 public:
  static Status Create(int threads, std::unique_ptr<ThreadPool>* out);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  void* handle() const { return pool_; }  // pthreadpool_t
  // Runs fn(i) for i in [0, n), spread over the pool's threads.
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);

 private:
  ThreadPool(void* pool, int threads) : pool_(pool), threads_(threads) {}
  void* pool_;
  int threads_;
};

// The per-row int8 activations of the int8 LinearOps. A model's ops run one after another, so
// they share one (sized for the widest input) instead of each keeping rows × in bytes: at 8192
// tokens that is 56 MB per layer, 1.3 GB for the model.
class QuantScratch {
 public:
  // Makes room for rows × in quantized values and their per-row parameters (XNNPACK's int8 path).
  Status Reserve(size_t rows, size_t in);
  int8_t* values() { return values_.data(); }
  void* params() { return params_.data(); }  // xnn_quantization_params[rows + extra]
  // Makes room for rows quantized rows of row_bytes each and their parameters (our kernel's path).
  Status ReserveRows(size_t rows, size_t row_bytes);
  uint8_t* rows() { return rows_.data(); }
  RowQuant* row_quant() { return row_quant_.data(); }

 private:
  std::vector<int8_t> values_;    // [rows * in + overread]
  std::vector<uint8_t> params_;   // [(rows + extra) * sizeof(xnn_quantization_params)]
  std::vector<uint8_t> rows_;          // [rows * row_bytes]
  std::vector<RowQuant> row_quant_;    // [rows]
};


// y[M, N] = x[M, K] · W[N, K]ᵀ + b, with W packed once at creation.
// int8 weights (per-output-channel scales): the activations are quantized per row on the fly into
// `scratch` (shared between the ops of one model; a private one when null), for our kernel (src/qgemm,
// its SIMD128 or relaxed-SIMD scheme by build) or, on request, XNNPACK's qd8_f32_qc8w. f32 weights
// run as XNNPACK f32.
class LinearOp {
 public:
  // `xnnpack`: XNNPACK's kernel even where ours is the default (for benchmarks and comparisons).
  static Status CreateI8(size_t in, size_t out, const int8_t* weight, const float* scales, const float* bias,
                         std::unique_ptr<LinearOp>* op, std::shared_ptr<QuantScratch> scratch = nullptr,
                         bool xnnpack = false);
  static Status CreateF32(size_t in, size_t out, const float* weight, const float* bias,
                          std::unique_ptr<LinearOp>* op);
  ~LinearOp();

  size_t in() const { return in_; }
  size_t out() const { return out_; }
  Status Run(const float* x, size_t rows, float* y, ThreadPool* pool);

 private:
  LinearOp(size_t in, size_t out) : in_(in), out_(out) {}
  size_t in_, out_;
  void* fc_ = nullptr;       // xnn_operator_t
  void* convert_ = nullptr;  // xnn_operator_t f32 -> qd8, XNNPACK int8 path only
  std::unique_ptr<PackedI8> packed_;  // our int8 kernel's weights
  size_t reshaped_rows_ = 0;
  std::shared_ptr<QuantScratch> scratch_;  // int8 weights only
  Status RunOwnI8(const float* x, size_t rows, float* y, ThreadPool* pool);
};

// An in-place f32 operation on each row of [rows, cols], through XNNPACK's vectorized kernels:
//   kGelu:    x = 0.5·x·(1 + erf(x/√2)) (a rational approximation of erf; the scalar std::erf loop
//             took ~3% of a forward pass)
//   kSoftmax: x[r] = softmax(x[r]) (a scalar expf loop took as long as a fifth of the linear layers
//             at 2048 tokens)
class RowwiseOp {
 public:
  enum class Kind { kGelu, kSoftmax };
  static Status Create(Kind kind, std::unique_ptr<RowwiseOp>* op);
  ~RowwiseOp();
  Status Run(float* x, size_t rows, size_t cols, ThreadPool* pool);

 private:
  explicit RowwiseOp(Kind kind) : kind_(kind) {}
  const char* Name() const { return kind_ == Kind::kGelu ? "unary_elementwise_nc gelu" : "softmax_nc_f32"; }
  Kind kind_;
  void* op_ = nullptr;  // xnn_operator_t
  size_t rows_ = 0, cols_ = 0;
};

// c[b] = a[b] · bᵀ[b] (transpose_b) or a[b] · b[b], f32, for b in [0, batch).
// a: [batch, m, k]; b: [batch, n, k] (transposed) or [batch, k, n]; c: [batch, m, n].
class BatchMatMul {
 public:
  static Status Create(bool transpose_b, std::unique_ptr<BatchMatMul>* op);
  ~BatchMatMul();
  Status Run(size_t batch, size_t m, size_t k, size_t n, const float* a, const float* b, float* c, ThreadPool* pool);

 private:
  BatchMatMul() = default;
  void* op_ = nullptr;
  std::vector<uint8_t> workspace_;
};

}  // namespace jv3
