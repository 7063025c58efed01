// Wires the streaming reader to the model builder: each tensor is packed as soon as it is verified.
#include "runtime/loader.h"

#include <cstring>

namespace jv3 {

ModelLoader::ModelLoader(MemoryOptions memory)
    : builder_(memory),
      reader_(
          [this](const ModelHeader& h) {
            JV3_RETURN_IF_ERROR(builder_.OnHeader(h));
            // Paged or streamed: what the model does not keep passes by (checked, never held).
            reader_.PassThrough([this](const TensorEntry& e) { return builder_.Passes(e); },
                                [this](const TensorEntry& e, uint64_t offset, const uint8_t* data, size_t n) {
                                  return builder_.OnPassed(e, offset, data, n);
                                });
            return Status::Ok();
          },
          [this](const TensorEntry& e, std::vector<uint8_t>&& b) { return builder_.OnTensor(e, std::move(b)); }) {}

Status ModelLoader::Push(const uint8_t* data, size_t n) {
  return Push(n, [data](size_t offset, uint8_t* dst, size_t len) { std::memcpy(dst, data + offset, len); });
}

Status ModelLoader::Push(size_t n, const ModelStreamReader::CopyFn& copy) {
  if (!failed_.ok()) return failed_;
  failed_ = OrOutOfMemory([&] { return reader_.Push(n, copy); },
                          "while loading the model; free other models or use the int8 model file");
  return failed_;
}

Status ModelLoader::Finish(int threads, std::unique_ptr<Embedder>* out) {
  if (!failed_.ok()) return failed_;
  Status st = OrOutOfMemory(
      [&] {
        JV3_RETURN_IF_ERROR(reader_.Finish());
        std::unique_ptr<Model> model;
        JV3_RETURN_IF_ERROR(builder_.Finish(threads, &model));
        return Embedder::Create(std::move(model), out);
      },
      "while finishing the model; free other models or use the int8 model file");
  if (st.code() == Code::kOutOfMemory) failed_ = st;
  return st;
}

}  // namespace jv3
