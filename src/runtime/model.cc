// Model assembly from streamed tensors, and the forward pass (post-norm XLM-RoBERTa blocks with rotary attention).
#include "runtime/model.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "base/checksum.h"

namespace jv3 {
namespace {

constexpr size_t kOver = kGemmOverreadBytes / sizeof(float);

// Rows of the MLP block computed at a time: bounds its [rows, ffn] activations (and the quantized
// copy of them) whatever the batch, for little speed (the weights stream once per tile).
constexpr size_t kMlpRows = 256;

// Resizes an activation buffer to n floats plus the GEMM over-read slack.
Status Reserve(std::vector<float>* v, size_t n) {
  if (v->size() >= n + kOver) return Status::Ok();
  return OrOutOfMemory([&] { v->resize(n + kOver); },
                       "for activations of " + std::to_string(n) + " floats; embed fewer or shorter texts per call");
}

Blob ToBlob(std::vector<uint8_t>&& bytes) { return Blob{std::move(bytes)}; }

// Adds the wall time of its scope to *slot; a null slot (timing off) costs nothing.
class PhaseTimer {
 public:
  explicit PhaseTimer(double* slot) : slot_(slot) {
    if (slot_) start_ = std::chrono::steady_clock::now();
  }
  ~PhaseTimer() {
    if (slot_) *slot_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  double* slot_;
  std::chrono::steady_clock::time_point start_;
};

double* Slot(ForwardTiming* timing, double ForwardTiming::*phase) { return timing ? &(timing->*phase) : nullptr; }

}  // namespace

Status Model::Builder::OnHeader(const ModelHeader& header) {
  model_.reset(new Model());
  Model& m = *model_;
  m.header_ = header;
  m.config_ = header.config;
  m.memory_ = memory_;
  const ModelConfig& c = m.config_;
  if (c.lora_rank > 64) return Status(Code::kModelFormat, "lora_rank above 64 is not supported");
  JV3_RETURN_IF_ERROR(Attention::Create(c.num_heads, c.head_dim(), header.int8, &m.attention_));
  JV3_RETURN_IF_ERROR(RowwiseOp::Create(RowwiseOp::Kind::kGelu, &m.gelu_));
  m.rope_.reset(new RopeTable(c.head_dim(), c.rotary_base));
  m.layers_.resize(c.num_layers);
  int8_ = header.int8;
  scratch_ = m.scratch_;

  EmbeddingWeights& e = m.emb_;
  if (memory_.paged || memory_.streamed) JV3_RETURN_IF_ERROR(PagedRows::Create(m.header_, memory_.row_cache, &e.paged));
  slots_["embeddings.word_embeddings.weight"] = Keep(&e.word);
  slots_["embeddings.word_embeddings.weight_scale"] = Keep(&e.word_scale);
  slots_["embeddings.word_embeddings.lora_A"] = Keep(&e.word_lora_a);
  slots_["embeddings.word_embeddings.lora_B"] = Keep(&e.word_lora_b);
  slots_["embeddings.token_type_rows"] = Keep(&e.token_type_rows);
  AddNormSlots(&e.ln, "emb_ln");
  m.layer_tensors_.resize(c.num_layers);
  for (int i = 0; i < c.num_layers; ++i) {
    AddLayerSlots(&m.layers_[i], i);
    const std::string prefix = LayerPrefix(i);
    for (const TensorEntry& t : m.header_.tensors) {
      if (t.name.compare(0, prefix.size(), prefix) == 0) m.layer_tensors_[i].push_back(&t);
    }
  }
  // The header was checked against the schema, so every tensor must have a slot.
  for (const TensorEntry& t : header.tensors) {
    if (!slots_.count(t.name)) return Status(Code::kModelTensor, "model file: no place for tensor " + t.name);
  }
  return Status::Ok();
}

Model::Builder::Builder(Model* model, int layer) : int8_(model->int8()), scratch_(model->scratch_) {
  AddLayerSlots(&model->layers_[layer], layer);
}

Model::Builder::Slot Model::Builder::Keep(Blob* dst) {
  return [dst](const TensorEntry&, std::vector<uint8_t>&& b) {
    *dst = ToBlob(std::move(b));
    return Status::Ok();
  };
}

void Model::Builder::AddNormSlots(LayerNormWeights* n, const std::string& name) {
  slots_[name + ".weight"] = Keep(&n->weight);
  slots_[name + ".bias"] = Keep(&n->bias);
}

void Model::Builder::AddLayerSlots(EncoderLayer* L, int layer) {
  auto linear = [this](LinearLayer* l, const std::string& name) {
    for (const char* part : {"weight", "weight_scale", "bias", "lora_A", "lora_B"}) {
      slots_[name + "." + part] = [this, l, part](const TensorEntry& e, std::vector<uint8_t>&& b) {
        return AcceptLinear(l, part, std::move(b), e);
      };
    }
  };
  const std::string p = LayerPrefix(layer);
  linear(&L->wqkv, p + "mixer.Wqkv");
  linear(&L->out_proj, p + "mixer.out_proj");
  AddNormSlots(&L->norm1, p + "norm1");
  linear(&L->fc1, p + "mlp.fc1");
  linear(&L->fc2, p + "mlp.fc2");
  AddNormSlots(&L->norm2, p + "norm2");
}

// A Linear arrives as weight (+ weight_scale), bias, lora_A, lora_B (the schema's order): its
// LinearOp is made (int8 weights packed for our kernels) when the bias completes it, then the
// staging bytes are dropped.
Status Model::Builder::AcceptLinear(LinearLayer* l, const std::string& part, std::vector<uint8_t>&& bytes,
                                    const TensorEntry& e) {
  if (part == "weight") {
    pending_weight_ = ToBlob(std::move(bytes));
    pending_layer_ = e.shape.size() == 2 ? l : nullptr;
    pending_shape_ = e.shape;
  } else if (part == "weight_scale") {
    pending_scale_ = ToBlob(std::move(bytes));
  } else if (part == "bias") {
    if (pending_layer_ != l || (int8_ && pending_scale_.empty())) {
      return Status(Code::kModelTensor, "model file: " + e.name + " does not follow its weight");
    }
    const size_t out = pending_shape_[0], in = pending_shape_[1];
    pending_layer_ = nullptr;
    const Blob bias = ToBlob(std::move(bytes));
    Status st = int8_ ? LinearOp::CreateI8(in, out, pending_weight_.i8(), pending_scale_.f32(),
                                                          bias.f32(), &l->op, scratch_)
                                     : LinearOp::CreateF32(in, out, pending_weight_.f32(), bias.f32(), &l->op);
    pending_weight_ = Blob();
    pending_scale_ = Blob();
    return st;
  } else if (part == "lora_A") {
    l->lora_a = ToBlob(std::move(bytes));
  } else {
    // lora_B [T, out, r] -> [T, r, out]: once here, so every call streams rows of it.
    const size_t T = e.shape[0], out = e.shape[1], r = e.shape[2];
    const float* b = reinterpret_cast<const float*>(bytes.data());
    std::vector<uint8_t> t(bytes.size());
    float* bt = reinterpret_cast<float*>(t.data());
    for (size_t task = 0; task < T; ++task) {
      for (size_t o = 0; o < out; ++o) {
        for (size_t k = 0; k < r; ++k) bt[(task * r + k) * out + o] = b[(task * out + o) * r + k];
      }
    }
    l->lora_bt = ToBlob(std::move(t));
  }
  return Status::Ok();
}

Status Model::Builder::OnTensor(const TensorEntry& entry, std::vector<uint8_t>&& bytes) {
  if (slots_.empty()) return Status(Code::kState, "tensor before header");
  auto slot = slots_.find(entry.name);
  if (slot == slots_.end()) return Status(Code::kModelTensor, "model file: no place for tensor " + entry.name);
  return slot->second(entry, std::move(bytes));
}

bool Model::Builder::Passes(const TensorEntry& entry) const {
  if ((memory_.paged || memory_.streamed) && PagedRows::Pages(entry.name)) return true;
  return memory_.streamed && entry.name.compare(0, 15, "encoder.layers.") == 0;
}

Status Model::Builder::OnPassed(const TensorEntry& entry, uint64_t offset, const uint8_t* data, size_t n) {
  // A streamed layer's bytes are only checked here (by the reader); they are read again per pass.
  if (!PagedRows::Pages(entry.name)) return Status::Ok();
  return model_->emb_.paged->OnChunk(entry, offset, data, n);
}

Status Model::Builder::Finish(int threads, std::unique_ptr<Model>* out) {
  if (!model_) return Status(Code::kState, "the model file was not loaded");
  JV3_RETURN_IF_ERROR(ThreadPool::Create(threads, &model_->pool_));
  *out = std::move(model_);
  return Status::Ok();
}

Status Model::Embed(const std::vector<SequenceInput>& batch, float* x) {
  const ModelConfig& c = config_;
  const size_t d = c.hidden_size, r = c.lora_rank, V = c.vocab_size;
  const float s = c.lora_scaling();
  size_t row = 0;
  for (const SequenceInput& seq : batch) {
    const int t = seq.task;
    const float* tt = emb_.token_type_rows.f32() + (t + 1) * d;
    for (int32_t id : *seq.ids) {
      if (id < 0 || static_cast<size_t>(id) >= V) {
        return Status(Code::kInvalidArgument, "token id " + std::to_string(id) + " outside the vocabulary");
      }
      float* out = x + row * d;
      // The token's row, its scale and its adapter's lora_A row: from the table, or paged in.
      const uint8_t* values;
      float scale = 1.f, a[64];  // a: lora_A row [r] (r <= 64, checked at load)
      if (emb_.paged) {
        const uint8_t* rec = emb_.paged->Find(id);
        if (!rec) return Status(Code::kState, "token " + std::to_string(id) + " was not paged in before the pass");
        values = rec;
        if (emb_.paged->has_scale()) std::memcpy(&scale, rec + emb_.paged->values_bytes(), sizeof scale);
        if (t >= 0) std::memcpy(a, rec + emb_.paged->lora_offset() + t * r * sizeof(float), r * sizeof(float));
      } else {
        values = emb_.word.bytes.data() + id * d * (int8() ? 1 : sizeof(float));
        if (int8()) scale = emb_.word_scale.f32()[id];
        if (t >= 0) std::memcpy(a, emb_.word_lora_a.f32() + (t * V + id) * r, r * sizeof(float));
      }
      if (int8()) {
        const int8_t* q = reinterpret_cast<const int8_t*>(values);
        for (size_t j = 0; j < d; ++j) out[j] = q[j] * scale;
      } else {
        std::memcpy(out, values, d * sizeof(float));
      }
      if (t >= 0) {
        const float* b = emb_.word_lora_b.f32() + t * r * d;  // [r, d]
        for (size_t j = 0; j < d; ++j) {
          float delta = 0.f;
          for (size_t k = 0; k < r; ++k) delta += a[k] * b[k * d + j];
          out[j] += s * delta;
        }
      }
      for (size_t j = 0; j < d; ++j) out[j] += tt[j];
      ++row;
    }
  }
  return Status::Ok();
}

Status Model::RunLinear(LinearLayer& layer, const float* x, size_t first, size_t last, float* y) {
  const size_t in = layer.op->in(), out = layer.op->out(), r = config_.lora_rank, rows = last - first;
  {
    PhaseTimer timer(Slot(timing_, &ForwardTiming::linear));
    JV3_RETURN_IF_ERROR(layer.op->Run(x, rows, y, pool_.get()));
  }
  if (timing_) timing_->linear_ops += 2.0 * rows * in * out;
  PhaseTimer timer(Slot(timing_, &ForwardTiming::lora));
  // Each sequence's rows within [first, last) get its task's adapter.
  const std::vector<SequenceInput>& batch = *pass_.batch;
  for (size_t i = 0; i < batch.size(); ++i) {
    const int t = batch[i].task;
    const size_t begin = std::max(pass_.starts[i], first), end = std::min(pass_.starts[i] + batch[i].ids->size(), last);
    if (t < 0 || layer.lora_a.empty() || begin >= end) continue;
    AddLoraDelta(x + (begin - first) * in, end - begin, in, layer.lora_a.f32() + t * r * in,
                 layer.lora_bt.f32() + t * r * out, r, out, config_.lora_scaling(), y + (begin - first) * out,
                 pool_.get());
  }
  return Status::Ok();
}

Status Model::Forward(const std::vector<SequenceInput>& batch, std::vector<float>* hidden, ForwardTrace* trace) {
  JV3_RETURN_IF_ERROR(BeginForward(batch, hidden, trace));
  for (int l = 0; l < num_layers(); ++l) JV3_RETURN_IF_ERROR(ForwardLayer(l));
  return Status::Ok();
}

Status Model::BeginForward(const std::vector<SequenceInput>& batch, std::vector<float>* hidden, ForwardTrace* trace) {
  const ModelConfig& c = config_;
  const size_t d = c.hidden_size;
  pass_ = Pass();
  size_t longest = 0;
  for (const SequenceInput& seq : batch) {
    if (seq.task >= c.num_tasks()) return Status(Code::kUnknownTask, "adapter index out of range");
    pass_.starts.push_back(pass_.n);
    pass_.n += seq.ids->size();
    longest = std::max(longest, seq.ids->size());
  }
  const size_t n = pass_.n;
  JV3_RETURN_IF_ERROR(Reserve(hidden, n * d));
  JV3_RETURN_IF_ERROR(Reserve(&qkv_, n * 3 * d));
  JV3_RETURN_IF_ERROR(Reserve(&ctx_, n * d));
  JV3_RETURN_IF_ERROR(Reserve(&tmp_, n * d));
  JV3_RETURN_IF_ERROR(Reserve(&ffn_, std::min(n, kMlpRows) * c.intermediate_size));
  JV3_RETURN_IF_ERROR(rope_->Reserve(longest));
  float* x = hidden->data();  // [n, d]
  PhaseTimer timer(Slot(timing_, &ForwardTiming::embed));
  JV3_RETURN_IF_ERROR(Embed(batch, x));
  if (trace) trace->embeddings_before_ln.assign(x, x + n * d);
  AddLayerNorm(x, nullptr, n, d, emb_.ln.weight.f32(), emb_.ln.bias.f32(), c.layer_norm_eps, pool_.get());
  if (trace) trace->emb_ln_output.assign(x, x + n * d);
  pass_.batch = &batch;
  pass_.x = x;
  pass_.trace = trace;
  return Status::Ok();
}

Status Model::ForwardLayer(int layer) {
  if (!pass_.batch) return Status(Code::kState, "ForwardLayer before BeginForward");
  EncoderLayer& L = layers_[layer];
  if (!L.wqkv.op || !L.fc2.op) return Status(Code::kState, "layer " + std::to_string(layer) + " is not loaded");
  const std::vector<SequenceInput>& batch = *pass_.batch;
  const std::vector<size_t>& starts = pass_.starts;
  const size_t d = config_.hidden_size, n = pass_.n, ffn = config_.intermediate_size;
  const float eps = config_.layer_norm_eps;
  float* x = pass_.x;

  // Attention block: x = norm1(x + out_proj(attention(Wqkv(x)))).
  JV3_RETURN_IF_ERROR(RunLinear(L.wqkv, x, 0, n, qkv_.data()));
  {
    PhaseTimer timer(Slot(timing_, &ForwardTiming::attention));
    for (size_t i = 0; i < batch.size(); ++i) {
      JV3_RETURN_IF_ERROR(attention_->Run(qkv_.data() + starts[i] * 3 * d, batch[i].ids->size(), *rope_,
                                          ctx_.data() + starts[i] * d, pool_.get()));
    }
  }
  JV3_RETURN_IF_ERROR(RunLinear(L.out_proj, ctx_.data(), 0, n, tmp_.data()));
  {
    PhaseTimer timer(Slot(timing_, &ForwardTiming::norm));
    AddLayerNorm(x, tmp_.data(), n, d, L.norm1.weight.f32(), L.norm1.bias.f32(), eps, pool_.get());
  }
  // MLP block: x = norm2(x + fc2(gelu(fc1(x)))), kMlpRows rows at a time (rows are independent),
  // so its [rows, ffn] activations stay small however long the batch.
  for (size_t first = 0; first < n; first += kMlpRows) {
    const size_t last = std::min(n, first + kMlpRows);
    JV3_RETURN_IF_ERROR(RunLinear(L.fc1, x + first * d, first, last, ffn_.data()));
    {
      PhaseTimer timer(Slot(timing_, &ForwardTiming::gelu));
      JV3_RETURN_IF_ERROR(gelu_->Run(ffn_.data(), last - first, ffn, pool_.get()));
    }
    JV3_RETURN_IF_ERROR(RunLinear(L.fc2, ffn_.data(), first, last, tmp_.data() + first * d));
  }
  {
    PhaseTimer timer(Slot(timing_, &ForwardTiming::norm));
    AddLayerNorm(x, tmp_.data(), n, d, L.norm2.weight.f32(), L.norm2.bias.f32(), eps, pool_.get());
  }
  if (pass_.trace) pass_.trace->layer_outputs.emplace_back(x, x + n * d);
  if (layer + 1 == num_layers()) pass_ = Pass();
  return Status::Ok();
}

RowRange Model::LayerRange(int layer) const {
  const std::vector<const TensorEntry*>& t = layer_tensors_[layer];
  const uint64_t begin = header_.data_start + t.front()->offset;
  return {begin, header_.data_start + t.back()->offset + t.back()->size - begin};
}

Status Model::LoadLayer(int layer, uint64_t n, const ModelStreamReader::CopyFn& copy) {
  if (layer < 0 || layer >= num_layers()) return Status(Code::kInvalidArgument, "no layer " + std::to_string(layer));
  const RowRange range = LayerRange(layer);
  if (n != range.length) {
    return Status(Code::kIo, "layer " + std::to_string(layer) + ": got " + std::to_string(n) + " bytes for a read of " +
                                 std::to_string(range.length));
  }
  bool complete = false;
  return LoadLayerPart(layer, 0, n, copy, &complete);
}

Status Model::LoadLayerPart(int layer, uint64_t at, uint64_t n, const ModelStreamReader::CopyFn& copy,
                            bool* complete) {
  *complete = false;
  if (layer < 0 || layer >= num_layers()) return Status(Code::kInvalidArgument, "no layer " + std::to_string(layer));
  const RowRange range = LayerRange(layer);
  const std::string what = "layer " + std::to_string(layer);
  if (at == 0) {
    DropLayer(layer);
    load_ = LayerLoad();
    load_.layer = layer;
    load_.builder = std::make_unique<Builder>(this, layer);
  } else if (load_.layer != layer || at != load_.received) {
    return Status(Code::kIo, what + ": bytes from " + std::to_string(at) + " of its range, where " +
                                 (load_.layer == layer ? std::to_string(load_.received) : std::string("0")) +
                                 " was expected (parts must come in order)");
  }
  Status st;
  if (n > range.length - at) {
    st = Status(Code::kIo, what + ": got " + std::to_string(at + n) + " bytes for a read of " + std::to_string(range.length));
  }
  const std::vector<const TensorEntry*>& tensors = layer_tensors_[layer];
  const uint64_t end = at + n;
  while (st.ok() && load_.tensor < tensors.size()) {
    const TensorEntry* e = tensors[load_.tensor];
    const uint64_t start = header_.data_start + e->offset - range.offset;  // in the range
    if (load_.filled == 0 && load_.bytes.size() != e->size) {
      st = OrOutOfMemory([&] { load_.bytes.resize(e->size); }, "while reading " + what);
      if (!st.ok()) break;
    }
    const uint64_t from = std::max(start + load_.filled, at);
    const uint64_t to = std::min(start + e->size, end);
    if (to > from) {
      copy(from - at, load_.bytes.data() + (from - start), to - from);
      load_.filled += to - from;
    }
    if (load_.filled < e->size) break;  // the rest comes in a later part
    if (Crc32(0, load_.bytes.data(), load_.bytes.size()) != e->crc32) {
      st = Status(Code::kModelChecksum, "the model source's tensor " + e->name +
                                            " does not match its checksum: the file changed since it was loaded; "
                                            "load it again");
      break;
    }
    st = load_.builder->OnTensor(*e, std::move(load_.bytes));
    load_.bytes = {};
    load_.filled = 0;
    ++load_.tensor;
  }
  load_.received = end;
  if (st.ok() && end == range.length) {
    *complete = true;
    load_ = LayerLoad();
  }
  if (!st.ok()) DropLayer(layer);
  return st;
}

void Model::DropLayer(int layer) {
  layers_[layer] = EncoderLayer();
  if (load_.layer == layer) load_ = LayerLoad();
}

}  // namespace jv3
