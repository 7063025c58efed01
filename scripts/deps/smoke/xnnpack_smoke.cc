// Smoke test for an XNNPACK prefix: f32 -> qd8 conversion + qd8_f32_qc8w fully connected (M=4 K=16 N=8)
// and an f32 batch matmul with transposed B (needs a caller-provided workspace); checks against float math.
#include <xnnpack.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

namespace {

constexpr size_t M = 4, K = 16, N = 8, kBatch = 2;

void check(xnn_status status, const char* what) {
  if (status != xnn_status_success) {
    std::fprintf(stderr, "FAIL: %s returned %d\n", what, static_cast<int>(status));
    std::exit(1);
  }
}

float max_rel_error(const float* got, const std::vector<float>& want) {
  float max_abs = 0, max_err = 0;
  for (size_t i = 0; i < want.size(); i++) {
    max_abs = std::fmax(max_abs, std::fabs(want[i]));
    max_err = std::fmax(max_err, std::fabs(got[i] - want[i]));
  }
  return max_err / max_abs;
}

}  // namespace

int main() {
  check(xnn_initialize(nullptr), "xnn_initialize");
  pthreadpool_t pool = pthreadpool_create(2);
  const float inf = std::numeric_limits<float>::infinity();

  // Inputs: A [M, K] f32; W [N, K] int8 with per-channel scales; bias [N].
  std::vector<float> a(M * K), scale(N), bias(N);
  std::vector<int8_t> w(N * K);
  for (size_t i = 0; i < a.size(); i++) a[i] = std::sin(0.37f * i) * 2.0f;
  for (size_t i = 0; i < w.size(); i++) w[i] = static_cast<int8_t>((i * 37) % 255 - 127);
  for (size_t n = 0; n < N; n++) scale[n] = 0.01f * (n + 1), bias[n] = 0.5f * n;

  // f32 -> qd8 (per-row dynamic quantization). XNNPACK may read XNN_EXTRA_BYTES past the int8
  // tensor and XNN_EXTRA_QUANTIZATION_PARAMS entries past the per-row parameters.
  std::vector<int8_t> a_q(M * K + XNN_EXTRA_BYTES);
  std::vector<xnn_quantization_params> a_qp(M + XNN_EXTRA_QUANTIZATION_PARAMS);
  xnn_operator_t convert = nullptr;
  check(xnn_create_convert_nc_f32_qd8(0, &convert), "create_convert_nc_f32_qd8");
  check(xnn_reshape_convert_nc_f32_qd8(convert, M, K, K, K, pool), "reshape_convert_nc_f32_qd8");
  check(xnn_setup_convert_nc_f32_qd8(convert, a.data(), a_q.data(), a_qp.data()), "setup_convert_nc_f32_qd8");
  check(xnn_run_operator(convert, pool), "run convert");

  std::vector<float> y(M * N), y_ref(M * N);
  xnn_operator_t fc = nullptr;
  check(xnn_create_fully_connected_nc_qd8_f32_qc8w(K, N, K, N, scale.data(), w.data(), bias.data(), -inf, inf, 0,
                                                   nullptr, nullptr, &fc),
        "create_fully_connected_nc_qd8_f32_qc8w");
  check(xnn_reshape_fully_connected_nc_qd8_f32_qc8w(fc, M, pool), "reshape_fully_connected_nc_qd8_f32_qc8w");
  check(xnn_setup_fully_connected_nc_qd8_f32_qc8w(fc, a_q.data(), y.data(), a_qp.data()),
        "setup_fully_connected_nc_qd8_f32_qc8w");
  check(xnn_run_operator(fc, pool), "run fully_connected");
  for (size_t m = 0; m < M; m++)
    for (size_t n = 0; n < N; n++) {
      float acc = 0;
      for (size_t k = 0; k < K; k++) acc += a[m * K + k] * w[n * K + k];
      y_ref[m * N + n] = acc * scale[n] + bias[n];
    }
  const float fc_err = max_rel_error(y.data(), y_ref);

  // Batch matmul C[b] = A[b] x B[b]^T with B given as [N, K] (XNN_FLAG_TRANSPOSE_B). Non-constant B
  // is packed on every run into a workspace whose size/alignment reshape reports.
  std::vector<float> ba(kBatch * M * K), bb(kBatch * N * K), c(kBatch * M * N), c_ref(kBatch * M * N);
  for (size_t i = 0; i < ba.size(); i++) ba[i] = std::cos(0.11f * i);
  for (size_t i = 0; i < bb.size(); i++) bb[i] = std::sin(0.23f * i);
  xnn_operator_t bmm = nullptr;
  check(xnn_create_batch_matrix_multiply_nc_f32(XNN_FLAG_TRANSPOSE_B, &bmm), "create_batch_matrix_multiply_nc_f32");
  const size_t batch_dims[1] = {kBatch};
  size_t ws_size = 0, ws_align = 0;
  check(xnn_reshape_batch_matrix_multiply_nc_f32(bmm, 1, batch_dims, batch_dims, M, K, N, &ws_size, &ws_align, pool),
        "reshape_batch_matrix_multiply_nc_f32");
  void* workspace = std::aligned_alloc(ws_align, (ws_size + ws_align - 1) / ws_align * ws_align);
  check(xnn_setup_batch_matrix_multiply_nc_f32(bmm, workspace, ba.data(), bb.data(), c.data()),
        "setup_batch_matrix_multiply_nc_f32");
  check(xnn_run_operator(bmm, pool), "run batch_matrix_multiply");
  for (size_t b = 0; b < kBatch; b++)
    for (size_t m = 0; m < M; m++)
      for (size_t n = 0; n < N; n++) {
        float acc = 0;
        for (size_t k = 0; k < K; k++) acc += ba[(b * M + m) * K + k] * bb[(b * N + n) * K + k];
        c_ref[(b * M + m) * N + n] = acc;
      }
  const float bmm_err = max_rel_error(c.data(), c_ref);

  xnn_delete_operator(convert);
  xnn_delete_operator(fc);
  xnn_delete_operator(bmm);
  std::free(workspace);
  pthreadpool_destroy(pool);

  const bool ok = fc_err < 0.02f && bmm_err < 1e-5f;
  std::printf("%s: qd8_f32_qc8w FC rel err %.2e, f32 BMM rel err %.2e (workspace %zu B, align %zu), y[0]=%.4f\n",
              ok ? "OK" : "FAIL", fc_err, bmm_err, ws_size, ws_align, y[0]);
  return ok ? 0 : 1;
}
