// Builds the ordered tensor table; checkpoint names of jina-embeddings-v3 (XLMRobertaLoRA) appear only here.
#include "format/model_schema.h"

namespace jv3 {

const char* DTypeName(DType t) { return t == DType::kF32 ? "f32" : "i8"; }
size_t DTypeSize(DType t) { return t == DType::kF32 ? 4 : 1; }

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

std::string LayerPrefix(int layer) { return "encoder.layers." + std::to_string(layer) + "."; }

namespace {

constexpr const char* kRoot = "roberta.";
constexpr const char* kOriginal = ".parametrizations.weight.original";
constexpr const char* kLoraA = ".parametrizations.weight.0.lora_A";
constexpr const char* kLoraB = ".parametrizations.weight.0.lora_B";

struct Builder {
  const ModelConfig& c;
  bool int8;
  std::vector<TensorSpec> out;

  void Add(std::string name, DType dtype, std::vector<int64_t> shape, Recipe recipe, std::string source) {
    TensorSpec s;
    s.name = std::move(name);
    s.dtype = dtype;
    s.shape = std::move(shape);
    s.recipe = recipe;
    s.source = std::move(source);
    out.push_back(std::move(s));
  }

  // A weight matrix [rows, cols]: int8 + per-row scales, or f32.
  void Matrix(const std::string& name, const std::string& source, int64_t rows, int64_t cols) {
    if (int8) {
      Add(name + ".weight", DType::kI8, {rows, cols}, Recipe::kQuantRowsI8, source);
      Add(name + ".weight_scale", DType::kF32, {rows}, Recipe::kQuantRowsScale, source);
    } else {
      Add(name + ".weight", DType::kF32, {rows, cols}, Recipe::kCopyF32, source);
    }
  }

  // A LoRA-adapted nn.Linear(in, out): weight [out, in], bias [out], lora_A [T, r, in], lora_B [T, out, r].
  void Linear(const std::string& name, int64_t in, int64_t out_features) {
    const std::string src = kRoot + name;
    Matrix(name, src + kOriginal, out_features, in);
    Add(name + ".bias", DType::kF32, {out_features}, Recipe::kCopyF32, src + ".bias");
    Lora(name, src, {c.num_tasks(), c.lora_rank, in}, {c.num_tasks(), out_features, c.lora_rank});
  }

  void Lora(const std::string& name, const std::string& src, std::vector<int64_t> a, std::vector<int64_t> b) {
    if (c.num_tasks() == 0) return;
    Add(name + ".lora_A", DType::kF32, std::move(a), Recipe::kCopyF32, src + kLoraA);
    Add(name + ".lora_B", DType::kF32, std::move(b), Recipe::kCopyF32, src + kLoraB);
  }

  void LayerNorm(const std::string& name) {
    Add(name + ".weight", DType::kF32, {c.hidden_size}, Recipe::kCopyF32, kRoot + name + ".weight");
    Add(name + ".bias", DType::kF32, {c.hidden_size}, Recipe::kCopyF32, kRoot + name + ".bias");
  }
};

}  // namespace

std::vector<TensorSpec> ModelSchema(const ModelConfig& c, bool int8) {
  Builder b{c, int8, {}};
  const int64_t d = c.hidden_size, T = c.num_tasks(), r = c.lora_rank;

  // Embeddings: word rows (+ the task's LoRA rows, applied per token at run time), the token-type
  // row merged with each task's LoRA at conversion time (every token has token type 0).
  const std::string word = "embeddings.word_embeddings";
  b.Matrix(word, kRoot + word + kOriginal, c.vocab_size, d);
  b.Lora(word, kRoot + word, {T, c.vocab_size, r}, {T, r, d});
  const std::string tt = std::string(kRoot) + "embeddings.token_type_embeddings";
  b.Add("embeddings.token_type_rows", DType::kF32, {1 + T, d}, Recipe::kTokenTypeRows, tt + kOriginal);
  b.out.back().source_lora_a = T ? tt + kLoraA : "";
  b.out.back().source_lora_b = T ? tt + kLoraB : "";
  b.LayerNorm("emb_ln");

  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = LayerPrefix(l);
    b.Linear(p + "mixer.Wqkv", d, 3 * d);
    b.Linear(p + "mixer.out_proj", d, d);
    b.LayerNorm(p + "norm1");
    b.Linear(p + "mlp.fc1", d, c.intermediate_size);
    b.Linear(p + "mlp.fc2", c.intermediate_size, d);
    b.LayerNorm(p + "norm2");
  }
  return std::move(b.out);
}

}  // namespace jv3
