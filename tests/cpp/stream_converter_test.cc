// StreamConverter: the fixture's model.safetensors pushed in pieces of many sizes must give the
// byte-identical model file that ConvertCheckpoint writes (int8 and f32), and bad streams fail cleanly.
#include <memory>
#include <string>

#include "convert/stream_converter.h"
#include "test_util.h"

using namespace jv3;

namespace {

Status StreamConvert(const std::string& dir, bool int8, size_t piece, bool declare_size, std::string* file,
                     StreamProgress* progress) {
  const std::string st = test::ReadFile(dir + "/model.safetensors");
  std::unique_ptr<StreamConverter> conv;
  JV3_RETURN_IF_ERROR(StreamConverter::Create(
      test::ReadFile(dir + "/config.json"), test::ReadFile(dir + "/tokenizer.json"),
      test::ReadFile(dir + "/tokenizer_config.json"), int8, declare_size ? st.size() : 0, &conv));
  for (size_t off = 0; off < st.size(); off += piece) {
    const size_t n = std::min(piece, st.size() - off);
    JV3_RETURN_IF_ERROR(conv->Push(reinterpret_cast<const uint8_t*>(st.data()) + off, n));
  }
  *progress = conv->progress();
  file->clear();
  ConvertResult result;
  return conv->Finish(
      [&](const uint8_t* p, size_t n) {
        file->append(reinterpret_cast<const char*>(p), n);
        return Status::Ok();
      },
      &result);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "../shared/fixtures/tiny-jina-v3";
  test::Counter t;
  for (bool int8 : {true, false}) {
    const std::string mode = int8 ? "int8" : "f32";
    std::string want;
    Status s = test::ConvertToMemory(dir, int8, &want);
    t.Check(s.ok(), mode + " reference convert: " + s.message());
    for (size_t piece : {size_t(1) << 30, size_t(65536), size_t(4099), size_t(7)}) {
      for (bool declare : {true, false}) {
        const std::string label = mode + " pieces of " + std::to_string(piece) + (declare ? "" : " (size unknown)");
        std::string got;
        StreamProgress p;
        s = StreamConvert(dir, int8, piece, declare, &got, &p);
        t.Check(s.ok(), label + ": " + s.message());
        t.Check(got == want, label + ": output differs from ConvertCheckpoint (" + std::to_string(got.size()) + " vs " +
                                 std::to_string(want.size()) + " bytes)");
        t.Check(p.tensors_ready == p.tensors_total && p.tensors_total > 0, label + ": every tensor ready");
        t.Check(p.bytes_in == p.bytes_total, label + ": bytes_in == bytes_total");
      }
    }
  }

  // A cut stream: Finish names the truncation; nothing is written.
  {
    const std::string st = test::ReadFile(dir + "/model.safetensors");
    std::unique_ptr<StreamConverter> conv;
    Status s = StreamConverter::Create(test::ReadFile(dir + "/config.json"), test::ReadFile(dir + "/tokenizer.json"),
                                       "", true, 0, &conv);
    t.Check(s.ok(), "create: " + s.message());
    s = conv->Push(reinterpret_cast<const uint8_t*>(st.data()), st.size() / 2);
    t.Check(s.ok(), "half push: " + s.message());
    size_t written = 0;
    s = conv->Finish(
        [&](const uint8_t*, size_t n) {
          written += n;
          return Status::Ok();
        },
        nullptr);
    t.Check(s.code() == Code::kBadCheckpoint && s.message().find("truncated") != std::string::npos,
            "truncated stream: " + s.message());
    t.Check(written == 0, "truncated stream writes nothing");
  }
  // Garbage instead of a safetensors header.
  {
    std::unique_ptr<StreamConverter> conv;
    Status s = StreamConverter::Create(test::ReadFile(dir + "/config.json"), test::ReadFile(dir + "/tokenizer.json"),
                                       "", true, 0, &conv);
    const std::string junk = std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "junk";
    s = conv->Push(reinterpret_cast<const uint8_t*>(junk.data()), junk.size());
    t.Check(s.code() == Code::kBadCheckpoint, "implausible header length: " + s.message());
  }
  return t.Finish();
}
