// build_report and the text/markdown sections of the budget report.
#include "budget/report.h"

#include <cstdio>

#include "common/units.h"

namespace budget {

using common::format_bytes;
using common::Result;
using common::Status;

namespace {

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(bytes) / common::kMiB);
  return buf;
}

std::string count(int64_t n) {
  char buf[32];
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  else if (n >= 1000) std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * x);
  return buf;
}

std::string context_name(int ctx) { return std::to_string(ctx / 1024) + "K"; }

std::string margin_text(int64_t margin) {
  return margin >= 0 ? "fits, " + format_bytes(static_cast<uint64_t>(margin)) + " to spare"
                     : "does NOT fit, short by " + format_bytes(static_cast<uint64_t>(-margin));
}

Table available_table(const BudgetReport& r) {
  Table t;
  t.title = "Available memory: " + r.profile.name + " (" + r.profile.description + ")";
  t.headers = {"", "size", "why"};
  t.right_align = {false, true, false};
  t.rows.push_back({"total", mib(r.profile.memory.total_bytes), "physical memory"});
  for (const profiles::MemoryReservation& res : r.profile.memory.reservations) {
    t.rows.push_back({"- " + res.name, mib(res.bytes), res.note});
  }
  t.rules_before.push_back(static_cast<int>(t.rows.size()));
  t.rows.push_back({"= available", mib(r.available_bytes), "what a run may use"});
  return t;
}

Table params_table(const BudgetReport& r) {
  Table t;
  t.title = "Parameters by component: " + r.model.name;
  t.headers = {"component", "params", "share"};
  t.right_align = {false, true, true};
  for (const auto& [name, n] : r.params.components) {
    t.rows.push_back({name, count(n), percent(static_cast<double>(n) / r.params.total)});
  }
  t.rules_before.push_back(static_cast<int>(t.rows.size()));
  t.rows.push_back({"total", count(r.params.total), "100.0%"});
  if (r.params.active_per_token != r.params.total) {
    t.rows.push_back({"active per token", count(r.params.active_per_token),
                      percent(static_cast<double>(r.params.active_per_token) / r.params.total)});
  }
  return t;
}

// Table markers, plain ASCII that neither markdown nor a terminal reads as anything else.
constexpr const char* kPlanOnly = "(plan)";  // a format nightshift cannot produce
constexpr const char* kNoFit = "(no)";       // does not fit the available memory

std::string precision_label(Precision p) {
  return nightshift_writes(p) ? std::string(precision_name(p)) : std::string(precision_name(p)) + " " + kPlanOnly;
}

Table weights_table(const BudgetReport& r) {
  Table t;
  t.title = "Weight memory by precision (inference at 4K context, batch 1)";
  t.headers = {"precision", "bits/param", "weights", "inference", "verdict"};
  t.right_align = {false, true, true, true, false};
  for (const auto& [p, bytes] : r.inference.weights_bytes) {
    char bits[16];
    std::snprintf(bits, sizeof bits, "%.2f", 8.0 * static_cast<double>(bytes) / r.params.total);
    const uint64_t total = r.inference.total_bytes(p, 1);
    t.rows.push_back({precision_label(p), bits, format_bytes(bytes), format_bytes(total),
                      total <= r.available_bytes ? "fits" : "does not fit"});
  }
  t.notes.push_back("Linear matrices are stored in the precision; norms, biases, A_log and conv weights stay f32. "
                    "q8/nf4: blocks of 64 with an fp32 absmax; q4: blocks of 32 with an f16 scale; ternary: 5 trits "
                    "per byte and an fp32 scale per row.");
  t.notes.push_back(std::string(kPlanOnly) + " planning only: nightshift cannot write q4 or ternary weights "
                    "(it trains and quantizes to f32, f16, bf16, q8 and nf4).");
  return t;
}

Table ssm_table(const BudgetReport& r) {
  Table t;
  t.title = "SSM state (per sequence, independent of context length)";
  t.headers = {"", "size"};
  t.right_align = {false, true};
  const InferencePlan& in = r.inference;
  if (in.n_ssm_layers == 0) {
    t.rows.push_back({"no ssm layers", "0 B"});
    return t;
  }
  t.rows.push_back({std::to_string(in.n_ssm_layers) + " ssm layers: scan state (Di x N, f32)", format_bytes(in.ssm_state_bytes)});
  t.rows.push_back({"conv history (K-1 x Di, f32)", format_bytes(in.conv_state_bytes)});
  t.rows.push_back({"total", format_bytes(in.ssm_state_bytes + in.conv_state_bytes)});
  return t;
}

Table kv_table(const BudgetReport& r) {
  Table t;
  t.title = "KV cache by context (batch 1)";
  t.headers = {"context", "plain (f16)", std::string("3-bit ") + kPlanOnly};
  t.right_align = {true, true, true};
  for (int i = 0; i < InferencePlan::kNumContexts; ++i) {
    t.rows.push_back({context_name(InferencePlan::kContexts[i]), format_bytes(r.inference.kv_plain_bytes[i]),
                      format_bytes(r.inference.kv_3bit_bytes[i])});
  }
  if (r.inference.n_attn_layers == 0) {
    t.notes.push_back("No attention layers: no KV cache; the SSM state above is all the model carries.");
  } else {
    std::string note = std::to_string(r.inference.n_attn_layers) + " attention layers, " +
                       std::to_string(r.model.kv_heads()) + " KV heads of " + std::to_string(r.model.head_dim()) + ".";
    if (r.model.attn.window > 0) {
      note += " Sliding window " + std::to_string(r.model.attn.window) + ": the cache stops growing there.";
    }
    note += " 3-bit: codes plus an f16 scale and zero per 64 values; planning only (nightshift keeps f16).";
    t.notes.push_back(note);
  }
  return t;
}

Table inference_table(const BudgetReport& r) {
  Table t;
  t.title = "Inference memory by context and precision (weights + KV f16 + state + runtime)";
  t.headers = {"context"};
  t.right_align = {true};
  for (const auto& wp : r.inference.weights_bytes) {
    t.headers.push_back(precision_label(wp.first));
    t.right_align.push_back(true);
  }
  for (int i = 0; i < InferencePlan::kNumContexts; ++i) {
    std::vector<std::string> row = {context_name(InferencePlan::kContexts[i])};
    for (const auto& wp : r.inference.weights_bytes) {
      const uint64_t b = r.inference.total_bytes(wp.first, i);
      row.push_back(format_bytes(b) + (b <= r.available_bytes ? "" : " " + std::string(kNoFit)));
    }
    t.rows.push_back(row);
  }
  t.notes.push_back(std::string(kNoFit) + " does not fit in " + format_bytes(r.available_bytes) + "; " + kPlanOnly +
                    " planning only.");
  return t;
}

Table training_table(const BudgetReport& r) {
  Table t;
  const RunConfig& run = r.run;
  t.title = "Training memory by mode (seq " + std::to_string(run.seq_len) + ", micro-batch " +
            std::to_string(run.micro_batch) + ", LoRA rank " + std::to_string(run.lora_rank) +
            (run.grad_checkpoint ? ", checkpointing" : "") + ")";
  t.headers = {"item"};
  t.right_align = {false};
  for (const MemoryPlan& p : r.by_mode) {
    std::string h = trainer::train_mode_name(p.run.mode);
    if (p.run.mode != trainer::TrainMode::kFull)
      h += " (" + std::string(p.run.mapped_base ? "base mapped in its file's types" : precision_name(p.run.base_precision)) + ")";
    t.headers.push_back(h);
    t.right_align.push_back(true);
  }
  static const char* kLabels[][2] = {{"weights", "trainable weights"},   {"frozen_weights", "frozen base"},
                                     {"gradients", "gradients"},         {"optimizer_moments", "optimizer moments"},
                                     {"activations", "activations"},     {"scratch", "backward scratch"},
                                     {"runtime_overhead", "runtime overhead"}};
  for (const auto& kl : kLabels) {
    std::vector<std::string> row = {kl[1]};
    for (const MemoryPlan& p : r.by_mode) row.push_back(format_bytes(p.item_bytes(kl[0])));
    t.rows.push_back(row);
  }
  t.rules_before.push_back(static_cast<int>(t.rows.size()));
  std::vector<std::string> total = {"total"}, verdict = {"verdict"}, selected = {"selected"};
  for (const MemoryPlan& p : r.by_mode) {
    total.push_back(format_bytes(p.total_bytes));
    verdict.push_back(p.fits() ? "fits" : "no");
    selected.push_back(p.run.mode == run.mode ? "yes" : "");
  }
  t.rows.push_back(total);
  t.rows.push_back(verdict);
  t.rows.push_back(selected);
  if (r.selected.streamed_base_bytes > 0) {
    t.notes.push_back("The frozen base (" + format_bytes(r.selected.streamed_base_bytes) +
                      ") is streamed from its file, outside the totals: the page cache keeps what the budget "
                      "leaves and the rest is read from disk every step.");
  }
  t.notes.push_back("Selected " + std::string(trainer::train_mode_name(run.mode)) + ": " +
                    margin_text(r.selected.margin_bytes()) + " of " +
                    format_bytes(r.available_bytes) + ". Plan source: " + layout_source_name(r.selected.source) +
                    (r.selected.source == LayoutSource::kEngine ? " (the engine's own tensor list)." : "."));
  return t;
}

Table recommended_table(const BudgetReport& r) {
  Table t;
  t.title = "Recommended configuration (" + std::string(trainer::train_mode_name(r.run.mode)) + ")";
  t.headers = {"", "value"};
  const FitResult& f = r.fit;
  auto lim = [](const FitLimit& l) {
    if (l.best() == 0) return std::string("none fits");
    if (l.without_checkpoint == 0) return std::to_string(l.with_checkpoint) + " with checkpointing";
    return std::to_string(l.without_checkpoint) + "; " + std::to_string(l.with_checkpoint) + " with checkpointing";
  };
  t.rows.push_back({"max seq length", lim(f.max_seq_len)});
  t.rows.push_back({"max micro-batch", lim(f.max_micro_batch)});
  if (r.run.mode != trainer::TrainMode::kFull) t.rows.push_back({"max LoRA rank", lim(f.max_lora_rank)});
  if (f.found) {
    t.rows.push_back({"recommended", run_flags(f.recommended)});
    t.rows.push_back({"planned", format_bytes(f.recommended_plan.total_bytes) + " (" +
                                     margin_text(f.recommended_plan.margin_bytes()) + ")"});
  } else {
    t.rows.push_back({"recommended", "none: " + f.why});
  }
  if (f.found) t.notes.push_back("Why: " + f.why + ".");
  return t;
}

}  // namespace

Result<BudgetReport> build_report(const profiles::HardwareProfile& profile, const trainer::ModelConfig& model,
                                  const RunConfig& run) {
  NS_RETURN_IF_ERROR(validate_run_config(run));
  BudgetReport r;
  r.profile = profile;
  r.model = model;
  r.run = run;
  r.available_bytes = profile.memory.available_bytes();
  NS_ASSIGN_OR_RETURN(r.params, count_params_by_component(model));
  NS_ASSIGN_OR_RETURN(r.inference, plan_inference(model, run.threads > 0 ? run.threads : profile.compute.cores));
  RunConfig sized = run;
  if (sized.threads == 0) sized.threads = profile.compute.cores > 0 ? profile.compute.cores : 0;
  for (trainer::TrainMode mode : {trainer::TrainMode::kFull, trainer::TrainMode::kLora, trainer::TrainMode::kQlora}) {
    RunConfig m = sized;
    m.mode = mode;
    if (mode != run.mode) m.base_precision = default_base_precision(mode);
    NS_ASSIGN_OR_RETURN(MemoryPlan p, plan_training(model, m, r.available_bytes));
    if (mode == run.mode) r.selected = p;
    r.by_mode.push_back(std::move(p));
  }
  NS_ASSIGN_OR_RETURN(r.fit, find_fit(model, sized, r.available_bytes));
  return r;
}

std::vector<Table> report_tables(const BudgetReport& r) {
  return {available_table(r), params_table(r), weights_table(r),  ssm_table(r),
          kv_table(r),        inference_table(r), training_table(r), recommended_table(r)};
}

std::string render_report_text(const BudgetReport& r) {
  Table head;  // no columns: only the wrapped title and notes
  head.title = "nightshift budget-report: " + r.model.name + " on " + r.profile.name;
  head.notes.push_back(std::string(trainer::train_mode_name(r.run.mode)) + " training: " +
                       format_bytes(r.selected.total_bytes) + " planned, " + format_bytes(r.available_bytes) +
                       " available: " + margin_text(r.selected.margin_bytes()));
  std::string out = render_text(head, 80) + "\n";
  for (const Table& t : report_tables(r)) out += render_text(t, 80) + "\n";
  return out;
}

std::string render_report_markdown(const BudgetReport& r) {
  std::string out = "# Memory budget: " + r.model.name + " on " + r.profile.name + "\n\n";
  out += "**" + std::string(trainer::train_mode_name(r.run.mode)) + " training:** " +
         format_bytes(r.selected.total_bytes) + " planned, " + format_bytes(r.available_bytes) + " available: " +
         margin_text(r.selected.margin_bytes()) + ".\n\n";
  for (const Table& t : report_tables(r)) out += render_markdown(t);
  return out;
}

std::string render_plan_table(const MemoryPlan& p) {
  Table t;
  t.title = std::string(trainer::train_mode_name(p.run.mode)) + " training of " + p.model.name + ": " +
            run_flags(p.run);
  t.headers = {"item", "planned"};
  t.right_align = {false, true};
  for (const PlanItem& i : p.items) {
    if (i.bytes == 0) continue;
    t.rows.push_back({i.label, format_bytes(i.bytes)});
  }
  t.rules_before.push_back(static_cast<int>(t.rows.size()));
  t.rows.push_back({"total", format_bytes(p.total_bytes)});
  t.rows.push_back({"available", format_bytes(p.available_bytes)});
  if (p.streamed_base_bytes > 0) {
    t.notes.push_back("The frozen base (" + format_bytes(p.streamed_base_bytes) +
                      ") is streamed from its file, outside the total: the page cache keeps what the budget leaves.");
  }
  return render_text(t, 80);
}

}  // namespace budget
