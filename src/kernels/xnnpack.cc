// XNNPACK operator lifetimes and calls (reshaped only when the shape changes).
#include "kernels/xnnpack.h"

#include <limits>
#include <mutex>
#include <string>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "kernels/linear.h"

namespace jv3 {
namespace {

Status Backend(const std::string& what, xnn_status s) {
  return Status(Code::kBackend, "XNNPACK " + what + " failed (status " + std::to_string(int(s)) + ")");
}

// xnn_initialize is process-wide and idempotent; the first call decides success for all.
Status InitXnnpack() {
  static std::once_flag once;
  static xnn_status status = xnn_status_uninitialized;
  std::call_once(once, [] { status = xnn_initialize(nullptr); });
  return status == xnn_status_success ? Status::Ok() : Backend("initialization", status);
}

constexpr float kNoMin = -std::numeric_limits<float>::infinity();
constexpr float kNoMax = std::numeric_limits<float>::infinity();

class LinearF32 final : public LinearOp {
 public:
  LinearF32(size_t in, size_t out, XnnOperator fc) : LinearOp(in, out), fc_(std::move(fc)) {}
  Status Run(const float* x, size_t rows, float* y, ThreadPool* pool) override {
    xnn_status s;
    if (rows != reshaped_rows_) {
      s = xnn_reshape_fully_connected_nc_f32(fc_.get(), rows, pool->handle());
      if (s != xnn_status_success) return Backend("reshape fully_connected_nc_f32", s);
      reshaped_rows_ = rows;
    }
    s = xnn_setup_fully_connected_nc_f32(fc_.get(), x, y);
    if (s != xnn_status_success) return Backend("setup fully_connected_nc_f32", s);
    s = xnn_run_operator(fc_.get(), pool->handle());
    return s == xnn_status_success ? Status::Ok() : Backend("run fully_connected_nc_f32", s);
  }

 private:
  XnnOperator fc_;
  size_t reshaped_rows_ = 0;
};

}  // namespace

void XnnOperatorDeleter::operator()(xnn_operator* op) const { xnn_delete_operator(op); }

Status LinearOp::CreateF32(size_t in, size_t out, const float* weight, const float* bias,
                           std::unique_ptr<LinearOp>* op) {
  JV3_RETURN_IF_ERROR(InitXnnpack());
  xnn_operator_t fc = nullptr;
  xnn_status s =
      xnn_create_fully_connected_nc_f32(in, out, in, out, weight, bias, kNoMin, kNoMax, 0, nullptr, nullptr, &fc);
  if (s != xnn_status_success) return Backend("create fully_connected_nc_f32", s);
  *op = std::make_unique<LinearF32>(in, out, XnnOperator(fc));
  return Status::Ok();
}

Status RowwiseOp::Create(Kind kind, std::unique_ptr<RowwiseOp>* op) {
  JV3_RETURN_IF_ERROR(InitXnnpack());
  std::unique_ptr<RowwiseOp> r(new RowwiseOp(kind));
  xnn_operator_t o = nullptr;
  xnn_status s = kind == Kind::kGelu
                     ? xnn_create_unary_elementwise_nc(xnn_unary_gelu, xnn_datatype_fp32, xnn_datatype_fp32, nullptr,
                                                       nullptr, nullptr, 0, &o)
                     : xnn_create_softmax_nc_f32(0, &o);
  if (s != xnn_status_success) return Backend(std::string("create ") + r->Name(), s);
  r->op_.reset(o);
  *op = std::move(r);
  return Status::Ok();
}

Status RowwiseOp::Run(float* x, size_t rows, size_t cols, ThreadPool* pool) {
  xnn_operator_t o = op_.get();
  xnn_status s;
  if (rows != rows_ || cols != cols_) {
    s = kind_ == Kind::kGelu ? xnn_reshape_unary_elementwise_nc(o, rows, cols, cols, cols, pool->handle())
                             : xnn_reshape_softmax_nc_f32(o, cols, cols, cols, rows, pool->handle());
    if (s != xnn_status_success) return Backend(std::string("reshape ") + Name(), s);
    rows_ = rows;
    cols_ = cols;
  }
  s = kind_ == Kind::kGelu ? xnn_setup_unary_elementwise_nc(o, x, x) : xnn_setup_softmax_nc_f32(o, x, x);
  if (s != xnn_status_success) return Backend(std::string("setup ") + Name(), s);
  s = xnn_run_operator(o, pool->handle());
  return s == xnn_status_success ? Status::Ok() : Backend(std::string("run ") + Name(), s);
}

Status BatchMatMul::Create(bool transpose_b, std::unique_ptr<BatchMatMul>* op) {
  JV3_RETURN_IF_ERROR(InitXnnpack());
  std::unique_ptr<BatchMatMul> b(new BatchMatMul());
  xnn_operator_t o = nullptr;
  xnn_status s = xnn_create_batch_matrix_multiply_nc_f32(transpose_b ? XNN_FLAG_TRANSPOSE_B : 0, &o);
  if (s != xnn_status_success) return Backend("create batch_matrix_multiply_nc_f32", s);
  b->op_.reset(o);
  *op = std::move(b);
  return Status::Ok();
}

Status BatchMatMul::Run(size_t batch, size_t m, size_t k, size_t n, const float* a, const float* b, float* c,
                        ThreadPool* pool) {
  xnn_operator_t o = op_.get();
  size_t ws_size = 0, ws_align = 0;
  xnn_status s =
      xnn_reshape_batch_matrix_multiply_nc_f32(o, 1, &batch, &batch, m, k, n, &ws_size, &ws_align, pool->handle());
  if (s != xnn_status_success) return Backend("reshape batch_matrix_multiply_nc_f32", s);
  if (workspace_.size() < ws_size + ws_align) {
    JV3_RETURN_IF_ERROR(OrOutOfMemory([&] { workspace_.resize(ws_size + ws_align); }, "for the attention workspace"));
  }
  void* ws = workspace_.data();
  if (ws_align > 1) {
    ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws) + ws_align - 1) / ws_align * ws_align);
  }
  s = xnn_setup_batch_matrix_multiply_nc_f32(o, ws, a, b, c);
  if (s != xnn_status_success) return Backend("setup batch_matrix_multiply_nc_f32", s);
  s = xnn_run_operator(o, pool->handle());
  return s == xnn_status_success ? Status::Ok() : Backend("run batch_matrix_multiply_nc_f32", s);
}

}  // namespace jv3
