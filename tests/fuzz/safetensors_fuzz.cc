// Fuzz target: SafeTensorsFile::Open + ReadF32 over in-memory bytes, then the converter over the
// same bytes with the tiny config (shape mismatches, NaN rows, short files, huge shapes).
#include <cstdint>
#include <cstring>
#include <vector>

#include "convert/safetensors.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  jv3::SafeTensorsFile f;
  const jv3::Status st = jv3::SafeTensorsFile::Open(
      [&](uint64_t off, size_t n, uint8_t* dst) {
        if (off > bytes.size() || n > bytes.size() - off) return jv3::Status(jv3::Code::kIo, "short read");
        std::memcpy(dst, bytes.data() + off, n);
        return jv3::Status::Ok();
      },
      bytes.size(), &f);
  if (st.ok()) {
    for (const std::string& name : f.Names()) {
      const jv3::SafeTensor* t = f.Find(name);
      if (t == nullptr) __builtin_trap();
      const int64_t n = t->numel();
      if (n < 0) __builtin_trap();
      // Open guarantees the bytes are in the file, so n is bounded by the input size.
      std::vector<float> out(static_cast<size_t>(std::min<int64_t>(n, 1 << 16)) + 1);
      // Reads inside a tensor of a float dtype succeed; one past the end and before the start are
      // refused whatever the dtype.
      const bool readable = t->dtype == "BF16" || t->dtype == "F16" || t->dtype == "F32";
      if (f.ReadF32(*t, 0, std::min<int64_t>(n, 1 << 16), out.data()).ok() != readable) __builtin_trap();
      if (n > 0 && f.ReadF32(*t, n - 1, 1, out.data()).ok() != readable) __builtin_trap();
      if (f.ReadF32(*t, n, 1, out.data()).ok()) __builtin_trap();
      if (f.ReadF32(*t, -1, 1, out.data()).ok()) __builtin_trap();
    }
  }
  static const std::string config = jv3::fuzz::TinyConfigJson();
  static const std::string tokenizer = jv3::fuzz::TinyTokenizerJson();
  static const std::string tok_config = jv3::fuzz::TinyTokenizerConfigJson();
  std::string file;
  (void)jv3::fuzz::ConvertInMemory(config, tokenizer, tok_config, bytes, (size & 1) != 0, &file);  // any Status
  return 0;
}
