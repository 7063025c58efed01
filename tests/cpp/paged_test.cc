// Paged memory in the core: a model loaded with the word tables left in the file gives vectors
// bit-identical to the resident model's for every fixture text and task, through Plan → Need →
// Supply → Run with the bytes read from the file; changed bytes, short reads and tiny caches.
// Streamed memory likewise, its layers supplied whole or in parts of any size, in order.
#include <nlohmann/json.hpp>

#include <cstring>
#include <random>

#include "runtime/loader.h"
#include "test_util.h"

using namespace jv3;
using nlohmann::json;

namespace {

Status Load(const std::string& file, MemoryOptions memory, std::unique_ptr<Embedder>* out) {
  ModelLoader loader(memory);
  std::mt19937 rng(11);
  for (size_t pos = 0; pos < file.size();) {
    const size_t n = std::min<size_t>(file.size() - pos, 1 + rng() % 70000);
    JV3_RETURN_IF_ERROR(loader.Push(reinterpret_cast<const uint8_t*>(file.data()) + pos, n));
    pos += n;
  }
  return loader.Finish(2, out);
}

// The bytes of `ranges` from `file`, concatenated, as the JS layer reads them.
std::vector<uint8_t> Read(const std::string& file, const std::vector<RowRange>& ranges) {
  std::vector<uint8_t> out;
  for (const RowRange& r : ranges) out.insert(out.end(), file.begin() + r.offset, file.begin() + r.offset + r.length);
  return out;
}

// Plans one call and pages in the rows it needs from `file`.
Status PlanPaged(Embedder* e, const std::string& file, const std::vector<std::string>& texts, const EmbedOptions& o,
                 CallPlan* plan) {
  JV3_RETURN_IF_ERROR(e->Plan(texts, o, plan));
  std::vector<const std::vector<int32_t>*> ids;
  for (const auto& seq : plan->ids) ids.push_back(&seq);
  std::vector<RowRange> ranges;
  JV3_RETURN_IF_ERROR(e->model().paged()->Need(ids, &ranges));
  const std::vector<uint8_t> bytes = Read(file, ranges);
  if (!ranges.empty()) JV3_RETURN_IF_ERROR(e->model().paged()->Supply(bytes.data(), bytes.size()));
  return Status::Ok();
}

// Plans, pages in from `file` and runs one call.
Status EmbedPaged(Embedder* e, const std::string& file, const std::vector<std::string>& texts, const EmbedOptions& o,
                  EmbedResult* out) {
  CallPlan plan;
  JV3_RETURN_IF_ERROR(PlanPaged(e, file, texts, o, &plan));
  return e->Run(plan, out);
}

// Streamed: plans, pages in the rows, then supplies each layer in parts of `part` bytes (0: whole).
Status EmbedStreamed(Embedder* e, const std::string& file, const std::vector<std::string>& texts, const EmbedOptions& o,
                     size_t part, EmbedResult* out) {
  CallPlan plan;
  JV3_RETURN_IF_ERROR(PlanPaged(e, file, texts, o, &plan));
  e->StartStreamed(std::move(plan));
  RowRange range, after;
  while (e->NextLayer(&range, &after)) {
    bool done = false;
    for (uint64_t at = 0; !done;) {
      const uint64_t n = part ? std::min<uint64_t>(part, range.length - at) : range.length;
      const char* src = file.data() + range.offset + at;
      auto copy = [&](size_t offset, uint8_t* dst, size_t len) { std::memcpy(dst, src + offset, len); };
      JV3_RETURN_IF_ERROR(e->SupplyLayer(at, n, copy, &done));
      at += n;
      if (!done && at >= range.length) return Status(Code::kState, "the whole layer was supplied but it did not run");
    }
  }
  return e->TakeStreamed(out);
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && !a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "../shared/fixtures/tiny-jina-v3";
  test::Counter t;
  const json expected = json::parse(test::ReadFile(dir + "/expected.json"));
  std::vector<std::string> texts;
  for (const auto& text : expected["texts"]) texts.push_back(text["text"].get<std::string>());
  t.Check(texts.size() >= 2, "the fixture has texts");

  for (bool int8 : {false, true}) {
    const std::string mode = int8 ? "int8" : "f32";
    std::string file;
    Status st = test::ConvertToMemory(dir, int8, &file);
    t.Check(st.ok(), mode + " convert: " + st.message());
    std::unique_ptr<Embedder> resident, paged, tiny;
    t.Check(Load(file, {}, &resident).ok(), mode + " resident load");
    st = Load(file, {true, PagedRows::kDefaultCapacity}, &paged);
    t.Check(st.ok(), mode + " paged load: " + st.message());
    st = Load(file, {true, 1}, &tiny);
    t.Check(st.ok(), mode + " paged load, cache of one row: " + st.message());
    if (!resident || !paged || !tiny) continue;
    t.Check(!resident->model().paged() && paged->model().paged(), mode + ": residency as asked");

    for (int task = -1; task < resident->config().num_tasks(); ++task) {
      EmbedOptions o;
      o.tasks = {task};
      for (const std::vector<std::string>& call : {std::vector<std::string>{texts[0]}, texts}) {
        EmbedResult want, got, got_tiny;
        t.Check(resident->Embed(call, o, &want).ok(), mode + " resident embed");
        st = EmbedPaged(paged.get(), file, call, o, &got);
        t.Check(st.ok(), mode + " paged embed: " + st.message());
        st = EmbedPaged(tiny.get(), file, call, o, &got_tiny);
        t.Check(st.ok(), mode + " paged embed, cache of one row: " + st.message());
        const std::string label = mode + " task " + std::to_string(task) + ", " + std::to_string(call.size()) + " text(s)";
        t.Check(SameBits(got.embeddings, want.embeddings), label + ": paged differs from resident");
        t.Check(SameBits(got_tiny.embeddings, want.embeddings), label + ": paged (cache of one) differs from resident");
      }
    }
    // Rows a running call was not given: the forward pass refuses (never reads a stale slot).
    CallPlan plan;
    t.Check(tiny->Plan({"a text of words never embedded before here"}, EmbedOptions(), &plan).ok(), "plan");
    EmbedResult r;
    t.Check(tiny->Run(plan, &r).code() == Code::kState, mode + ": a run without its rows is E_STATE");

    // The file changed after the load: every changed row read is E_MODEL_CHECKSUM, nothing cached.
    std::vector<const std::vector<int32_t>*> ids = {&plan.ids[0]};
    std::vector<RowRange> ranges;
    t.Check(tiny->model().paged()->Need(ids, &ranges).ok() && !ranges.empty(), mode + ": rows needed");
    std::vector<uint8_t> bytes = Read(file, ranges);
    bytes[0] ^= 1;  // a range starts with a row (bytes merged through a gap belong to none)
    t.Check(tiny->model().paged()->Supply(bytes.data(), bytes.size()).code() == Code::kModelChecksum,
            mode + ": a flipped bit is E_MODEL_CHECKSUM");
    t.Check(tiny->Run(plan, &r).code() == Code::kState, mode + ": nothing cached from a bad read");
    t.Check(tiny->model().paged()->Need(ids, &ranges).ok(), mode + ": rows needed again");
    bytes = Read(file, ranges);
    t.Check(tiny->model().paged()->Supply(bytes.data(), bytes.size() - 1).code() == Code::kIo,
            mode + ": a short read is E_IO");
    t.Check(tiny->model().paged()->Need(ids, &ranges).ok(), mode + ": rows needed once more");
    bytes = Read(file, ranges);
    t.Check(tiny->model().paged()->Supply(bytes.data(), bytes.size()).ok(), mode + ": the right bytes are accepted");
    EmbedResult want;
    t.Check(tiny->Run(plan, &r).ok() && resident->Embed({"a text of words never embedded before here"}, {}, &want).ok(),
            mode + ": runs");
    t.Check(SameBits(r.embeddings, want.embeddings), mode + ": and matches resident after the failures");

    // Streamed: every layer whole, in parts of 1000 bytes and of 4099 (across tensor boundaries).
    std::unique_ptr<Embedder> streamed;
    MemoryOptions so;
    so.paged = so.streamed = true;
    st = Load(file, so, &streamed);
    t.Check(st.ok(), mode + " streamed load: " + st.message());
    if (!streamed) continue;
    EmbedOptions o;
    o.tasks = {1};
    EmbedResult ref;
    t.Check(resident->Embed(texts, o, &ref).ok(), mode + " resident embed");
    for (size_t part : {size_t{0}, size_t{1000}, size_t{4099}}) {
      EmbedResult got;
      st = EmbedStreamed(streamed.get(), file, texts, o, part, &got);
      t.Check(st.ok(), mode + " streamed, parts of " + std::to_string(part) + ": " + st.message());
      t.Check(SameBits(got.embeddings, ref.embeddings), mode + " streamed, parts of " + std::to_string(part) + ": differs from resident");
    }
    // Parts out of order, or past the layer's end, are E_IO and end the call; the next call runs.
    CallPlan sp;
    t.Check(streamed->Plan({texts[0]}, o, &sp).ok(), "plan");
    std::vector<const std::vector<int32_t>*> sids = {&sp.ids[0]};
    t.Check(streamed->model().paged()->Need(sids, &ranges).ok(), "need");
    bytes = Read(file, ranges);
    if (!ranges.empty()) t.Check(streamed->model().paged()->Supply(bytes.data(), bytes.size()).ok(), "rows");
    streamed->StartStreamed(std::move(sp));
    RowRange range, after;
    t.Check(streamed->NextLayer(&range, &after), "a layer is needed");
    auto copy = [&](size_t offset, uint8_t* dst, size_t len) { std::memcpy(dst, file.data() + range.offset + offset, len); };
    bool done = false;
    t.Check(streamed->SupplyLayer(0, 100, copy, &done).ok() && !done, mode + ": a first part");
    t.Check(streamed->SupplyLayer(200, 100, copy, &done).code() == Code::kIo && !done, mode + ": a gap is E_IO");
    t.Check(!streamed->NextLayer(&range, &after), mode + ": the failed call has ended");
    EmbedResult again;
    st = EmbedStreamed(streamed.get(), file, texts, o, 0, &again);
    t.Check(st.ok() && SameBits(again.embeddings, ref.embeddings), mode + ": the next call runs: " + st.message());
    // A part longer than the layer: E_IO.
    t.Check(streamed->Plan({texts[0]}, o, &sp).ok(), "plan again (its rows are cached)");
    streamed->StartStreamed(std::move(sp));
    const bool needed = streamed->NextLayer(&range, &after);
    t.Check(needed, mode + ": a layer is needed again");
    if (needed) {
      t.Check(streamed->SupplyLayer(0, range.length + 1, copy, &done).code() == Code::kIo, mode + ": too many bytes is E_IO");
    }
  }
  return t.Finish();
}
