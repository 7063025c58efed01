// ModelLoader: bytes of a model file pushed as they arrive -> a ready Embedder.
#pragma once

#include <cstdint>
#include <memory>

#include "embedder.h"
#include "model.h"
#include "model_file.h"

namespace jv3 {

class ModelLoader {
 public:
  ModelLoader();
  Status Push(const uint8_t* data, size_t n) { return reader_.Push(data, n); }
  const LoadProgress& progress() const { return reader_.progress(); }
  // After the last byte: E_MODEL_TRUNCATED if any are missing, else the embedder.
  Status Finish(int threads, std::unique_ptr<Embedder>* out);

 private:
  Model::Builder builder_;
  ModelStreamReader reader_;
};

}  // namespace jv3
