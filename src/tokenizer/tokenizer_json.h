// ParseTokenizerJson on a document nlohmann has already parsed (the model header embeds tokenizer.json),
// and the parse that keeps the Unigram vocabulary out of the DOM: its 250k [piece, score] entries cost
// more as DOM nodes (built, read, destroyed) than all the rest of the model header.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace jv3 {

// A Unigram vocabulary list, taken from the JSON text while it was parsed.
struct UnigramVocab {
  std::vector<std::string> pieces;
  std::vector<double> scores;  // as parsed; ParseTokenizerJson reads them as Hugging Face does
  bool malformed = false;      // the list goes on with an entry that is not [piece, score]
};

// nlohmann::json::parse (false: not valid JSON), except that a list at `vocab_path` (object keys
// from the root, e.g. {"model", "vocab"} in tokenizer.json) goes into `vocab`, with an empty list
// in its place in `dom`. `vocab` stays empty when there is no list there.
bool ParseJsonExceptVocab(std::string_view text, const std::vector<std::string>& vocab_path, nlohmann::json* dom,
                          std::optional<UnigramVocab>* vocab);

// The same checks and codes as the text overload in tokenizer.h. `tokenizer_config` may be null or
// empty (no tokenizer_config.json). `vocab`: the vocabulary ParseJsonExceptVocab took out of
// `tokenizer` (its pieces are moved out), or null to read it from `tokenizer`. The caller has bounded
// the nesting of both documents (JsonDepthOk on their text), since reading them recurses.
Status ParseTokenizerJson(const nlohmann::json& tokenizer, const nlohmann::json& tokenizer_config, UnigramVocab* vocab,
                          TokenizerSpec* out);

}  // namespace jv3
