// Parses the safetensors header and upcasts BF16/F16 ranges to f32 on demand.
#include "convert/safetensors.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "base/json_guard.h"

namespace jv3 {
namespace {

Status Bad(const std::string& msg) { return Status(Code::kBadCheckpoint, "model.safetensors: " + msg); }

size_t ElementSize(const std::string& dtype) {
  if (dtype == "BF16" || dtype == "F16") return 2;
  if (dtype == "F32") return 4;
  return 0;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | exp << 23 | (mant & 0x3FF) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

int64_t SafeTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;  // Open() admits only shapes whose product fits in the file
  return n;
}

Status SafeTensorsFile::Open(ReadAtFn read, uint64_t file_size, SafeTensorsFile* out) {
  uint8_t len_bytes[8];
  if (file_size < 8) return Bad("file too small (" + std::to_string(file_size) + " bytes)");
  JV3_RETURN_IF_ERROR(read(0, 8, len_bytes));
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= uint64_t(len_bytes[i]) << (8 * i);
  if (header_len > (100u << 20) || header_len > file_size - 8) {
    return Bad("implausible header length " + std::to_string(header_len));
  }
  std::string header(header_len, '\0');
  JV3_RETURN_IF_ERROR(read(8, header_len, reinterpret_cast<uint8_t*>(&header[0])));
  if (!JsonDepthOk(header)) return Bad("the header nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  nlohmann::json j = nlohmann::json::parse(header, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Bad("the header is not a JSON object");
  const uint64_t data_start = 8 + header_len;
  SafeTensorsFile f;
  f.read_ = std::move(read);
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      SafeTensor t;
      t.dtype = it->at("dtype").get<std::string>();
      // Checked product: non-negative dimensions whose running product (as numel() computes it)
      // never overflows and stays within the file's bytes, so later size arithmetic is safe.
      int64_t numel = 1;
      for (const auto& d : it->at("shape")) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0 || __builtin_mul_overflow(numel, d.get<int64_t>(), &numel))
          return Bad("tensor " + it.key() + " has a bad shape " + it->at("shape").dump());
        t.shape.push_back(d.get<int64_t>());
      }
      if (static_cast<uint64_t>(numel) > file_size)
        return Bad("tensor " + it.key() + " has a shape larger than the file");
      const auto& offsets = it->at("data_offsets");
      if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
          !offsets[1].is_number_unsigned())
        return Bad("tensor " + it.key() + " has malformed data_offsets " + offsets.dump());
      const uint64_t b = offsets[0].get<uint64_t>();
      const uint64_t e = offsets[1].get<uint64_t>();
      if (e < b || e > file_size - data_start) {
        return Bad("tensor " + it.key() + " lies outside the file (data_offsets [" + std::to_string(b) + ", " +
                   std::to_string(e) + "], file " + std::to_string(file_size) + " bytes): truncated download?");
      }
      t.begin = data_start + b;
      t.size = e - b;
      const size_t es = ElementSize(t.dtype);
      if (es && t.size != uint64_t(t.numel()) * es) {
        return Bad("tensor " + it.key() + " has " + std::to_string(t.size) + " bytes for its shape and dtype " +
                   t.dtype);
      }
      f.tensors_.emplace(it.key(), std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    return Bad(std::string("malformed header: ") + e.what());
  }
  *out = std::move(f);
  return Status::Ok();
}

const SafeTensor* SafeTensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<std::string> SafeTensorsFile::Names() const {
  std::vector<std::string> names;
  for (const auto& kv : tensors_) names.push_back(kv.first);
  return names;
}

Status SafeTensorsFile::ReadF32(const SafeTensor& t, int64_t first, int64_t count, float* dst) const {
  const size_t es = ElementSize(t.dtype);
  if (!es) return Bad("dtype " + t.dtype + " is not supported (expected BF16, F16 or F32)");
  if (first < 0 || count < 0 || first > t.numel() || count > t.numel() - first) return Bad("read outside a tensor");
  if (es == 4) return read_(t.begin + first * 4, count * 4, reinterpret_cast<uint8_t*>(dst));
  // Read the 2-byte values into the upper half of dst, then widen front to back (never overtaking).
  uint16_t* half = reinterpret_cast<uint16_t*>(dst) + count;
  JV3_RETURN_IF_ERROR(read_(t.begin + first * 2, count * 2, reinterpret_cast<uint8_t*>(half)));
  const bool bf16 = t.dtype == "BF16";
  for (int64_t i = 0; i < count; ++i) {
    const uint16_t h = half[i];
    if (bf16) {
      const uint32_t bits = uint32_t(h) << 16;
      std::memcpy(&dst[i], &bits, 4);
    } else {
      dst[i] = HalfToFloat(h);
    }
  }
  return Status::Ok();
}

}  // namespace jv3
