// StreamConverter: model.safetensors pushed in file order (as it downloads) -> the same model file
// as ConvertCheckpoint, without ever holding the checkpoint: each weight is quantized as its rows arrive.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "convert/converter.h"
#include "convert/safetensors.h"
#include "format/model_file.h"
#include "format/model_schema.h"

namespace jv3 {

struct StreamProgress {
  uint64_t bytes_in = 0;     // safetensors bytes consumed
  uint64_t bytes_total = 0;  // its size (0 until its header has arrived)
  int tensors_ready = 0;     // model-file tensors produced
  int tensors_total = 0;
};

// Receives the model file in order, in pieces valid only during the call.
using SinkFn = std::function<Status(const uint8_t* data, size_t n)>;

class StreamConverter {
 public:
  // `safetensors_size`: bytes of model.safetensors if known (checked), 0 to take it from its header.
  static Status Create(const std::string& config_json, const std::string& tokenizer_json,
                       const std::string& tokenizer_config_json, bool int8, uint64_t safetensors_size,
                       std::unique_ptr<StreamConverter>* out);
  StreamConverter(const StreamConverter&) = delete;
  StreamConverter& operator=(const StreamConverter&) = delete;

  Status Push(const uint8_t* data, size_t n);
  // After the last byte: writes the model file through `sink`, releasing each tensor once written.
  Status Finish(const SinkFn& sink, ConvertResult* result);
  const StreamProgress& progress() const { return progress_; }

 private:
  // A checkpoint tensor the schema needs, in file order.
  struct Source {
    const SafeTensor* tensor = nullptr;
    std::string name;
    // Streamed: the one model-file tensor made of it, filled row block by row block as bytes
    // arrive. Else (several consumers, or the token-type merge) its bytes are kept until every
    // consumer is produced.
    bool streamed = false;
    std::vector<int> consumers;  // schema indices
  };

  StreamConverter() = default;
  Status PushImpl(const uint8_t* data, size_t n);
  Status FinishImpl(const SinkFn& sink, ConvertResult* result);
  Status OnHeader();
  Status ConsumeRows(Source& src, bool last);
  Status OnSourceComplete(Source& src);
  Status Read(uint64_t offset, size_t n, uint8_t* dst) const;
  void MarkReady(int spec);

  ModelHeader header_;
  std::vector<TensorSpec> schema_;
  uint64_t declared_size_ = 0;
  std::string head_;         // the safetensors length prefix and header JSON
  uint64_t header_len_ = 0;  // of the header JSON, once 8 bytes are in
  uint64_t data_start_ = 0;  // 0 until the header is parsed
  SafeTensorsFile st_;
  std::vector<Source> sources_;                    // by file offset
  size_t current_ = 0;                             // index of the source receiving bytes
  uint64_t pos_ = 0;                               // absolute safetensors offset of the next byte
  std::vector<uint8_t> pending_;                   // bytes of the current source not yet consumed
  int64_t rows_done_ = 0;                          // of the current streamed source
  std::vector<float> scales_;                      // of the current streamed int8 source
  std::vector<float> block_;                       // f32 staging of one row block
  std::map<uint64_t, std::vector<uint8_t>> kept_;  // kept sources' bytes, by file offset
  std::map<std::string, int> waiting_;             // kept source -> consumers not yet produced
  // The bytes Read() may serve besides head_ and kept_: the row block being converted.
  const uint8_t* window_ = nullptr;
  uint64_t window_begin_ = 0, window_size_ = 0;
  // Model-file tensors by schema index, each in pieces (one per converted row block), so Finish
  // can free a large tensor piece by piece while the loader takes it.
  std::vector<std::vector<std::vector<uint8_t>>> out_;
  std::vector<bool> ready_;
  StreamProgress progress_;
};

}  // namespace jv3
