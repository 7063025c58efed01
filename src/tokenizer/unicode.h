// Unicode helpers for the tokenizer: UTF-8 decoding/repair, extended grapheme cluster boundaries,
// and the \s / \w character classes of Rust's regex crate (what Hugging Face tokenizers uses).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace jv3 {
namespace unicode {

// Replaces every maximal invalid subsequence by U+FFFD (the WHATWG / TextDecoder rule), so the
// result is what a JS string built from the same bytes would hold.
std::string RepairUtf8(std::string_view bytes);

// True when RepairUtf8 would leave `bytes` as they are (valid UTF-8), without building the copy.
bool IsValidUtf8(std::string_view bytes);

// Decodes the code point at `pos` of a string already known to be valid UTF-8 and returns its
// length in bytes through `len`.
uint32_t DecodeValid(std::string_view s, size_t pos, size_t* len);

void AppendUtf8(uint32_t cp, std::string* out);

// Byte position where the extended grapheme cluster starting at `pos` ends (UAX #29 rules
// GB3..GB13, as the unicode-segmentation crate applies them). `s` must be valid UTF-8.
size_t GraphemeEnd(std::string_view s, size_t pos);

bool IsWhiteSpace(uint32_t cp);  // Rust regex \s (White_Space)
bool IsWordChar(uint32_t cp);    // Rust regex \w (Alphabetic, M, Nd, Pc, Join_Control)

}  // namespace unicode
}  // namespace jv3
