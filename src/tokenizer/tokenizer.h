// Tokenizer: reproduces the Hugging Face tokenizer.json semantics (Unigram + Precompiled normalizer + Metaspace)
// that upstream encode() uses, with offsets back into the original text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace jv3 {

// Everything the runtime tokenizer needs, extracted from tokenizer.json (+ tokenizer_config.json)
// at conversion time and stored in the model file.
struct TokenizerSpec {
  struct AddedToken {
    int32_t id = 0;
    std::string content;
    bool lstrip = false, rstrip = false, single_word = false, normalized = false, special = true;
  };
  // One step of the normalizer (tokenizer.json "normalizer"; a Sequence is flattened into this list).
  struct NormalizerStep {
    std::string type;     // "Precompiled" | "Replace" (others are rejected at conversion time)
    std::string pattern;  // Replace: the pattern (string, or regex source when pattern_is_regex)
    bool pattern_is_regex = false;
    std::string content;  // Replace: the replacement
  };

  std::vector<std::string> pieces;         // model.vocab[i][0]; index = token id
  std::vector<double> scores;              // model.vocab[i][1], as Hugging Face's parser reads it
  int32_t unk_id = 3;                      // model.unk_id
  std::string precompiled_charsmap;        // raw bytes (base64-decoded) of the Precompiled step, empty if none
  std::vector<NormalizerStep> normalizer;  // in order
  std::string metaspace_replacement = "\xE2\x96\x81";  // pre_tokenizer.replacement ("▁")
  std::string prepend_scheme = "always";               // pre_tokenizer.prepend_scheme: "always" | "first" | "never"
  bool metaspace_split = true;                         // pre_tokenizer.split
  std::vector<AddedToken> added_tokens;                // added_tokens
  int32_t bos_id = 0, eos_id = 2, pad_id = 1;          // from post_processor / added tokens
  int32_t max_length = 8194;                           // tokenizer_config.json model_max_length (with specials)
};

// Parses tokenizer.json (and optionally tokenizer_config.json, may be empty) into a spec.
// Unsupported components (another model type, an unknown normalizer) -> E_TOKENIZER naming the component.
Status ParseTokenizerJson(std::string_view tokenizer_json, std::string_view tokenizer_config_json, TokenizerSpec* out);

struct Encoding {
  std::vector<int32_t> ids;                          // without <s> / </s>
  std::vector<std::pair<int32_t, int32_t>> offsets;  // [start, end) in Unicode code points of the input text
};

class Tokenizer {
 public:
  static Status Create(TokenizerSpec spec, std::unique_ptr<Tokenizer>* out);
  // Shares `spec` instead of copying it (a loaded model's header holds the same one).
  static Status Create(std::shared_ptr<const TokenizerSpec> spec, std::unique_ptr<Tokenizer>* out);
  ~Tokenizer();

  // Tokenizes one text (no special tokens added). Invalid UTF-8 is replaced by U+FFFD per
  // maximal invalid subsequence, as a JS string would have it.
  Status Encode(std::string_view utf8, Encoding* out) const;

  const TokenizerSpec& spec() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace jv3
