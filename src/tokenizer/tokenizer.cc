// Tokenizer runtime: reproduces Hugging Face tokenizers' encode() for Unigram tokenizer.json files
// (added tokens -> Precompiled/Replace normalizer -> Metaspace -> Unigram Viterbi), including its
// offset bookkeeping, so ids and code point offsets match the Rust library exactly.
#include "tokenizer/tokenizer.h"

// darts-clone (from the sentencepiece source) is third-party code; keep its one warning out of ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers"
#include <darts.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <utility>

#include "tokenizer/unicode.h"

namespace jv3 {
namespace {

// HF keeps offsets in Rust usize and lets its odd alignment arithmetic wrap; uint64_t reproduces
// that on every target (including 32-bit wasm).
using Offset = uint64_t;

struct Align {
  Offset start, end;
};

// A piece of text with its per-byte alignment to the original, mirroring HF's NormalizedString.
struct NormStr {
  std::string norm;
  std::vector<Align> align;  // one entry per byte of `norm`
  Offset orig_shift = 0;     // where this piece's original starts in the whole input
  Offset orig_len = 0;       // length of this piece's original, in bytes
};

NormStr FromOriginal(const std::string& text) {
  NormStr ns;
  ns.norm = text;
  ns.align.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t len;
    unicode::DecodeValid(text, i, &len);
    for (size_t k = 0; k < len; ++k) ns.align.push_back({i, i + len});
    i += len;
  }
  ns.orig_len = text.size();
  return ns;
}

// NormalizedString::convert_offsets for a normalized range; false where HF returns None.
bool NormToOrig(const NormStr& ns, size_t a, size_t b, Offset* start, Offset* end) {
  if (a == b) {
    *start = a;
    *end = b;
    return true;
  }
  if (a > b || b > ns.align.size()) return false;
  *start = ns.align[a].start;
  *end = ns.align[b - 1].end;
  return true;
}

// NormalizedString::slice(Range::Normalized(a..b)).
NormStr Slice(const NormStr& ns, size_t a, size_t b) {
  NormStr out;
  Offset os = 0, oe = 0;
  NormToOrig(ns, a, b, &os, &oe);
  out.norm = ns.norm.substr(a, b - a);
  out.align.reserve(b - a);
  for (size_t i = a; i < b; ++i) out.align.push_back({ns.align[i].start - os, ns.align[i].end - os});
  out.orig_shift = ns.orig_shift + os;
  out.orig_len = (os <= oe && oe <= ns.orig_len) ? oe - os : 0;
  return out;
}

struct Change {
  uint32_t cp;
  int64_t change;  // HF's convention: 0 replace, >0 insert, <0 replace and remove -change chars
};

// NormalizedString::transform_range over normalized bytes [n_start, n_end): each new char takes
// the alignment of the char it replaces, or of the byte before it when inserted. False only where
// HF would index out of bounds (never for well-formed input).
bool TransformRange(NormStr* ns, size_t n_start, size_t n_end, const std::vector<Change>& dest, size_t initial_offset) {
  std::vector<uint8_t> old_lens;
  for (size_t i = n_start; i < n_end;) {
    size_t len;
    unicode::DecodeValid(ns->norm, i, &len);
    old_lens.push_back(static_cast<uint8_t>(len));
    i += len;
  }
  size_t next_old = 0;
  auto take = [&](size_t count) {
    size_t bytes = 0;
    for (; count > 0 && next_old < old_lens.size(); --count) bytes += old_lens[next_old++];
    return bytes;
  };
  size_t offset = n_start + take(initial_offset);
  std::string norm;
  std::vector<Align> align;
  for (const Change& ch : dest) {
    Align a{0, 0};
    if (ch.change > 0) {
      if (offset >= 1) {
        if (offset - 1 >= ns->align.size()) return false;
        a = ns->align[offset - 1];
      }
    } else {
      if (offset >= ns->align.size()) return false;
      a = ns->align[offset];
      offset += take(1);
      if (ch.change < 0) offset += take(static_cast<size_t>(-ch.change));
    }
    const size_t before = norm.size();
    unicode::AppendUtf8(ch.cp, &norm);
    align.insert(align.end(), norm.size() - before, a);
  }
  ns->norm.replace(n_start, n_end - n_start, norm);
  ns->align.erase(ns->align.begin() + n_start, ns->align.begin() + n_end);
  ns->align.insert(ns->align.begin() + n_start, align.begin(), align.end());
  return true;
}

// NormalizedString::transform, i.e. transform_range(Range::Original(..)): the normalized range
// is found through convert_offsets, which skips leading zero-width alignments.
bool TransformAll(NormStr* ns, const std::vector<Change>& dest) {
  if (ns->orig_len == 0) return TransformRange(ns, 0, 0, dest, 0);
  bool has_start = false, has_end = false;
  size_t s = 0, e = 0;
  for (size_t i = 0; i < ns->align.size() && ns->orig_len >= ns->align[i].end; ++i) {
    if (!has_start && ns->align[i].start != ns->align[i].end) {
      has_start = true;
      s = i;
    }
    has_end = true;
    e = i + 1;
  }
  if (!has_start && !has_end) return true;
  if (!has_end) e = s;
  if (!has_start) s = e;
  return TransformRange(ns, s, e, dest, 0);
}

// Replaces every match [start, end) by `content`. Equivalent to HF's sequence of transform_range
// calls, where all replacement chars take the alignment of the match's last byte.
void ReplaceMatches(NormStr* ns, const std::vector<std::pair<size_t, size_t>>& matches, const std::string& content) {
  if (matches.empty()) return;
  std::string norm;
  std::vector<Align> align;
  norm.reserve(ns->norm.size());
  align.reserve(ns->norm.size());
  size_t pos = 0;
  for (const auto& m : matches) {
    norm.append(ns->norm, pos, m.first - pos);
    align.insert(align.end(), ns->align.begin() + pos, ns->align.begin() + m.first);
    norm += content;
    align.insert(align.end(), content.size(), ns->align[m.second - 1]);
    pos = m.second;
  }
  norm.append(ns->norm, pos, std::string::npos);
  align.insert(align.end(), ns->align.begin() + pos, ns->align.end());
  ns->norm = std::move(norm);
  ns->align = std::move(align);
}

// Replace step: a literal string, or a regex of the form "<char>{n,}" / "<char>+".
struct ReplaceRule {
  std::string literal;   // literal pattern; empty when run-based
  std::string run_char;  // the repeated char (UTF-8) of a run pattern
  size_t min_run = 0;
  std::string content;
};

// Parses the only regex shapes we support: a single (possibly backslash-escaped) char followed by
// "{n,}" or "+". Anything else would need a regex engine with Oniguruma semantics. `re` is valid
// UTF-8 (checked by Create).
bool ParseRunRegex(const std::string& re, std::string* ch, size_t* min_run) {
  size_t pos = 0;
  if (re.empty()) return false;
  if (re[0] == '\\') {
    if (re.size() < 2 || std::isalnum(static_cast<unsigned char>(re[1]))) return false;
    pos = 1;
  } else if (std::strchr(".^$|()[]{}*+?", re[0]) != nullptr) {
    return false;
  }
  size_t len;
  unicode::DecodeValid(re, pos, &len);
  *ch = re.substr(pos, len);
  const std::string rest = re.substr(pos + len);
  if (rest == "+") {
    *min_run = 1;
    return true;
  }
  if (rest.size() < 4 || rest.front() != '{' || rest.substr(rest.size() - 2) != ",}") return false;
  const std::string digits = rest.substr(1, rest.size() - 3);
  if (digits.empty() || digits.size() > 6 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  *min_run = std::stoul(digits);
  return *min_run > 0;
}

std::vector<std::pair<size_t, size_t>> FindReplaceMatches(const ReplaceRule& rule, const std::string& s) {
  std::vector<std::pair<size_t, size_t>> out;
  if (!rule.literal.empty()) {
    for (size_t p = s.find(rule.literal); p != std::string::npos; p = s.find(rule.literal, p)) {
      out.emplace_back(p, p + rule.literal.size());
      p += rule.literal.size();
    }
    return out;
  }
  const std::string& c = rule.run_char;
  for (size_t p = s.find(c); p != std::string::npos;) {
    size_t e = p, count = 0;
    while (s.compare(e, c.size(), c) == 0) {
      e += c.size();
      ++count;
    }
    if (count >= rule.min_run) out.emplace_back(p, e);
    p = s.find(c, e);
  }
  return out;
}

// The sentencepiece charsmap: a darts-clone double array mapping UTF-8 prefixes to offsets of
// NUL-terminated replacements in `normalized`.
class Charsmap {
 public:
  Status Init(const std::string& blob) {
    if (blob.size() < 4) return Status(Code::kTokenizer, "precompiled_charsmap too short");
    const uint32_t trie_bytes = static_cast<uint32_t>(static_cast<uint8_t>(blob[0])) |
                                static_cast<uint32_t>(static_cast<uint8_t>(blob[1])) << 8 |
                                static_cast<uint32_t>(static_cast<uint8_t>(blob[2])) << 16 |
                                static_cast<uint32_t>(static_cast<uint8_t>(blob[3])) << 24;
    if (trie_bytes % 4 != 0 || trie_bytes == 0 || trie_bytes > blob.size() - 4)
      return Status(Code::kTokenizer, "precompiled_charsmap: bad trie size");
    units_.resize(trie_bytes / 4);
    for (size_t i = 0; i < units_.size(); ++i) {
      const char* p = blob.data() + 4 + 4 * i;
      units_[i] = static_cast<uint32_t>(static_cast<uint8_t>(p[0])) |
                  static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8 |
                  static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 16 |
                  static_cast<uint32_t>(static_cast<uint8_t>(p[3])) << 24;
    }
    normalized_ = blob.substr(4 + trie_bytes);
    if (!unicode::IsValidUtf8(normalized_))
      return Status(Code::kTokenizer, "precompiled_charsmap: replacements are not valid UTF-8");
    JV3_RETURN_IF_ERROR(Validate());
    trie_.set_array(units_.data(), units_.size());
    return Status::Ok();
  }

  // spm_precompiled's transform(): the first (shortest) common-prefix match wins; a NUL byte ends
  // the key.
  bool Lookup(const char* key, size_t len, std::string_view* out) const {
    len = std::find(key, key + len, '\0') - key;
    if (len == 0) return false;
    Darts::DoubleArray::result_pair_type result;
    if (trie_.commonPrefixSearch(key, &result, 1, len) == 0) return false;
    const size_t from = static_cast<size_t>(result.value);
    const size_t to = normalized_.find('\0', from);
    *out = std::string_view(normalized_).substr(from, (to == std::string::npos ? normalized_.size() : to) - from);
    return true;
  }

 private:
  static uint32_t Offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
  static uint32_t Label(uint32_t u) { return u & ((1u << 31) | 0xFFu); }
  static bool HasLeaf(uint32_t u) { return (u >> 8) & 1u; }

  // darts-clone trusts its array; walk every reachable node once so that no input can make a
  // lookup read outside it or slice a replacement at a non-boundary.
  Status Validate() const {
    const Status bad(Code::kTokenizer, "precompiled_charsmap: corrupt double array");
    std::vector<bool> seen(units_.size(), false);
    std::vector<size_t> stack;
    const size_t root = Offset(units_[0]);
    stack.push_back(root);
    while (!stack.empty()) {
      const size_t base = stack.back();
      stack.pop_back();
      if ((base | 0xFFu) >= units_.size()) return bad;
      if (seen[base]) continue;
      seen[base] = true;
      for (uint32_t c = 1; c < 256; ++c) {
        const uint32_t u = units_[base ^ c];
        if (Label(u) != c) continue;
        const size_t child = (base ^ c) ^ Offset(u);
        if (child >= units_.size()) return bad;
        if (HasLeaf(u)) {
          const size_t value = units_[child] & ((1u << 31) - 1);
          if (value > normalized_.size() ||
              (value < normalized_.size() && (static_cast<uint8_t>(normalized_[value]) & 0xC0) == 0x80))
            return bad;
        }
        stack.push_back(child);
      }
    }
    return Status::Ok();
  }

  std::vector<uint32_t> units_;
  std::string normalized_;
  Darts::DoubleArray trie_;
};

// The Precompiled normalizer exactly as tokenizers' precompiled.rs drives it: graphemes shorter
// than 6 bytes are looked up whole, others char by char. A replacement's chars all "replace"
// (change 0) except that extra chars are marked inserted and a shortfall is charged to the last
// char pushed so far (which may belong to an earlier grapheme).
bool ApplyPrecompiled(const Charsmap& map, NormStr* ns) {
  std::vector<Change> dest;
  dest.reserve(ns->norm.size());
  bool modified = false;
  const std::string& s = ns->norm;
  auto emit = [&](std::string_view from, std::string_view to) {
    int64_t old_count = 0, new_count = 0;
    size_t len;
    for (size_t i = 0; i < from.size(); i += len, ++old_count) unicode::DecodeValid(from, i, &len);
    for (size_t i = 0; i < to.size(); i += len, ++new_count) dest.push_back({unicode::DecodeValid(to, i, &len), 0});
    const int64_t diff = new_count - old_count;
    if (diff > 0) {
      for (auto it = dest.rbegin(); it != dest.rbegin() + diff; ++it) it->change = 1;
    } else if (diff < 0 && !dest.empty()) {
      dest.back().change += diff;
    }
  };
  for (size_t g = 0; g < s.size();) {
    const size_t g_end = unicode::GraphemeEnd(s, g);
    std::string_view norm;
    if (g_end - g < 6 && map.Lookup(s.data() + g, g_end - g, &norm)) {
      modified = true;
      emit(std::string_view(s).substr(g, g_end - g), norm);
      g = g_end;
      continue;
    }
    for (size_t i = g, len; i < g_end; i += len) {
      const uint32_t cp = unicode::DecodeValid(s, i, &len);
      if (map.Lookup(s.data() + i, len, &norm)) {
        modified = true;
        emit(std::string_view(s).substr(i, len), norm);
      } else {
        dest.push_back({cp, 0});
      }
    }
    g = g_end;
  }
  return !modified || TransformAll(ns, dest);
}

// Byte trie over the vocabulary pieces: children of a node are contiguous and sorted by label.
class PieceTrie {
 public:
  void Build(const std::vector<std::string>& pieces) {
    // Sorted by (piece, id). Each piece's first 8 bytes, big-endian and zero-padded, decide most
    // comparisons without reaching the strings (scattered over the vocabulary): different prefixes
    // order as the pieces do, equal ones fall back to the full comparison.
    struct Key {
      uint64_t prefix;
      int32_t id;
    };
    std::vector<Key> keys(pieces.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      uint64_t prefix = 0;
      for (size_t k = 0; k < 8; ++k) prefix = prefix << 8 | (k < pieces[i].size() ? uint8_t(pieces[i][k]) : 0);
      keys[i] = {prefix, static_cast<int32_t>(i)};
    }
    std::sort(keys.begin(), keys.end(), [&](const Key& a, const Key& b) {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      const int c = pieces[a.id].compare(pieces[b.id]);
      return c != 0 ? c < 0 : a.id < b.id;
    });
    std::vector<int32_t> order(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) order[i] = keys[i].id;
    nodes_.assign(1, Node{});
    struct Work {
      uint32_t node;
      size_t lo, hi, depth;
    };
    std::vector<Work> queue{{0, 0, order.size(), 0}};
    for (size_t q = 0; q < queue.size(); ++q) {
      const Work w = queue[q];
      size_t i = w.lo;
      // Equal pieces sort by id, so the last one wins, like HF's HashMap insertion.
      for (; i < w.hi && pieces[order[i]].size() == w.depth; ++i) nodes_[w.node].id = order[i];
      nodes_[w.node].first_child = static_cast<uint32_t>(nodes_.size());
      while (i < w.hi) {
        const uint8_t label = static_cast<uint8_t>(pieces[order[i]][w.depth]);
        size_t j = i;
        while (j < w.hi && static_cast<uint8_t>(pieces[order[j]][w.depth]) == label) ++j;
        Node child;
        child.label = label;
        queue.push_back({static_cast<uint32_t>(nodes_.size()), i, j, w.depth + 1});
        nodes_.push_back(child);
        ++nodes_[w.node].num_children;
        i = j;
      }
    }
    nodes_.shrink_to_fit();
  }

  // Calls f(id, length) for every piece that is a prefix of s[pos..], shortest first.
  template <typename F>
  void CommonPrefixSearch(const std::string& s, size_t pos, F&& f) const {
    uint32_t node = 0;
    for (size_t i = pos; i < s.size(); ++i) {
      node = Child(node, static_cast<uint8_t>(s[i]));
      if (node == kNone) return;
      if (nodes_[node].id >= 0) f(nodes_[node].id, i + 1 - pos);
    }
  }

  int32_t Find(std::string_view key) const {
    uint32_t node = 0;
    for (char c : key) {
      node = Child(node, static_cast<uint8_t>(c));
      if (node == kNone) return -1;
    }
    return key.empty() ? -1 : nodes_[node].id;
  }

 private:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  struct Node {
    uint32_t first_child = 0;
    int32_t id = -1;
    uint16_t num_children = 0;
    uint8_t label = 0;
  };

  uint32_t Child(uint32_t node, uint8_t label) const {
    const Node& n = nodes_[node];
    const auto first = nodes_.begin() + n.first_child;
    const auto last = first + n.num_children;
    const auto it = std::lower_bound(first, last, label, [](const Node& a, uint8_t l) { return a.label < l; });
    return (it != last && it->label == label) ? static_cast<uint32_t>(it - nodes_.begin()) : kNone;
  }

  std::vector<Node> nodes_;
};

struct AddedPattern {
  std::string text;  // what is matched (the content, normalized for normalized=true tokens)
  int32_t id;
  bool lstrip, rstrip, single_word;
};

struct Piece {
  NormStr ns;
  int32_t token_id = -1;  // >= 0: an added token, already final
};

}  // namespace

struct Tokenizer::Impl {
  std::shared_ptr<const TokenizerSpec> spec;
  Charsmap charsmap;
  bool has_charsmap = false;
  struct Step {
    bool precompiled;
    ReplaceRule replace;
  };
  std::vector<Step> steps;
  std::vector<AddedPattern> raw_tokens, normalized_tokens;
  PieceTrie trie;
  double unk_score = 0;
  std::string replacement;

  bool Normalize(NormStr* ns) const;
  void FindAddedTokens(const NormStr& ns, const std::vector<AddedPattern>& patterns, std::vector<Piece>* out) const;
  void PreTokenize(NormStr ns, std::vector<NormStr>* out) const;
  void Unigram(const std::string& s, std::vector<std::pair<int32_t, size_t>>* tokens) const;
};

bool Tokenizer::Impl::Normalize(NormStr* ns) const {
  for (const Step& step : steps) {
    if (step.precompiled) {
      if (!ApplyPrecompiled(charsmap, ns)) return false;
    } else {
      ReplaceMatches(ns, FindReplaceMatches(step.replace, ns->norm), step.replace.content);
    }
  }
  return true;
}

// AddedVocabulary::find_matches + split_with_indices: leftmost-longest literal matches, filtered
// by single_word and widened by lstrip/rstrip over Unicode whitespace.
void Tokenizer::Impl::FindAddedTokens(const NormStr& ns, const std::vector<AddedPattern>& patterns,
                                      std::vector<Piece>* out) const {
  const std::string& s = ns.norm;
  auto push = [&](size_t a, size_t b, int32_t id) {
    Piece p;
    p.ns = Slice(ns, a, b);
    p.token_id = id;
    if (!p.ns.norm.empty()) out->push_back(std::move(p));
  };
  auto cp_before = [&](size_t pos) {
    size_t p = pos - 1;
    while (p > 0 && (static_cast<uint8_t>(s[p]) & 0xC0) == 0x80) --p;
    size_t len;
    return unicode::DecodeValid(s, p, &len);
  };
  size_t start_offset = 0;
  size_t search = 0;
  while (!patterns.empty() && search < s.size()) {
    size_t mat_start = s.size(), mat_len = 0;
    const AddedPattern* best = nullptr;
    for (size_t i = search; i < s.size() && best == nullptr; ++i) {
      for (const AddedPattern& p : patterns) {
        if (p.text.size() > mat_len && s.compare(i, p.text.size(), p.text) == 0) {
          best = &p;
          mat_start = i;
          mat_len = p.text.size();
        }
      }
    }
    if (best == nullptr) break;
    size_t start = mat_start, stop = mat_start + mat_len;
    search = stop;
    if (best->single_word) {
      const bool start_space = start == 0 || !unicode::IsWordChar(cp_before(start));
      size_t len;
      const bool stop_space = stop == s.size() || !unicode::IsWordChar(unicode::DecodeValid(s, stop, &len));
      if (!start_space || !stop_space) continue;
    }
    if (best->lstrip) {
      size_t p = start;
      while (p > 0 && unicode::IsWhiteSpace(cp_before(p))) {
        --p;
        while ((static_cast<uint8_t>(s[p]) & 0xC0) == 0x80) --p;
      }
      start = std::max(p, start_offset);
    }
    if (best->rstrip) {
      size_t len;
      while (stop < s.size() && unicode::IsWhiteSpace(unicode::DecodeValid(s, stop, &len))) stop += len;
    }
    if (start_offset < start) push(start_offset, start, -1);
    push(start, stop, best->id);
    start_offset = stop;
  }
  if (start_offset != s.size()) push(start_offset, s.size(), -1);
}

// Metaspace: spaces become the replacement char, the replacement is prepended per the scheme,
// and the text is cut before every replacement char (MergedWithNext).
void Tokenizer::Impl::PreTokenize(NormStr ns, std::vector<NormStr>* out) const {
  ReplaceMatches(&ns, FindReplaceMatches(ReplaceRule{" ", "", 0, ""}, ns.norm), replacement);
  const bool starts = ns.norm.compare(0, replacement.size(), replacement) == 0;
  const bool prepend = !ns.norm.empty() && !starts &&
                       (spec->prepend_scheme == "always" || (spec->prepend_scheme == "first" && ns.orig_shift == 0));
  if (prepend) {
    ns.norm.insert(0, replacement);
    ns.align.insert(ns.align.begin(), replacement.size(), ns.align[0]);
  }
  if (!spec->metaspace_split) {
    if (!ns.norm.empty()) out->push_back(std::move(ns));
    return;
  }
  size_t piece_start = 0;
  for (size_t p = ns.norm.find(replacement, replacement.size()); p != std::string::npos;
       p = ns.norm.find(replacement, p + replacement.size())) {
    out->push_back(Slice(ns, piece_start, p));
    piece_start = p;
  }
  if (piece_start < ns.norm.size()) out->push_back(Slice(ns, piece_start, ns.norm.size()));
}

// Unigram::encode_optimized: best-path Viterbi over byte positions, unknown chars scored
// min_score - 10, consecutive unknowns fused into one token. Emits (id, byte length).
void Tokenizer::Impl::Unigram(const std::string& s, std::vector<std::pair<int32_t, size_t>>* tokens) const {
  struct Best {
    double score = 0;
    size_t starts_at = 0;
    int32_t id = -1;
    bool set = false;
  };
  std::vector<Best> best(s.size() + 1);
  const std::vector<double>& scores = spec->scores;
  for (size_t pos = 0; pos < s.size();) {
    const double here = best[pos].score;
    size_t mblen;
    unicode::DecodeValid(s, pos, &mblen);
    bool has_single = false;
    trie.CommonPrefixSearch(s, pos, [&](int32_t id, size_t len) {
      Best& target = best[pos + len];
      const double candidate = scores[id] + here;
      if (!target.set || candidate > target.score) {
        target = {candidate, pos, id, true};
      }
      if (len == mblen) has_single = true;
    });
    if (!has_single) {
      Best& target = best[pos + mblen];
      const double candidate = unk_score + here;
      if (!target.set || candidate > target.score) target = {candidate, pos, spec->unk_id, true};
    }
    pos += mblen;
  }
  std::vector<std::pair<size_t, size_t>> spans;  // reversed [start, end)
  bool last_unk = false;
  for (size_t end = s.size(); end > 0;) {
    const Best& node = best[end];
    const bool unk = node.id == spec->unk_id;
    if (unk && last_unk)
      spans.back().first = node.starts_at;
    else
      spans.emplace_back(node.starts_at, end);
    last_unk = unk;
    end = node.starts_at;
  }
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
    const int32_t id = trie.Find(std::string_view(s).substr(it->first, it->second - it->first));
    tokens->emplace_back(id >= 0 ? id : spec->unk_id, it->second - it->first);
  }
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;
const TokenizerSpec& Tokenizer::spec() const { return *impl_->spec; }

Status Tokenizer::Create(TokenizerSpec spec, std::unique_ptr<Tokenizer>* out) {
  return Create(std::make_shared<const TokenizerSpec>(std::move(spec)), out);
}

Status Tokenizer::Create(std::shared_ptr<const TokenizerSpec> shared, std::unique_ptr<Tokenizer>* out) {
  const TokenizerSpec& spec = *shared;
  auto impl = std::make_unique<Impl>();
  const size_t n = spec.pieces.size();
  if (n == 0 || spec.scores.size() != n)
    return Status(Code::kTokenizer, "tokenizer vocabulary is empty or its scores do not match");
  if (spec.unk_id < 0 || static_cast<size_t>(spec.unk_id) >= n)
    return Status(Code::kTokenizer, "tokenizer unk_id is outside the vocabulary");
  for (const std::string& p : spec.pieces) {
    if (!unicode::IsValidUtf8(p)) return Status(Code::kTokenizer, "vocabulary piece is not valid UTF-8");
  }
  double min_score = std::numeric_limits<double>::infinity();
  for (double sc : spec.scores) {
    if (!(sc == sc)) return Status(Code::kTokenizer, "vocabulary score is NaN");
    min_score = std::min(min_score, sc);
  }
  impl->unk_score = min_score - 10.0;

  if (!unicode::IsValidUtf8(spec.metaspace_replacement) || spec.metaspace_replacement.empty())
    return Status(Code::kTokenizer, "Metaspace replacement must be one character");
  size_t rep_len;
  unicode::DecodeValid(spec.metaspace_replacement, 0, &rep_len);
  if (rep_len != spec.metaspace_replacement.size())
    return Status(Code::kTokenizer, "Metaspace replacement must be one character");
  impl->replacement = spec.metaspace_replacement;
  if (spec.prepend_scheme != "always" && spec.prepend_scheme != "first" && spec.prepend_scheme != "never")
    return Status(Code::kTokenizer, "unknown Metaspace prepend_scheme '" + spec.prepend_scheme + "'");

  for (const TokenizerSpec::NormalizerStep& step : spec.normalizer) {
    Impl::Step s{false, {}};
    if (step.type == "Precompiled") {
      s.precompiled = true;
    } else if (step.type == "Replace") {
      if (!unicode::IsValidUtf8(step.pattern) || !unicode::IsValidUtf8(step.content))
        return Status(Code::kTokenizer, "Replace normalizer pattern is not valid UTF-8");
      s.replace.content = step.content;
      if (step.pattern_is_regex) {
        if (step.content.find('$') != std::string::npos)
          return Status(Code::kTokenizer, "Replace normalizer: '$' expansions are not supported");
        if (!ParseRunRegex(step.pattern, &s.replace.run_char, &s.replace.min_run))
          return Status(Code::kTokenizer, "Replace normalizer: unsupported regex '" + step.pattern +
                                              "' (only \"<char>{n,}\" and \"<char>+\")");
      } else if (step.pattern.empty()) {
        continue;  // HF's empty literal pattern never matches
      } else {
        s.replace.literal = step.pattern;
      }
    } else {
      return Status(Code::kTokenizer, "unsupported normalizer '" + step.type + "'");
    }
    impl->steps.push_back(std::move(s));
  }
  const bool wants_charsmap =
      std::any_of(impl->steps.begin(), impl->steps.end(), [](const Impl::Step& s) { return s.precompiled; });
  if (wants_charsmap) JV3_RETURN_IF_ERROR(impl->charsmap.Init(spec.precompiled_charsmap));

  impl->trie.Build(spec.pieces);

  // Later entries with the same content replace earlier ones, as in AddedVocabulary.
  std::vector<const TokenizerSpec::AddedToken*> unique;
  for (const auto& t : spec.added_tokens) {
    if (t.content.empty()) continue;
    if (!unicode::IsValidUtf8(t.content)) return Status(Code::kTokenizer, "added token is not valid UTF-8");
    auto same = std::find_if(unique.begin(), unique.end(), [&](const auto* u) { return u->content == t.content; });
    if (same != unique.end())
      *same = &t;
    else
      unique.push_back(&t);
  }
  for (const auto* t : unique) {
    // HF resolves an added token's id through the model vocabulary first.
    const int32_t vocab_id = impl->trie.Find(t->content);
    AddedPattern p{t->content, vocab_id >= 0 ? vocab_id : t->id, t->lstrip, t->rstrip, t->single_word};
    if (t->normalized) {
      NormStr ns = FromOriginal(t->content);
      if (!impl->Normalize(&ns)) return Status(Code::kTokenizer, "cannot normalize added token");
      if (ns.norm.empty()) continue;
      p.text = ns.norm;
      impl->normalized_tokens.push_back(std::move(p));
    } else {
      impl->raw_tokens.push_back(std::move(p));
    }
  }
  impl->spec = std::move(shared);
  out->reset(new Tokenizer(std::move(impl)));
  return Status::Ok();
}

Status Tokenizer::Encode(std::string_view utf8, Encoding* out) const {
  const Impl& im = *impl_;
  out->ids.clear();
  out->offsets.clear();
  const std::string text = unicode::RepairUtf8(utf8);

  std::vector<Piece> splits;
  im.FindAddedTokens(FromOriginal(text), im.raw_tokens, &splits);
  std::vector<Piece> normalized;
  for (Piece& p : splits) {
    if (p.token_id >= 0) {
      normalized.push_back(std::move(p));
      continue;
    }
    if (!im.Normalize(&p.ns)) return Status(Code::kTokenizer, "normalizer alignment failure");
    im.FindAddedTokens(p.ns, im.normalized_tokens, &normalized);
  }

  // Byte -> code point index of the input, like BytesToCharOffsetConverter.
  std::vector<int32_t> char_of_byte(text.size());
  for (size_t i = 0, c = 0, len; i < text.size(); i += len, ++c) {
    unicode::DecodeValid(text, i, &len);
    std::fill(char_of_byte.begin() + i, char_of_byte.begin() + i + len, static_cast<int32_t>(c));
  }
  auto emit = [&](int32_t id, Offset a, Offset b) {
    std::pair<int32_t, int32_t> o(static_cast<int32_t>(a), static_cast<int32_t>(b));
    if (a < text.size()) {
      if (b < text.size()) {
        o = {char_of_byte[a], char_of_byte[b]};
      } else {
        const int32_t last = (b - 1 < text.size()) ? char_of_byte[b - 1] : char_of_byte[a] + 1;
        o = {char_of_byte[a], last + 1};
      }
    }
    out->ids.push_back(id);
    out->offsets.push_back(o);
  };
  auto emit_token = [&](const NormStr& ns, int32_t id, size_t a, size_t b) {
    Offset os, oe;
    if (NormToOrig(ns, a, b, &os, &oe))
      emit(id, ns.orig_shift + os, ns.orig_shift + oe);
    else
      emit(id, a, b);
  };

  std::vector<NormStr> words;
  std::vector<std::pair<int32_t, size_t>> tokens;
  for (Piece& p : normalized) {
    if (p.token_id >= 0) {
      emit_token(p.ns, p.token_id, 0, p.ns.norm.size());
      continue;
    }
    words.clear();
    im.PreTokenize(std::move(p.ns), &words);
    for (const NormStr& w : words) {
      tokens.clear();
      im.Unigram(w.norm, &tokens);
      size_t pos = 0;
      for (const auto& t : tokens) {
        emit_token(w, t.first, pos, pos + t.second);
        pos += t.second;
      }
    }
  }
  return Status::Ok();
}

}  // namespace jv3
