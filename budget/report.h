// The budget report: everything `nightshift budget-report` prints for one (profile, model, run) —
// available memory and its derivation, parameters by component, weights by precision, SSM state,
// KV cache by context, inference totals, training memory by mode, the fit limits and the
// recommended configuration — built once as data, then rendered as text (80 columns), markdown or
// JSON (stable keys for scripts; see render_json).
#pragma once

#include <string>
#include <vector>

#include "budget/fit.h"
#include "budget/planner.h"
#include "budget/table.h"
#include "common/status.h"
#include "profiles/profile.h"

namespace budget {

struct BudgetReport {
  profiles::HardwareProfile profile;
  trainer::ModelConfig model;
  RunConfig run;                       // the selected run (mode, seq, batch, rank, ...)
  uint64_t available_bytes = 0;        // profile.memory.available_bytes()
  ParamBreakdown params;
  InferencePlan inference;
  std::vector<MemoryPlan> by_mode;     // full, lora, qlora at the run's seq, batch, rank, checkpointing
  MemoryPlan selected;                 // the plan of run.mode
  FitResult fit;
};

// Builds every section. InvalidArgument for a bad run config.
common::Result<BudgetReport> build_report(const profiles::HardwareProfile& profile, const trainer::ModelConfig& model,
                                          const RunConfig& run);

// The sections as tables, in report order (shared by the text and markdown renderers).
std::vector<Table> report_tables(const BudgetReport& report);

std::string render_report_text(const BudgetReport& report);      // fits 80 columns
std::string render_report_markdown(const BudgetReport& report);
// JSON keys: profile, model, available_bytes, memory {total_bytes, reservations[]}, params_total,
// params_active_per_token, params_by_component {}, weights_bytes {f32, f16, q8, q4, nf4, ternary},
// ssm_state_bytes, conv_state_bytes, kv_cache_bytes {"1024", "4096", "16384", "32768", "65536"},
// kv_cache_3bit_bytes {same}, inference_bytes {precision: {context: bytes}}, training {mode,
// seq_len, micro_batch, lora_rank, grad_checkpoint, base_precision, optimizer, source, <item>_bytes
// ..., total_bytes, margin_bytes}, training_by_mode {full, lora, qlora}, fits, recommended {...},
// fit {max_seq_len, max_seq_len_grad_checkpoint, max_micro_batch, ..., max_lora_rank, ...}.
// planning_only lists the rows nightshift cannot produce (q4, ternary, kv_cache_3bit).
std::string render_report_json(const BudgetReport& report);
// `--fit --format json`: profile, model, available_bytes, training, fits, recommended, fit.
std::string render_fit_json(const BudgetReport& report);

// The itemized training plan alone (check_fits, `nightshift train` refusing a run).
std::string render_plan_table(const MemoryPlan& plan);

}  // namespace budget
