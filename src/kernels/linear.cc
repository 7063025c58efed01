// The int8 LinearOp: quantizes the activations per row, then runs qgemm over blocks of rows ×
// weight panels spread over the thread pool.
#include "kernels/linear.h"

#include <algorithm>
#include <string>

namespace jv3 {
namespace {

// Work split of our int8 kernel: tasks of kRowBlock rows × kPanelBlock panels, so that a 4-row
// activation tile is reused across the block's panels and the block's weights stay in L2.
constexpr size_t kRowBlock = 48;  // whole tiles of both schemes (4 and 6 rows)
constexpr size_t kPanelBlock = 16;
// Rows quantized per task.
constexpr size_t kQuantRows = 16;

class LinearI8 final : public LinearOp {
 public:
  LinearI8(size_t in, size_t out, std::shared_ptr<QuantScratch> scratch)
      : LinearOp(in, out), scratch_(std::move(scratch)) {}
  Status Pack(const int8_t* weight, const float* scales, const float* bias) {
    return PackI8(in_, out_, weight, scales, bias, NativeQScheme(), &packed_);
  }
  Status Run(const float* x, size_t rows, float* y, ThreadPool* pool) override;

 private:
  PackedI8 packed_;                        // the weights in the kernel's order
  std::shared_ptr<QuantScratch> scratch_;  // the activations, quantized
};

Status LinearI8::Run(const float* x, size_t rows, float* y, ThreadPool* pool) {
  const PackedI8& w = packed_;
  const size_t row_bytes = w.row_bytes();
  // Every call: another op of the model may have grown the shared scratch (moving it) meanwhile.
  JV3_RETURN_IF_ERROR(scratch_->ReserveRows(rows, row_bytes));
  uint8_t* q = scratch_->rows();         // [rows, row_bytes]
  RowQuant* rq = scratch_->row_quant();  // [rows]
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

}  // namespace

Status QuantScratch::ReserveRows(size_t rows, size_t row_bytes) {
  if (rows_.size() >= rows * row_bytes && row_quant_.size() >= rows) return Status::Ok();
  return OrOutOfMemory(
      [&] {
        if (rows_.size() < rows * row_bytes) rows_.resize(rows * row_bytes);
        if (row_quant_.size() < rows) row_quant_.resize(rows);
      },
      "for " + std::to_string(rows) + " rows of activations");
}

Status LinearOp::CreateI8(size_t in, size_t out, const int8_t* weight, const float* scales, const float* bias,
                          std::unique_ptr<LinearOp>* op, std::shared_ptr<QuantScratch> scratch) {
  auto l = std::make_unique<LinearI8>(in, out, scratch ? std::move(scratch) : std::make_shared<QuantScratch>());
  JV3_RETURN_IF_ERROR(l->Pack(weight, scales, bias));
  *op = std::move(l);
  return Status::Ok();
}

}  // namespace jv3
