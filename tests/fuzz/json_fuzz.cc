// Fuzz target: the JSON readers. Byte 0 picks one: ParseModelConfig, ParseTokenizerJson (+ Tokenizer::Create
// and a few Encode calls when it parses), tokenizer.json + tokenizer_config.json split at the first NUL,
// or the model file header (ParseHeader, with its schema checks).
#include <cstdint>
#include <memory>
#include <string>

#include "format/model_config.h"
#include "format/model_file.h"
#include "tokenizer/tokenizer.h"

namespace {

void TryTokenizer(std::string_view json, std::string_view config) {
  jv3::TokenizerSpec spec;
  if (!jv3::ParseTokenizerJson(json, config, &spec).ok()) return;
  std::unique_ptr<jv3::Tokenizer> tok;
  if (!jv3::Tokenizer::Create(std::move(spec), &tok).ok()) return;
  jv3::Encoding enc;
  for (const char* text :
       {"", " ", "a the fi\xC3\xA9  A", "<mask>  x</s>", "\xE3\x80\x80\xF0\x9F\x98\x80\xE2\x80\x8D!"}) {
    if (!tok->Encode(text, &enc).ok()) continue;
    if (enc.ids.size() != enc.offsets.size()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      jv3::ModelConfig c;
      (void)jv3::ParseModelConfig(rest, &c);  // any Status: the target looks for crashes
      break;
    }
    case 1: TryTokenizer(rest, ""); break;
    case 2: {
      const size_t nul = rest.find('\0');
      TryTokenizer(rest.substr(0, nul), nul == std::string_view::npos ? "" : rest.substr(nul + 1));
      break;
    }
    case 3: {
      jv3::ModelHeader h;
      (void)jv3::ParseHeader(std::string(rest), &h);
      break;
    }
  }
  return 0;
}
