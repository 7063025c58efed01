// From strings to vectors: instructions, tokenization with the window limit, packed batches, pooling, late chunking.
#include "runtime/embedder.h"

#include <algorithm>
#include <cmath>

namespace jv3 {
namespace {

// Texts are run through the model in packs of about this many tokens, which bounds activation
// memory (a single text up to the full window always runs alone).
constexpr size_t kTokensPerForward = 8192;

int32_t CodePoints(const std::string& s) {
  int32_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

}  // namespace

Status Embedder::Create(std::unique_ptr<Model> model, std::unique_ptr<Embedder>* out) {
  std::unique_ptr<Embedder> e(new Embedder());
  const std::shared_ptr<const TokenizerSpec>& spec = model->header().tokenizer;
  if (!spec) return Status(Code::kModelFormat, "model file: the header has no tokenizer");
  JV3_RETURN_IF_ERROR(Tokenizer::Create(spec, &e->tokenizer_));
  // Every id the tokenizer can emit must index the embedding table (a hand-made file could disagree).
  const TokenizerSpec& ts = e->tokenizer_->spec();
  int64_t top = static_cast<int64_t>(ts.pieces.size()) - 1;
  for (int64_t id : {int64_t(ts.bos_id), int64_t(ts.eos_id)}) top = std::max(top, id);
  for (const auto& t : ts.added_tokens) top = std::max<int64_t>(top, t.id);
  if (top >= model->config().vocab_size || ts.bos_id < 0 || ts.eos_id < 0) {
    return Status(Code::kModelFormat, "model file: the tokenizer emits ids up to " + std::to_string(top) +
                                          " but the model's vocab_size is " +
                                          std::to_string(model->config().vocab_size));
  }
  e->max_length_ = std::min(e->tokenizer_->spec().max_length, model->config().max_position_embeddings);
  e->model_ = std::move(model);
  *out = std::move(e);
  return Status::Ok();
}

Status Embedder::TaskIndex(const std::string& name, int* index) const {
  if (name.empty() || name == "none") {
    *index = -1;
    return Status::Ok();
  }
  *index = config().TaskIndex(name);
  if (*index >= 0) return Status::Ok();
  std::string known;
  for (const auto& t : config().tasks) known += (known.empty() ? "" : ", ") + t;
  return Status(Code::kUnknownTask, "unknown task \"" + name + "\"; this model has: " + known + " (or none)");
}

Status Embedder::Tokenize(const std::string& text, bool truncate, Encoding* out) const {
  Encoding enc;
  JV3_RETURN_IF_ERROR(tokenizer_->Encode(text, &enc));
  const TokenizerSpec& spec = tokenizer_->spec();
  const size_t content = max_length_ - 2;
  if (enc.ids.size() > content) {
    if (!truncate) {
      return Status(Code::kTooLong, "text has " + std::to_string(enc.ids.size() + 2) +
                                        " tokens, the model's window is " + std::to_string(max_length_) +
                                        "; shorten it or pass truncate");
    }
    enc.ids.resize(content);
    enc.offsets.resize(content);
  }
  out->ids.clear();
  out->offsets.clear();
  out->ids.push_back(spec.bos_id);
  out->offsets.push_back({0, 0});
  out->ids.insert(out->ids.end(), enc.ids.begin(), enc.ids.end());
  out->offsets.insert(out->offsets.end(), enc.offsets.begin(), enc.offsets.end());
  out->ids.push_back(spec.eos_id);
  out->offsets.push_back({0, 0});
  return Status::Ok();
}

Status Embedder::CheckOptions(const EmbedOptions& o, size_t texts, int* dim) const {
  const ModelConfig& c = config();
  if (texts == 0) return Status(Code::kEmptyInput, "no texts to embed; pass at least one string");
  if (texts > o.max_texts) {
    return Status(Code::kLimit, std::to_string(texts) + " texts in one call, the limit is " +
                                    std::to_string(o.max_texts) + "; split the input or raise maxTexts");
  }
  if (o.tasks.size() != 1 && o.tasks.size() != texts) {
    return Status(Code::kInvalidArgument, "give one task, or one task per text (" + std::to_string(texts) + ")");
  }
  for (int t : o.tasks) {
    if (t < -1 || t >= c.num_tasks())
      return Status(Code::kUnknownTask, "adapter index " + std::to_string(t) + " out of range");
  }
  if (o.dimensions == 0 || o.dimensions == c.hidden_size) {
    *dim = c.hidden_size;
    return Status::Ok();
  }
  if (std::find(c.matryoshka_dims.begin(), c.matryoshka_dims.end(), o.dimensions) == c.matryoshka_dims.end()) {
    std::string allowed;
    for (int d : c.matryoshka_dims) allowed += (allowed.empty() ? "" : ", ") + std::to_string(d);
    return Status(Code::kBadDimensions, "dimensions " + std::to_string(o.dimensions) +
                                            " is not a Matryoshka size of this model; use one of: " + allowed);
  }
  *dim = o.dimensions;
  return Status::Ok();
}

std::string Embedder::ModelInput(const std::string& text, int task, const EmbedOptions& o) const {
  if (task < 0 || !o.instruction) return text;
  return config().task_instructions[task] + text;
}

void Embedder::Pool(const float* hidden, size_t begin, size_t end, int dim, bool normalized,
                    std::vector<float>* out) const {
  const size_t d = config().hidden_size;
  std::vector<double> sum(dim, 0.0);
  for (size_t r = begin; r < end; ++r) {
    for (int j = 0; j < dim; ++j) sum[j] += hidden[r * d + j];
  }
  const double count = std::max<double>(1.0, static_cast<double>(end - begin));
  double norm2 = 0.0;
  std::vector<float> v(dim);
  for (int j = 0; j < dim; ++j) {
    v[j] = static_cast<float>(sum[j] / count);
    norm2 += double(v[j]) * v[j];
  }
  // F.normalize: divide by max(‖v‖, 1e-12).
  const double scale = normalized ? 1.0 / std::max(std::sqrt(norm2), 1e-12) : 1.0;
  for (int j = 0; j < dim; ++j) out->push_back(static_cast<float>(v[j] * scale));
}

Status Embedder::Embed(const std::vector<std::string>& texts, const EmbedOptions& o, EmbedResult* out) {
  CallPlan plan;
  JV3_RETURN_IF_ERROR(Plan(texts, o, &plan));
  return Run(plan, out);
}

Status Embedder::EmbedTokenSpans(const std::string& text, const std::vector<std::pair<int32_t, int32_t>>& spans,
                                 const EmbedOptions& o, EmbedResult* out) {
  CallPlan plan;
  JV3_RETURN_IF_ERROR(PlanTokenSpans(text, spans, o, &plan));
  return Run(plan, out);
}

Status Embedder::Plan(const std::vector<std::string>& texts, const EmbedOptions& o, CallPlan* plan) const {
  JV3_RETURN_IF_ERROR(CheckOptions(o, texts.size(), &plan->dim));
  plan->normalized = o.normalized;
  if (o.late_chunking) return PlanLateChunks(texts, o, plan);

  plan->ids.resize(texts.size());
  plan->tasks.resize(texts.size());
  int64_t call_tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const int task = o.tasks.size() == 1 ? o.tasks[0] : o.tasks[i];
    Encoding enc;
    Status st = Tokenize(ModelInput(texts[i], task, o), o.truncate, &enc);
    if (!st.ok()) return Status(st.code(), "text " + std::to_string(i) + ": " + st.message());
    call_tokens += static_cast<int64_t>(enc.ids.size());
    if (call_tokens > o.max_tokens) {
      return Status(Code::kLimit, "more than " + std::to_string(o.max_tokens) +
                                      " tokens in one call (reached at text " + std::to_string(i) +
                                      "); split the input or raise maxTokens");
    }
    plan->ids[i] = std::move(enc.ids);
    plan->tasks[i] = task;
  }
  return Status::Ok();
}

std::vector<std::pair<size_t, size_t>> Embedder::Packs(const CallPlan& plan) {
  std::vector<std::pair<size_t, size_t>> packs;
  for (size_t first = 0; first < plan.ids.size();) {
    size_t tokens = 0, last = first;
    while (last < plan.ids.size() && (last == first || tokens + plan.ids[last].size() <= kTokensPerForward)) {
      tokens += plan.ids[last].size();
      ++last;
    }
    packs.push_back({first, last});
    first = last;
  }
  return packs;
}

std::vector<SequenceInput> Embedder::Batch(const CallPlan& plan, std::pair<size_t, size_t> pack) {
  std::vector<SequenceInput> batch;
  for (size_t i = pack.first; i < pack.second; ++i) batch.push_back({&plan.ids[i], plan.tasks[i]});
  return batch;
}

void Embedder::PoolPack(const CallPlan& plan, std::pair<size_t, size_t> pack, EmbedResult* r) const {
  r->dim = plan.dim;
  if (!plan.spans.empty()) {
    for (const auto& s : plan.spans) {
      Pool(hidden_.data(), s.first, s.second, plan.dim, plan.normalized, &r->embeddings);
      r->token_counts.push_back(s.second - s.first);
    }
    r->total_tokens += static_cast<int64_t>(plan.ids[0].size());
    return;
  }
  size_t row = 0;
  for (size_t i = pack.first; i < pack.second; ++i) {
    const size_t len = plan.ids[i].size();
    Pool(hidden_.data(), row, row + len, plan.dim, plan.normalized, &r->embeddings);
    r->token_counts.push_back(static_cast<int32_t>(len));
    r->total_tokens += static_cast<int64_t>(len);
    row += len;
  }
}

Status Embedder::Run(const CallPlan& plan, EmbedResult* out) {
  EmbedResult r;
  r.embeddings.reserve(plan.ids.size() * plan.dim);
  for (const auto& pack : Packs(plan)) {
    const std::vector<SequenceInput> batch = Batch(plan, pack);
    JV3_RETURN_IF_ERROR(model_->Forward(batch, &hidden_));
    PoolPack(plan, pack, &r);
  }
  *out = std::move(r);
  return Status::Ok();
}

void Embedder::StartStreamed(CallPlan plan) {
  streamed_ = StreamedCall();
  streamed_.active = true;
  streamed_.plan = std::move(plan);
  streamed_.packs = Packs(streamed_.plan);
}

bool Embedder::NextLayer(RowRange* range, RowRange* after) const {
  const StreamedCall& c = streamed_;
  if (!c.active || c.pack >= c.packs.size()) return false;
  *range = model_->LayerRange(c.layer);
  const bool last = c.layer + 1 == model_->num_layers();
  *after = last && c.pack + 1 >= c.packs.size() ? RowRange() : model_->LayerRange(last ? 0 : c.layer + 1);
  return true;
}

Status Embedder::SupplyLayer(uint64_t at, uint64_t n, const ModelStreamReader::CopyFn& copy, bool* done) {
  *done = false;
  StreamedCall& c = streamed_;
  if (!c.active || c.pack >= c.packs.size()) return Status(Code::kState, "no streamed call is waiting for a layer");
  Status st;
  if (c.layer == 0 && at == 0) {
    c.batch = Batch(c.plan, c.packs[c.pack]);
    st = model_->BeginForward(c.batch, &hidden_);
  }
  bool complete = false;
  if (st.ok()) st = model_->LoadLayerPart(c.layer, at, n, copy, &complete);
  if (st.ok() && complete) st = model_->ForwardLayer(c.layer);
  if (complete || !st.ok()) model_->DropLayer(c.layer);
  if (!st.ok()) {
    streamed_ = StreamedCall();
    return st;
  }
  if (!complete) return Status::Ok();
  *done = true;
  if (++c.layer == model_->num_layers()) {
    PoolPack(c.plan, c.packs[c.pack], &c.result);
    c.layer = 0;
    ++c.pack;
  }
  return Status::Ok();
}

Status Embedder::TakeStreamed(EmbedResult* out) {
  if (!streamed_.active || streamed_.pack < streamed_.packs.size()) {
    return Status(Code::kState, "the streamed call has not run all its layers");
  }
  *out = std::move(streamed_.result);
  streamed_ = StreamedCall();
  return Status::Ok();
}

Status Embedder::PlanTokenSpans(const std::string& text, const std::vector<std::pair<int32_t, int32_t>>& spans,
                                const EmbedOptions& o, CallPlan* plan) const {
  JV3_RETURN_IF_ERROR(CheckOptions(o, spans.size(), &plan->dim));
  plan->normalized = o.normalized;
  if (o.tasks.size() != 1) return Status(Code::kInvalidArgument, "token spans take one task");
  Encoding enc;
  JV3_RETURN_IF_ERROR(Tokenize(ModelInput(text, o.tasks[0], o), o.truncate, &enc));
  const int32_t n = static_cast<int32_t>(enc.ids.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].first < 0 || spans[i].first >= spans[i].second || spans[i].second > n) {
      return Status(Code::kInvalidArgument, "span " + std::to_string(i) + " [" + std::to_string(spans[i].first) + ", " +
                                                std::to_string(spans[i].second) + ") is empty or outside the " +
                                                std::to_string(n) + " tokens");
    }
  }
  plan->ids = {std::move(enc.ids)};
  plan->tasks = {o.tasks[0]};
  plan->spans = spans;
  return Status::Ok();
}

// A token belongs to the chunk holding max(offset_start - instruction length, 0) of the document;
// the instruction's own tokens belong to no chunk (see the fixtures' late_chunking section).
Status Embedder::PlanLateChunks(const std::vector<std::string>& chunks, const EmbedOptions& o, CallPlan* plan) const {
  if (o.tasks.size() != 1) return Status(Code::kInvalidArgument, "late chunking takes one task for the document");
  std::string document;
  std::vector<int32_t> chunk_end;  // code-point end of each chunk in the document
  int32_t cp = 0;
  for (const std::string& c : chunks) {
    document += c;
    cp += CodePoints(c);
    chunk_end.push_back(cp);
  }
  const int task = o.tasks[0];
  const std::string input = ModelInput(document, task, o);
  const int32_t instruction_len = CodePoints(input) - cp;
  Encoding enc;
  JV3_RETURN_IF_ERROR(Tokenize(input, o.truncate, &enc));
  const int32_t n = static_cast<int32_t>(enc.ids.size());

  std::vector<std::pair<int32_t, int32_t>> spans(chunks.size(), {-1, -1});
  for (int32_t i = 1; i + 1 < n; ++i) {
    if (enc.offsets[i].second <= instruction_len) continue;  // an instruction token
    const int32_t pos = std::max(enc.offsets[i].first - instruction_len, 0);
    const size_t c = std::min<size_t>(std::upper_bound(chunk_end.begin(), chunk_end.end(), pos) - chunk_end.begin(),
                                      chunks.size() - 1);
    if (spans[c].first < 0) spans[c].first = i;
    spans[c].second = i + 1;
  }
  for (size_t c = 0; c < spans.size(); ++c) {
    if (spans[c].first < 0) {
      return Status(Code::kInvalidArgument,
                    "chunk " + std::to_string(c) + " has no tokens" +
                        (o.truncate ? " (it lies past the truncated window)" : " (empty chunk)"));
    }
  }
  if (o.extended_spans) {
    spans.front().first = 0;
    spans.back().second = n;
  }
  plan->ids = {std::move(enc.ids)};
  plan->tasks = {task};
  plan->spans = std::move(spans);
  return Status::Ok();
}

Status Embedder::ForwardIds(const std::vector<int32_t>& ids, int task, std::vector<float>* hidden,
                            ForwardTrace* trace) {
  std::vector<SequenceInput> batch = {{&ids, task}};
  return model_->Forward(batch, hidden, trace);
}

}  // namespace jv3
