// Fuzz target: Tokenizer::Encode of the fixture's tokenizer.json on arbitrary bytes (valid and
// invalid UTF-8), checking what callers rely on: ids in the vocabulary, one offset pair per id,
// offsets ordered inside the text, and the same result for the bytes and their U+FFFD repair.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

std::unique_ptr<jv3::Tokenizer> g_tok;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("JV3_FIXTURES");
  const std::string base = dir ? dir : "../shared/fixtures/tiny-jina-v3";
  jv3::TokenizerSpec spec;
  jv3::Status st =
      jv3::ParseTokenizerJson(ReadFile(base + "/tokenizer.json"), ReadFile(base + "/tokenizer_config.json"), &spec);
  if (st.ok()) st = jv3::Tokenizer::Create(std::move(spec), &g_tok);
  if (!st.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: cannot load the fixture tokenizer from %s (set JV3_FIXTURES): %s\n",
                 base.c_str(), st.message().c_str());
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  jv3::Encoding enc;
  if (!g_tok->Encode(text, &enc).ok()) return 0;
  const std::string repaired = jv3::unicode::RepairUtf8(text);
  if (jv3::unicode::RepairUtf8(repaired) != repaired) __builtin_trap();
  int32_t code_points = 0;
  for (unsigned char c : repaired) code_points += (c & 0xC0) != 0x80;
  if (enc.ids.size() != enc.offsets.size()) __builtin_trap();
  const int32_t vocab = static_cast<int32_t>(g_tok->spec().pieces.size());
  for (size_t i = 0; i < enc.ids.size(); ++i) {
    if (enc.ids[i] < 0 || enc.ids[i] >= vocab) __builtin_trap();
    const auto [a, b] = enc.offsets[i];
    if (a < 0 || a > b || b > code_points) __builtin_trap();
  }
  jv3::Encoding again;
  if (!g_tok->Encode(repaired, &again).ok()) __builtin_trap();
  if (again.ids != enc.ids || again.offsets != enc.offsets) __builtin_trap();
  return 0;
}
