// Writes the fuzz seed corpora (so no binary seeds live in git): the tiny in-memory checkpoint as
// safetensors, model files (int8, f32) and JSON, plus the fixture's config.json, tokenizer_config.json
// and texts.  Usage: make_seeds <fixture dir> <output dir>  (creates <output dir>/<target>/seed-N).
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "format/model_file.h"
#include "fuzz_util.h"
#include "runtime/loader.h"

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Corpus {
  std::string dir;
  int n = 0;
  void Add(const std::string& bytes) { std::ofstream(dir + "/seed-" + std::to_string(n++), std::ios::binary) << bytes; }
};

Corpus Open(const std::string& out, const char* target) {
  mkdir(out.c_str(), 0755);
  const std::string dir = out + "/" + target;
  mkdir(dir.c_str(), 0755);
  return Corpus{dir};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_seeds <fixture dir> <output dir>\n");
    return 2;
  }
  const std::string fixture = argv[1], out = argv[2];
  using namespace jv3::fuzz;
  const std::string config = TinyConfigJson(), tokenizer = TinyTokenizerJson(), tok_config = TinyTokenizerConfigJson();
  const std::string safetensors = TinySafetensors(config);

  std::string int8_file, f32_file;
  for (auto [int8, file] : {std::pair<bool, std::string*>{true, &int8_file}, {false, &f32_file}}) {
    const jv3::Status st = ConvertInMemory(config, tokenizer, tok_config, safetensors, int8, file);
    if (!st.ok()) {
      std::fprintf(stderr, "make_seeds: converting the tiny checkpoint failed: %s\n", st.message().c_str());
      return 1;
    }
  }

  // The seeds must reach the deep end (a loaded model that embeds), or the fuzzer starts blind.
  jv3::ModelLoader loader;
  std::unique_ptr<jv3::Embedder> emb;
  jv3::EmbedResult res;
  jv3::Status ok = loader.Push(reinterpret_cast<const uint8_t*>(int8_file.data()), int8_file.size());
  if (ok.ok()) ok = loader.Finish(1, &emb);
  if (ok.ok()) ok = emb->Embed({"a the fi"}, jv3::EmbedOptions(), &res);
  if (!ok.ok()) {
    std::fprintf(stderr, "make_seeds: the tiny model file does not load and embed: %s\n", ok.message().c_str());
    return 1;
  }

  Corpus model = Open(out, "model_file_fuzz");
  for (char options : {'\x00', '\x01', '\x3b', '\xff'}) model.Add(std::string(1, options) + int8_file);
  model.Add(std::string(1, '\x01') + f32_file);
  model.Add(std::string(1, '\x00') + int8_file.substr(0, int8_file.size() / 2));

  Corpus st = Open(out, "safetensors_fuzz");
  st.Add(safetensors);
  st.Add(safetensors.substr(0, safetensors.size() - 7));
  // The fixture's own header with its data cut off (lies outside the file).
  const std::string real = ReadFile(fixture + "/model.safetensors");
  if (real.size() > 8)
    st.Add(real.substr(0, std::min<size_t>(real.size(), 8 + uint8_t(real[0]) + 256 * uint8_t(real[1]))));
  st.Add(
      std::string("\x40\0\0\0\0\0\0\0", 8) +
      R"({"x":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})" +
      std::string("\x00\x3c\x00\xbc\x01\x00\xff\x7b\x00\x00\x80\x3f", 12));

  Corpus stream = Open(out, "stream_converter_fuzz");
  for (char options : {'\x00', '\x01', '\x5a'}) stream.Add(std::string(1, options) + safetensors);
  stream.Add(std::string(1, '\x01') + safetensors.substr(0, safetensors.size() / 2));

  Corpus json = Open(out, "json_fuzz");
  json.Add('\0' + config);
  json.Add('\0' + ReadFile(fixture + "/config.json"));
  json.Add('\1' + tokenizer);
  json.Add('\2' + tokenizer + '\0' + tok_config);
  json.Add('\2' + tokenizer + '\0' + ReadFile(fixture + "/tokenizer_config.json"));
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= uint64_t(uint8_t(int8_file[16 + i])) << (8 * i);
  json.Add('\3' + int8_file.substr(jv3::kPreambleSize, header_len));

  Corpus text = Open(out, "tokenizer_fuzz");
  const nlohmann::json expected = nlohmann::json::parse(ReadFile(fixture + "/expected.json"), nullptr, false);
  if (expected.is_object() && expected.contains("texts")) {
    for (const auto& t : expected["texts"]) {
      if (t.contains("text") && t["text"].is_string() && t["text"].get<std::string>().size() < 4096)
        text.Add(t["text"].get<std::string>());
    }
  }
  text.Add("\xED\xA0\x80 lone surrogate, \xC0\xAF overlong, \xF0\x9F\x98 cut emoji");
  text.Add("<s>x</s>   <mask> <pad>\t\n\r\x01\x7f");
  std::printf(
      "seeds: model_file %d, safetensors %d, stream_converter %d, json %d, tokenizer %d (model file %zu bytes)\n",
      model.n, st.n, stream.n, json.n, text.n, int8_file.size());
  return 0;
}
