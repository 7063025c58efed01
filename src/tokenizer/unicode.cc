// Unicode helpers for the tokenizer: UTF-8 repair/decoding, grapheme cluster boundaries, \s and \w.
#include "tokenizer/unicode.h"

#include <algorithm>
#include <iterator>

#include "tokenizer/unicode_tables.h"

namespace jv3 {
namespace unicode {
namespace {

using unicode_tables::Range;
using unicode_tables::ValuedRange;

template <size_t N>
bool InRanges(const Range (&table)[N], uint32_t cp) {
  const Range* it =
      std::upper_bound(std::begin(table), std::end(table), cp, [](uint32_t c, const Range& r) { return c < r.first; });
  return it != std::begin(table) && cp <= (it - 1)->last;
}

uint8_t BreakClass(uint32_t cp) {
  const auto& table = unicode_tables::kGraphemeBreak;
  const ValuedRange* it = std::upper_bound(std::begin(table), std::end(table), cp,
                                           [](uint32_t c, const ValuedRange& r) { return c < r.first; });
  if (it == std::begin(table) || cp > (it - 1)->last) return unicode_tables::kGcbOther;
  return (it - 1)->value;
}

// Valid range of the second byte for a given lead byte (UTF-8 excludes overlongs and surrogates
// there); 0/0 marks an invalid lead.
void SecondByteRange(uint8_t lead, uint8_t* lo, uint8_t* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (lead == 0xE0)
    *lo = 0xA0;
  else if (lead == 0xED)
    *hi = 0x9F;
  else if (lead == 0xF0)
    *lo = 0x90;
  else if (lead == 0xF4)
    *hi = 0x8F;
}

int SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

}  // namespace

std::string RepairUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const uint8_t lead = static_cast<uint8_t>(bytes[i]);
    const int need = SequenceLength(lead);
    if (need == 1) {
      out.push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    if (need == 0) {
      AppendUtf8(0xFFFD, &out);
      ++i;
      continue;
    }
    // Consume continuation bytes while they are valid; stop at the first that is not, which
    // then starts the next sequence (maximal subpart rule).
    size_t j = i + 1;
    uint8_t lo, hi;
    SecondByteRange(lead, &lo, &hi);
    for (int k = 1; k < need && j < bytes.size(); ++k) {
      const uint8_t b = static_cast<uint8_t>(bytes[j]);
      if (b < lo || b > hi) break;
      ++j;
      lo = 0x80;
      hi = 0xBF;
    }
    if (j - i == static_cast<size_t>(need)) {
      out.append(bytes.data() + i, need);
    } else {
      AppendUtf8(0xFFFD, &out);
    }
    i = j;
  }
  return out;
}

bool IsValidUtf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const uint8_t lead = static_cast<uint8_t>(bytes[i]);
    const size_t need = SequenceLength(lead);
    if (need == 0 || need > bytes.size() - i) return false;
    uint8_t lo, hi;
    SecondByteRange(lead, &lo, &hi);
    for (size_t k = 1; k < need; ++k) {
      const uint8_t b = static_cast<uint8_t>(bytes[i + k]);
      if (b < lo || b > hi) return false;
      lo = 0x80;
      hi = 0xBF;
    }
    i += need;
  }
  return true;
}

uint32_t DecodeValid(std::string_view s, size_t pos, size_t* len) {
  const uint8_t b0 = static_cast<uint8_t>(s[pos]);
  const int n = SequenceLength(b0);
  *len = n;
  switch (n) {
    case 2: return ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(s[pos + 1]) & 0x3Fu);
    case 3:
      return ((b0 & 0x0Fu) << 12) | ((static_cast<uint8_t>(s[pos + 1]) & 0x3Fu) << 6) |
             (static_cast<uint8_t>(s[pos + 2]) & 0x3Fu);
    case 4:
      return ((b0 & 0x07u) << 18) | ((static_cast<uint8_t>(s[pos + 1]) & 0x3Fu) << 12) |
             ((static_cast<uint8_t>(s[pos + 2]) & 0x3Fu) << 6) | (static_cast<uint8_t>(s[pos + 3]) & 0x3Fu);
    default: *len = 1; return b0;
  }
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t GraphemeEnd(std::string_view s, size_t pos) {
  using namespace unicode_tables;
  size_t len;
  uint32_t cp = DecodeValid(s, pos, &len);
  uint8_t prev = BreakClass(cp);
  // GB11 needs to know whether the text so far ends in ExtPict Extend* (ZWJ); GB12/13 need the
  // parity of the trailing run of regional indicators.
  enum { kNone, kPict, kPictZwj } emoji = InRanges(kExtendedPictographic, cp) ? kPict : kNone;
  int ri_run = prev == kGcbRegionalIndicator ? 1 : 0;
  size_t i = pos + len;
  while (i < s.size()) {
    cp = DecodeValid(s, i, &len);
    const uint8_t cur = BreakClass(cp);
    const bool pict = InRanges(kExtendedPictographic, cp);
    bool join;
    if (prev == kGcbCR && cur == kGcbLF)
      join = true;  // GB3
    else if (prev == kGcbControl || prev == kGcbCR || prev == kGcbLF)
      join = false;  // GB4
    else if (cur == kGcbControl || cur == kGcbCR || cur == kGcbLF)
      join = false;  // GB5
    else if (prev == kGcbL && (cur == kGcbL || cur == kGcbV || cur == kGcbLV || cur == kGcbLVT))
      join = true;  // GB6
    else if ((prev == kGcbLV || prev == kGcbV) && (cur == kGcbV || cur == kGcbT))
      join = true;  // GB7
    else if ((prev == kGcbLVT || prev == kGcbT) && cur == kGcbT)
      join = true;  // GB8
    else if (cur == kGcbExtend || cur == kGcbZWJ || cur == kGcbSpacingMark)
      join = true;  // GB9, GB9a
    else if (prev == kGcbPrepend)
      join = true;  // GB9b
    else if (prev == kGcbZWJ && emoji == kPictZwj && pict)
      join = true;  // GB11
    else if (prev == kGcbRegionalIndicator && cur == kGcbRegionalIndicator && ri_run % 2 == 1)
      join = true;  // GB12/13
    else
      join = false;
    if (!join) break;
    if (pict)
      emoji = kPict;
    else if (cur == kGcbZWJ)
      emoji = emoji == kPict ? kPictZwj : kNone;
    else if (cur != kGcbExtend || emoji != kPict)
      emoji = kNone;
    ri_run = cur == kGcbRegionalIndicator ? ri_run + 1 : 0;
    prev = cur;
    i += len;
  }
  return i;
}

bool IsWhiteSpace(uint32_t cp) { return InRanges(unicode_tables::kWhiteSpace, cp); }
bool IsWordChar(uint32_t cp) { return InRanges(unicode_tables::kWordChar, cp); }

}  // namespace unicode
}  // namespace jv3
