// Reader for the checkpoint's model.safetensors through random-access reads (never the whole file in memory).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace jv3 {

// Reads `n` bytes at absolute `offset` into `dst`; a short read is an error.
using ReadAtFn = std::function<Status(uint64_t offset, size_t n, uint8_t* dst)>;

struct SafeTensor {
  std::string dtype;  // "BF16" | "F16" | "F32" (others are rejected when read)
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // absolute file offset of the first byte
  uint64_t size = 0;   // bytes
  int64_t numel() const;
};

class SafeTensorsFile {
 public:
  // Reads and validates the header: every tensor must lie inside the file and match its shape.
  static Status Open(ReadAtFn read, uint64_t file_size, SafeTensorsFile* out);

  const SafeTensor* Find(const std::string& name) const;
  // Every tensor name in the header, sorted.
  std::vector<std::string> Names() const;
  // Elements [first, first + count) of a tensor, as f32.
  Status ReadF32(const SafeTensor& t, int64_t first, int64_t count, float* dst) const;

 private:
  ReadAtFn read_;
  std::map<std::string, SafeTensor> tensors_;
};

}  // namespace jv3
