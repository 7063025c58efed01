// Reads config.json into ModelConfig, rejecting what this runtime does not implement.
#include "format/model_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "base/json_guard.h"

namespace jv3 {

int ModelConfig::TaskIndex(std::string_view task) const {
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i] == task) return static_cast<int>(i);
  }
  return -1;
}

namespace {

Status Bad(const std::string& what) { return Status(Code::kBadCheckpoint, "config.json: " + what); }

// Reads a non-negative integer key up to `max`; `required` keys that are missing are an error.
// The maxima keep every tensor size product far inside int64 and every per-layer loop bounded, so a
// hostile config cannot overflow shape arithmetic or make the schema itself huge.
Status ReadInt(const nlohmann::json& j, const char* key, int* out, bool required = true, int64_t max = 1 << 30) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return required ? Bad(std::string("missing \"") + key + "\"") : Status::Ok();
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > max) {
    return Bad(std::string("\"") + key + "\" must be an integer in 0.." + std::to_string(max) + ", got " + it->dump());
  }
  *out = it->get<int>();
  return Status::Ok();
}

Status ReadFloat(const nlohmann::json& j, const char* key, float* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  const double v = it->is_number() ? it->get<double>() : 0.0;
  if (!it->is_number() || !(std::fabs(v) <= 3.0e38)) {
    return Bad(std::string("\"") + key + "\" must be a finite number in float range, got " + it->dump());
  }
  *out = static_cast<float>(v);
  return Status::Ok();
}

Status Parse(const nlohmann::json& j, ModelConfig* c) {
  if (!j.is_object()) return Bad("not a JSON object");
  // The real model: hidden 1024, 16 heads, 24 layers, FFN 4096, vocab 250002, window 8194.
  JV3_RETURN_IF_ERROR(ReadInt(j, "hidden_size", &c->hidden_size, true, 1 << 16));
  JV3_RETURN_IF_ERROR(ReadInt(j, "num_attention_heads", &c->num_heads, true, 1 << 10));
  JV3_RETURN_IF_ERROR(ReadInt(j, "num_hidden_layers", &c->num_layers, true, 1 << 10));
  JV3_RETURN_IF_ERROR(ReadInt(j, "intermediate_size", &c->intermediate_size, true, 1 << 18));
  JV3_RETURN_IF_ERROR(ReadInt(j, "vocab_size", &c->vocab_size, true, 1 << 24));
  c->type_vocab_size = 1;
  JV3_RETURN_IF_ERROR(ReadInt(j, "type_vocab_size", &c->type_vocab_size, false, 1 << 10));
  JV3_RETURN_IF_ERROR(ReadInt(j, "max_position_embeddings", &c->max_position_embeddings, true, 1 << 20));
  JV3_RETURN_IF_ERROR(ReadInt(j, "pad_token_id", &c->pad_token_id, false));
  JV3_RETURN_IF_ERROR(ReadFloat(j, "layer_norm_eps", &c->layer_norm_eps));
  JV3_RETURN_IF_ERROR(ReadFloat(j, "rotary_emb_base", &c->rotary_base));

  if (j.value("position_embedding_type", std::string("rotary")) != "rotary") {
    return Bad("position_embedding_type must be \"rotary\" (jina-embeddings-v3), got " +
               j["position_embedding_type"].dump());
  }
  if (j.value("hidden_act", std::string("gelu")) != "gelu") {
    return Bad("hidden_act must be \"gelu\", got " + j["hidden_act"].dump());
  }
  if (c->hidden_size <= 0 || c->num_heads <= 0 || c->hidden_size % c->num_heads != 0 || c->head_dim() % 2 != 0) {
    return Bad("hidden_size " + std::to_string(c->hidden_size) + " must split into num_attention_heads " +
               std::to_string(c->num_heads) + " heads of even size");
  }
  if (c->num_layers <= 0 || c->intermediate_size <= 0 || c->vocab_size <= 0 || c->type_vocab_size <= 0 ||
      c->max_position_embeddings <= 2) {
    return Bad(
        "num_hidden_layers, intermediate_size, vocab_size, type_vocab_size and max_position_embeddings must be "
        "positive");
  }
  if (!(c->layer_norm_eps > 0.f) || !(c->rotary_base > 1.f))
    return Bad("layer_norm_eps and rotary_emb_base must be positive");

  auto tasks = j.find("lora_adaptations");
  if (tasks != j.end() && !tasks->is_null()) {
    if (!tasks->is_array()) return Bad("\"lora_adaptations\" must be a list of task names");
    if (tasks->size() > 64) return Bad("\"lora_adaptations\" lists more than 64 tasks");
    for (const auto& t : *tasks) {
      if (!t.is_string()) return Bad("\"lora_adaptations\" must be a list of task names");
      c->tasks.push_back(t.get<std::string>());
    }
  }
  if (!c->tasks.empty()) {
    JV3_RETURN_IF_ERROR(ReadInt(j, "lora_rank", &c->lora_rank, true, 1 << 10));
    JV3_RETURN_IF_ERROR(ReadFloat(j, "lora_alpha", &c->lora_alpha));
    if (c->lora_rank <= 0) return Bad("lora_rank must be positive when lora_adaptations are given");
  }
  auto instr = j.find("task_instructions");
  for (const auto& t : c->tasks) {
    std::string text;
    if (instr != j.end() && instr->is_object()) {
      auto it = instr->find(t);
      if (it != instr->end() && it->is_string()) text = it->get<std::string>();
    }
    c->task_instructions.push_back(text);
  }
  auto dims = j.find("matryoshka_dimensions");
  if (dims != j.end() && !dims->is_null()) {
    if (!dims->is_array()) return Bad("\"matryoshka_dimensions\" must be a list of integers");
    for (const auto& d : *dims) {
      if (!d.is_number_integer() || d.get<int64_t>() <= 0 || d.get<int64_t>() > c->hidden_size) {
        return Bad("\"matryoshka_dimensions\" entries must be integers in 1.." + std::to_string(c->hidden_size) +
                   ", got " + d.dump());
      }
      c->matryoshka_dims.push_back(d.get<int>());
    }
  }
  return Status::Ok();
}

}  // namespace

Status ParseModelConfig(std::string_view config_json, ModelConfig* out) {
  if (!JsonDepthOk(config_json)) return Bad("nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  nlohmann::json j = nlohmann::json::parse(config_json.begin(), config_json.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad("not valid JSON");
  ModelConfig c;
  try {
    JV3_RETURN_IF_ERROR(Parse(j, &c));
  } catch (const nlohmann::json::exception& e) {
    return Bad(e.what());
  }
  *out = std::move(c);
  return Status::Ok();
}

}  // namespace jv3
