// How the lora and qlora modes change a run's tensor list (called by make_run_plan, so the engine's
// arenas and the budget planner see the same list): every weight becomes frozen; the linear weights
// (TensorSpec::linear) are stored in the base format (nf4/q8 as one byte blob per matrix in the
// QuantLayout of trainer/quant/format.h, f16/bf16 as 2-byte tensors); each targeted matrix gets
// adapter weights (whose gradients and AdamW moments the plan then derives as for any weight), a
// saved activation, and the layer kind gets backward scratch and a dequantization panel.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/layout.h"

namespace trainer {

// Target names: the local name of a linear weight without ".weight" and without an expert index
// ("q.weight" -> "q", "experts.3.gate.weight" -> "gate", "shared.up.weight" -> "up").
const std::vector<std::string>& known_lora_targets();    // q k v o gate up down in_proj out_proj x_proj dt_proj router
const std::vector<std::string>& default_lora_targets();  // all of them but x_proj, dt_proj and router
std::string lora_target_key(const std::string& local_weight_name);
// Parses "q,k,v,o" or the Hugging Face module names "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,
// down_proj" (mamba's in_proj, x_proj, dt_proj, out_proj are ours too; Granite's input_linear is
// gate and up, output_linear down), and "all" and "default".
// InvalidArgument naming an unknown target and listing the known ones.
common::Result<std::vector<std::string>> parse_lora_targets(const std::string& csv);

// Local names of one adapted matrix's tensors, e.g. for "q.weight": "q.lora_A.weight" (rank_max, In),
// "q.lora_Bt.weight" (rank_max, Out: B transposed), "q.lora_u" (B·T, rank_max) saved x·Aᵀ.
std::string lora_a_name(const std::string& local_weight_name);
std::string lora_bt_name(const std::string& local_weight_name);
std::string lora_u_name(const std::string& local_weight_name);
// Backward and dequantization scratch, one slot per thread (lora_scratch_slots) so that linear maps
// can run side by side on different threads (the MoE experts do): per layer kind,
// "lora_g" (slots, B·T, rank_max) and "qmatmul_panel" (slots, panel floats).
inline constexpr char kLoraGradScratch[] = "lora_g";
inline constexpr char kQmatmulPanelScratch[] = "qmatmul_panel";
int lora_scratch_slots(const RunShape& shape);  // max_threads, or the machine's cores when 0

int lora_rank_capacity(const RunShape& shape);   // lora.rank_max, or lora_rank when 0
float lora_scale(const RunShape& shape);         // alpha / lora_rank (alpha 0: 1)
bool is_lora_target(const RunShape& shape, const std::string& local_weight_name);

// Mode-level checks: rank >= 1, rank <= capacity, targets known, base format allowed for the mode
// (lora: f32/f16/bf16; qlora: nf4/q8), double quantization only with nf4. Ok in full mode.
common::Status validate_lora_settings(const RunShape& shape);

// Rewrites one sub-layer's LOCAL tensor list (as Layer::list_tensors produced it) for lora/qlora;
// no-op in full mode. `where` is the weight prefix ("blocks.0.attn.") for messages; the target keys
// that matched are added to `matched`. InvalidArgument when the rank capacity exceeds what a
// targeted matrix allows (min(out, in)).
common::Status lora_adapt_layer_tensors(const RunShape& shape, std::vector<TensorSpec>* local, const std::string& where,
                                        std::set<std::string>* matched);

// After all layers: InvalidArgument when a requested target matched no matrix of the model.
common::Status lora_check_targets_matched(const RunShape& shape, const std::set<std::string>& matched,
                                          const std::string& model_name);

}  // namespace trainer
