// render_report_json: the stable JSON form of the budget report (nlohmann-json).
#include <nlohmann/json.hpp>

#include "budget/report.h"

namespace budget {

namespace {

nlohmann::json plan_json(const MemoryPlan& p) {
  nlohmann::json j;
  j["mode"] = trainer::train_mode_name(p.run.mode);
  j["seq_len"] = p.run.seq_len;
  j["micro_batch"] = p.run.micro_batch;
  j["lora_rank"] = p.run.mode == trainer::TrainMode::kFull ? 0 : p.run.lora_rank;
  j["grad_checkpoint"] = p.run.grad_checkpoint;
  j["base_precision"] = p.run.mode == trainer::TrainMode::kFull ? "f32"
                        : p.run.mapped_base                      ? "mapped"  // the model file's own types
                                                                 : precision_name(p.run.base_precision);
  j["optimizer"] = optimizer_name(p.run.optimizer);
  j["source"] = layout_source_name(p.source);
  j["trainable_params"] = p.trainable_params;
  j["frozen_params"] = p.frozen_params;
  for (const PlanItem& i : p.items) j[i.key + "_bytes"] = i.bytes;
  j["total_bytes"] = p.total_bytes;
  j["streamed_base_bytes"] = p.streamed_base_bytes;
  j["margin_bytes"] = p.margin_bytes();
  j["fits"] = p.fits();
  return j;
}

nlohmann::json limit_json(const FitLimit& l) {
  return {{"value", l.best()},
          {"needs_grad_checkpoint", l.needs_checkpoint()},
          {"without_grad_checkpoint", l.without_checkpoint},
          {"with_grad_checkpoint", l.with_checkpoint}};
}

nlohmann::json fit_json(const BudgetReport& r) {
  return {{"max_seq_len", limit_json(r.fit.max_seq_len)},
          {"max_micro_batch", limit_json(r.fit.max_micro_batch)},
          {"max_lora_rank", limit_json(r.fit.max_lora_rank)},
          {"why", r.fit.why}};
}

}  // namespace

std::string render_report_json(const BudgetReport& r) {
  nlohmann::json j;
  j["profile"] = r.profile.name;
  j["model"] = r.model.name;
  j["available_bytes"] = r.available_bytes;
  nlohmann::json res = nlohmann::json::array();
  for (const profiles::MemoryReservation& m : r.profile.memory.reservations) {
    res.push_back({{"name", m.name}, {"bytes", m.bytes}, {"note", m.note}});
  }
  j["memory"] = {{"total_bytes", r.profile.memory.total_bytes}, {"reservations", res}};
  j["params_total"] = r.params.total;
  j["params_active_per_token"] = r.params.active_per_token;
  nlohmann::json comp = nlohmann::json::object();
  for (const auto& [name, n] : r.params.components) comp[name] = n;
  j["params_by_component"] = comp;
  nlohmann::json weights = nlohmann::json::object(), inference = nlohmann::json::object();
  for (const auto& [p, bytes] : r.inference.weights_bytes) {
    weights[precision_name(p)] = bytes;
    nlohmann::json by_ctx = nlohmann::json::object();
    for (int i = 0; i < InferencePlan::kNumContexts; ++i) {
      by_ctx[std::to_string(InferencePlan::kContexts[i])] = r.inference.total_bytes(p, i);
    }
    inference[precision_name(p)] = by_ctx;
  }
  j["weights_bytes"] = weights;
  // Rows of the report nightshift cannot produce (weights it cannot write, the 3-bit KV cache).
  nlohmann::json plan_only = nlohmann::json::array();
  for (const auto& wp : r.inference.weights_bytes) {
    if (!nightshift_writes(wp.first)) plan_only.push_back(precision_name(wp.first));
  }
  plan_only.push_back("kv_cache_3bit");
  j["planning_only"] = plan_only;
  j["ssm_state_bytes"] = r.inference.ssm_state_bytes;
  j["conv_state_bytes"] = r.inference.conv_state_bytes;
  nlohmann::json kv = nlohmann::json::object(), kv3 = nlohmann::json::object();
  for (int i = 0; i < InferencePlan::kNumContexts; ++i) {
    kv[std::to_string(InferencePlan::kContexts[i])] = r.inference.kv_plain_bytes[i];
    kv3[std::to_string(InferencePlan::kContexts[i])] = r.inference.kv_3bit_bytes[i];
  }
  j["kv_cache_bytes"] = kv;
  j["kv_cache_3bit_bytes"] = kv3;
  j["inference_bytes"] = inference;
  j["training"] = plan_json(r.selected);
  nlohmann::json by_mode = nlohmann::json::object();
  for (const MemoryPlan& p : r.by_mode) by_mode[trainer::train_mode_name(p.run.mode)] = plan_json(p);
  j["training_by_mode"] = by_mode;
  j["fits"] = r.selected.fits();
  j["recommended"] = r.fit.found ? plan_json(r.fit.recommended_plan) : nlohmann::json(nullptr);
  j["fit"] = fit_json(r);
  return j.dump(2) + "\n";
}

std::string render_fit_json(const BudgetReport& r) {
  nlohmann::json j;
  j["profile"] = r.profile.name;
  j["model"] = r.model.name;
  j["available_bytes"] = r.available_bytes;
  j["training"] = plan_json(r.selected);
  j["fits"] = r.selected.fits();
  j["recommended"] = r.fit.found ? plan_json(r.fit.recommended_plan) : nlohmann::json(nullptr);
  j["fit"] = fit_json(r);
  return j.dump(2) + "\n";
}

}  // namespace budget
