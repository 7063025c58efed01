// Helpers shared by the fuzz targets and the seed generator: a tiny but complete checkpoint (config,
// tokenizer with a small charsmap, safetensors) built in memory, so seeds stay small and need no files.
#pragma once

#include <darts.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "convert/converter.h"
#include "format/model_schema.h"

namespace jv3::fuzz {

// Same keys and kinds of values as the real config.json, at sizes that keep a model file ~40 KB.
inline std::string TinyConfigJson() {
  // clang-format off: one table, packed
  nlohmann::ordered_json c = {
      {"hidden_act", "gelu"},
      {"hidden_size", 8},
      {"intermediate_size", 16},
      {"layer_norm_eps", 1e-5},
      {"lora_adaptations", {"retrieval.query", "retrieval.passage", "separation", "classification", "text-matching"}},
      {"lora_alpha", 1},
      {"lora_rank", 2},
      {"matryoshka_dimensions", {4, 8}},
      {"max_position_embeddings", 40},
      {"num_attention_heads", 2},
      {"num_hidden_layers", 1},
      {"pad_token_id", 1},
      {"position_embedding_type", "rotary"},
      {"rotary_emb_base", 20000.0},
      {"type_vocab_size", 1},
      {"vocab_size", 24},
      {"task_instructions", {{"retrieval.query", "Q: "}, {"retrieval.passage", "P: "}}}};
  // clang-format on
  return c.dump();
}

inline std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t g = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) g |= uint32_t(uint8_t(in[i + 1])) << 8;
    if (i + 2 < in.size()) g |= uint32_t(uint8_t(in[i + 2]));
    out += k[g >> 18 & 63];
    out += k[g >> 12 & 63];
    out += i + 1 < in.size() ? k[g >> 6 & 63] : '=';
    out += i + 2 < in.size() ? k[g & 63] : '=';
  }
  return out;
}

// A sentencepiece-style precompiled charsmap (u32 trie size, darts-clone units, NUL-terminated
// replacements) for a few mappings, so the Precompiled normalizer and its validation get fuzzed.
inline std::string TinyCharsmap() {
  // clang-format off: one table, packed
  const std::map<std::string, std::string> rules = {{"A", "a"},
                                                    {"\xEF\xAC\x81", "fi"},
                                                    {"\xE3\x80\x80", " "},
                                                    {"\xE2\x84\xAB", "\xC3\xA5"},
                                                    {"e\xCC\x81", "\xC3\xA9"}};
  // clang-format on
  std::vector<const char*> keys;
  std::vector<int> values;
  std::string normalized;
  for (const auto& [from, to] : rules) {  // std::map: keys sorted, as darts requires
    keys.push_back(from.c_str());
    values.push_back(static_cast<int>(normalized.size()));
    normalized += to;
    normalized += '\0';
  }
  Darts::DoubleArray da;
  da.build(keys.size(), keys.data(), nullptr, values.data());
  const uint32_t bytes = static_cast<uint32_t>(da.size() * da.unit_size());
  std::string blob(4, '\0');
  for (int i = 0; i < 4; ++i) blob[i] = static_cast<char>(bytes >> (8 * i));
  blob.append(static_cast<const char*>(da.array()), bytes);
  return blob + normalized;
}

// tokenizer.json with the fixture's structure (Precompiled + Replace, Metaspace, TemplateProcessing,
// added tokens with lstrip) and 24 pieces.
inline std::string TinyTokenizerJson() {
  using J = nlohmann::ordered_json;
  // clang-format off: one table, packed
  const char* pieces[] = {"<s>",
                          "<pad>",
                          "</s>",
                          "<unk>",
                          "\xE2\x96\x81",
                          "a",
                          "b",
                          "c",
                          "e",
                          "fi",
                          "\xC3\xA9",
                          "\xC3\xA5",
                          "\xE2\x96\x81"
                          "a",
                          "\xE2\x96\x81"
                          "the",
                          "th",
                          "he",
                          "is",
                          "\xE2\x96\x81"
                          "is",
                          ".",
                          ",",
                          "!",
                          "1",
                          "\xF0\x9F\x98\x80",
                          "<mask>"};
  // clang-format on
  J vocab = J::array();
  float score = -1.f;
  for (const char* p : pieces) vocab.push_back({p, std::string(p)[0] == '<' ? 0.0 : score -= 0.5f});
  auto added = [](int id, const char* content, bool lstrip) {
    return J{{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", lstrip},
             {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  J t = {{"version", "1.0"},
         {"added_tokens",
          {added(0, "<s>", false), added(1, "<pad>", false), added(2, "</s>", false), added(3, "<unk>", false),
           added(23, "<mask>", true)}},
         {"normalizer",
          {{"type", "Sequence"},
           {"normalizers",
            {{{"type", "Precompiled"}, {"precompiled_charsmap", Base64(TinyCharsmap())}},
             {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}}}}},
         {"pre_tokenizer",
          {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}, {"split", true}}},
         {"post_processor",
          {{"type", "TemplateProcessing"},
           {"single",
            {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
             {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
           {"special_tokens",
            {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}},
             {"</s>", {{"id", "</s>"}, {"ids", {2}}, {"tokens", {"</s>"}}}}}}}},
         {"model", {{"type", "Unigram"}, {"unk_id", 3}, {"vocab", vocab}, {"byte_fallback", false}}}};
  return t.dump();
}

inline std::string TinyTokenizerConfigJson() { return R"({"model_max_length": 40, "pad_token": "<pad>"})"; }

// model.safetensors for `config_json` with every tensor the converter reads, in BF16 with small
// random values (a deterministic seed keeps the seeds reproducible).
inline std::string TinySafetensors(const std::string& config_json) {
  ModelConfig c;
  if (!ParseModelConfig(config_json, &c).ok()) __builtin_trap();  // the tiny config is valid
  std::map<std::string, std::vector<int64_t>> sources;
  const int64_t d = c.hidden_size, T = c.num_tasks(), r = c.lora_rank, tv = c.type_vocab_size;
  for (const TensorSpec& s : ModelSchema(c, false)) {
    if (s.recipe == Recipe::kTokenTypeRows) {
      sources[s.source] = {tv, d};
      if (T) {
        sources[s.source_lora_a] = {T, tv, r};
        sources[s.source_lora_b] = {T, r, d};
      }
    } else {
      sources[s.source] = s.shape;
    }
  }
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::string data;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  for (const auto& [name, shape] : sources) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    const size_t begin = data.size();
    for (int64_t i = 0; i < n; ++i) {
      const float f = dist(rng);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      data.push_back(static_cast<char>(bits >> 16));
      data.push_back(static_cast<char>(bits >> 24));
    }
    header[name] = {{"dtype", "BF16"}, {"shape", shape}, {"data_offsets", {begin, data.size()}}};
  }
  const std::string h = header.dump();
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(uint64_t(h.size()) >> (8 * i));
  return file + h + data;
}

// Runs the converter over in-memory inputs into an in-memory model file.
inline Status ConvertInMemory(const std::string& config, const std::string& tokenizer, const std::string& tok_config,
                              const std::string& safetensors, bool int8, std::string* file) {
  ConvertOptions opt;
  opt.int8 = int8;
  file->clear();
  return ConvertCheckpoint(
      config, tokenizer, tok_config,
      [&](uint64_t off, size_t n, uint8_t* dst) {
        if (off > safetensors.size() || n > safetensors.size() - off) return Status(Code::kIo, "short read");
        std::memcpy(dst, safetensors.data() + off, n);
        return Status::Ok();
      },
      safetensors.size(),
      [&](uint64_t off, const uint8_t* p, size_t n) {
        if (off + n > (64u << 20)) return Status(Code::kIo, "fuzz output limit");
        if (file->size() < off + n) file->resize(off + n);
        std::memcpy(&(*file)[off], p, n);
        return Status::Ok();
      },
      opt, nullptr);
}

}  // namespace jv3::fuzz
