// The model file: preamble, JSON header (config, tokenizer, tensor table), 64-byte aligned tensor data in forward
// order.
//
// Layout (little-endian):
//   0  char[8]  magic "JV3WASM\0"
//   8  u32      format version (kFormatVersion)
//   12 u32      CRC-32 of the header bytes
//   16 u64      header length in bytes
//   24 header   UTF-8 JSON: {"format","version","dtype","config","tokenizer","tokenizer_config","data_size","tensors":[
//                 {"name","dtype","shape","offset","size","crc32"}]}   (offset relative to the data start)
//   data start = header end rounded up to 64; every tensor starts at a multiple of 64 from there.
// Everything needed to read a tensor is known before its bytes arrive, so the file loads while it downloads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "format/model_config.h"
#include "format/model_schema.h"
#include "tokenizer/tokenizer.h"

namespace jv3 {

constexpr char kModelMagic[8] = {'J', 'V', '3', 'W', 'A', 'S', 'M', '\0'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kPreambleSize = 24;
constexpr size_t kDataAlign = 64;
// A header larger than this is refused before it is buffered (the real model's is ~20 MB).
constexpr uint64_t kMaxHeaderSize = 256ull << 20;
// No single tensor or whole data section can be larger (wasm32 memory is 4 GiB; the real model's
// largest tensor, the f32 word embeddings, is 0.95 GiB): refused from the header, before any allocation.
constexpr uint64_t kMaxTensorBytes = 1ull << 30;
constexpr uint64_t kMaxDataSize = 1ull << 34;

struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // from the data start
  uint64_t size = 0;    // bytes
  uint32_t crc32 = 0;
};

struct ModelHeader {
  bool int8 = true;
  ModelConfig config;
  std::string config_json;  // config.json as in the checkpoint
  // What the converter embeds: tokenizer.json as in the checkpoint, and tokenizer_config.json ("" if
  // the checkpoint had none). ParseHeader leaves both empty and fills `tokenizer` instead.
  std::string tokenizer_json;
  std::string tokenizer_config_json;
  // ParseHeader: the tokenizer read from the parsed header, shared (not copied) by the header's
  // copies and the runtime Tokenizer.
  std::shared_ptr<const TokenizerSpec> tokenizer;
  uint64_t data_size = 0;
  uint64_t data_start = 0;  // ParseHeader leaves it 0; the reader sets the file offset of the tensor data
  std::vector<TensorEntry> tensors;  // forward order
};

// Serializes the header JSON. CRCs are fixed-width hex, so patching them later keeps the length.
std::string SerializeHeader(const ModelHeader& header);
// Builds the full preamble + header + padding up to the data start.
std::string EncodeHeaderBlock(const ModelHeader& header);
// Parses the header JSON and checks the tensor table against the schema its config implies:
// missing, unknown, wrong-dtype/shape, misaligned or overlapping tensors are E_MODEL_TENSOR. A
// tokenizer the runtime cannot read is E_TOKENIZER or E_BAD_CHECKPOINT, as from the converter.
Status ParseHeader(const std::string& json, ModelHeader* out);

struct LoadProgress {
  uint64_t bytes_loaded = 0;
  uint64_t bytes_total = 0;  // 0 until the header has been read
  int tensors_ready = 0;
  int tensors_total = 0;
  const char* phase = "header";  // "header" | "tensors" | "done"
};

// Push-based reader: feed byte chunks as they arrive. It parses the header, then hands each
// tensor to `on_tensor` as soon as its bytes are complete and its CRC verified; the buffer is
// the consumer's to keep (moved) or drop, so no second copy of the file is ever held.
class ModelStreamReader {
 public:
  using HeaderFn = std::function<Status(const ModelHeader&)>;
  using TensorFn = std::function<Status(const TensorEntry&, std::vector<uint8_t>&& bytes)>;
  // Copies `len` bytes of the caller's chunk, from `offset` in it, to `dst`.
  using CopyFn = std::function<void(size_t offset, uint8_t* dst, size_t len)>;
  // A passed-through tensor's bytes [offset, offset + n) as they arrive (valid during the call only).
  using PassFn = std::function<Status(const TensorEntry&, uint64_t offset, const uint8_t* data, size_t n)>;

  ModelStreamReader(HeaderFn on_header, TensorFn on_tensor);

  // Tensors for which `which` is true are never buffered: their bytes go to `fn` chunk by chunk and
  // their CRC-32 is checked once the last one has passed (on_tensor is not called for them). Set
  // it from on_header, before the first tensor.
  void PassThrough(std::function<bool(const TensorEntry&)> which, PassFn fn);

  Status Push(const uint8_t* data, size_t n);
  // Push for an `n`-byte chunk outside memory the reader can address (a JS array): `copy` puts each
  // byte straight where it is kept (the header, a tensor's buffer), so it is copied once.
  Status Push(size_t n, const CopyFn& copy);
  // All bytes have been pushed: E_MODEL_TRUNCATED if tensors are missing.
  Status Finish();
  const LoadProgress& progress() const { return progress_; }

 private:
  bool Passed(const TensorEntry& t) const;
  Status ConsumePreamble();
  Status ConsumeHeader();
  Status StartNextTensor();
  // Hands the tensor being received on once staging_ holds all its bytes.
  Status FinishTensorIfComplete();
  // Hands the bytes [done, done + take) of the chunk to pass_fn_ (tensor t, `at` bytes into it).
  Status PassChunk(const TensorEntry& t, uint64_t at, size_t done, size_t take, const CopyFn& copy);

  HeaderFn on_header_;
  TensorFn on_tensor_;
  LoadProgress progress_;
  Status failed_;        // sticky: after an error every call returns it
  std::string pending_;  // preamble / header bytes gathered so far
  uint64_t header_size_ = 0;
  uint32_t header_crc_ = 0;
  ModelHeader header_;
  uint64_t pos_ = 0;  // absolute file position of the next byte
  uint64_t data_start_ = 0;
  size_t next_tensor_ = 0;
  std::vector<uint8_t> staging_;  // bytes of the tensor being received
  std::function<bool(const TensorEntry&)> pass_which_;
  PassFn pass_fn_;
  uint32_t pass_crc_ = 0;        // running CRC-32 of the passed-through tensor being received
  std::vector<uint8_t> bounce_;  // a passed-through chunk copied out of the caller's memory
};

}  // namespace jv3
