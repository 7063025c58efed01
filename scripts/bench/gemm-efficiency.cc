// GEMM efficiency: the linear layers' throughput inside a forward pass over workload b (8 × 128
// tokens, no task; or SEQSxLEN) against the same operators run alone, and the pass's time per phase,
// in one process of one engine.
//   built and run by scripts/bench/gemm.sh; or: gemm-efficiency MODEL_FILE [threads] [runs] [SEQSxLEN]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "format/model_file.h"
#include "kernels/linear.h"
#include "runtime/model.h"

using namespace jv3;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

Status Load(const char* path, int threads, std::unique_ptr<Model>* out) {
  Model::Builder builder;
  ModelStreamReader reader(
      [&](const ModelHeader& h) { return builder.OnHeader(h); },
      [&](const TensorEntry& e, std::vector<uint8_t>&& b) { return builder.OnTensor(e, std::move(b)); });
  FILE* f = std::fopen(path, "rb");
  if (!f) return Status(Code::kIo, std::string("cannot open ") + path);
  std::vector<uint8_t> chunk(8 << 20);  // [8 MiB] read buffer
  size_t n;
  Status st;
  while (st.ok() && (n = std::fread(chunk.data(), 1, chunk.size(), f)) > 0) st = reader.Push(chunk.data(), n);
  std::fclose(f);
  JV3_RETURN_IF_ERROR(st);
  JV3_RETURN_IF_ERROR(reader.Finish());
  return builder.Finish(threads, out);
}

// Random int8 weights [out, in] with their scales and bias, and random activations [rows, in].
struct Operands {
  std::vector<int8_t> w;
  std::vector<float> scale, bias, x, y;
  Operands(size_t rows, size_t in, size_t out)
      : w(in * out),
        scale(out, 1e-3f),
        bias(out, 0.f),
        x(rows * in + kGemmOverreadBytes),
        y(rows * out + kGemmOverreadBytes) {
    std::mt19937 rng(1);
    for (auto& v : w) v = static_cast<int8_t>(int(rng() % 255) - 127);
    std::normal_distribution<float> dist;
    for (auto& v : x) v = dist(rng);
  }
};

// Best seconds of run() over `runs` (run 0 warms up), or 0 when it fails.
template <typename F>
double BestSeconds(int runs, F run) {
  double best = 1e30;
  for (int r = 0; r <= runs; ++r) {
    const auto t = Clock::now();
    if (!run()) return 0;
    if (r > 0) best = std::min(best, Seconds(t));
  }
  return best;
}

// The model's int8 linear operator alone on `rows` random rows: best GOP/s (2·M·K·N) over `runs`.
double Standalone(size_t rows, size_t in, size_t out, ThreadPool* pool, int runs) {
  Operands o(rows, in, out);
  std::unique_ptr<LinearOp> op;
  if (!LinearOp::CreateI8(in, out, o.w.data(), o.scale.data(), o.bias.data(), &op).ok()) return 0;
  const double s = BestSeconds(runs, [&] { return op->Run(o.x.data(), rows, o.y.data(), pool).ok(); });
  return s > 0 ? 2.0 * rows * in * out / s / 1e9 : 0;
}

// The same with XNNPACK's qd8_f32_qc8w operator (activations quantized by its convert_nc_f32_qd8).
double StandaloneXnnpack(size_t rows, size_t in, size_t out, ThreadPool* pool, int runs) {
  Operands o(rows, in, out);
  if (xnn_initialize(nullptr) != xnn_status_success) return 0;
  xnn_operator_t fc = nullptr, cv = nullptr;
  const float inf = std::numeric_limits<float>::infinity();
  if (xnn_create_fully_connected_nc_qd8_f32_qc8w(in, out, in, out, o.scale.data(), o.w.data(), o.bias.data(), -inf, inf,
                                                 0, nullptr, nullptr, &fc) != xnn_status_success ||
      xnn_create_convert_nc_f32_qd8(0, &cv) != xnn_status_success) {
    return 0;
  }
  std::vector<int8_t> qx(rows * in + XNN_EXTRA_BYTES);                            // [rows, in]
  std::vector<xnn_quantization_params> qp(rows + XNN_EXTRA_QUANTIZATION_PARAMS);  // [rows]
  pthreadpool_t tp = pool->handle();
  bool ok = xnn_reshape_convert_nc_f32_qd8(cv, rows, in, in, in, tp) == xnn_status_success &&
            xnn_reshape_fully_connected_nc_qd8_f32_qc8w(fc, rows, tp) == xnn_status_success &&
            xnn_setup_convert_nc_f32_qd8(cv, o.x.data(), qx.data(), qp.data()) == xnn_status_success &&
            xnn_setup_fully_connected_nc_qd8_f32_qc8w(fc, qx.data(), o.y.data(), qp.data()) == xnn_status_success;
  const double s = ok ? BestSeconds(runs,
                                    [&] {
                                      return xnn_run_operator(cv, tp) == xnn_status_success &&
                                             xnn_run_operator(fc, tp) == xnn_status_success;
                                    })
                      : 0;
  xnn_delete_operator(fc);
  xnn_delete_operator(cv);
  return s > 0 ? 2.0 * rows * in * out / s / 1e9 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: gemm-efficiency MODEL_FILE [threads] [runs]\n");
    return 2;
  }
  const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 3;
  std::unique_ptr<Model> model;
  Status st = Load(argv[1], threads, &model);
  if (!st.ok()) {
    std::fprintf(stderr, "load failed: %s\n", st.message().c_str());
    return 1;
  }
  const ModelConfig& c = model->config();
  // Workload b: 8 sequences of 128 ids (<s> … </s>), or as asked.
  size_t seqs = 8, len = 128;
  if (argc > 4 && (std::sscanf(argv[4], "%zux%zu", &seqs, &len) != 2 || seqs == 0 || len < 2)) {
    std::fprintf(stderr, "SEQSxLEN: e.g. 1x512, got %s\n", argv[4]);
    return 2;
  }
  const size_t tokens = seqs * len;
  std::vector<std::vector<int32_t>> ids(seqs, std::vector<int32_t>(len));
  for (auto& seq : ids) {
    for (size_t i = 0; i < seq.size(); ++i) seq[i] = static_cast<int32_t>(5 + (i * 7919) % (c.vocab_size - 5));
    seq.front() = 0;
    seq.back() = 2;
  }
  std::vector<SequenceInput> batch;
  for (auto& seq : ids) batch.push_back({&seq, -1});
  std::vector<float> hidden;                           // [tokens, d]
  if (!model->Forward(batch, &hidden).ok()) return 1;  // warm-up: reshapes, buffers
  double best_forward = 1e30;
  ForwardTiming best;
  for (int r = 0; r < runs; ++r) {
    ForwardTiming timing;
    model->set_timing(&timing);
    const auto t = Clock::now();
    if (!model->Forward(batch, &hidden).ok()) return 1;
    const double total = Seconds(t);
    model->set_timing(nullptr);
    if (total < best_forward) {
      best_forward = total;
      best = timing;
    }
  }
  const double best_gemm_rate = best.linear_ops / best.linear / 1e9, gemm_share = best.linear / best_forward;
  std::unique_ptr<ThreadPool> pool;
  if (!ThreadPool::Create(threads, &pool).ok()) return 1;
  // The model's four linear shapes at the workload's rows, weighted by their op counts (one each per layer).
  const size_t d = c.hidden_size, f = c.intermediate_size, rows = tokens;
  const size_t shapes[4][2] = {{d, 3 * d}, {d, d}, {d, f}, {f, d}};
  double ops = 0, secs = 0, secs_xnn = 0;
  for (auto& s : shapes) {
    const double o = 2.0 * rows * s[0] * s[1];
    ops += o;
    secs += o / (Standalone(rows, s[0], s[1], pool.get(), runs) * 1e9);
    secs_xnn += o / (StandaloneXnnpack(rows, s[0], s[1], pool.get(), runs) * 1e9);
  }
  const double alone = ops / secs / 1e9, alone_xnn = ops / secs_xnn / 1e9;
  const double notes_shape = StandaloneXnnpack(512, 1024, 4096, pool.get(), runs);
  std::printf(
      "{\"threads\":%d,\"forwardMs\":%.1f,\"tokensPerS\":%.1f,\"gemmShare\":%.3f,\"inModelGops\":%.2f,"
      "\"standaloneGops\":%.2f,\"efficiency\":%.3f,\"xnnpackStandaloneGops\":%.2f,\"vsXnnpack\":%.3f,"
      "\"xnnpack512x1024x4096Gops\":%.2f,\"phasesMs\":{\"linear\":%.1f,\"lora\":%.1f,\"attention\":%.1f,"
      "\"norm\":%.1f,\"gelu\":%.1f,\"embed\":%.1f}}\n",
      threads, best_forward * 1e3, tokens / best_forward, gemm_share, best_gemm_rate, alone, best_gemm_rate / alone,
      alone_xnn, best_gemm_rate / alone_xnn, notes_shape, best.linear * 1e3, best.lora * 1e3, best.attention * 1e3,
      best.norm * 1e3, best.gelu * 1e3, best.embed * 1e3);
  return 0;
}
