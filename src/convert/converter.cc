// Conversion does the work once that every load would otherwise repeat: upcast, quantize, merge, lay out.
// Tensors are processed in bounded row blocks, so memory stays far below the checkpoint's size.
#include "convert/converter.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/checksum.h"
#include "format/model_file.h"
#include "format/model_schema.h"
#include "tokenizer/tokenizer.h"

namespace jv3 {
namespace {

constexpr int64_t kBlockElements = 1 << 22;  // ~16 MB of f32 per read

Status Missing(const std::string& name, const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return Status(Code::kBadCheckpoint, "model.safetensors: missing tensor " + name + " [" + s + "]");
}

Status CheckShape(const SafeTensor& t, const std::string& name, const std::vector<int64_t>& expected) {
  if (t.shape == expected) return Status::Ok();
  auto str = [](const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
  };
  return Status(Code::kBadCheckpoint, "model.safetensors: tensor " + name + " has shape " + str(t.shape) +
                                          ", config.json implies " + str(expected));
}

// Writes tensor bytes sequentially into the data section and keeps the running CRC.
struct TensorWriter {
  const WriteAtFn& write;
  uint64_t pos;
  uint32_t crc = 0;
  Status Put(const void* data, size_t n) {
    crc = Crc32(crc, static_cast<const uint8_t*>(data), n);
    Status st = write(pos, static_cast<const uint8_t*>(data), n);
    pos += n;
    return st;
  }
};

struct Converter {
  const SafeTensorsFile& st;
  const ModelConfig& config;
  std::vector<float> scales;  // of the last int8 tensor, written next as its weight_scale

  Status Source(const TensorSpec& spec, const std::string& name, std::vector<int64_t> shape, const SafeTensor** out) {
    *out = st.Find(name);
    if (!*out) return Missing(name, shape);
    return CheckShape(**out, name, shape);
  }

  Status CopyF32(const TensorSpec& spec, TensorWriter* w) {
    const SafeTensor* src;
    JV3_RETURN_IF_ERROR(Source(spec, spec.source, spec.shape, &src));
    std::vector<float> buf(std::min<int64_t>(kBlockElements, spec.numel()));
    for (int64_t i = 0; i < spec.numel(); i += kBlockElements) {
      const int64_t n = std::min<int64_t>(kBlockElements, spec.numel() - i);
      JV3_RETURN_IF_ERROR(st.ReadF32(*src, i, n, buf.data()));
      JV3_RETURN_IF_ERROR(w->Put(buf.data(), n * 4));
    }
    return Status::Ok();
  }

  // Symmetric int8 per row: scale = max|row| / 127, q = round(x / scale).
  Status QuantRows(const TensorSpec& spec, TensorWriter* w) {
    const SafeTensor* src;
    JV3_RETURN_IF_ERROR(Source(spec, spec.source, spec.shape, &src));
    const int64_t rows = spec.shape[0], cols = spec.shape[1];
    const int64_t block_rows = std::max<int64_t>(1, kBlockElements / cols);
    std::vector<float> buf(std::min(block_rows, rows) * cols);
    std::vector<int8_t> q(buf.size());
    scales.assign(rows, 1.f);
    for (int64_t r0 = 0; r0 < rows; r0 += block_rows) {
      const int64_t nr = std::min(block_rows, rows - r0);
      JV3_RETURN_IF_ERROR(st.ReadF32(*src, r0 * cols, nr * cols, buf.data()));
      JV3_RETURN_IF_ERROR(QuantizeRowsI8(buf.data(), nr, cols, spec.source, r0, q.data(), &scales[r0]));
      JV3_RETURN_IF_ERROR(w->Put(q.data(), nr * cols));
    }
    return Status::Ok();
  }

  // Row 0: token type 0 with no adapter; row 1 + t: merged with task t's LoRA (E + s * A[t] @ B[t]),
  // exactly as upstream's parametrization computes the embedding table.
  Status TokenTypeRows(const TensorSpec& spec, TensorWriter* w) {
    const int64_t d = config.hidden_size, T = config.num_tasks(), r = config.lora_rank, tv = config.type_vocab_size;
    const SafeTensor *orig, *la = nullptr, *lb = nullptr;
    JV3_RETURN_IF_ERROR(Source(spec, spec.source, {tv, d}, &orig));
    std::vector<float> rows((1 + T) * d), a, b;
    JV3_RETURN_IF_ERROR(st.ReadF32(*orig, 0, d, rows.data()));
    if (T) {
      // Sized only after the shapes matched the file's tensors, so the file bounds the allocation.
      JV3_RETURN_IF_ERROR(Source(spec, spec.source_lora_a, {T, tv, r}, &la));
      JV3_RETURN_IF_ERROR(Source(spec, spec.source_lora_b, {T, r, d}, &lb));
      a.resize(T * tv * r);
      b.resize(T * r * d);
      JV3_RETURN_IF_ERROR(st.ReadF32(*la, 0, a.size(), a.data()));
      JV3_RETURN_IF_ERROR(st.ReadF32(*lb, 0, b.size(), b.data()));
    }
    const float s = config.lora_scaling();
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t j = 0; j < d; ++j) {
        float delta = 0.f;
        for (int64_t k = 0; k < r; ++k) delta += a[(t * tv + 0) * r + k] * b[(t * r + k) * d + j];
        rows[(1 + t) * d + j] = rows[j] + s * delta;
      }
    }
    return w->Put(rows.data(), rows.size() * 4);
  }

  Status Produce(const TensorSpec& spec, TensorWriter* w) {
    switch (spec.recipe) {
      case Recipe::kCopyF32: return CopyF32(spec, w);
      case Recipe::kQuantRowsI8: return QuantRows(spec, w);
      case Recipe::kQuantRowsScale: return w->Put(scales.data(), scales.size() * 4);
      case Recipe::kTokenTypeRows: return TokenTypeRows(spec, w);
    }
    return Status(Code::kBadCheckpoint, "internal: unknown recipe");
  }
};

}  // namespace

Status QuantizeRowsI8(const float* x, int64_t rows, int64_t cols, const std::string& name, int64_t first_row, int8_t* q,
                      float* scales) {
  for (int64_t r = 0; r < rows; ++r, x += cols, q += cols) {
    float amax = 0.f;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(x[c]));
    if (!std::isfinite(amax)) {
      return Status(Code::kBadCheckpoint, "model.safetensors: tensor " + name + " row " +
                                              std::to_string(first_row + r) + " holds NaN or Inf");
    }
    const float scale = amax > 0.f ? amax / 127.f : 1.f;
    scales[r] = scale;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = std::nearbyint(x[c] / scale);
      q[c] = static_cast<int8_t>(std::max(-127.f, std::min(127.f, v)));
    }
  }
  return Status::Ok();
}

Status PlanModelFile(const std::string& config_json, const std::string& tokenizer_json,
                     const std::string& tokenizer_config_json, bool int8, ModelHeader* header,
                     std::vector<TensorSpec>* schema) {
  *header = ModelHeader();
  header->int8 = int8;
  header->config_json = config_json;
  header->tokenizer_json = tokenizer_json;
  header->tokenizer_config_json = tokenizer_config_json;
  JV3_RETURN_IF_ERROR(ParseModelConfig(config_json, &header->config));

  // Validate the tokenizer now, so a file that converts is a file that loads.
  TokenizerSpec tok;
  JV3_RETURN_IF_ERROR(ParseTokenizerJson(tokenizer_json, tokenizer_config_json, &tok));
  {
    // Building it checks what parsing cannot (the charsmap's trie, Replace patterns, UTF-8).
    std::unique_ptr<Tokenizer> built;
    TokenizerSpec copy = tok;
    JV3_RETURN_IF_ERROR(Tokenizer::Create(std::move(copy), &built));
  }
  if (static_cast<int>(tok.pieces.size()) > header->config.vocab_size) {
    return Status(Code::kBadCheckpoint, "tokenizer.json has " + std::to_string(tok.pieces.size()) +
                                            " pieces but config.json vocab_size is " +
                                            std::to_string(header->config.vocab_size));
  }

  *schema = ModelSchema(header->config, int8);
  uint64_t offset = 0;
  for (const TensorSpec& s : *schema) {
    offset = (offset + kDataAlign - 1) / kDataAlign * kDataAlign;
    header->tensors.push_back({s.name, s.dtype, s.shape, offset, static_cast<uint64_t>(s.nbytes()), 0});
    offset += s.nbytes();
  }
  header->data_size = offset;
  return Status::Ok();
}

Status ProduceTensor(const SafeTensorsFile& st, const ModelConfig& config, const TensorSpec& spec,
                     std::vector<float>* scales, const WriteAtFn& write, uint64_t offset, uint32_t* crc) {
  Converter conv{st, config, std::move(*scales)};
  TensorWriter w{write, offset};
  Status status = conv.Produce(spec, &w);
  *scales = std::move(conv.scales);
  *crc = w.crc;
  return status;
}

namespace {

Status Convert(const std::string& config_json, const std::string& tokenizer_json,
               const std::string& tokenizer_config_json, ReadAtFn read_safetensors, uint64_t safetensors_size,
               WriteAtFn write, const ConvertOptions& options, ConvertResult* result) {
  ModelHeader header;
  std::vector<TensorSpec> schema;
  JV3_RETURN_IF_ERROR(
      PlanModelFile(config_json, tokenizer_json, tokenizer_config_json, options.int8, &header, &schema));
  SafeTensorsFile st;
  JV3_RETURN_IF_ERROR(SafeTensorsFile::Open(std::move(read_safetensors), safetensors_size, &st));

  // Header first with placeholder checksums (fixed width), data, then the header again.
  std::string block;
  try {
    block = EncodeHeaderBlock(header);
  } catch (const std::exception& e) {
    return Status(Code::kBadCheckpoint, std::string("cannot encode the header: ") + e.what());
  }
  const uint64_t data_start = block.size();
  JV3_RETURN_IF_ERROR(write(0, reinterpret_cast<const uint8_t*>(block.data()), block.size()));

  Converter conv{st, header.config, {}};
  static const uint8_t kZeros[kDataAlign] = {};
  uint64_t pos = data_start;
  for (size_t i = 0; i < schema.size(); ++i) {
    TensorEntry& e = header.tensors[i];
    if (data_start + e.offset > pos) {
      JV3_RETURN_IF_ERROR(write(pos, kZeros, data_start + e.offset - pos));
    }
    TensorWriter w{write, data_start + e.offset};
    JV3_RETURN_IF_ERROR(conv.Produce(schema[i], &w));
    e.crc32 = w.crc;
    pos = w.pos;
    if (options.on_progress) options.on_progress(static_cast<int>(i + 1), static_cast<int>(schema.size()));
  }

  const std::string final_block = EncodeHeaderBlock(header);
  if (final_block.size() != block.size()) {
    return Status(Code::kBadCheckpoint, "internal: header length changed while filling in checksums");
  }
  JV3_RETURN_IF_ERROR(write(0, reinterpret_cast<const uint8_t*>(final_block.data()), final_block.size()));
  if (result) {
    result->bytes_written = pos;
    result->tensors = static_cast<int>(schema.size());
  }
  return Status::Ok();
}

}  // namespace

Status ConvertCheckpoint(const std::string& config_json, const std::string& tokenizer_json,
                         const std::string& tokenizer_config_json, ReadAtFn read_safetensors, uint64_t safetensors_size,
                         WriteAtFn write, const ConvertOptions& options, ConvertResult* result) {
  // Buffers are bounded by the checkpoint's own tensors, but a large one can still exceed the heap
  // (wasm32 has 4 GB): report that instead of terminating.
  return OrOutOfMemory(
      [&] {
        return Convert(config_json, tokenizer_json, tokenizer_config_json, std::move(read_safetensors),
                       safetensors_size, std::move(write), options, result);
      },
      "while converting the checkpoint");
}

}  // namespace jv3
