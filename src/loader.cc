// Wires the streaming reader to the model builder: each tensor is packed as soon as it is verified.
#include "loader.h"

namespace jv3 {

ModelLoader::ModelLoader()
    : reader_([this](const ModelHeader& h) { return builder_.OnHeader(h); },
              [this](const TensorEntry& e, std::vector<uint8_t>&& b) { return builder_.OnTensor(e, std::move(b)); }) {}

Status ModelLoader::Finish(int threads, std::unique_ptr<Embedder>* out) {
  JV3_RETURN_IF_ERROR(reader_.Finish());
  std::unique_ptr<Model> model;
  JV3_RETURN_IF_ERROR(builder_.Finish(threads, &model));
  return Embedder::Create(std::move(model), out);
}

}  // namespace jv3
