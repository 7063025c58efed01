// The one place that maps checkpoint tensor names to model-file tensors: names, dtypes, shapes and forward order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/model_config.h"

namespace jv3 {

enum class DType { kF32, kI8 };
const char* DTypeName(DType t);
size_t DTypeSize(DType t);

// How the converter produces a model-file tensor from the checkpoint.
enum class Recipe {
  kCopyF32,         // the checkpoint tensor, upcast to f32
  kQuantRowsI8,     // symmetric int8 per row (per output channel) of the checkpoint tensor
  kQuantRowsScale,  // the f32 scales of the kQuantRowsI8 tensor just before it
  kTokenTypeRows,   // [1 + tasks, d]: token-type row 0 with no adapter, then merged with each task's LoRA
};

struct TensorSpec {
  std::string name;  // name in the model file
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  Recipe recipe = Recipe::kCopyF32;
  std::string source;         // checkpoint tensor it is made from
  std::string source_lora_a;  // kTokenTypeRows only
  std::string source_lora_b;  // kTokenTypeRows only

  int64_t numel() const;
  int64_t nbytes() const { return numel() * static_cast<int64_t>(DTypeSize(dtype)); }
};

// Every tensor of a model file, in the order the forward pass uses them.
// `int8`: linear weights and the word-embedding table as int8 + per-row scales; else all f32.
std::vector<TensorSpec> ModelSchema(const ModelConfig& config, bool int8);

// Model-file names of one layer's tensors (shared by the schema and the model loader).
std::string LayerPrefix(int layer);

}  // namespace jv3
