// Tokenizer test: every tokenization in the fixture's expected.json (made by HF tokenizers) must be
// reproduced exactly, ids and code point offsets; plus UTF-8 repair, bad-input and speed checks.
// Usage: tokenizer_test <fixture dir>. Last line: "N passed, N failed".
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

using jv3::Encoding;
using jv3::Tokenizer;
using jv3::TokenizerSpec;
using nlohmann::json;

int g_passed = 0, g_failed = 0;

void Check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string Join(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < 40; ++i) s += (i ? " " : "") + std::to_string(v[i]);
  return s + (v.size() > 40 ? " ..." : "");
}

// ids with <s> ... </s>, as the fixture lists them.
std::vector<int32_t> Wrapped(const Tokenizer& tok, const std::string& text, Encoding* enc) {
  jv3::Status st = tok.Encode(text, enc);
  if (!st.ok()) std::printf("encode error: %s\n", st.message().c_str());
  std::vector<int32_t> ids{tok.spec().bos_id};
  ids.insert(ids.end(), enc->ids.begin(), enc->ids.end());
  ids.push_back(tok.spec().eos_id);
  return ids;
}

void CheckIds(const Tokenizer& tok, const std::string& text, const json& expected, const std::string& name) {
  Encoding enc;
  const std::vector<int32_t> got = Wrapped(tok, text, &enc);
  const std::vector<int32_t> want = expected.get<std::vector<int32_t>>();
  Check(got == want, name + " ids\n  got  " + Join(got) + "\n  want " + Join(want));
}

void CheckOffsets(const Encoding& enc, const json& expected, const std::string& name) {
  std::vector<std::pair<int32_t, int32_t>> want;
  for (size_t i = 1; i + 1 < expected.size(); ++i)
    want.emplace_back(expected[i][0].get<int32_t>(), expected[i][1].get<int32_t>());
  std::string detail;
  for (size_t i = 0; i < want.size() && i < enc.offsets.size(); ++i) {
    if (want[i] != enc.offsets[i] && detail.empty())
      detail = " first diff at token " + std::to_string(i) + ": got [" + std::to_string(enc.offsets[i].first) + "," +
               std::to_string(enc.offsets[i].second) + ") want [" + std::to_string(want[i].first) + "," +
               std::to_string(want[i].second) + ")";
  }
  Check(want == enc.offsets, name + " offsets" + detail);
}

void TestFixture(const std::string& dir) {
  TokenizerSpec spec;
  jv3::Status st =
      jv3::ParseTokenizerJson(ReadFile(dir + "/tokenizer.json"), ReadFile(dir + "/tokenizer_config.json"), &spec);
  Check(st.ok(), "parse tokenizer.json: " + st.message());
  if (!st.ok()) return;
  Check(spec.max_length == 8194 && spec.bos_id == 0 && spec.eos_id == 2 && spec.pad_id == 1 && spec.unk_id == 3,
        "spec specials / max_length");
  std::unique_ptr<Tokenizer> tok;
  st = Tokenizer::Create(spec, &tok);
  Check(st.ok(), "create: " + st.message());
  if (!st.ok()) return;

  const json e = json::parse(ReadFile(dir + "/expected.json"));
  for (const json& t : e["texts"]) {
    const std::string name = t["id"].get<std::string>();
    Encoding enc;
    const std::vector<int32_t> got = Wrapped(*tok, t["text"].get<std::string>(), &enc);
    const std::vector<int32_t> want = t["input_ids"].get<std::vector<int32_t>>();
    Check(got == want, "text " + name + " ids\n  got  " + Join(got) + "\n  want " + Join(want));
    CheckOffsets(enc, t["offsets"], "text " + name);
    for (const json& c : t["cases"]) {
      CheckIds(
          *tok, c["model_input"].get<std::string>(), c["input_ids"],
          "text " + name + " case " + c["task"].dump() + (c["instruction_prepended"].get<bool>() ? " +instr" : ""));
    }
  }
  for (const json& l : e["long_inputs"]) {
    Encoding enc;
    const std::vector<int32_t> got = Wrapped(*tok, l["model_input"].get<std::string>(), &enc);
    const std::vector<int32_t> want = l["input_ids"].get<std::vector<int32_t>>();
    const size_t n = want.size() - 1;  // all but the final </s>, which truncation re-appends
    const bool prefix_ok = got.size() >= n && std::equal(want.begin(), want.begin() + n, got.begin());
    Check(prefix_ok && static_cast<int64_t>(got.size()) == l["n_tokens_untruncated"].get<int64_t>(),
          "long input " + l["name"].get<std::string>() + ": " + std::to_string(got.size()) + " tokens");
  }
  const json& lc = e["late_chunking"];
  Encoding enc;
  const std::vector<int32_t> got = Wrapped(*tok, lc["model_input"].get<std::string>(), &enc);
  Check(got == lc["input_ids"].get<std::vector<int32_t>>(), "late_chunking ids");
  CheckOffsets(enc, lc["offsets"], "late_chunking");
  for (const json& b : e["batches"]) {
    const auto& rows = b["padded_input_ids"];
    for (size_t k = 0; k < rows.size(); ++k) {
      const size_t text_index = b["row_order"][k].get<size_t>();
      std::vector<int32_t> ids = Wrapped(*tok, b["model_inputs"][text_index].get<std::string>(), &enc);
      std::vector<int32_t> want = rows[k].get<std::vector<int32_t>>();
      ids.resize(want.size(), spec.pad_id);
      Check(ids == want, "batch " + b["name"].get<std::string>() + " row " + std::to_string(k));
    }
  }
}

void TestRepairUtf8() {
  using jv3::unicode::RepairUtf8;
  const std::string fffd = "\xEF\xBF\xBD";
  Check(RepairUtf8("a\x80"
                   "b") == "a" + fffd + "b",
        "lone continuation byte");
  Check(RepairUtf8("\xE2\x82") == fffd, "truncated 3-byte sequence is one U+FFFD");
  Check(RepairUtf8("\xE2\x82"
                   "A") == fffd + "A",
        "truncated sequence then ASCII");
  Check(RepairUtf8("\xED\xA0\x80") == fffd + fffd + fffd, "surrogate: three U+FFFD");
  Check(RepairUtf8("\xF0\x80\x80") == fffd + fffd + fffd, "overlong 4-byte lead");
  Check(RepairUtf8("\xF4\x90\x80\x80") == fffd + fffd + fffd + fffd, "above U+10FFFF");
  Check(RepairUtf8("\xC0\xAF") == fffd + fffd, "overlong 2-byte");
  Check(RepairUtf8("\xF0\x9F\x98") == fffd, "truncated emoji");
  Check(RepairUtf8("\xF0\x9F\x98\x80") == "\xF0\x9F\x98\x80", "valid emoji kept");
}

void TestBadInput(const std::string& dir) {
  TokenizerSpec spec;
  Check(jv3::ParseTokenizerJson("{not json", "", &spec).code() == jv3::Code::kBadCheckpoint, "invalid JSON rejected");
  Check(jv3::ParseTokenizerJson("[]", "", &spec).code() == jv3::Code::kBadCheckpoint, "non-object rejected");
  Check(jv3::ParseTokenizerJson(R"({"model":{"type":"BPE","vocab":{}}})", "", &spec).code() == jv3::Code::kTokenizer,
        "BPE model rejected as unsupported");
  Check(jv3::ParseTokenizerJson(R"({"model":{"type":"Unigram","vocab":[["a","x"]],"unk_id":0}})", "", &spec).code() ==
            jv3::Code::kBadCheckpoint,
        "non-numeric score rejected");

  json j = json::parse(ReadFile(dir + "/tokenizer.json"));
  j["normalizer"]["normalizers"][1]["pattern"]["Regex"] = "\\s+\\w";
  jv3::Status st = jv3::ParseTokenizerJson(j.dump(), "", &spec);
  std::unique_ptr<Tokenizer> tok;
  if (st.ok()) st = Tokenizer::Create(spec, &tok);
  Check(st.code() == jv3::Code::kTokenizer, "unsupported Replace regex rejected");

  j = json::parse(ReadFile(dir + "/tokenizer.json"));
  j["normalizer"] = {{"type", "NFKC"}};
  Check(jv3::ParseTokenizerJson(j.dump(), "", &spec).code() == jv3::Code::kTokenizer, "NFKC normalizer rejected");

  j = json::parse(ReadFile(dir + "/tokenizer.json"));
  j["normalizer"]["normalizers"][0]["precompiled_charsmap"] = "AAAA";
  st = jv3::ParseTokenizerJson(j.dump(), "", &spec);
  if (st.ok()) st = Tokenizer::Create(spec, &tok);
  Check(!st.ok(), "truncated charsmap rejected");

  // A charsmap whose double array points outside itself must be refused, not read.
  j = json::parse(ReadFile(dir + "/tokenizer.json"));
  st = jv3::ParseTokenizerJson(j.dump(), "", &spec);
  if (st.ok()) {
    std::string& blob = spec.precompiled_charsmap;
    for (size_t i = 4; i + 4 <= 4 + 4096 && i + 4 <= blob.size(); i += 4) blob[i + 3] = '\x7F';
    st = Tokenizer::Create(spec, &tok);
  }
  Check(!st.ok(), "corrupt double array rejected");
}

void TestSpeed(const std::string& dir) {
  TokenizerSpec spec;
  if (!jv3::ParseTokenizerJson(ReadFile(dir + "/tokenizer.json"), "", &spec).ok()) return;
  // Grow the vocabulary to the real model's 250k pieces with plausible synthetic pieces.
  const size_t base = spec.pieces.size();
  for (size_t i = 0; spec.pieces.size() < 250002; ++i) {
    spec.pieces.push_back(spec.pieces[4 + i % (base - 5)] + std::to_string(i / (base - 5)));
    spec.scores.push_back(-12.0f - static_cast<float>(i % 1000) / 100.0f);
  }
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Tokenizer> tok;
  const bool created = Tokenizer::Create(spec, &tok).ok();
  auto t1 = std::chrono::steady_clock::now();
  std::string text;
  const json e = json::parse(ReadFile(dir + "/expected.json"));
  while (text.size() < 30000 * 2) text += e["texts"][30]["text"].get<std::string>() + " 東京 ❤️  ";
  Encoding enc;
  const bool encoded = created && tok->Encode(text, &enc).ok();
  auto t2 = std::chrono::steady_clock::now();
  const double create_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  const double encode_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  std::printf("speed: Create(250002 pieces) %.0f ms, Encode(%zu bytes -> %zu tokens) %.0f ms\n", create_ms, text.size(),
              enc.ids.size(), encode_ms);
  Check(created && encoded && create_ms < 5000 && encode_ms < 1000, "250k-piece Create and 60 kB Encode are fast");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::printf("usage: %s <fixture dir>\n0 passed, 1 failed\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  try {
    TestRepairUtf8();
    TestFixture(dir);
    TestBadInput(dir);
    TestSpeed(dir);
  } catch (const std::exception& ex) {
    Check(false, std::string("exception: ") + ex.what());
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
