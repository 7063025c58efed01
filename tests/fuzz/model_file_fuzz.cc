// Fuzz target: a model file pushed through ModelLoader (ModelStreamReader + Model::Builder) in chunks
// whose sizes come from the input, then Finish and, when it loads, one small embed call.
// Input: byte 0 = options (bit 0: repair the header CRC so mutations reach the JSON and schema
// checks; bits 1-7: chunk-size seed), then the file bytes.
#include <cstdint>
#include <cstring>
#include <random>

#include "base/checksum.h"
#include "format/model_file.h"
#include "runtime/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t options = data[0];
  std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((options & 1) && file.size() >= jv3::kPreambleSize) {
    uint64_t len = 0;
    for (int i = 0; i < 8; ++i) len |= uint64_t(uint8_t(file[16 + i])) << (8 * i);
    if (len <= file.size() - jv3::kPreambleSize) {
      const uint32_t crc = jv3::Crc32(0, reinterpret_cast<const uint8_t*>(file.data()) + jv3::kPreambleSize, len);
      for (int i = 0; i < 4; ++i) file[12 + i] = static_cast<char>(crc >> (8 * i));
    }
  }
  jv3::ModelLoader loader;
  std::minstd_rand rng(options >> 1);
  jv3::Status st;
  for (size_t pos = 0; pos < file.size() && st.ok();) {
    const size_t n = std::min<size_t>(file.size() - pos, 1 + rng() % 3000);
    st = loader.Push(reinterpret_cast<const uint8_t*>(file.data()) + pos, n);
    pos += n;
    // An error is sticky: pushing more must keep returning it.
    if (!st.ok() && loader.Push(reinterpret_cast<const uint8_t*>("x"), 1).code() != st.code()) __builtin_trap();
  }
  if (!st.ok()) return 0;
  std::unique_ptr<jv3::Embedder> emb;
  if (!loader.Finish(1, &emb).ok()) return 0;
  jv3::EmbedOptions opt;
  jv3::EmbedResult res;
  opt.truncate = true;
  // Any Status: what loaded may still refuse a call; the target looks for crashes.
  (void)emb->Embed({"a the fi\xC3\xA9", "\xF0\x9F\x98\x80 <mask> is."}, opt, &res);
  opt.tasks = {0};
  opt.late_chunking = true;
  (void)emb->Embed({"the ", "a b"}, opt, &res);
  return 0;
}
