// `nightshift reference-dump` (development): dumps what the PyTorch reference test
// (tests/reference/model_reference_test.py) compares against — initial weights, a random batch,
// step-0 logits and every gradient, and the losses of N AdamW steps on that batch:
//   DIR/weights.safetensors   every weight (F32, names per docs/model.md)
//   DIR/batch.safetensors     "inputs", "targets": I32 (B, T), random tokens from the seed
//   DIR/outputs.safetensors   "logits" F32 (B, T, V) and "grad.<weight>" for every weight, from step 0
//                             (with --head-chunk C the LM head is fused with its loss in chunks of C
//                             rows, as in training: no logits exist to dump, only the gradients)
//   DIR/outputs.json          loss, ce_loss, aux_loss, losses (before each AdamW step), optimizer
// AdamW there: constant lr, beta1 0.9, beta2 0.95, eps 1e-8, clip 1.0, decay as the engine's.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "app/commands/command_registry.h"
#include "common/atomic_file.h"
#include "trainer/model_config_toml.h"
#include "trainer/model.h"
#include "trainer/optimizer.h"
#include "trainer/formats/safetensors.h"

namespace app {
namespace {

using common::Status;

struct DumpFlags {
  std::optional<std::string> preset, model;
  int vocab = 0, batch = 2, seq = 16, steps = 5, head_chunk = 0;
  uint64_t seed = 1;
  float lr = 1e-3f, weight_decay = 0.1f;
  std::string out;
};

trainer::TensorRef f32_ref(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return trainer::TensorRef{name, trainer::DType::kF32, shape, data, static_cast<size_t>(n) * sizeof(float)};
}

Status dump(const DumpFlags& f) {
  if (f.preset.has_value() == f.model.has_value()) return Status::InvalidArgument("give exactly one of --preset or --model");
  if (f.batch < 1 || f.seq < 1 || f.steps < 0) return Status::InvalidArgument("--batch and --seq must be positive, --steps >= 0");
  NS_ASSIGN_OR_RETURN(trainer::ModelConfig cfg,
                      f.preset ? trainer::model_preset(*f.preset) : trainer::load_model_config_file(*f.model));
  if (f.vocab > 0) cfg.vocab_size = f.vocab;
  NS_RETURN_IF_ERROR(trainer::validate_model_config(cfg, f.preset ? "preset:" + *f.preset : *f.model));
  trainer::RunShape shape;
  shape.batch = f.batch;
  shape.seq_len = f.seq;
  shape.head_chunk = f.head_chunk;
  NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::Model> model, trainer::Model::create(cfg, shape));
  model->init_weights(f.seed);
  const int B = f.batch, T = f.seq, V = cfg.vocab_size, N = B * T;

  std::error_code ec;
  std::filesystem::create_directories(f.out, ec);
  if (ec) return Status::IOError(f.out + ": cannot create directory: " + ec.message());

  std::vector<trainer::TensorRef> weights;
  for (const trainer::ParamRef& p : model->params()) weights.push_back(f32_ref(p.spec->name, p.spec->shape, p.weight));
  NS_RETURN_IF_ERROR(trainer::write_safetensors(f.out + "/weights.safetensors", weights));

  trainer::Rng rng(f.seed ^ 0x6261746368ull);
  std::vector<int32_t> inputs(N), targets(N);
  for (int32_t& x : inputs) x = static_cast<int32_t>(rng.below(V));
  for (int32_t& x : targets) x = static_cast<int32_t>(rng.below(V));
  NS_RETURN_IF_ERROR(trainer::write_safetensors(
      f.out + "/batch.safetensors",
      {trainer::TensorRef{"inputs", trainer::DType::kI32, {B, T}, inputs.data(), inputs.size() * 4},
       trainer::TensorRef{"targets", trainer::DType::kI32, {B, T}, targets.data(), targets.size() * 4}}));

  // Every target is trained: backward(1) is the mean over all N.
  const float ce_sum_scale = 1.0f / static_cast<float>(N);
  model->zero_grad();
  const float loss = model->forward_train(inputs.data(), targets.data(), nullptr, ce_sum_scale);
  const float ce = model->last_ce_loss(), aux = model->last_aux_loss();
  std::vector<float> logits;
  if (model->logits()) logits.assign(model->logits(), model->logits() + static_cast<int64_t>(N) * V);
  model->backward(1.0f);
  std::vector<trainer::TensorRef> outs;
  if (!logits.empty()) outs.push_back(f32_ref("logits", {B, T, V}, logits.data()));
  for (const trainer::ParamRef& p : model->params()) outs.push_back(f32_ref("grad." + p.spec->name, p.spec->shape, p.grad));
  NS_RETURN_IF_ERROR(trainer::write_safetensors(f.out + "/outputs.safetensors", outs));

  const trainer::AdamWConfig adamw{0.9f, 0.95f, 1e-8f, f.weight_decay};
  const float clip = 1.0f;
  std::vector<double> losses;
  for (int i = 0; i < f.steps; ++i) {
    model->zero_grad();
    losses.push_back(model->forward_train(inputs.data(), targets.data(), nullptr, ce_sum_scale));
    model->backward(1.0f);
    const double norm = trainer::global_grad_norm(model->params());
    trainer::adamw_update(model->params(), adamw, f.lr, i + 1, trainer::clip_factor(norm, clip));
  }
  nlohmann::json j{{"loss", loss},
                   {"ce_loss", ce},
                   {"aux_loss", aux},
                   {"losses", losses},
                   {"optimizer",
                    {{"lr", f.lr},
                     {"beta1", 0.9},
                     {"beta2", 0.95},
                     {"eps", 1e-8},
                     {"weight_decay", f.weight_decay},
                     {"grad_clip", clip},
                     {"decay", "2-D .weight tensors except ssm.conv.weight"}}},
                   {"batch", B},
                   {"seq_len", T},
                   {"seed", f.seed},
                   {"model_toml", trainer::model_config_to_toml(cfg)}};
  return common::write_file_atomic(f.out + "/outputs.json", j.dump(2) + "\n");
}

void register_reference_dump(CLI::App& root, Action& run) {
  auto f = std::make_shared<DumpFlags>();
  CLI::App* cmd = root.add_subcommand("reference-dump", "(development) dump weights, a batch, logits, gradients and "
                                                        "AdamW losses for the PyTorch reference test");
  cmd->group("");  // hidden from the command list
  cmd->add_option("--preset", f->preset, "model preset");
  cmd->add_option("--model", f->model, "model TOML file");
  cmd->add_option("--vocab", f->vocab, "override vocab_size");
  cmd->add_option("--batch", f->batch, "B")->required();
  cmd->add_option("--seq", f->seq, "T")->required();
  cmd->add_option("--seed", f->seed, "init and batch seed")->required();
  cmd->add_option("--steps", f->steps, "AdamW steps on the batch")->required();
  cmd->add_option("--lr", f->lr, "constant learning rate")->required();
  cmd->add_option("--weight-decay", f->weight_decay, "AdamW weight decay")->required();
  cmd->add_option("--out", f->out, "output directory")->required();
  cmd->add_option("--head-chunk", f->head_chunk, "fuse the LM head with its loss in chunks of this many rows");
  cmd->callback([&run, f] {
    run = [f] {
      Status s = dump(*f);
      return s.ok() ? kExitOk : report_error(s);
    };
  });
}

}  // namespace
NS_REGISTER_COMMAND(register_reference_dump);
}  // namespace app
