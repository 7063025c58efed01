// Hostile-input checks of the core parsers and limits (also run under ASan + UBSan by scripts/check/sanitize.sh):
// overflowing shapes, out-of-range numbers, deep JSON, oversized tensors, per-call limits.
// Usage: hostile_test <fixture dir>. Last line: "N passed, N failed".
#include <cstring>
#include <memory>
#include <string>

#include "base/json_guard.h"
#include "convert/safetensors.h"
#include "format/model_file.h"
#include "runtime/loader.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace jv3;

namespace {

std::string SafeTensorsBytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
  return out + header + data;
}

Code OpenCode(const std::string& bytes) {
  SafeTensorsFile f;
  return SafeTensorsFile::Open(
             [&](uint64_t off, size_t n, uint8_t* dst) {
               if (off > bytes.size() || n > bytes.size() - off) return Status(Code::kIo, "short read");
               std::memcpy(dst, bytes.data() + off, n);
               return Status::Ok();
             },
             bytes.size(), &f)
      .code();
}

std::string Deep(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "../shared/fixtures/tiny-jina-v3";
  test::Counter t;

  // safetensors: every malformed header is E_BAD_CHECKPOINT, before any read past the file.
  const std::string four(16, '\0');
  t.Check(OpenCode(SafeTensorsBytes(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", four)) == Code::kOk,
          "a valid safetensors file opens");
  t.Check(
      OpenCode(SafeTensorsBytes(R"({"x":{"dtype":"F32","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]}})",
                                "")) == Code::kBadCheckpoint,
      "shape product overflowing int64");
  t.Check(OpenCode(SafeTensorsBytes(R"({"x":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}})", four)) ==
              Code::kBadCheckpoint,
          "negative dimensions");
  t.Check(OpenCode(SafeTensorsBytes(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,1e300]}})", four)) ==
              Code::kBadCheckpoint,
          "float data_offsets");
  t.Check(OpenCode(SafeTensorsBytes(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,17]}})", four)) ==
              Code::kBadCheckpoint,
          "data_offsets past the end");
  t.Check(OpenCode(SafeTensorsBytes("{\"x\":" + Deep(1000) + "}", "")) == Code::kBadCheckpoint, "deeply nested header");
  t.Check(OpenCode("\xff\xff\xff\xff\xff\xff\xff\xff") == Code::kBadCheckpoint, "header length 2^64-1");

  // config.json: sizes, floats and nesting.
  const std::string config = test::ReadFile(dir + "/config.json");
  ModelConfig c;
  t.Check(ParseModelConfig(config, &c).ok(), "the fixture config parses");
  auto with = [&](const std::string& key, const std::string& value) {
    std::string s = config;
    const size_t at = s.find("\"" + key + "\"");
    const size_t colon = s.find(':', at), end = s.find_first_of(",}", colon);
    return s.replace(colon + 1, end - colon - 1, value);
  };
  t.Check(ParseModelConfig(with("num_hidden_layers", "1000000000"), &c).code() == Code::kBadCheckpoint, "10^9 layers");
  t.Check(ParseModelConfig(with("vocab_size", "4294967296"), &c).code() == Code::kBadCheckpoint, "vocab 2^32");
  t.Check(ParseModelConfig(with("rotary_emb_base", "1e300"), &c).code() == Code::kBadCheckpoint, "rotary base 1e300");
  t.Check(ParseModelConfig(with("hidden_size", "256.0"), &c).code() == Code::kBadCheckpoint, "float hidden_size");
  t.Check(ParseModelConfig(with("matryoshka_dimensions", "[4294967328]"), &c).code() == Code::kBadCheckpoint,
          "matryoshka 2^32+32 does not wrap to 32");
  t.Check(ParseModelConfig("{\"a\":" + Deep(100000) + "}", &c).code() == Code::kBadCheckpoint,
          "config nested 100k deep");
  t.Check(JsonDepthOk(R"({"s":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})"),
          "brackets inside strings do not count");

  // The model file: convert the fixture, then edit its header.
  std::string file;
  Status st = test::ConvertToMemory(dir, true, &file);
  t.Check(st.ok(), "convert: " + st.message());
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= uint64_t(uint8_t(file[16 + i])) << (8 * i);
  const std::string header = file.substr(kPreambleSize, header_len);
  ModelHeader h;
  t.Check(ParseHeader(header, &h).ok(), "the converted header parses");
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string s = header;
    const size_t at = s.find(from);
    return at == std::string::npos ? std::string() : s.replace(at, from.size(), to);
  };
  const std::string size0 = "\"size\":" + std::to_string(h.tensors[0].size);
  t.Check(ParseHeader(edited(size0, "\"size\":1.5"), &h).code() == Code::kModelFormat, "float tensor size");
  t.Check(ParseHeader(edited("\"data_size\":", "\"data_size\":1152921504606846976,\"x\":"), &h).code() ==
              Code::kModelFormat,
          "data_size 2^60");
  const std::string offset1 = "\"offset\":" + std::to_string(h.tensors[1].offset);
  t.Check(ParseHeader(edited(offset1, "\"offset\":18446744073709551552"), &h).code() == Code::kModelTensor,
          "offset near 2^64 does not wrap past the data_size check");

  // Streaming: an error is sticky, and a truncated file names where it ended.
  {
    ModelLoader loader;
    std::string bad = file;
    bad[bad.size() / 2] ^= 1;
    const Status first = loader.Push(reinterpret_cast<const uint8_t*>(bad.data()), bad.size());
    t.Check(first.code() == Code::kModelChecksum, "a flipped bit: E_MODEL_CHECKSUM");
    t.Check(loader.Push(reinterpret_cast<const uint8_t*>("x"), 1).code() == Code::kModelChecksum,
            "the error is sticky");
    std::unique_ptr<Embedder> none;
    t.Check(loader.Finish(1, &none).code() == Code::kModelChecksum && !none, "Finish repeats it");
  }

  // tokenizer_config.json: a window that cannot hold <s> and </s>.
  TokenizerSpec spec;
  t.Check(ParseTokenizerJson(test::ReadFile(dir + "/tokenizer.json"), R"({"model_max_length": 2})", &spec).code() ==
              Code::kBadCheckpoint,
          "model_max_length 2");

  // Per-call limits, then the engine still works.
  ModelLoader loader;
  std::unique_ptr<Embedder> emb;
  st = loader.Push(reinterpret_cast<const uint8_t*>(file.data()), file.size());
  if (st.ok()) st = loader.Finish(1, &emb);
  t.Check(st.ok(), "load: " + st.message());
  if (emb) {
    EmbedOptions o;
    EmbedResult r;
    o.max_texts = 2;
    t.Check(emb->Embed({"a", "b", "c"}, o, &r).code() == Code::kLimit, "3 texts over max_texts 2: E_LIMIT");
    o.max_texts = 10;
    o.max_tokens = 8;
    t.Check(emb->Embed({"one two three", "four five six"}, o, &r).code() == Code::kLimit, "over max_tokens: E_LIMIT");
    o.max_tokens = 1000;
    t.Check(emb->Embed({"one two three", "four five six"}, o, &r).ok() && r.embeddings.size() == 2u * r.dim,
            "the same call within the limits works");
  }
  t.Check(std::string(CodeName(Code::kLimit)) == "E_LIMIT", "E_LIMIT has its stable name");
  return t.Finish();
}
