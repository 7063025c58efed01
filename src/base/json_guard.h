// Nesting guard for untrusted JSON: nlohmann parses iteratively, but dump(), copies, comparisons and
// our own Sequence readers recurse, so a deeply nested document could overflow the (1 MB wasm) stack.
#pragma once

#include <string_view>

namespace jv3 {

// Deepest nesting of arrays/objects the readers accept; real config.json and tokenizer.json files nest
// fewer than 10 levels.
constexpr int kMaxJsonDepth = 64;

// True when `json` never nests deeper than kMaxJsonDepth (brackets inside strings do not count).
// Malformed text passes here and is rejected by the parser.
inline bool JsonDepthOk(std::string_view json) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

}  // namespace jv3
