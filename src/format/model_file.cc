// Model file header (de)serialization and the push-based streaming reader.
#include "format/model_file.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "base/checksum.h"
#include "base/json_guard.h"
#include "tokenizer/tokenizer_json.h"

namespace jv3 {
namespace {

uint64_t AlignUp(uint64_t v) { return (v + kDataAlign - 1) / kDataAlign * kDataAlign; }

std::string Hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::string ShapeStr(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Status Format(const std::string& msg) { return Status(Code::kModelFormat, "model file: " + msg); }
Status TensorError(const std::string& msg) { return Status(Code::kModelTensor, "model file: " + msg); }

void PutU32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
uint32_t GetU32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(s[at + i])) << (8 * i);
  return v;
}
uint64_t GetU64(const std::string& s, size_t at) { return uint64_t(GetU32(s, at)) | uint64_t(GetU32(s, at + 4)) << 32; }

// An integer JSON value (a float such as 1e300 would make the conversion undefined behaviour).
template <typename T>
T Integer(const nlohmann::json& v) {
  if (!v.is_number_integer()) throw nlohmann::json::type_error::create(302, "expected an integer, got " + v.dump(), &v);
  if (std::is_unsigned<T>::value && !v.is_number_unsigned())
    throw nlohmann::json::type_error::create(302, "expected a non-negative integer, got " + v.dump(), &v);
  return v.get<T>();
}

Status ParseTensorTable(const nlohmann::json& list, ModelHeader* h) {
  if (!list.is_array()) return Format("\"tensors\" must be a list");
  for (const auto& e : list) {
    TensorEntry t;
    t.name = e.at("name").get<std::string>();
    const std::string dt = e.at("dtype").get<std::string>();
    if (dt == "f32")
      t.dtype = DType::kF32;
    else if (dt == "i8")
      t.dtype = DType::kI8;
    else
      return TensorError("tensor " + t.name + " has unknown dtype \"" + dt + "\"");
    for (const auto& d : e.at("shape")) t.shape.push_back(Integer<int64_t>(d));
    t.offset = Integer<uint64_t>(e.at("offset"));
    t.size = Integer<uint64_t>(e.at("size"));
    const std::string crc = e.at("crc32").get<std::string>();
    if (crc.size() != 8 || crc.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return Format("tensor " + t.name + " has a malformed crc32 \"" + crc + "\"");
    }
    t.crc32 = static_cast<uint32_t>(std::stoul(crc, nullptr, 16));
    h->tensors.push_back(std::move(t));
  }
  return Status::Ok();
}

// The table must be exactly the schema the config implies, laid out in order without overlap.
Status CheckAgainstSchema(const ModelHeader& h) {
  const std::vector<TensorSpec> schema = ModelSchema(h.config, h.int8);
  for (size_t i = 0; i < std::max(schema.size(), h.tensors.size()); ++i) {
    if (i >= h.tensors.size())
      return TensorError("missing tensor " + schema[i].name + " (the table has only " +
                         std::to_string(h.tensors.size()) + " tensors)");
    const TensorEntry& t = h.tensors[i];
    if (i >= schema.size()) return TensorError("unknown tensor " + t.name + " after the last expected one");
    const TensorSpec& s = schema[i];
    if (t.name != s.name) return TensorError("tensor #" + std::to_string(i) + " is " + t.name + ", expected " + s.name);
    if (t.dtype != s.dtype || t.shape != s.shape) {
      return TensorError("tensor " + t.name + " is " + DTypeName(t.dtype) + ShapeStr(t.shape) + ", expected " +
                         DTypeName(s.dtype) + ShapeStr(s.shape));
    }
    if (t.size != static_cast<uint64_t>(s.nbytes())) {
      return TensorError("tensor " + t.name + " has " + std::to_string(t.size) + " bytes, expected " +
                         std::to_string(s.nbytes()));
    }
    if (t.size > kMaxTensorBytes) {
      return Status(Code::kModelFormat, "model file: tensor " + t.name + " has " + std::to_string(t.size) +
                                            " bytes, more than a wasm32 instance can hold");
    }
    // Earlier entries passed this check, so prev_end cannot wrap; `size > data_size - offset` cannot either.
    const uint64_t prev_end = i ? h.tensors[i - 1].offset + h.tensors[i - 1].size : 0;
    if (t.offset % kDataAlign != 0 || t.offset < prev_end || t.offset > h.data_size ||
        t.size > h.data_size - t.offset) {
      return TensorError("tensor " + t.name + " has a bad offset " + std::to_string(t.offset) +
                         " (must be 64-aligned, after the previous tensor, inside data_size " +
                         std::to_string(h.data_size) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace

std::string SerializeHeader(const ModelHeader& h) {
  nlohmann::ordered_json j;
  j["format"] = "jina-v3-wasm";
  j["version"] = kFormatVersion;
  j["dtype"] = h.int8 ? "int8" : "f32";
  j["config"] = nlohmann::ordered_json::parse(h.config_json);
  j["tokenizer"] = nlohmann::ordered_json::parse(h.tokenizer_json);
  j["tokenizer_config"] = h.tokenizer_config_json.empty() ? nlohmann::ordered_json::object()
                                                          : nlohmann::ordered_json::parse(h.tokenizer_config_json);
  j["data_size"] = h.data_size;
  auto& list = j["tensors"] = nlohmann::ordered_json::array();
  for (const TensorEntry& t : h.tensors) {
    list.push_back({{"name", t.name},
                    {"dtype", DTypeName(t.dtype)},
                    {"shape", t.shape},
                    {"offset", t.offset},
                    {"size", t.size},
                    {"crc32", Hex8(t.crc32)}});
  }
  return j.dump();
}

std::string EncodeHeaderBlock(const ModelHeader& h) {
  const std::string json = SerializeHeader(h);
  std::string block(kPreambleSize, '\0');
  std::memcpy(&block[0], kModelMagic, 8);
  PutU32(&block, 8, kFormatVersion);
  PutU32(&block, 12, Crc32(0, reinterpret_cast<const uint8_t*>(json.data()), json.size()));
  PutU32(&block, 16, static_cast<uint32_t>(json.size()));
  PutU32(&block, 20, static_cast<uint32_t>(uint64_t(json.size()) >> 32));
  block += json;
  block.resize(AlignUp(block.size()), ' ');
  return block;
}

Status ParseHeader(const std::string& json, ModelHeader* out) {
  if (!JsonDepthOk(json)) return Format("the header nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  // The tokenizer's vocabulary list is kept out of the DOM (see tokenizer_json.h).
  static const std::vector<std::string> kVocabPath = {"tokenizer", "model", "vocab"};
  nlohmann::json j;
  std::optional<UnigramVocab> vocab;
  if (!ParseJsonExceptVocab(json, kVocabPath, &j, &vocab) || !j.is_object()) {
    return Format("the header is not valid JSON");
  }
  ModelHeader h;
  const nlohmann::json* tokenizer = nullptr;
  const nlohmann::json* tokenizer_config = nullptr;
  try {
    if (j.value("format", std::string()) != "jina-v3-wasm")
      return Format("the header's \"format\" is not jina-v3-wasm");
    const std::string dtype = j.at("dtype").get<std::string>();
    if (dtype != "int8" && dtype != "f32") return Format("unknown dtype \"" + dtype + "\" (expected int8 or f32)");
    h.int8 = dtype == "int8";
    h.config_json = j.at("config").dump();
    Status st = ParseModelConfig(h.config_json, &h.config);
    if (!st.ok()) return Format("bad config in header: " + st.message());
    tokenizer = &j.at("tokenizer");
    if (!tokenizer->is_object()) return Format("the header has no tokenizer");
    tokenizer_config = &j.at("tokenizer_config");
    h.data_size = Integer<uint64_t>(j.at("data_size"));
    if (h.data_size > kMaxDataSize) return Format("implausible data_size " + std::to_string(h.data_size));
    JV3_RETURN_IF_ERROR(ParseTensorTable(j.at("tensors"), &h));
  } catch (const nlohmann::json::exception& e) {
    return Format(std::string("malformed header: ") + e.what());
  }
  JV3_RETURN_IF_ERROR(CheckAgainstSchema(h));
  // Read from this parse: dumping the tokenizer to text and parsing that again cost as much as the
  // whole header. JsonDepthOk above bounds its nesting.
  TokenizerSpec spec;
  JV3_RETURN_IF_ERROR(ParseTokenizerJson(*tokenizer, *tokenizer_config, vocab ? &*vocab : nullptr, &spec));
  h.tokenizer = std::make_shared<const TokenizerSpec>(std::move(spec));
  *out = std::move(h);
  return Status::Ok();
}

ModelStreamReader::ModelStreamReader(HeaderFn on_header, TensorFn on_tensor)
    : on_header_(std::move(on_header)), on_tensor_(std::move(on_tensor)) {}

void ModelStreamReader::PassThrough(std::function<bool(const TensorEntry&)> which, PassFn fn) {
  pass_which_ = std::move(which);
  pass_fn_ = std::move(fn);
}

bool ModelStreamReader::Passed(const TensorEntry& t) const { return pass_which_ && pass_which_(t); }

Status ModelStreamReader::ConsumePreamble() {
  if (std::memcmp(pending_.data(), kModelMagic, 8) != 0) {
    return Format("not a jina-v3-wasm model file (bad magic); convert the checkpoint with `jina-v3-wasm convert`");
  }
  const uint32_t version = GetU32(pending_, 8);
  if (version != kFormatVersion) {
    return Status(Code::kModelVersion, "model file format version " + std::to_string(version) +
                                           " is not supported (this runtime reads version " +
                                           std::to_string(kFormatVersion) + "); convert the checkpoint again");
  }
  header_crc_ = GetU32(pending_, 12);
  header_size_ = GetU64(pending_, 16);
  if (header_size_ == 0 || header_size_ > kMaxHeaderSize) {
    return Format("implausible header length " + std::to_string(header_size_));
  }
  pending_.clear();
  return Status::Ok();
}

Status ModelStreamReader::ConsumeHeader() {
  if (Crc32(0, reinterpret_cast<const uint8_t*>(pending_.data()), pending_.size()) != header_crc_) {
    return Status(Code::kModelChecksum, "model file: the header's checksum does not match (corrupt file)");
  }
  JV3_RETURN_IF_ERROR(ParseHeader(pending_, &header_));
  std::string().swap(pending_);
  data_start_ = AlignUp(kPreambleSize + header_size_);
  header_.data_start = data_start_;
  progress_.bytes_total = data_start_ + header_.data_size;
  progress_.tensors_total = static_cast<int>(header_.tensors.size());
  progress_.phase = "tensors";
  JV3_RETURN_IF_ERROR(on_header_(header_));
  return StartNextTensor();
}

// Allocates the staging buffer of the next tensor; tensors of no bytes complete at once.
Status ModelStreamReader::StartNextTensor() {
  while (next_tensor_ < header_.tensors.size()) {
    const TensorEntry& t = header_.tensors[next_tensor_];
    if (Passed(t)) {
      pass_crc_ = 0;
      if (t.size > 0) return Status::Ok();
      ++next_tensor_;
      ++progress_.tensors_ready;
      continue;
    }
    JV3_RETURN_IF_ERROR(OrOutOfMemory(
        [&] {
          staging_.clear();
          staging_.reserve(t.size);
        },
        "while loading tensor " + t.name + " (" + std::to_string(t.size) +
            " bytes); free other models or use the int8 model file"));
    if (t.size > 0) return Status::Ok();
    JV3_RETURN_IF_ERROR(on_tensor_(t, std::move(staging_)));
    ++next_tensor_;
    ++progress_.tensors_ready;
  }
  progress_.phase = "done";
  return Status::Ok();
}

Status ModelStreamReader::FinishTensorIfComplete() {
  const TensorEntry& t = header_.tensors[next_tensor_];
  if (staging_.size() < t.size) return Status::Ok();
  if (Crc32(0, staging_.data(), staging_.size()) != t.crc32) {
    return Status(Code::kModelChecksum,
                  "model file: tensor " + t.name + " does not match its checksum (corrupt or tampered file)");
  }
  JV3_RETURN_IF_ERROR(on_tensor_(t, std::move(staging_)));
  ++next_tensor_;
  ++progress_.tensors_ready;
  return StartNextTensor();
}

Status ModelStreamReader::PassChunk(const TensorEntry& t, uint64_t at, size_t done, size_t take, const CopyFn& copy) {
  JV3_RETURN_IF_ERROR(OrOutOfMemory([&] { bounce_.resize(take); }, "while loading tensor " + t.name));
  copy(done, bounce_.data(), take);
  pass_crc_ = Crc32(pass_crc_, bounce_.data(), take);
  JV3_RETURN_IF_ERROR(pass_fn_(t, at, bounce_.data(), take));
  if (at + take < t.size) return Status::Ok();
  std::vector<uint8_t>().swap(bounce_);
  if (pass_crc_ != t.crc32) {
    return Status(Code::kModelChecksum,
                  "model file: tensor " + t.name + " does not match its checksum (corrupt or tampered file)");
  }
  ++next_tensor_;
  ++progress_.tensors_ready;
  return StartNextTensor();
}

Status ModelStreamReader::Push(const uint8_t* data, size_t n) {
  return Push(n, [data](size_t offset, uint8_t* dst, size_t len) { std::memcpy(dst, data + offset, len); });
}

Status ModelStreamReader::Push(size_t n, const CopyFn& copy) {
  if (!failed_.ok()) return failed_;
  Status st;
  // Appends the chunk's bytes [done, done + take) to `buf` (pending_ or staging_). staging_ never
  // reallocates (StartNextTensor reserved the tensor's size), and resize's zero-fill is overwritten
  // while still in cache: cheaper than a second copy of every tensor byte.
  auto append = [&](auto& buf, size_t done, size_t take) {
    const size_t old = buf.size();
    buf.resize(old + take);
    copy(done, reinterpret_cast<uint8_t*>(&buf[0]) + old, take);
  };
  for (size_t done = 0; done < n && st.ok();) {
    const size_t left = n - done;
    size_t take = 0;
    if (pos_ < kPreambleSize) {
      take = std::min<uint64_t>(left, kPreambleSize - pos_);
      append(pending_, done, take);
      if (pos_ + take == kPreambleSize) st = ConsumePreamble();
    } else if (pos_ < kPreambleSize + header_size_) {
      take = std::min<uint64_t>(left, kPreambleSize + header_size_ - pos_);
      append(pending_, done, take);
      if (pos_ + take == kPreambleSize + header_size_) st = ConsumeHeader();
    } else if (next_tensor_ >= header_.tensors.size()) {
      st = Format("the file is longer than its header says (" + std::to_string(progress_.bytes_total) + " bytes)");
    } else {
      const TensorEntry& t = header_.tensors[next_tensor_];
      const uint64_t start = data_start_ + t.offset;
      if (pos_ < start) {
        take = std::min<uint64_t>(left, start - pos_);  // alignment padding: not copied
      } else {
        take = std::min<uint64_t>(left, start + t.size - pos_);
        if (Passed(t)) {
          st = PassChunk(t, pos_ - start, done, take, copy);
        } else {
          append(staging_, done, take);
          st = FinishTensorIfComplete();
        }
      }
    }
    pos_ += take;
    done += take;
    progress_.bytes_loaded = pos_;
  }
  if (!st.ok()) failed_ = st;
  return st;
}

Status ModelStreamReader::Finish() {
  if (!failed_.ok()) return failed_;
  if (std::string(progress_.phase) == "done") return Status::Ok();
  std::string what = pos_ < kPreambleSize + header_size_ || header_size_ == 0
                         ? "the header"
                         : "tensor " + header_.tensors[next_tensor_].name;
  failed_ =
      Status(Code::kModelTruncated,
             "model file ends after " + std::to_string(pos_) + " bytes, inside " + what +
                 (progress_.bytes_total ? " (expected " + std::to_string(progress_.bytes_total) + " bytes)" : "") +
                 "; the download or copy was cut short");
  return failed_;
}

}  // namespace jv3
