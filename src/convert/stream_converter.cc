// Push-based conversion: parse the safetensors header from the first bytes, then turn each needed
// tensor into its model-file tensor as its bytes arrive (file order), reusing the converter's
// layout (PlanModelFile), quantization (QuantizeRowsI8) and recipes (ProduceTensor).
#include "convert/stream_converter.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "base/checksum.h"

namespace jv3 {
namespace {

// Row blocks of about this many checkpoint bytes are converted at once: bounded staging memory.
constexpr size_t kBlockBytes = 8u << 20;
// The safetensors header is refused beyond this (the real checkpoint's is ~30 KB).
constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;
// Bound passed to SafeTensorsFile::Open when the file size is not known in advance.
constexpr uint64_t kUnknownSizeBound = 1ull << 40;

Status Bad(const std::string& msg) { return Status(Code::kBadCheckpoint, "model.safetensors: " + msg); }

std::string ShapeString(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

Status StreamConverter::Create(const std::string& config_json, const std::string& tokenizer_json,
                               const std::string& tokenizer_config_json, bool int8, uint64_t safetensors_size,
                               std::unique_ptr<StreamConverter>* out) {
  std::unique_ptr<StreamConverter> c(new StreamConverter());
  JV3_RETURN_IF_ERROR(
      PlanModelFile(config_json, tokenizer_json, tokenizer_config_json, int8, &c->header_, &c->schema_));
  c->declared_size_ = safetensors_size;
  c->out_.resize(c->schema_.size());
  c->ready_.assign(c->schema_.size(), false);
  c->progress_.bytes_total = safetensors_size;
  c->progress_.tensors_total = static_cast<int>(c->schema_.size());
  *out = std::move(c);
  return Status::Ok();
}

// Large tensors can exceed the wasm32 heap: report that instead of terminating.
Status StreamConverter::Push(const uint8_t* data, size_t n) {
  return OrOutOfMemory([&] { return PushImpl(data, n); }, "while converting the checkpoint");
}

Status StreamConverter::Finish(const SinkFn& sink, ConvertResult* result) {
  return OrOutOfMemory([&] { return FinishImpl(sink, result); }, "while writing the converted model");
}

Status StreamConverter::Read(uint64_t offset, size_t n, uint8_t* dst) const {
  if (offset + n <= head_.size()) {
    std::memcpy(dst, head_.data() + offset, n);
    return Status::Ok();
  }
  if (window_ && offset >= window_begin_ && offset + n <= window_begin_ + window_size_) {
    std::memcpy(dst, window_ + (offset - window_begin_), n);
    return Status::Ok();
  }
  auto it = kept_.upper_bound(offset);
  if (it != kept_.begin()) {
    --it;
    if (offset >= it->first && offset + n <= it->first + it->second.size()) {
      std::memcpy(dst, it->second.data() + (offset - it->first), n);
      return Status::Ok();
    }
  }
  return Status(Code::kState, "internal: streamed read of bytes " + std::to_string(offset) + "+" + std::to_string(n) +
                                  " that are not held");
}

Status StreamConverter::PushImpl(const uint8_t* data, size_t n) {
  while (n > 0) {
    if (!data_start_) {
      // Length prefix, then the header JSON: buffered until complete.
      const uint64_t want = head_.size() < 8 ? 8 : 8 + header_len_;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n, want - head_.size()));
      head_.append(reinterpret_cast<const char*>(data), take);
      data += take;
      n -= take;
      pos_ += take;
      if (head_.size() == 8) {
        uint64_t len = 0;
        for (int i = 0; i < 8; ++i) len |= uint64_t(static_cast<uint8_t>(head_[i])) << (8 * i);
        if (len > kMaxSafetensorsHeader) return Bad("implausible header length " + std::to_string(len));
        header_len_ = len;
      }
      if (head_.size() >= 8 && head_.size() == 8 + header_len_) JV3_RETURN_IF_ERROR(OnHeader());
      continue;
    }
    if (current_ == sources_.size()) {
      // Tensors the model does not use (and any trailing bytes) are skipped.
      pos_ += n;
      break;
    }
    Source& src = sources_[current_];
    const SafeTensor& t = *src.tensor;
    if (pos_ < t.begin) {
      const size_t skip = static_cast<size_t>(std::min<uint64_t>(n, t.begin - pos_));
      data += skip;
      n -= skip;
      pos_ += skip;
      continue;
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, t.begin + t.size - pos_));
    pending_.insert(pending_.end(), data, data + take);
    data += take;
    n -= take;
    pos_ += take;
    const bool last = pos_ == t.begin + t.size;
    if (src.streamed && (pending_.size() >= kBlockBytes || last)) JV3_RETURN_IF_ERROR(ConsumeRows(src, last));
    if (last) {
      JV3_RETURN_IF_ERROR(OnSourceComplete(src));
      ++current_;
    }
  }
  progress_.bytes_in = pos_;
  return Status::Ok();
}

Status StreamConverter::OnHeader() {
  data_start_ = head_.size();
  const uint64_t bound = declared_size_ ? declared_size_ : data_start_ + kUnknownSizeBound;
  JV3_RETURN_IF_ERROR(SafeTensorsFile::Open(
      [this](uint64_t offset, size_t n, uint8_t* dst) { return Read(offset, n, dst); }, bound, &st_));

  // Which checkpoint tensors each model-file tensor needs (a scale comes with its int8 weight).
  std::map<std::string, Source> by_name;
  for (size_t i = 0; i < schema_.size(); ++i) {
    const TensorSpec& spec = schema_[i];
    if (spec.recipe == Recipe::kQuantRowsScale) continue;
    for (const std::string* name : {&spec.source, &spec.source_lora_a, &spec.source_lora_b}) {
      if (name->empty()) continue;
      const SafeTensor* t = st_.Find(*name);
      if (!t) return Bad("missing tensor " + *name + " (needed for " + spec.name + ")");
      Source& s = by_name[*name];
      s.tensor = t;
      s.name = *name;
      s.consumers.push_back(static_cast<int>(i));
    }
  }
  uint64_t end = data_start_;
  for (const std::string& name : st_.Names()) {
    const SafeTensor* t = st_.Find(name);
    end = std::max(end, t->begin + t->size);
  }
  if (declared_size_ && declared_size_ < end) return Bad("header describes more bytes than the file has");
  progress_.bytes_total = declared_size_ ? declared_size_ : end;

  for (auto& kv : by_name) {
    Source& s = kv.second;
    const TensorSpec& spec = schema_[s.consumers[0]];
    s.streamed = s.consumers.size() == 1 && (spec.recipe == Recipe::kQuantRowsI8 || spec.recipe == Recipe::kCopyF32) &&
                 s.tensor->numel() > 0;
    if (s.streamed) {
      if (s.tensor->shape != spec.shape) {
        return Bad("tensor " + s.name + " has shape " + ShapeString(s.tensor->shape) + ", config.json implies " +
                   ShapeString(spec.shape));
      }
      if (s.tensor->size % s.tensor->numel() != 0 || s.tensor->size / s.tensor->numel() > 4) {
        return Bad("tensor " + s.name + " has dtype " + s.tensor->dtype + " (expected BF16, F16 or F32)");
      }
    } else {
      waiting_[s.name] = static_cast<int>(s.consumers.size());
    }
    sources_.push_back(std::move(s));
  }
  std::sort(sources_.begin(), sources_.end(),
            [](const Source& a, const Source& b) { return a.tensor->begin < b.tensor->begin; });
  for (size_t i = 1; i < sources_.size(); ++i) {
    const SafeTensor& prev = *sources_[i - 1].tensor;
    if (sources_[i].tensor->begin < prev.begin + prev.size) {
      return Bad("tensors " + sources_[i - 1].name + " and " + sources_[i].name + " overlap");
    }
  }
  return Status::Ok();
}

// Converts the whole rows held in pending_ (all of them when `last`) into the source's one consumer.
Status StreamConverter::ConsumeRows(Source& src, bool last) {
  const SafeTensor& t = *src.tensor;
  const int spec_index = src.consumers[0];
  const TensorSpec& spec = schema_[spec_index];
  const int64_t rows = spec.shape.size() >= 2 ? spec.shape[0] : t.numel();
  const int64_t cols = t.numel() / rows;
  const uint64_t row_bytes = t.size / rows;
  if (rows_done_ == 0 && spec.recipe == Recipe::kQuantRowsI8) scales_.assign(rows, 1.f);
  const int64_t n = static_cast<int64_t>(pending_.size() / row_bytes);
  if (n == 0) return last ? Status(Code::kState, "internal: rows left over") : Status::Ok();
  window_ = pending_.data();
  window_begin_ = t.begin + rows_done_ * row_bytes;
  window_size_ = n * row_bytes;
  block_.resize(n * cols);
  Status status = st_.ReadF32(t, rows_done_ * cols, n * cols, block_.data());
  window_ = nullptr;
  JV3_RETURN_IF_ERROR(status);
  // Each row block becomes one piece of the output tensor (see out_).
  std::vector<uint8_t>& piece = out_[spec_index].emplace_back();
  if (spec.recipe == Recipe::kQuantRowsI8) {
    piece.resize(n * cols);
    int8_t* q = reinterpret_cast<int8_t*>(piece.data());
    JV3_RETURN_IF_ERROR(QuantizeRowsI8(block_.data(), n, cols, src.name, rows_done_, q, &scales_[rows_done_]));
  } else {
    piece.resize(n * cols * 4);
    std::memcpy(piece.data(), block_.data(), n * cols * 4);
  }
  rows_done_ += n;
  pending_.erase(pending_.begin(), pending_.begin() + n * row_bytes);
  if (last) {
    // Give the staging memory back before the next (possibly much larger) tensor.
    std::vector<float>().swap(block_);
    std::vector<uint8_t>().swap(pending_);
  }
  return Status::Ok();
}

Status StreamConverter::OnSourceComplete(Source& src) {
  if (src.streamed) {
    const int i = src.consumers[0];
    if (schema_[i].recipe == Recipe::kQuantRowsI8) {
      // The scales tensor follows its weight in the schema.
      if (i + 1 >= static_cast<int>(schema_.size()) || schema_[i + 1].recipe != Recipe::kQuantRowsScale) {
        return Status(Code::kState, "internal: no scales after " + schema_[i].name);
      }
      const uint8_t* p = reinterpret_cast<const uint8_t*>(scales_.data());
      out_[i + 1].emplace_back(p, p + scales_.size() * 4);
      std::vector<float>().swap(scales_);
      MarkReady(i + 1);
    }
    MarkReady(i);
    rows_done_ = 0;
    return Status::Ok();
  }
  kept_[src.tensor->begin] = std::move(pending_);
  pending_.clear();
  // Produce every consumer whose sources are all here now, then drop sources nobody waits for.
  for (int i : src.consumers) {
    const TensorSpec& spec = schema_[i];
    bool all_here = true;
    for (const std::string* name : {&spec.source, &spec.source_lora_a, &spec.source_lora_b}) {
      if (!name->empty() && !kept_.count(st_.Find(*name)->begin)) all_here = false;
    }
    if (!all_here) continue;
    std::vector<uint8_t>& out = out_[i].emplace_back();
    std::vector<float> unused_scales;
    uint32_t crc = 0;
    JV3_RETURN_IF_ERROR(ProduceTensor(
        st_, header_.config, spec, &unused_scales,
        [&out](uint64_t, const uint8_t* data, size_t n) {
          out.insert(out.end(), data, data + n);
          return Status::Ok();
        },
        0, &crc));
    MarkReady(i);
    for (const std::string* name : {&spec.source, &spec.source_lora_a, &spec.source_lora_b}) {
      if (!name->empty() && --waiting_[*name] == 0) kept_.erase(st_.Find(*name)->begin);
    }
  }
  return Status::Ok();
}

void StreamConverter::MarkReady(int spec) {
  ready_[spec] = true;
  ++progress_.tensors_ready;
}

Status StreamConverter::FinishImpl(const SinkFn& sink, ConvertResult* result) {
  if (!data_start_ || current_ < sources_.size()) {
    return Status(Code::kBadCheckpoint, "model.safetensors ended after " + std::to_string(pos_) + " of " +
                                            std::to_string(progress_.bytes_total) + " bytes: truncated download?");
  }
  for (size_t i = 0; i < schema_.size(); ++i) {
    if (!ready_[i]) return Status(Code::kState, "internal: " + schema_[i].name + " was not produced");
    uint32_t crc = 0;
    for (const std::vector<uint8_t>& piece : out_[i]) crc = Crc32(crc, piece.data(), piece.size());
    header_.tensors[i].crc32 = crc;
  }
  std::string block;
  try {
    block = EncodeHeaderBlock(header_);
  } catch (const std::exception& e) {
    return Status(Code::kBadCheckpoint, std::string("cannot encode the header: ") + e.what());
  }
  JV3_RETURN_IF_ERROR(sink(reinterpret_cast<const uint8_t*>(block.data()), block.size()));
  static const uint8_t kZeros[kDataAlign] = {};
  uint64_t pos = block.size();
  for (size_t i = 0; i < schema_.size(); ++i) {
    const uint64_t at = block.size() + header_.tensors[i].offset;
    if (at > pos) JV3_RETURN_IF_ERROR(sink(kZeros, at - pos));
    pos = at;
    for (std::vector<uint8_t>& piece : out_[i]) {
      JV3_RETURN_IF_ERROR(sink(piece.data(), piece.size()));
      pos += piece.size();
      // The consumer has it now (the loader stages it): free each piece at once, so the output
      // and the loader's copy of a large tensor never both exist whole.
      std::vector<uint8_t>().swap(piece);
    }
  }
  if (result) {
    result->bytes_written = pos;
    result->tensors = static_cast<int>(schema_.size());
  }
  return Status::Ok();
}

}  // namespace jv3
