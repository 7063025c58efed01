// ModelLoader: bytes of a model file pushed as they arrive -> a ready Embedder.
#pragma once

#include <cstdint>
#include <memory>

#include "format/model_file.h"
#include "runtime/embedder.h"
#include "runtime/model.h"

namespace jv3 {

class ModelLoader {
 public:
  explicit ModelLoader(MemoryOptions memory = {});
  // Errors are sticky. An allocation failure anywhere in the load (staging, XNNPACK packing) is
  // E_OUT_OF_MEMORY, never an exception out of the core.
  Status Push(const uint8_t* data, size_t n);
  // For a chunk outside wasm memory (a JS array): see ModelStreamReader::Push(n, copy).
  Status Push(size_t n, const ModelStreamReader::CopyFn& copy);
  const LoadProgress& progress() const { return reader_.progress(); }
  // After the last byte: E_MODEL_TRUNCATED if any are missing, else the embedder.
  Status Finish(int threads, std::unique_ptr<Embedder>* out);

 private:
  Model::Builder builder_;
  ModelStreamReader reader_;
  Status failed_;
};

}  // namespace jv3
