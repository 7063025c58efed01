// Native end-to-end check against the fixture: conversion, chunked streaming load, layer-by-layer hidden
// states (debug section) and every single-text embedding, in f32 (tight) and int8 (cosine) modes.
#include <nlohmann/json.hpp>

#include <random>

#include "runtime/loader.h"
#include "test_util.h"

using namespace jv3;
using nlohmann::json;

namespace {

std::vector<float> Floats(const json& j) {
  std::vector<float> v;
  if (j.is_array() && !j.empty() && j[0].is_array()) {
    for (const auto& row : j)
      for (const auto& x : row) v.push_back(x.get<float>());
  } else {
    for (const auto& x : j) v.push_back(x.get<float>());
  }
  return v;
}

// NaN (fails every comparison) if the lengths differ.
double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return NAN;
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// Loads a model file by pushing it in random-sized chunks, as a download would arrive.
Status Load(const std::string& file, std::unique_ptr<Embedder>* out) {
  ModelLoader loader;
  std::mt19937 rng(7);
  for (size_t pos = 0; pos < file.size();) {
    const size_t n = std::min<size_t>(file.size() - pos, 1 + rng() % 100000);
    JV3_RETURN_IF_ERROR(loader.Push(reinterpret_cast<const uint8_t*>(file.data()) + pos, n));
    pos += n;
  }
  return loader.Finish(2, out);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "../shared/fixtures/tiny-jina-v3";
  test::Counter t;
  const json expected = json::parse(test::ReadFile(dir + "/expected.json"));

  for (bool int8 : {false, true}) {
    const std::string mode = int8 ? "int8" : "f32";
    std::string file;
    Status st = test::ConvertToMemory(dir, int8, &file);
    t.Check(st.ok(), mode + " convert: " + st.message());
    std::unique_ptr<Embedder> emb;
    st = Load(file, &emb);
    t.Check(st.ok(), mode + " load: " + st.message());
    if (!st.ok()) continue;
    std::printf("%s model file: %zu bytes\n", mode.c_str(), file.size());

    // Layer by layer (f32 only: int8 hidden states differ by design).
    if (!int8) {
      for (const auto& dbg : expected["debug"]) {
        std::vector<int32_t> ids = dbg["input_ids"].get<std::vector<int32_t>>();
        int task = -1;
        if (!dbg["task"].is_null()) t.Check(emb->TaskIndex(dbg["task"].get<std::string>(), &task).ok(), "task");
        std::vector<float> hidden;
        ForwardTrace trace;
        st = emb->ForwardIds(ids, task, &hidden, &trace);
        t.Check(st.ok(), "debug forward: " + st.message());
        const std::string name =
            "debug[" + (dbg["task"].is_null() ? std::string("null") : dbg["task"].get<std::string>()) + "] ";
        double d0 = test::MaxAbsDiff(trace.embeddings_before_ln, Floats(dbg["embeddings_before_ln"]));
        double d1 = test::MaxAbsDiff(trace.emb_ln_output, Floats(dbg["emb_ln_output"]));
        t.Check(d0 <= 1e-4, name + "embeddings_before_ln max|d|=" + std::to_string(d0));
        t.Check(d1 <= 1e-4, name + "emb_ln_output max|d|=" + std::to_string(d1));
        t.Check(trace.layer_outputs.size() == dbg["layer_outputs"].size(),
                name + std::to_string(trace.layer_outputs.size()) + " layer outputs");
        for (size_t l = 0; l < std::min(trace.layer_outputs.size(), dbg["layer_outputs"].size()); ++l) {
          double dl = test::MaxAbsDiff(trace.layer_outputs[l], Floats(dbg["layer_outputs"][l]));
          t.Check(dl <= 1e-4, name + "layer " + std::to_string(l) + " max|d|=" + std::to_string(dl));
        }
      }
    }

    double worst = 0, worst_cos = 1;
    for (const auto& text : expected["texts"]) {
      for (const auto& c : text["cases"]) {
        EmbedOptions o;
        int task = -1;
        if (!c["task"].is_null()) t.Check(emb->TaskIndex(c["task"].get<std::string>(), &task).ok(), "task");
        o.tasks = {task};
        o.instruction = c["instruction_prepended"].get<bool>();
        EmbedResult r;
        st = emb->Embed({text["text"].get<std::string>()}, o, &r);
        const std::string name =
            mode + " " + text["id"].get<std::string>() + "/" + c["task"].dump() + (o.instruction ? "+instr" : "");
        t.Check(st.ok(), name + ": " + st.message());
        if (!st.ok()) continue;
        const std::vector<float> want = Floats(c["embedding"]);
        const double diff = test::MaxAbsDiff(r.embeddings, want);
        const double cos = Cosine(r.embeddings, want);
        worst = test::WorseError(worst, diff);
        worst_cos = std::min(worst_cos, cos);
        if (int8)
          t.Check(cos >= 0.999, name + " cosine " + std::to_string(cos));
        else
          t.Check(diff <= 1e-5, name + " max|d|=" + std::to_string(diff));
      }
    }
    std::printf("%s: worst max|d| %.3g, worst cosine %.6f\n", mode.c_str(), worst, worst_cos);
  }
  return t.Finish();
}
