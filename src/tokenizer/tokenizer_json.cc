// ParseTokenizerJson: extracts a TokenizerSpec from a Hugging Face tokenizer.json (Unigram model,
// Precompiled/Replace normalizers, Metaspace pre-tokenizer) and tokenizer_config.json.
#include "tokenizer/tokenizer_json.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "base/json_guard.h"

namespace jv3 {
namespace {

// Hugging Face tokenizers reads vocab scores with serde_json's default float parser, which is not
// correctly rounded: it converts the decimal significand (a u64) to f64, then multiplies or divides
// by an exact power of ten. About one score in four lands an ulp away from the exact value, and
// Viterbi ties (equal-score segmentations) are decided by those ulps, so we derive the same f64.
// tokenizer.json holds each score in its shortest round-trip form (as Python and serde write it),
// which std::to_chars reproduces from the correctly rounded value nlohmann parsed.
double AsHuggingFaceReadsIt(double exact) {
  static const std::vector<double> kPow10 = [] {
    std::vector<double> p(309);
    for (int i = 0; i < 309; ++i) p[i] = std::strtod(("1e" + std::to_string(i)).c_str(), nullptr);
    return p;
  }();
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, exact);
  if (res.ec != std::errc()) return exact;
  uint64_t significand = 0;
  int exponent = 0, digits = 0;
  bool negative = false, fraction = false;
  for (const char* c = buf; c < res.ptr; ++c) {
    if (*c == '-') {
      negative = true;
    } else if (*c == '.') {
      fraction = true;
    } else if (*c == 'e') {
      exponent += std::atoi(c + 1);
      break;
    } else {
      significand = significand * 10 + static_cast<uint64_t>(*c - '0');
      if (fraction) --exponent;
      if (++digits > 19) return exact;  // serde takes another path for such long numbers
    }
  }
  if (exponent < -308 || exponent > 308) return exact;
  double f = static_cast<double>(significand);
  f = exponent >= 0 ? f * kPow10[exponent] : f / kPow10[-exponent];
  return negative ? -f : f;
}

using nlohmann::json;

Status Bad(const std::string& what) { return Status(Code::kBadCheckpoint, "tokenizer.json: " + what); }
Status Unsupported(const std::string& what) { return Status(Code::kTokenizer, "tokenizer.json: " + what); }

bool DecodeBase64(const std::string& in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return false;
  out->clear();
  out->reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int pad = 0;
    if (last && in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
    uint32_t group = 0;
    for (int k = 0; k < 4; ++k) {
      int v = 0;
      if (k < 4 - pad) {
        v = value(in[i + k]);
        if (v < 0) return false;
      }
      group = group << 6 | static_cast<uint32_t>(v);
    }
    out->push_back(static_cast<char>(group >> 16));
    if (pad < 2) out->push_back(static_cast<char>(group >> 8 & 0xFF));
    if (pad < 1) out->push_back(static_cast<char>(group & 0xFF));
  }
  return true;
}

// A token id: an integer in 0..INT32_MAX (anything else would wrap when narrowed).
bool IsId(const json& v) {
  return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= std::numeric_limits<int32_t>::max();
}

bool BoolOr(const json& obj, const char* key, bool fallback) {
  const auto it = obj.find(key);
  return (it != obj.end() && it->is_boolean()) ? it->get<bool>() : fallback;
}

// Appends the steps of a normalizer, flattening nested Sequences.
Status CollectNormalizer(const json& n, TokenizerSpec* spec) {
  if (n.is_null()) return Status::Ok();
  if (!n.is_object() || !n.contains("type") || !n["type"].is_string()) return Bad("malformed normalizer");
  const std::string type = n["type"].get<std::string>();
  if (type == "Sequence") {
    if (!n.contains("normalizers") || !n["normalizers"].is_array()) return Bad("malformed normalizer Sequence");
    for (const json& child : n["normalizers"]) JV3_RETURN_IF_ERROR(CollectNormalizer(child, spec));
    return Status::Ok();
  }
  TokenizerSpec::NormalizerStep step;
  step.type = type;
  if (type == "Precompiled") {
    if (!n.contains("precompiled_charsmap") || !n["precompiled_charsmap"].is_string())
      return Unsupported("Precompiled normalizer without a precompiled_charsmap");
    std::string blob;
    if (!DecodeBase64(n["precompiled_charsmap"].get<std::string>(), &blob) || blob.empty())
      return Bad("precompiled_charsmap is not valid base64");
    if (!spec->precompiled_charsmap.empty() && spec->precompiled_charsmap != blob)
      return Unsupported("more than one distinct Precompiled normalizer");
    spec->precompiled_charsmap = std::move(blob);
  } else if (type == "Replace") {
    const auto pattern = n.find("pattern");
    const auto content = n.find("content");
    if (pattern == n.end() || !pattern->is_object() || content == n.end() || !content->is_string())
      return Bad("malformed Replace normalizer");
    if (pattern->contains("String") && (*pattern)["String"].is_string()) {
      step.pattern = (*pattern)["String"].get<std::string>();
    } else if (pattern->contains("Regex") && (*pattern)["Regex"].is_string()) {
      step.pattern = (*pattern)["Regex"].get<std::string>();
      step.pattern_is_regex = true;
    } else {
      return Bad("Replace normalizer pattern is neither String nor Regex");
    }
    step.content = content->get<std::string>();
  } else {
    return Unsupported("unsupported normalizer '" + type + "'");
  }
  spec->normalizer.push_back(std::move(step));
  return Status::Ok();
}

Status ParseMetaspace(const json& p, TokenizerSpec* spec) {
  if (!p.is_object() || !p.contains("type") || !p["type"].is_string()) return Bad("malformed pre_tokenizer");
  const std::string type = p["type"].get<std::string>();
  if (type == "Sequence") {
    if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array() || p["pretokenizers"].size() != 1)
      return Unsupported("pre_tokenizer Sequence other than a single Metaspace");
    return ParseMetaspace(p["pretokenizers"][0], spec);
  }
  if (type != "Metaspace") return Unsupported("unsupported pre_tokenizer '" + type + "'");
  if (p.contains("replacement")) {
    if (!p["replacement"].is_string()) return Bad("Metaspace replacement is not a string");
    spec->metaspace_replacement = p["replacement"].get<std::string>();
  }
  spec->prepend_scheme = "always";
  if (p.contains("prepend_scheme") && !p["prepend_scheme"].is_null()) {
    if (!p["prepend_scheme"].is_string()) return Bad("Metaspace prepend_scheme is not a string");
    spec->prepend_scheme = p["prepend_scheme"].get<std::string>();
    if (spec->prepend_scheme != "always" && spec->prepend_scheme != "first" && spec->prepend_scheme != "never")
      return Unsupported("unknown Metaspace prepend_scheme '" + spec->prepend_scheme + "'");
  }
  // Legacy files only have add_prefix_space. HF rejects add_prefix_space=false unless
  // prepend_scheme is "never"; a lone legacy false is read here as the "never" it meant.
  if (p.contains("add_prefix_space") && p["add_prefix_space"].is_boolean() && !p["add_prefix_space"].get<bool>()) {
    if (p.contains("prepend_scheme") && spec->prepend_scheme != "never")
      return Bad("Metaspace add_prefix_space does not match prepend_scheme");
    spec->prepend_scheme = "never";
  }
  spec->metaspace_split = BoolOr(p, "split", true);
  return Status::Ok();
}

int32_t FindAddedId(const TokenizerSpec& spec, const std::string& content, int32_t fallback) {
  for (const auto& t : spec.added_tokens) {
    if (t.content == content) return t.id;
  }
  return fallback;
}

// The first and last special token of the single-sequence template are <s> and </s>.
Status ParsePostProcessor(const json& p, TokenizerSpec* spec) {
  spec->bos_id = FindAddedId(*spec, "<s>", spec->bos_id);
  spec->eos_id = FindAddedId(*spec, "</s>", spec->eos_id);
  if (p.is_null()) return Status::Ok();
  if (!p.is_object() || !p.contains("type") || !p["type"].is_string()) return Bad("malformed post_processor");
  const std::string type = p["type"].get<std::string>();
  if (type == "Sequence") {
    if (!p.contains("processors") || !p["processors"].is_array()) return Bad("malformed post_processor Sequence");
    for (const json& child : p["processors"]) JV3_RETURN_IF_ERROR(ParsePostProcessor(child, spec));
    return Status::Ok();
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    for (const char* key : {"cls", "sep"}) {
      const auto it = p.find(key);
      if (it == p.end() || !it->is_array() || it->size() != 2 || !IsId((*it)[1]))
        return Bad(std::string("post_processor ") + key + " is malformed");
      (key[0] == 'c' ? spec->bos_id : spec->eos_id) = (*it)[1].get<int32_t>();
    }
    return Status::Ok();
  }
  if (type != "TemplateProcessing") return Status::Ok();
  const auto single = p.find("single");
  const auto specials = p.find("special_tokens");
  if (single == p.end() || !single->is_array() || specials == p.end() || !specials->is_object())
    return Bad("malformed TemplateProcessing");
  std::vector<int32_t> ids;
  for (const json& piece : *single) {
    if (!piece.is_object() || !piece.contains("SpecialToken")) continue;
    const json& st = piece["SpecialToken"];
    if (!st.is_object() || !st.contains("id") || !st["id"].is_string()) return Bad("malformed TemplateProcessing");
    const auto entry = specials->find(st["id"].get<std::string>());
    if (entry == specials->end() || !entry->is_object() || !entry->contains("ids") || !(*entry)["ids"].is_array() ||
        (*entry)["ids"].size() != 1 || !IsId((*entry)["ids"][0]))
      return Unsupported("TemplateProcessing special token without exactly one id");
    ids.push_back((*entry)["ids"][0].get<int32_t>());
  }
  if (ids.size() != 2) return Unsupported("TemplateProcessing must wrap a sequence in exactly two special tokens");
  spec->bos_id = ids[0];
  spec->eos_id = ids[1];
  return Status::Ok();
}

// Appends one vocabulary entry, its score read as Hugging Face reads it.
Status AddPiece(std::string piece, double score, TokenizerSpec* spec) {
  if (!std::isfinite(score) || std::fabs(score) > std::numeric_limits<float>::max())
    return Bad("Unigram vocab score out of range");
  spec->pieces.push_back(std::move(piece));
  spec->scores.push_back(AsHuggingFaceReadsIt(score));
  return Status::Ok();
}

// `vocab`: the model's vocabulary list when ParseJsonExceptVocab took it out of `j`, else null.
Status Parse(const json& j, const json& config, UnigramVocab* vocab, TokenizerSpec* spec) {
  if (!j.is_object()) return Bad("not a JSON object");
  const auto model = j.find("model");
  if (model == j.end() || !model->is_object()) return Bad("missing model");
  const auto mtype = model->find("type");
  if (mtype == model->end() || !mtype->is_string()) return Bad("model without type");
  if (mtype->get<std::string>() != "Unigram")
    return Unsupported("unsupported model type '" + mtype->get<std::string>() + "' (only Unigram)");
  if (BoolOr(*model, "byte_fallback", false)) return Unsupported("Unigram byte_fallback is not supported");
  if (vocab) {
    if (vocab->pieces.empty() && !vocab->malformed) return Bad("Unigram vocab missing or empty");
    spec->pieces.reserve(vocab->pieces.size());
    spec->scores.reserve(vocab->pieces.size());
    for (size_t i = 0; i < vocab->pieces.size(); ++i)
      JV3_RETURN_IF_ERROR(AddPiece(std::move(vocab->pieces[i]), vocab->scores[i], spec));
    if (vocab->malformed) return Bad("Unigram vocab entry is not [piece, score]");
  } else {
    const auto list = model->find("vocab");
    if (list == model->end() || !list->is_array() || list->empty()) return Bad("Unigram vocab missing or empty");
    spec->pieces.reserve(list->size());
    spec->scores.reserve(list->size());
    for (const json& entry : *list) {
      if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number())
        return Bad("Unigram vocab entry is not [piece, score]");
      JV3_RETURN_IF_ERROR(AddPiece(entry[0].get<std::string>(), entry[1].get<double>(), spec));
    }
  }
  const auto unk = model->find("unk_id");
  if (unk == model->end() || !unk->is_number_integer()) return Unsupported("Unigram model without unk_id");
  const int64_t unk_id = unk->get<int64_t>();
  if (unk_id < 0 || unk_id >= static_cast<int64_t>(spec->pieces.size())) return Bad("unk_id outside the vocab");
  spec->unk_id = static_cast<int32_t>(unk_id);

  if (j.contains("added_tokens")) {
    if (!j["added_tokens"].is_array()) return Bad("added_tokens is not an array");
    for (const json& t : j["added_tokens"]) {
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
          !t["content"].is_string())
        return Bad("malformed added token");
      TokenizerSpec::AddedToken a;
      const int64_t id = t["id"].get<int64_t>();
      if (id < 0 || id > std::numeric_limits<int32_t>::max()) return Bad("added token id out of range");
      a.id = static_cast<int32_t>(id);
      a.content = t["content"].get<std::string>();
      a.single_word = BoolOr(t, "single_word", false);
      a.lstrip = BoolOr(t, "lstrip", false);
      a.rstrip = BoolOr(t, "rstrip", false);
      a.normalized = BoolOr(t, "normalized", true);
      a.special = BoolOr(t, "special", false);
      spec->added_tokens.push_back(std::move(a));
    }
  }

  if (j.contains("normalizer")) JV3_RETURN_IF_ERROR(CollectNormalizer(j["normalizer"], spec));
  if (!j.contains("pre_tokenizer") || j["pre_tokenizer"].is_null())
    return Unsupported("no pre_tokenizer (a Metaspace pre-tokenizer is required)");
  JV3_RETURN_IF_ERROR(ParseMetaspace(j["pre_tokenizer"], spec));
  JV3_RETURN_IF_ERROR(ParsePostProcessor(j.contains("post_processor") ? j["post_processor"] : json(), spec));

  spec->pad_id = FindAddedId(*spec, "<pad>", spec->pad_id);
  if (config.is_object()) {
    const auto pad = config.find("pad_token");
    if (pad != config.end() && pad->is_string())
      spec->pad_id = FindAddedId(*spec, pad->get<std::string>(), spec->pad_id);
    const auto max_len = config.find("model_max_length");
    // Tokenizers without a limit carry a huge sentinel (1e30); keep the default then.
    if (max_len != config.end() && max_len->is_number()) {
      const double v = max_len->get<double>();
      // A window must hold <s>, </s> and at least one token.
      if (v < 3) return Status(Code::kBadCheckpoint, "tokenizer_config.json: model_max_length below 3");
      if (v <= std::numeric_limits<int32_t>::max() && v == std::floor(v)) spec->max_length = static_cast<int32_t>(v);
    }
  }
  const auto padding = j.find("padding");
  if (padding != j.end() && padding->is_object() && padding->contains("pad_id") && IsId((*padding)["pad_id"]))
    spec->pad_id = (*padding)["pad_id"].get<int32_t>();
  return Status::Ok();
}

// nlohmann SAX handler: builds the DOM with nlohmann's own builder, except for the list at the
// vocabulary path, whose [piece, score] entries go straight into a UnigramVocab (pieces moved, no
// DOM node per entry). It follows the object keys from the root to know when it is at that path.
class VocabDivertingSax {
 public:
  VocabDivertingSax(const std::vector<std::string>& path, json* dom, std::optional<UnigramVocab>* vocab)
      : path_(path), dom_(*dom, /*allow_exceptions=*/false), vocab_(*vocab) {}

  bool null() { return diverting_ ? Value(nullptr, nullptr) : dom_.null(); }
  bool boolean(bool v) { return diverting_ ? Value(nullptr, nullptr) : dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) {
    const double d = static_cast<double>(v);
    return diverting_ ? Value(nullptr, &d) : dom_.number_integer(v);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    const double d = static_cast<double>(v);
    return diverting_ ? Value(nullptr, &d) : dom_.number_unsigned(v);
  }
  bool number_float(json::number_float_t v, const json::string_t& text) {
    return diverting_ ? Value(nullptr, &v) : dom_.number_float(v, text);
  }
  bool string(json::string_t& v) { return diverting_ ? Value(&v, nullptr) : dom_.string(v); }
  bool binary(json::binary_t& v) { return diverting_ ? Value(nullptr, nullptr) : dom_.binary(v); }

  bool start_object(std::size_t n) {
    if (diverting_) return Open(/*array=*/false);
    Enter();
    return dom_.start_object(n);
  }
  bool key(json::string_t& k) {
    if (diverting_) return true;
    Frame& f = frames_.back();
    const size_t level = frames_.size() - 1;
    f.key_on_path = f.on_path && level < path_.size() && k == path_[level];
    // A repeated key replaces its earlier value (nlohmann keeps the last), and any list taken from it.
    if (f.key_on_path) vocab_.reset();
    return dom_.key(k);
  }
  bool end_object() {
    if (diverting_) return Close();
    frames_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    if (diverting_) return Open(/*array=*/true);
    if (!frames_.empty() && frames_.back().key_on_path && frames_.size() == path_.size()) {
      vocab_.emplace();
      diverting_ = true;
      depth_ = 0;
      next_ = Next::kEntry;
      return dom_.start_array(0) && dom_.end_array();
    }
    Enter();
    return dom_.start_array(n);
  }
  bool end_array() {
    if (diverting_) return Close();
    frames_.pop_back();
    return dom_.end_array();
  }
  template <typename Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    return dom_.parse_error(position, token, e);
  }

 private:
  struct Frame {
    bool on_path;      // reached from the root by the keys path_[0..level), level = its depth
    bool key_on_path;  // an object whose current key is path_[level]
  };
  // What the diverted list expects next: an entry, its piece, its score, its end; kBad after a
  // malformed entry (the rest is skipped).
  enum class Next { kEntry, kPiece, kScore, kEnd, kBad };

  void Enter() { frames_.push_back({frames_.empty() || frames_.back().key_on_path, false}); }
  void Malformed() {
    vocab_->malformed = true;
    next_ = Next::kBad;
  }
  bool Open(bool array) {
    if (depth_++ == 0 && array && next_ == Next::kEntry)
      next_ = Next::kPiece;
    else
      Malformed();
    return true;
  }
  bool Close() {
    if (depth_ == 0) {  // the end of the list
      diverting_ = false;
      return true;
    }
    if (--depth_ == 0) {
      if (next_ == Next::kEnd)
        next_ = Next::kEntry;
      else
        Malformed();
    }
    return true;
  }
  bool Value(json::string_t* piece, const double* score) {
    if (depth_ == 1 && next_ == Next::kPiece && piece) {
      piece_ = std::move(*piece);
      next_ = Next::kScore;
    } else if (depth_ == 1 && next_ == Next::kScore && score) {
      vocab_->pieces.push_back(std::move(piece_));
      vocab_->scores.push_back(*score);
      next_ = Next::kEnd;
    } else {
      Malformed();
    }
    return true;
  }

  const std::vector<std::string>& path_;
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::optional<UnigramVocab>& vocab_;
  std::vector<Frame> frames_;  // the open objects and arrays outside the diverted list
  bool diverting_ = false;
  size_t depth_ = 0;  // nesting inside the diverted list (1: in an entry)
  Next next_ = Next::kEntry;
  std::string piece_;
};

}  // namespace

bool ParseJsonExceptVocab(std::string_view text, const std::vector<std::string>& vocab_path, json* dom,
                          std::optional<UnigramVocab>* vocab) {
  vocab->reset();
  VocabDivertingSax sax(vocab_path, dom, vocab);
  return json::sax_parse(text.begin(), text.end(), &sax);
}

Status ParseTokenizerJson(const json& tokenizer, const json& tokenizer_config, UnigramVocab* vocab,
                          TokenizerSpec* out) {
  TokenizerSpec spec;
  try {
    JV3_RETURN_IF_ERROR(Parse(tokenizer, tokenizer_config, vocab, &spec));
  } catch (const std::exception& e) {
    return Bad(e.what());
  }
  *out = std::move(spec);
  return Status::Ok();
}

Status ParseTokenizerJson(std::string_view tokenizer_json, std::string_view tokenizer_config_json, TokenizerSpec* out) {
  if (!JsonDepthOk(tokenizer_json) || !JsonDepthOk(tokenizer_config_json))
    return Bad("nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  static const std::vector<std::string> kVocabPath = {"model", "vocab"};
  json j;
  std::optional<UnigramVocab> vocab;
  if (!ParseJsonExceptVocab(tokenizer_json, kVocabPath, &j, &vocab)) return Bad("not valid JSON");
  json config;
  if (!tokenizer_config_json.empty()) {
    config = json::parse(tokenizer_config_json.begin(), tokenizer_config_json.end(), nullptr, false);
    if (config.is_discarded()) return Status(Code::kBadCheckpoint, "tokenizer_config.json: not valid JSON");
  }
  return ParseTokenizerJson(j, config, vocab ? &*vocab : nullptr, out);
}

}  // namespace jv3
