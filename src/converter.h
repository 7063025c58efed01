// Converter: official checkpoint (config.json, model.safetensors, tokenizer.json) -> one model file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "safetensors.h"
#include "status.h"

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
                         const std::string& tokenizer_config_json, ReadAtFn read_safetensors,
                         uint64_t safetensors_size, WriteAtFn write, const ConvertOptions& options,
                         ConvertResult* result);

}  // namespace jv3
