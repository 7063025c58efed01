// XNNPACK operator lifetimes and calls (reshaped only when the row count changes), and the
// threading of our int8 kernel.
#include "gemm.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <string>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "qgemm.h"

namespace jv3 {
namespace {

Status Backend(const char* what, xnn_status s) {
  return Status(Code::kBackend, std::string("XNNPACK ") + what + " failed (status " + std::to_string(int(s)) + ")");
}

// xnn_initialize is process-wide and idempotent; the first call decides success for all.
Status InitXnnpack() {
  static std::once_flag once;
  static xnn_status status = xnn_status_uninitialized;
  std::call_once(once, [] { status = xnn_initialize(nullptr); });
  return status == xnn_status_success ? Status::Ok() : Backend("initialization", status);
}

// Work split of our int8 kernel: tasks of kRowBlock rows × kPanelBlock panels, so that a 4-row
// activation tile is reused across the block's panels and the block's weights stay in L2.
constexpr size_t kRowBlock = 48;  // whole tiles of both schemes (4 and 6 rows)
constexpr size_t kPanelBlock = 16;

constexpr float kNoMin = -std::numeric_limits<float>::infinity();
constexpr float kNoMax = std::numeric_limits<float>::infinity();

}  // namespace

Status ThreadPool::Create(int threads, std::unique_ptr<ThreadPool>* out) {
  if (threads < 1 || threads > 64) {
    return Status(Code::kInvalidArgument, "threads must be between 1 and 64, got " + std::to_string(threads));
  }
  JV3_RETURN_IF_ERROR(InitXnnpack());
  pthreadpool_t pool = nullptr;
  if (threads > 1) {
    pool = pthreadpool_create(threads);
    if (!pool) return Status(Code::kBackend, "could not start " + std::to_string(threads) + " threads");
  }
  out->reset(new ThreadPool(pool, threads));
  return Status::Ok();
}

ThreadPool::~ThreadPool() {
  if (pool_) pthreadpool_destroy(static_cast<pthreadpool_t>(pool_));
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (!pool_ || n <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  pthreadpool_parallelize_1d(
      static_cast<pthreadpool_t>(pool_),
      [](void* ctx, size_t i) { (*static_cast<const std::function<void(size_t)>*>(ctx))(i); },
      const_cast<std::function<void(size_t)>*>(&fn), n, 0);
}

Status QuantScratch::Reserve(size_t rows, size_t in) {
  try {
    if (values_.size() < rows * in + XNN_EXTRA_BYTES) values_.resize(rows * in + XNN_EXTRA_BYTES);
    const size_t params = (rows + XNN_EXTRA_QUANTIZATION_PARAMS) * sizeof(xnn_quantization_params);
    if (params_.size() < params) params_.resize(params);
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, "out of memory for " + std::to_string(rows) + " rows of activations");
  }
  return Status::Ok();
}

Status QuantScratch::ReserveRows(size_t rows, size_t row_bytes) {
  try {
    if (rows_.size() < rows * row_bytes) rows_.resize(rows * row_bytes);
    if (row_quant_.size() < rows) row_quant_.resize(rows);
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, "out of memory for " + std::to_string(rows) + " rows of activations");
  }
  return Status::Ok();
}

Status LinearOp::CreateI8(size_t in, size_t out, const int8_t* weight, const float* scales, const float* bias,
                          std::unique_ptr<LinearOp>* op, std::shared_ptr<QuantScratch> scratch, bool xnnpack) {
  JV3_RETURN_IF_ERROR(InitXnnpack());
  std::unique_ptr<LinearOp> l(new LinearOp(in, out));
  l->scratch_ = scratch ? std::move(scratch) : std::make_shared<QuantScratch>();
  if (!xnnpack) {
    l->packed_ = std::make_unique<PackedI8>();
    JV3_RETURN_IF_ERROR(PackI8(in, out, weight, scales, bias, NativeQScheme(), l->packed_.get()));
    *op = std::move(l);
    return Status::Ok();
  }
  xnn_operator_t fc = nullptr, cv = nullptr;
  xnn_status s = xnn_create_fully_connected_nc_qd8_f32_qc8w(in, out, in, out, scales, weight, bias, kNoMin, kNoMax,
                                                             0, nullptr, nullptr, &fc);
  if (s != xnn_status_success) return Backend("create fully_connected_nc_qd8_f32_qc8w", s);
  l->fc_ = fc;
  s = xnn_create_convert_nc_f32_qd8(0, &cv);
  if (s != xnn_status_success) return Backend("create convert_nc_f32_qd8", s);
  l->convert_ = cv;
  *op = std::move(l);
  return Status::Ok();
}

Status LinearOp::CreateF32(size_t in, size_t out, const float* weight, const float* bias,
                           std::unique_ptr<LinearOp>* op) {
  JV3_RETURN_IF_ERROR(InitXnnpack());
  std::unique_ptr<LinearOp> l(new LinearOp(in, out));
  xnn_operator_t fc = nullptr;
  xnn_status s = xnn_create_fully_connected_nc_f32(in, out, in, out, weight, bias, kNoMin, kNoMax, 0, nullptr,
                                                    nullptr, &fc);
  if (s != xnn_status_success) return Backend("create fully_connected_nc_f32", s);
  l->fc_ = fc;
  *op = std::move(l);
  return Status::Ok();
}

LinearOp::~LinearOp() {
  if (fc_) xnn_delete_operator(static_cast<xnn_operator_t>(fc_));
  if (convert_) xnn_delete_operator(static_cast<xnn_operator_t>(convert_));
}

Status LinearOp::RunOwnI8(const float* x, size_t rows, float* y, ThreadPool* pool) {
  const PackedI8& w = *packed_;
  const size_t row_bytes = w.row_bytes();
  // Every call: another op of the model may have grown the shared scratch (moving it) meanwhile.
  JV3_RETURN_IF_ERROR(scratch_->ReserveRows(rows, row_bytes));
  uint8_t* q = scratch_->rows();           // [rows, row_bytes]
  RowQuant* rq = scratch_->row_quant();    // [rows]
  constexpr size_t kQuantRows = 16;
  pool->ParallelFor((rows + kQuantRows - 1) / kQuantRows, [&](size_t b) {
    for (size_t r = b * kQuantRows; r < std::min(rows, (b + 1) * kQuantRows); ++r) {
      rq[r] = QuantizeRow(w, x + r * in_, q + r * row_bytes);
    }
  });
  const size_t row_blocks = (rows + kRowBlock - 1) / kRowBlock;
  const size_t panel_blocks = (w.panels + kPanelBlock - 1) / kPanelBlock;
  pool->ParallelFor(row_blocks * panel_blocks, [&](size_t t) {
    const size_t r0 = (t / panel_blocks) * kRowBlock, p0 = (t % panel_blocks) * kPanelBlock;
    QGemmRows(w, q, rq, r0, std::min(kRowBlock, rows - r0), p0, std::min(w.panels, p0 + kPanelBlock), y);
  });
  return Status::Ok();
}

Status LinearOp::Run(const float* x, size_t rows, float* y, ThreadPool* pool) {
  if (packed_) return RunOwnI8(x, rows, y, pool);
  auto tp = static_cast<pthreadpool_t>(pool->handle());
  auto fc = static_cast<xnn_operator_t>(fc_);
  xnn_status s;
  if (!convert_) {
    if (rows != reshaped_rows_) {
      s = xnn_reshape_fully_connected_nc_f32(fc, rows, tp);
      if (s != xnn_status_success) return Backend("reshape fully_connected_nc_f32", s);
      reshaped_rows_ = rows;
    }
    s = xnn_setup_fully_connected_nc_f32(fc, x, y);
    if (s != xnn_status_success) return Backend("setup fully_connected_nc_f32", s);
    s = xnn_run_operator(fc, tp);
    return s == xnn_status_success ? Status::Ok() : Backend("run fully_connected_nc_f32", s);
  }
  auto cv = static_cast<xnn_operator_t>(convert_);
  // Every call: another op of the model may have grown the shared scratch (moving it) meanwhile.
  JV3_RETURN_IF_ERROR(scratch_->Reserve(rows, in_));
  if (rows != reshaped_rows_) {
    s = xnn_reshape_convert_nc_f32_qd8(cv, rows, in_, in_, in_, tp);
    if (s != xnn_status_success) return Backend("reshape convert_nc_f32_qd8", s);
    s = xnn_reshape_fully_connected_nc_qd8_f32_qc8w(fc, rows, tp);
    if (s != xnn_status_success) return Backend("reshape fully_connected_nc_qd8_f32_qc8w", s);
    reshaped_rows_ = rows;
  }
  auto* qp = static_cast<xnn_quantization_params*>(scratch_->params());
  int8_t* qx = scratch_->values();
  s = xnn_setup_convert_nc_f32_qd8(cv, x, qx, qp);
  if (s != xnn_status_success) return Backend("setup convert_nc_f32_qd8", s);
  s = xnn_run_operator(cv, tp);
  if (s != xnn_status_success) return Backend("run convert_nc_f32_qd8", s);
  s = xnn_setup_fully_connected_nc_qd8_f32_qc8w(fc, qx, y, qp);
  if (s != xnn_status_success) return Backend("setup fully_connected_nc_qd8_f32_qc8w", s);
  s = xnn_run_operator(fc, tp);
  return s == xnn_status_success ? Status::Ok() : Backend("run fully_connected_nc_qd8_f32_qc8w", s);
}

Status RowwiseOp::Create(Kind kind, std::unique_ptr<RowwiseOp>* op) {
  JV3_RETURN_IF_ERROR(InitXnnpack());
  std::unique_ptr<RowwiseOp> r(new RowwiseOp(kind));
  xnn_operator_t o = nullptr;
  xnn_status s = kind == Kind::kGelu
                     ? xnn_create_unary_elementwise_nc(xnn_unary_gelu, xnn_datatype_fp32, xnn_datatype_fp32, nullptr,
                                                       nullptr, nullptr, 0, &o)
                     : xnn_create_softmax_nc_f32(0, &o);
  if (s != xnn_status_success) return Backend((std::string("create ") + r->Name()).c_str(), s);
  r->op_ = o;
  *op = std::move(r);
  return Status::Ok();
}

RowwiseOp::~RowwiseOp() {
  if (op_) xnn_delete_operator(static_cast<xnn_operator_t>(op_));
}

Status RowwiseOp::Run(float* x, size_t rows, size_t cols, ThreadPool* pool) {
  auto tp = static_cast<pthreadpool_t>(pool->handle());
  auto o = static_cast<xnn_operator_t>(op_);
  xnn_status s;
  if (rows != rows_ || cols != cols_) {
    s = kind_ == Kind::kGelu ? xnn_reshape_unary_elementwise_nc(o, rows, cols, cols, cols, tp)
                             : xnn_reshape_softmax_nc_f32(o, cols, cols, cols, rows, tp);
    if (s != xnn_status_success) return Backend((std::string("reshape ") + Name()).c_str(), s);
    rows_ = rows;
    cols_ = cols;
  }
  s = kind_ == Kind::kGelu ? xnn_setup_unary_elementwise_nc(o, x, x) : xnn_setup_softmax_nc_f32(o, x, x);
  if (s != xnn_status_success) return Backend((std::string("setup ") + Name()).c_str(), s);
  s = xnn_run_operator(o, tp);
  return s == xnn_status_success ? Status::Ok() : Backend((std::string("run ") + Name()).c_str(), s);
}

Status BatchMatMul::Create(bool transpose_b, std::unique_ptr<BatchMatMul>* op) {
  JV3_RETURN_IF_ERROR(InitXnnpack());
  std::unique_ptr<BatchMatMul> b(new BatchMatMul());
  xnn_operator_t o = nullptr;
  xnn_status s = xnn_create_batch_matrix_multiply_nc_f32(transpose_b ? XNN_FLAG_TRANSPOSE_B : 0, &o);
  if (s != xnn_status_success) return Backend("create batch_matrix_multiply_nc_f32", s);
  b->op_ = o;
  *op = std::move(b);
  return Status::Ok();
}

BatchMatMul::~BatchMatMul() {
  if (op_) xnn_delete_operator(static_cast<xnn_operator_t>(op_));
}

Status BatchMatMul::Run(size_t batch, size_t m, size_t k, size_t n, const float* a, const float* b, float* c,
                        ThreadPool* pool) {
  auto tp = static_cast<pthreadpool_t>(pool->handle());
  auto o = static_cast<xnn_operator_t>(op_);
  size_t ws_size = 0, ws_align = 0;
  xnn_status s = xnn_reshape_batch_matrix_multiply_nc_f32(o, 1, &batch, &batch, m, k, n, &ws_size, &ws_align, tp);
  if (s != xnn_status_success) return Backend("reshape batch_matrix_multiply_nc_f32", s);
  if (workspace_.size() < ws_size + ws_align) {
    try {
      workspace_.resize(ws_size + ws_align);
    } catch (const std::bad_alloc&) {
      return Status(Code::kOutOfMemory, "out of memory for the attention workspace");
    }
  }
  void* ws = workspace_.data();
  if (ws_align > 1) {
    ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws) + ws_align - 1) / ws_align * ws_align);
  }
  s = xnn_setup_batch_matrix_multiply_nc_f32(o, ws, a, b, c);
  if (s != xnn_status_success) return Backend("setup batch_matrix_multiply_nc_f32", s);
  s = xnn_run_operator(o, tp);
  return s == xnn_status_success ? Status::Ok() : Backend("run batch_matrix_multiply_nc_f32", s);
}

}  // namespace jv3
