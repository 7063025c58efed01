// Model: the weights of jina-embeddings-v3 (XLM-RoBERTa + rotary + task LoRA) and one readable forward pass.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "format/model_config.h"
#include "format/model_file.h"
#include "kernels/attention.h"
#include "kernels/linear.h"
#include "kernels/rowwise.h"
#include "kernels/thread_pool.h"
#include "kernels/xnnpack.h"
#include "runtime/paged_rows.h"

namespace jv3 {

// Raw tensor bytes as they came from the model file (kept without a copy), with typed views.
struct Blob {
  std::vector<uint8_t> bytes;
  const float* f32() const { return reinterpret_cast<const float*>(bytes.data()); }
  const int8_t* i8() const { return reinterpret_cast<const int8_t*>(bytes.data()); }
  bool empty() const { return bytes.empty(); }
};

// An nn.Linear with per-task LoRA: y = x·Wᵀ + b + s·B[t]·(A[t]·x).
struct LinearLayer {
  std::unique_ptr<LinearOp> op;  // weight [out, in] and bias [out], packed
  Blob lora_a;                   // lora_A [T, r, in]
  Blob lora_bt;                  // lora_B transposed at load: [T, r, out], rows contiguous for the y += t·bᵀ pass
};

struct LayerNormWeights {
  Blob weight;  // [d]
  Blob bias;    // [d]
};

struct EncoderLayer {
  LinearLayer wqkv;        // mixer.Wqkv [3d, d]
  LinearLayer out_proj;    // mixer.out_proj [d, d]
  LayerNormWeights norm1;  // norm1 [d]
  LinearLayer fc1;         // mlp.fc1 [ffn, d]
  LinearLayer fc2;         // mlp.fc2 [d, ffn]
  LayerNormWeights norm2;  // norm2 [d]
};

struct EmbeddingWeights {
  // Resident: the three word tensors below. Paged: `paged` instead, which reads their rows per call.
  Blob word;                         // word_embeddings [V, d], i8 (int8 files) or f32
  Blob word_scale;                   // word_embeddings scale [V] (int8 files only)
  Blob word_lora_a;                  // word_embeddings lora_A [T, V, r]
  std::unique_ptr<PagedRows> paged;  // the rows of those three tensors in the file
  Blob word_lora_b;      // word_embeddings lora_B [T, r, d]
  Blob token_type_rows;  // [1 + T, d]: token type 0, plain then merged with each task's LoRA
  LayerNormWeights ln;   // emb_ln [d]
};

// How much of the model is held in memory.
struct MemoryOptions {
  bool paged = false;  // the word-embedding table stays in the file, its rows read per call
  size_t row_cache = PagedRows::kDefaultCapacity;  // paged: rows kept between calls
  // The word table paged, and the encoder layers too: each forward pass reads them in order, one
  // at a time (Model::LoadLayer), and drops each after use.
  bool streamed = false;
};

// One sequence of a batch: its token ids (with <s> … </s>) and its adapter (-1: none).
struct SequenceInput {
  const std::vector<int32_t>* ids = nullptr;
  int task = -1;
};

// Optional capture of intermediate states (tests compare them with the reference layer by layer).
struct ForwardTrace {
  std::vector<float> embeddings_before_ln;        // [N, d]
  std::vector<float> emb_ln_output;               // [N, d]
  std::vector<std::vector<float>> layer_outputs;  // per layer [N, d]
};

// Where a forward pass spends its wall time (for the efficiency benchmark), in seconds; linear_ops
// counts the linear layers' 2·M·K·N.
struct ForwardTiming {
  double linear = 0;  // the linear layers' GEMMs (activation quantization included)
  double linear_ops = 0;
  double lora = 0;       // the task adapters' side paths
  double attention = 0;  // rotary, scores, softmax, context
  double norm = 0;       // residual add + LayerNorm
  double gelu = 0;
  double embed = 0;  // lookup + embedding LayerNorm
};

class Model {
 public:
  // Builds the model tensor by tensor as a ModelStreamReader delivers them.
  class Builder {
   public:
    using Slot = std::function<Status(const TensorEntry&, std::vector<uint8_t>&&)>;
    explicit Builder(MemoryOptions memory = {}) : memory_(memory) {}
    // Streamed memory: the slots of one layer of a loaded model, to build it from its tensors.
    Builder(Model* model, int layer);
    Status OnHeader(const ModelHeader& header);
    Status OnTensor(const TensorEntry& entry, std::vector<uint8_t>&& bytes);
    // Tensors not kept at load (paged: the word tables; streamed: also the layers): the reader
    // passes their bytes to OnPassed as they stream by, after OnHeader.
    bool Passes(const TensorEntry& entry) const;
    Status OnPassed(const TensorEntry& entry, uint64_t offset, const uint8_t* data, size_t n);
    // After the last tensor: the finished model, running on `threads` threads.
    Status Finish(int threads, std::unique_ptr<Model>* out);

   private:
    static Slot Keep(Blob* dst);
    void AddNormSlots(LayerNormWeights* n, const std::string& name);
    void AddLayerSlots(EncoderLayer* layer, int index);
    Status AcceptLinear(LinearLayer* layer, const std::string& part, std::vector<uint8_t>&& bytes,
                        const TensorEntry& e);
    MemoryOptions memory_;
    bool int8_ = true;
    std::unique_ptr<Model> model_;
    std::unordered_map<std::string, Slot> slots_;
    Blob pending_weight_, pending_scale_;     // of the Linear being assembled
    LinearLayer* pending_layer_ = nullptr;    // the Linear whose weight arrived last
    std::vector<int64_t> pending_shape_;      // its weight's [out, in]
    std::shared_ptr<QuantScratch> scratch_;  // for all int8 Linears (the model's)
  };

  const ModelConfig& config() const { return config_; }
  const ModelHeader& header() const { return header_; }
  bool int8() const { return header_.int8; }
  int threads() const { return pool_->threads(); }
  // Paged memory: the word rows a call must have read before its forward pass (null when resident).
  PagedRows* paged() { return emb_.paged.get(); }
  const PagedRows* paged() const { return emb_.paged.get(); }

  // Runs the encoder over sequences packed one after another (no padding: each attends to itself).
  // hidden: [sum of lengths, d] last hidden states.
  Status Forward(const std::vector<SequenceInput>& batch, std::vector<float>* hidden, ForwardTrace* trace = nullptr);
  // Forward in steps, for streamed memory: BeginForward (embeddings), then ForwardLayer for each
  // layer in order, each loaded before (LoadLayer) and dropped after (DropLayer). `batch` and
  // `hidden` must outlive the steps.
  Status BeginForward(const std::vector<SequenceInput>& batch, std::vector<float>* hidden,
                      ForwardTrace* trace = nullptr);
  Status ForwardLayer(int layer);

  bool streamed() const { return memory_.streamed; }
  int num_layers() const { return static_cast<int>(layers_.size()); }
  // Streamed memory: the file range of a layer's tensors (contiguous, in forward order).
  RowRange LayerRange(int layer) const;
  // Builds a layer from the `n` bytes of its range (copy puts them where they go), each tensor
  // checked against the header's CRC-32 (E_MODEL_CHECKSUM: the file changed since the load).
  Status LoadLayer(int layer, uint64_t n, const ModelStreamReader::CopyFn& copy);
  // The same from parts of the range, in order: bytes [at, at + n) of it (at 0 starts the layer
  // afresh). Each tensor is built once its bytes are in, so a caller reading the layer as a stream
  // never holds all of it. `complete` is set by the part that ends the range.
  Status LoadLayerPart(int layer, uint64_t at, uint64_t n, const ModelStreamReader::CopyFn& copy, bool* complete);
  void DropLayer(int layer);
  // While set, every forward pass adds its time per phase to `timing` (null: off).
  void set_timing(ForwardTiming* timing) { timing_ = timing; }

 private:
  Model() = default;
  Status Embed(const std::vector<SequenceInput>& batch, float* x);
  // A linear layer (with each sequence's adapter) over rows [first, last) of the pass: x and y hold
  // just those rows.
  Status RunLinear(LinearLayer& layer, const float* x, size_t first, size_t last, float* y);

  ModelHeader header_;
  ModelConfig config_;
  MemoryOptions memory_;
  EmbeddingWeights emb_;
  std::vector<EncoderLayer> layers_;
  std::vector<std::vector<const TensorEntry*>> layer_tensors_;  // [layers] each layer's header entries
  std::shared_ptr<QuantScratch> scratch_ = std::make_shared<QuantScratch>();  // for all int8 Linears
  // The forward pass in progress (BeginForward .. last ForwardLayer).
  struct Pass {
    const std::vector<SequenceInput>* batch = nullptr;
    std::vector<size_t> starts;  // [sequences] first row of each
    size_t n = 0;                // rows (tokens)
    float* x = nullptr;          // [n, d] the hidden states
    ForwardTrace* trace = nullptr;
  };
  Pass pass_;
  // The layer being loaded from parts (LoadLayerPart).
  struct LayerLoad {
    int layer = -1;
    uint64_t received = 0;         // bytes of the layer's range so far
    size_t tensor = 0;             // index into layer_tensors_[layer] of the tensor being filled
    std::vector<uint8_t> bytes;    // [its size] that tensor's bytes
    uint64_t filled = 0;           // of them received
    std::unique_ptr<Builder> builder;
  };
  LayerLoad load_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Attention> attention_;
  std::unique_ptr<RowwiseOp> gelu_;
  ForwardTiming* timing_ = nullptr;
  std::unique_ptr<RopeTable> rope_;
  // Activations, reused across calls. Shapes for N packed tokens:
  std::vector<float> qkv_;  // [N, 3d]
  std::vector<float> ctx_;  // [N, d]
  std::vector<float> tmp_;  // [N, d]
  std::vector<float> ffn_;  // [min(N, kMlpRows), ffn]
};

}  // namespace jv3
