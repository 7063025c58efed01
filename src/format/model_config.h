// ModelConfig: the model's sizes and hyper-parameters, read from the checkpoint's config.json (and kept verbatim in the
// model file).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace jv3 {

struct ModelConfig {
  int hidden_size = 0;                         // hidden_size (d)
  int num_heads = 0;                           // num_attention_heads
  int num_layers = 0;                          // num_hidden_layers
  int intermediate_size = 0;                   // intermediate_size (FFN width)
  int vocab_size = 0;                          // vocab_size
  int type_vocab_size = 0;                     // type_vocab_size
  float layer_norm_eps = 1e-5f;                // layer_norm_eps
  float rotary_base = 10000.f;                 // rotary_emb_base
  int max_position_embeddings = 0;             // max_position_embeddings (window incl. <s> and </s>)
  int pad_token_id = 1;                        // pad_token_id
  std::vector<std::string> tasks;              // lora_adaptations (adapter index = position)
  std::vector<std::string> task_instructions;  // task_instructions[tasks[i]] ("" when absent)
  int lora_rank = 0;                           // lora_rank
  float lora_alpha = 0.f;                      // lora_alpha
  std::vector<int> matryoshka_dims;            // matryoshka_dimensions (empty: only the full size)

  int head_dim() const { return hidden_size / num_heads; }
  int num_tasks() const { return static_cast<int>(tasks.size()); }
  float lora_scaling() const { return lora_rank > 0 ? lora_alpha / static_cast<float>(lora_rank) : 0.f; }
  // Index of `task` in tasks, or -1.
  int TaskIndex(std::string_view task) const;
};

// Parses and validates config.json text. Unsupported architectures (no rotary positions, another
// activation) and inconsistent sizes are rejected with E_BAD_CHECKPOINT naming the key.
Status ParseModelConfig(std::string_view config_json, ModelConfig* out);

}  // namespace jv3
