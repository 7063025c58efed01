// Embedder: text in, embeddings out (tokenize -> forward -> mean pool -> Matryoshka truncate -> L2 normalize).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/model.h"
#include "tokenizer/tokenizer.h"

namespace jv3 {

struct EmbedOptions {
  // Adapter per text (model task index, -1 = none); one entry applies to every text.
  std::vector<int> tasks = {-1};
  int dimensions = 0;          // 0 = hidden size; else one of the Matryoshka sizes
  bool normalized = true;      // L2-normalize after truncation
  bool instruction = true;     // prepend the task's instruction (non-empty only for retrieval tasks)
  bool truncate = false;       // cut texts longer than the window instead of failing
  bool late_chunking = false;  // texts are consecutive chunks of one document: one pass, one vector per chunk
  // Late-chunking spans: false = exactly the chunk's own tokens; true = the jina-ai/late-chunking
  // convention (the first chunk also covers <s> and the instruction, the last one </s>).
  bool extended_spans = false;
  // Per-call maxima (E_LIMIT beyond them): they bound a call's memory and time, so one oversized
  // request fails cleanly instead of exhausting the heap or holding the instance for minutes.
  size_t max_texts = 10000;
  int64_t max_tokens = 1 << 20;  // summed over the call's texts, with <s>/</s> and instructions
};

struct EmbedResult {
  int dim = 0;
  std::vector<float> embeddings;      // [texts, dim]
  std::vector<int32_t> token_counts;  // per text, with <s> and </s> (late chunking: per chunk span)
  int64_t total_tokens = 0;           // tokens the model ran over
};

// A call tokenized and checked, ready to run: the sequences of its forward passes, and what is pooled.
struct CallPlan {
  int dim = 0;
  bool normalized = true;
  std::vector<std::vector<int32_t>> ids;  // per sequence, with <s> … </s>
  std::vector<int> tasks;                 // per sequence (-1: no adapter)
  // Token spans of the one sequence, one vector each (late chunking, token spans); empty: one
  // vector per sequence.
  std::vector<std::pair<int32_t, int32_t>> spans;
};

class Embedder {
 public:
  static Status Create(std::unique_ptr<Model> model, std::unique_ptr<Embedder>* out);

  const ModelConfig& config() const { return model_->config(); }
  const Model& model() const { return *model_; }
  int max_length() const { return max_length_; }
  // Task name -> adapter index; "" or "none" -> -1; unknown -> E_UNKNOWN_TASK.
  Status TaskIndex(const std::string& name, int* index) const;

  // Token ids with <s> … </s> and code-point offsets into `text` (specials [0, 0]).
  Status Tokenize(const std::string& text, bool truncate, Encoding* out) const;
  Status Embed(const std::vector<std::string>& texts, const EmbedOptions& options, EmbedResult* out);
  // One pass over instruction + text; one embedding per [start, end) span of token indices.
  Status EmbedTokenSpans(const std::string& text, const std::vector<std::pair<int32_t, int32_t>>& spans,
                         const EmbedOptions& options, EmbedResult* out);
  // The two halves of Embed / EmbedTokenSpans, for paged memory: between them the caller reads the
  // rows the plan's tokens need (Model::paged()).
  Status Plan(const std::vector<std::string>& texts, const EmbedOptions& options, CallPlan* plan) const;
  Status PlanTokenSpans(const std::string& text, const std::vector<std::pair<int32_t, int32_t>>& spans,
                        const EmbedOptions& options, CallPlan* plan) const;
  Status Run(const CallPlan& plan, EmbedResult* out);
  Model& model() { return *model_; }

  // Streamed memory: Run in steps, one layer at a time, as the caller reads each layer's bytes.
  // StartStreamed takes the plan (its rows paged in already); then while NextLayer gives a range,
  // read it and pass its bytes to SupplyLayer (`after`: the range needed next, to read ahead),
  // whole or in parts in order (bytes [at, at + n) of the range; `done` once the layer has run);
  // then TakeStreamed. A failed step ends the call.
  void StartStreamed(CallPlan plan);
  bool NextLayer(RowRange* range, RowRange* after) const;
  Status SupplyLayer(uint64_t at, uint64_t n, const ModelStreamReader::CopyFn& copy, bool* done);
  Status TakeStreamed(EmbedResult* out);
  // The forward pass on given ids (for tests that check hidden states layer by layer).
  Status ForwardIds(const std::vector<int32_t>& ids, int task, std::vector<float>* hidden, ForwardTrace* trace);

 private:
  Embedder() = default;
  Status CheckOptions(const EmbedOptions& o, size_t texts, int* dim) const;
  std::string ModelInput(const std::string& text, int task, const EmbedOptions& o) const;
  // Mean of hidden rows [begin, end), truncated to dim and normalized, appended to out.
  void Pool(const float* hidden, size_t begin, size_t end, int dim, bool normalized, std::vector<float>* out) const;
  // The plan's forward passes: sequences [first, last) each, about kTokensPerForward tokens.
  static std::vector<std::pair<size_t, size_t>> Packs(const CallPlan& plan);
  static std::vector<SequenceInput> Batch(const CallPlan& plan, std::pair<size_t, size_t> pack);
  // After a pack's forward pass: its vectors (one per sequence, or per span) from hidden_.
  void PoolPack(const CallPlan& plan, std::pair<size_t, size_t> pack, EmbedResult* r) const;
  Status PlanLateChunks(const std::vector<std::string>& chunks, const EmbedOptions& o, CallPlan* plan) const;

  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  int max_length_ = 0;
  std::vector<float> hidden_;  // [tokens, d], reused
  struct StreamedCall {
    bool active = false;
    CallPlan plan;
    std::vector<std::pair<size_t, size_t>> packs;
    size_t pack = 0;  // the pack being run
    int layer = 0;    // the layer it needs next
    std::vector<SequenceInput> batch;
    EmbedResult result;
  };
  StreamedCall streamed_;
};

}  // namespace jv3
