// Kernels against naive double-precision references on odd sizes: linear (f32, int8), our int8 GEMM
// (exact integer sums), GELU, LoRA, attention with RoPE.
#include <cmath>
#include <random>

#include "kernels/attention.h"
#include "kernels/linear.h"
#include "kernels/rowwise.h"
#include "kernels/xnnpack.h"
#include "test_util.h"

using namespace jv3;

namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n + 64);
  for (size_t i = 0; i < n; ++i) v[i] = dist(rng);
  return v;
}

double MaxRel(const std::vector<double>& want, const float* got) {
  double m = 0, mag = 1e-6;
  for (double w : want) mag = std::max(mag, std::fabs(w));
  for (size_t i = 0; i < want.size(); ++i) m = test::WorseError(m, std::fabs(want[i] - got[i]));
  return m / mag;
}

void TestLinear(test::Counter& t, ThreadPool* pool, size_t rows, size_t in, size_t out, bool int8) {
  std::mt19937 rng(rows * 131 + in * 7 + out);
  auto x = Random(rows * in, rng), w = Random(out * in, rng, 0.1f), b = Random(out, rng, 0.1f);
  std::vector<int8_t> q(out * in);
  std::vector<float> scale(out), wdq(out * in);
  for (size_t o = 0; o < out; ++o) {
    float amax = 0;
    for (size_t k = 0; k < in; ++k) amax = std::max(amax, std::fabs(w[o * in + k]));
    scale[o] = amax / 127.f;
    for (size_t k = 0; k < in; ++k) {
      q[o * in + k] = static_cast<int8_t>(std::nearbyint(w[o * in + k] / scale[o]));
      wdq[o * in + k] = q[o * in + k] * scale[o];
    }
  }
  std::unique_ptr<LinearOp> op;
  Status st = int8 ? LinearOp::CreateI8(in, out, q.data(), scale.data(), b.data(), &op)
                   : LinearOp::CreateF32(in, out, w.data(), b.data(), &op);
  t.Check(st.ok(), "create linear: " + st.message());
  if (!st.ok()) return;
  std::vector<float> y(rows * out + 64);
  st = op->Run(x.data(), rows, y.data(), pool);
  t.Check(st.ok(), "run linear: " + st.message());
  std::vector<double> want(rows * out);
  const std::vector<float>& wr = int8 ? wdq : w;
  for (size_t r = 0; r < rows; ++r)
    for (size_t o = 0; o < out; ++o) {
      double s = b[o];
      for (size_t k = 0; k < in; ++k) s += double(x[r * in + k]) * wr[o * in + k];
      want[r * out + o] = s;
    }
  // int8 also quantizes activations per row, to 12 bits in our kernel: ~0.1% of the output's
  // magnitude is expected (XNNPACK's 8-bit activations, used only by the relaxed-SIMD wasm build, ~1%).
  const double rel = MaxRel(want, y.data()), tol = int8 ? 2e-3 : 1e-5;
  t.Check(rel <= tol, std::string(int8 ? "int8" : "f32") + " linear " + std::to_string(rows) + "x" +
                          std::to_string(in) + "->" + std::to_string(out) + " rel err " + std::to_string(rel));
}

// Two int8 ops sharing one quantization scratch, called with growing and shrinking row counts.
void TestSharedScratch(test::Counter& t, ThreadPool* pool) {
  std::mt19937 rng(5);
  auto scratch = std::make_shared<QuantScratch>();
  const size_t in = 48, out = 20;
  std::vector<int8_t> q(out * in);
  for (auto& v : q) v = static_cast<int8_t>(int(rng() % 255) - 127);
  std::vector<float> scale(out, 0.01f), bias(out, 0.f);
  std::unique_ptr<LinearOp> a, b, alone;
  t.Check(LinearOp::CreateI8(in, out, q.data(), scale.data(), bias.data(), &a, scratch).ok(), "create shared a");
  t.Check(LinearOp::CreateI8(in, out, q.data(), scale.data(), bias.data(), &b, scratch).ok(), "create shared b");
  t.Check(LinearOp::CreateI8(in, out, q.data(), scale.data(), bias.data(), &alone).ok(), "create private");
  for (size_t rows : {3, 40, 7}) {
    auto x = Random(rows * in, rng);
    std::vector<float> ya(rows * out + 64), yb(rows * out + 64), yc(rows * out + 64);
    t.Check(a->Run(x.data(), rows, ya.data(), pool).ok() && b->Run(x.data(), rows, yb.data(), pool).ok() &&
                alone->Run(x.data(), rows, yc.data(), pool).ok(),
            "shared scratch run");
    bool same = true;
    for (size_t i = 0; i < rows * out; ++i) same = same && ya[i] == yc[i] && yb[i] == yc[i];
    t.Check(same, "shared scratch gives the private scratch's result at " + std::to_string(rows) + " rows");
  }
}

// Our int8 GEMM on its own, both schemes (plain loops natively): the int32 sums must be exact
// (checked against int64 over the same quantized activations) on every tile shape: 1–9 rows, partial
// panels, input sizes that are not a multiple of the k step.
void TestQGemm(test::Counter& t, QScheme scheme, int levels, size_t rows, size_t in, size_t out) {
  std::mt19937 rng(rows * 7 + in * 131 + out + levels);
  auto x = Random(rows * in, rng, 3.f);
  for (size_t i = 0; i < rows * in; i += 5) x[i] = std::fabs(x[i]) + 1.f;  // skewed rows: zero point off centre
  std::vector<int8_t> w(out * in);
  for (auto& v : w) v = static_cast<int8_t>(int(rng() % 256) - 128);  // -128 too: a file may hold it
  std::vector<float> scale(out), bias(out);
  for (size_t o = 0; o < out; ++o) scale[o] = 0.001f * (1 + o % 5), bias[o] = 0.01f * float(o);
  PackedI8 p;
  Status st = PackI8(in, out, w.data(), scale.data(), bias.data(), scheme, &p, levels);
  const std::string name = std::string(scheme == QScheme::kI16 ? "i16" : "u8") + "/" + std::to_string(levels) + " " +
                           std::to_string(rows) + "x" + std::to_string(in) + "->" + std::to_string(out);
  t.Check(st.ok(), "pack " + name + ": " + st.message());
  if (!st.ok()) return;
  std::vector<int8_t> wt(in * out);  // [in, out]
  for (size_t o = 0; o < out; ++o)
    for (size_t k = 0; k < in; ++k) wt[k * out + o] = w[o * in + k];
  PackedI8 pt;
  st = PackI8(in, out, wt.data(), scale.data(), bias.data(), scheme, &pt, levels, /*transposed=*/true);
  t.Check(st.ok() && pt.w == p.w && pt.scale == p.scale && pt.bias == p.bias && pt.colsum == p.colsum &&
              pt.levels == p.levels,
          "pack " + name + " from the transpose: same bytes");
  const size_t ld = p.ksteps * p.kstep, bytes = p.row_bytes();
  std::vector<uint8_t> q(rows * bytes);
  std::vector<RowQuant> rq(rows);
  std::vector<float> y(rows * out, -1.f);
  std::vector<int32_t> qv(rows * ld);  // the quantized values, whatever their type
  bool bounded = true;
  for (size_t r = 0; r < rows; ++r) {
    rq[r] = QuantizeRow(p, x.data() + r * in, q.data() + r * bytes);
    for (size_t k = 0; k < ld; ++k) {
      const int32_t v =
          scheme == QScheme::kI16 ? reinterpret_cast<const int16_t*>(q.data() + r * bytes)[k] : q[r * bytes + k];
      qv[r * ld + k] = v;
      const int32_t low = scheme == QScheme::kI16 ? -p.levels : 0;
      bounded = bounded && v >= low && v <= p.levels && (k < in || v == 0);
    }
    // Dequantized, the row is the input within half a step.
    double err = 0;
    for (size_t k = 0; k < in; ++k)
      err = test::WorseError(err, std::fabs((qv[r * ld + k] - rq[r].zero) * double(rq[r].scale) - x[r * in + k]));
    bounded = bounded && err <= 0.5001 * rq[r].scale;
  }
  t.Check(bounded, name + ": quantized activations within range, zero padding, within half a step");
  QGemmRows(p, q.data(), rq.data(), 0, rows, 0, p.panels, y.data());
  double worst = 0;
  for (size_t r = 0; r < rows; ++r)
    for (size_t o = 0; o < out; ++o) {
      int64_t acc = 0;
      for (size_t k = 0; k < in; ++k) acc += int64_t(qv[r * ld + k] - rq[r].zero) * w[o * in + k];
      const double sum = double(acc) * (double(scale[o]) * rq[r].scale), want = sum + bias[o];
      // Relative to the terms' size: float rounding of the scale product and the bias add.
      worst = test::WorseError(worst, std::fabs(want - y[r * out + o]) / (1e-3 + std::fabs(sum) + std::fabs(bias[o])));
    }
  t.Check(worst <= 1e-5, "qgemm " + name + " exact sums, rel err " + std::to_string(worst));
}

// Rows of zeros give the bias; a row holding inf or NaN gives NaN outputs, and nothing undefined.
void TestQGemmSpecialRows(test::Counter& t, QScheme scheme) {
  const size_t in = 9, out = 11;
  std::vector<int8_t> w(out * in, 3);
  std::vector<float> scale(out, 0.5f), bias(out, 2.f);
  PackedI8 p;
  t.Check(PackI8(in, out, w.data(), scale.data(), bias.data(), scheme, &p).ok(), "pack special");
  std::vector<float> x(3 * in, 0.f);
  x[in + 4] = INFINITY;
  x[2 * in + 1] = NAN;
  std::vector<uint8_t> q(3 * p.row_bytes());
  std::vector<RowQuant> rq(3);
  std::vector<float> y(3 * out);
  for (size_t r = 0; r < 3; ++r) rq[r] = QuantizeRow(p, x.data() + r * in, q.data() + r * p.row_bytes());
  QGemmRows(p, q.data(), rq.data(), 0, 3, 0, p.panels, y.data());
  bool zero = true, nan = true;
  for (size_t o = 0; o < out; ++o) {
    zero = zero && y[o] == 2.f;
    nan = nan && std::isnan(y[out + o]) && std::isnan(y[2 * out + o]);
  }
  t.Check(zero, "zero row gives the bias");
  t.Check(nan, "non-finite rows give NaN");
  PackedI8 none;
  t.Check(PackI8(0, out, w.data(), scale.data(), bias.data(), scheme, &none).code() == Code::kInvalidArgument,
          "empty shape rejected");
}

void TestGelu(test::Counter& t, ThreadPool* pool, size_t rows, size_t cols) {
  std::mt19937 rng(rows + cols);
  auto x = Random(rows * cols, rng, 3.f);
  std::vector<double> want(rows * cols);
  for (size_t i = 0; i < want.size(); ++i) want[i] = 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
  std::unique_ptr<RowwiseOp> op;
  t.Check(RowwiseOp::Create(RowwiseOp::Kind::kGelu, &op).ok(), "gelu create");
  t.Check(op->Run(x.data(), rows, cols, pool).ok(), "gelu run");
  // XNNPACK's rational erf is within ~1e-6 absolute where GELU is near 0 (x < -4), 1e-5 relative elsewhere.
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = test::WorseError(worst, std::fabs(want[i] - x[i]) / (1e-6 + 1e-5 * std::fabs(want[i])));
  }
  t.Check(worst <= 1, "gelu " + std::to_string(rows) + "x" + std::to_string(cols) + " error " + std::to_string(worst) +
                          " of the tolerance");
}

void TestLora(test::Counter& t, ThreadPool* pool) {
  std::mt19937 rng(3);
  const size_t rows = 7, in = 37, out = 19, r = 3;
  auto x = Random(rows * in, rng), a = Random(r * in, rng), b = Random(out * r, rng);
  std::vector<float> bt(r * out);  // [r, out]: lora_B [out, r] transposed, as the model keeps it
  for (size_t o = 0; o < out; ++o)
    for (size_t k = 0; k < r; ++k) bt[k * out + o] = b[o * r + k];
  std::vector<float> y(rows * out, 1.f);
  AddLoraDelta(x.data(), rows, in, a.data(), bt.data(), r, out, 0.25f, y.data(), pool);
  std::vector<double> want(rows * out);
  for (size_t i = 0; i < rows; ++i)
    for (size_t o = 0; o < out; ++o) {
      double s = 0;
      for (size_t k = 0; k < r; ++k) {
        double ax = 0;
        for (size_t j = 0; j < in; ++j) ax += double(a[k * in + j]) * x[i * in + j];
        s += b[o * r + k] * ax;
      }
      want[i * out + o] = 1.0 + 0.25 * s;
    }
  t.Check(MaxRel(want, y.data()) <= 1e-5, "lora delta");
}

// int8: keys, values, queries and probabilities quantized (see Attention): ~1% of the output's
// magnitude is expected; f32 must match the double reference to rounding.
void TestAttention(test::Counter& t, ThreadPool* pool, size_t S, int H, int dh, bool int8, size_t budget = 1 << 23) {
  std::mt19937 rng(S * 17 + H);
  const size_t d = H * dh;
  auto qkv = Random(S * 3 * d, rng);
  RopeTable rope(dh, 20000.f);
  t.Check(rope.Reserve(S).ok(), "rope reserve");
  std::unique_ptr<Attention> att;
  t.Check(Attention::Create(H, dh, int8, &att, budget).ok(), "attention create");
  std::vector<float> ctx(S * d + 64);
  Status st = att->Run(qkv.data(), S, rope, ctx.data(), pool);
  t.Check(st.ok(), "attention run: " + st.message());

  // Reference: rotate-half RoPE with angles in f32, softmax(q·k/√dh)·v in double.
  const int half = dh / 2;
  auto rot = [&](const float* x, size_t pos, std::vector<double>& out) {
    for (int i = 0; i < half; ++i) {
      const float inv = 1.f / std::pow(20000.f, float(2 * i) / float(dh));
      const float ang = float(pos) * inv;
      const double c = std::cos(ang), s = std::sin(ang);
      out[i] = x[i] * c - x[i + half] * s;
      out[i + half] = x[i + half] * c + x[i] * s;
    }
  };
  std::vector<double> want(S * d);
  std::vector<double> q(dh), k(dh), p(S);
  for (int h = 0; h < H; ++h)
    for (size_t i = 0; i < S; ++i) {
      rot(&qkv[i * 3 * d + h * dh], i, q);
      double mx = -1e300;
      for (size_t j = 0; j < S; ++j) {
        rot(&qkv[j * 3 * d + d + h * dh], j, k);
        double s = 0;
        for (int e = 0; e < dh; ++e) s += q[e] * k[e];
        p[j] = s / std::sqrt(double(dh));
        mx = std::max(mx, p[j]);
      }
      double sum = 0;
      for (size_t j = 0; j < S; ++j) sum += (p[j] = std::exp(p[j] - mx));
      for (int e = 0; e < dh; ++e) {
        double v = 0;
        for (size_t j = 0; j < S; ++j) v += p[j] / sum * qkv[j * 3 * d + 2 * d + h * dh + e];
        want[i * d + h * dh + e] = v;
      }
    }
  const double rel = MaxRel(want, ctx.data());
  t.Check(rel <= (int8 ? 2e-2 : 1e-5), std::string(int8 ? "int8" : "f32") + " attention S=" + std::to_string(S) +
                                           " H=" + std::to_string(H) + " dh=" + std::to_string(dh) + " rel err " +
                                           std::to_string(rel));
}

// A NaN in a key makes its head's outputs non-finite (every score row meets it); an inf in a value,
// that channel's outputs for every query; the other heads stay finite. As in f32 (int8 gives NaN
// where f32 may give inf), and nothing undefined.
void TestAttentionNonFinite(test::Counter& t, ThreadPool* pool, bool int8) {
  const size_t S = 9;
  const int H = 3, dh = 8, d = H * dh;
  std::mt19937 rng(11);
  auto qkv = Random(S * 3 * d, rng);
  qkv[4 * 3 * d + d + 0 * dh + 3] = std::numeric_limits<float>::quiet_NaN();     // key 4, head 0
  qkv[6 * 3 * d + 2 * d + 1 * dh + 5] = std::numeric_limits<float>::infinity();  // value 6, head 1, channel 5
  RopeTable rope(dh, 20000.f);
  t.Check(rope.Reserve(S).ok(), "rope reserve");
  std::unique_ptr<Attention> att;
  t.Check(Attention::Create(H, dh, int8, &att).ok(), "attention create");
  std::vector<float> ctx(S * d + 64);
  t.Check(att->Run(qkv.data(), S, rope, ctx.data(), pool).ok(), "attention run with non-finite inputs");
  bool as_f32 = true;
  for (size_t i = 0; i < S; ++i)
    for (int h = 0; h < H; ++h)
      for (int e = 0; e < dh; ++e) {
        const bool non_finite = h == 0 || (h == 1 && e == 5);
        as_f32 = as_f32 && !std::isfinite(ctx[i * d + h * dh + e]) == non_finite;
      }
  t.Check(as_f32,
          std::string(int8 ? "int8" : "f32") + " attention: non-finite keys and values give NaN where f32 does");
}

}  // namespace

int main() {
  test::Counter t;
  for (int threads : {1, 2}) {
    std::unique_ptr<ThreadPool> pool;
    t.Check(ThreadPool::Create(threads, &pool).ok(), "thread pool");
    for (bool int8 : {false, true}) {
      TestLinear(t, pool.get(), 1, 5, 3, int8);
      TestLinear(t, pool.get(), 13, 67, 29, int8);
      TestLinear(t, pool.get(), 33, 256, 768, int8);
    }
    TestSharedScratch(t, pool.get());
    TestGelu(t, pool.get(), 1, 7);
    TestGelu(t, pool.get(), 37, 4096);
    TestLora(t, pool.get());
    for (bool int8 : {false, true}) {
      TestAttention(t, pool.get(), 1, 1, 4, int8);
      TestAttention(t, pool.get(), 19, 3, 10, int8);
      TestAttention(t, pool.get(), 300, 2, 64, int8, 2 * 300 * 37);  // tiles of 37 query rows, the last one short
      TestAttentionNonFinite(t, pool.get(), int8);
    }
  }
  for (auto [scheme, levels] : {std::pair{QScheme::kI16, 0}, {QScheme::kU8, 255}, {QScheme::kU8, 127}}) {
    for (size_t rows : {1, 2, 3, 4, 5, 6, 7, 13})
      for (size_t in : {1, 2, 3, 5, 67, 1024}) TestQGemm(t, scheme, levels, rows, in, rows == 13 ? 4101 : 29);
    TestQGemmSpecialRows(t, scheme);
  }
  std::unique_ptr<ThreadPool> bad;
  t.Check(ThreadPool::Create(0, &bad).code() == Code::kInvalidArgument, "threads=0 rejected");
  return t.Finish();
}
