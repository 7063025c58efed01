// Converter: official checkpoint (config.json, model.safetensors, tokenizer.json) -> one model file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "convert/safetensors.h"
#include "format/model_file.h"
#include "format/model_schema.h"

namespace jv3 {

struct ConvertOptions {
  bool int8 = true;  // false: every weight f32 (exact-parity testing)
  std::function<void(int tensors_done, int tensors_total)> on_progress;
};

// Writes `n` bytes at absolute `offset` of the output. Writes are sequential except that the
// header is rewritten at offset 0 at the end (to fill in the checksums).
using WriteAtFn = std::function<Status(uint64_t offset, const uint8_t* data, size_t n)>;

struct ConvertResult {
  uint64_t bytes_written = 0;
  int tensors = 0;
};

Status ConvertCheckpoint(const std::string& config_json, const std::string& tokenizer_json,
                         const std::string& tokenizer_config_json, ReadAtFn read_safetensors, uint64_t safetensors_size,
                         WriteAtFn write, const ConvertOptions& options, ConvertResult* result);

// Pieces shared with the streaming converter (stream_converter.h), which produces the same file.

// The model file's header (config, tokenizer, tensor table with offsets; checksums left 0) and the
// schema it was laid out from. Validates config.json and tokenizer.json.
Status PlanModelFile(const std::string& config_json, const std::string& tokenizer_json,
                     const std::string& tokenizer_config_json, bool int8, ModelHeader* header,
                     std::vector<TensorSpec>* schema);

// Symmetric int8 per row: scale = max|row| / 127, q = round(x / scale). `name`, `first_row`: for errors.
Status QuantizeRowsI8(const float* x, int64_t rows, int64_t cols, const std::string& name, int64_t first_row, int8_t* q,
                      float* scales);

// Produces one model-file tensor from `st` through `write` starting at `offset`, with its CRC-32.
// `scales` carries a kQuantRowsI8 tensor's scales to the kQuantRowsScale tensor after it.
Status ProduceTensor(const SafeTensorsFile& st, const ModelConfig& config, const TensorSpec& spec,
                     std::vector<float>* scales, const WriteAtFn& write, uint64_t offset, uint32_t* crc);

}  // namespace jv3
