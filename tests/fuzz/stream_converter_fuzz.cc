// Fuzz target: StreamConverter (model.safetensors pushed as it downloads) over hostile bytes with the
// tiny config. Input: byte 0 = options (bit 0: declare the input's size up front; bits 1-7: chunk-size
// seed), then the safetensors bytes, pushed in chunks of 1..3000 bytes, then Finish into a bounded sink.
#include <cstdint>
#include <memory>
#include <random>

#include "convert/stream_converter.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::string config = jv3::fuzz::TinyConfigJson();
  static const std::string tokenizer = jv3::fuzz::TinyTokenizerJson();
  static const std::string tok_config = jv3::fuzz::TinyTokenizerConfigJson();
  const uint8_t options = data[0];
  ++data;
  --size;
  std::unique_ptr<jv3::StreamConverter> conv;
  if (!jv3::StreamConverter::Create(config, tokenizer, tok_config, (size & 1) != 0, (options & 1) ? size : 0, &conv)
           .ok())
    __builtin_trap();  // the tiny checkpoint's text files are valid
  std::minstd_rand rng(options >> 1);
  jv3::Status st;
  for (size_t pos = 0; pos < size && st.ok();) {
    const size_t n = std::min<size_t>(size - pos, 1 + rng() % 3000);
    st = conv->Push(data + pos, n);
    pos += n;
  }
  if (!st.ok()) return 0;
  uint64_t written = 0;
  jv3::ConvertResult result;
  (void)conv->Finish(  // any Status: the target looks for crashes
      [&](const uint8_t*, size_t n) {
        written += n;
        return written > (64u << 20) ? jv3::Status(jv3::Code::kIo, "fuzz output limit") : jv3::Status::Ok();
      },
      &result);
  return 0;
}
