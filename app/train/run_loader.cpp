// load_run and load_inference_model.
#include "app/train/run_loader.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "app/train/run_paths.h"
#include "trainer/trainer.h"

namespace app {

using common::Result;
using common::Status;

Result<LoadedRun> load_run(const std::string& run_dir) {
  LoadedRun r;
  NS_ASSIGN_OR_RETURN(r.info, trainer::read_latest_checkpoint_pinned(run_dir, &r.pin));
  const std::string state = r.info.dir + "/state.json";
  NS_ASSIGN_OR_RETURN(r.model, trainer::parse_model_config_toml(r.info.model_toml, state));
  auto run = run_config_from_json(r.info.run_json, state);
  if (!run.ok()) {
    // A merged checkpoint of an earlier `nightshift merge` stored only where it came from: it has no
    // run settings of its own, so the defaults stand in (eval needs --data).
    const auto j = nlohmann::json::parse(r.info.run_json, nullptr, false);
    if (!j.is_object() || !j.contains("merged_from")) return run.status();
    run = default_run_config();
    run->tokenizer = r.info.tokenizer_spec;
    run->out_dir = run_dir;
  }
  r.run = std::move(*run);
  r.run.model = r.model;
  // The run's own copy of a gpt2 tokenizer stands in when the original folder has moved.
  NS_ASSIGN_OR_RETURN(r.tokenizer, open_run_tokenizer(r.info.tokenizer_spec, run_dir));
  // A pretrained model's embedding may be padded past its tokenizer's vocabulary.
  if (r.tokenizer->vocab_size() > r.model.vocab_size) {
    return Status::InvalidArgument(state + ": the model has " + std::to_string(r.model.vocab_size) +
                                   " tokens but tokenizer " + r.info.tokenizer_spec + " has " +
                                   std::to_string(r.tokenizer->vocab_size()));
  }
  if (r.info.shape.mode != trainer::TrainMode::kFull && r.info.shape.lora.mapped_base) {
    const auto j = nlohmann::json::parse(r.info.run_json, nullptr, false);
    const std::string base = j.is_object() && j.contains("lora") && j["lora"].is_object() ? j["lora"].value("base", "") : "";
    if (base.empty()) return Status::Corruption(state + ": a run over a mapped base does not name its base");
    NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::BaseSource> source, trainer::BaseSource::open(base));
    if (source->info().base_id != r.info.shape.lora.base_id)
      return Status::InvalidArgument(base + ": is not the model " + run_dir + " was trained on (base id " +
                                     source->info().base_id + ", the run's " + r.info.shape.lora.base_id + ")");
    if (!r.info.shape.lora.mapped_encoding.empty()) NS_RETURN_IF_ERROR(source->encode_on_load(r.info.shape.lora.mapped_encoding));
    r.base = std::move(source);
  }
  return r;
}

Result<std::unique_ptr<trainer::Model>> load_inference_model(const LoadedRun& run, int batch, int seq_len) {
  trainer::RunShape shape = run.info.shape;
  shape.batch = batch;
  shape.seq_len = seq_len;
  shape.training = false;
  shape.grad_checkpoint = false;
  shape.head_chunk = 0;  // sampling and scoring read the whole logits
  // Per-thread scratch (attention, adapters, dequantization panels) for every thread this process
  // computes with: `sample --threads N` and OMP_NUM_THREADS may exceed what the run trained with.
  shape.max_threads = std::max(shape.max_threads, trainer::compute_threads());
  NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::Model> model, trainer::Model::create(run.model, shape));
  NS_RETURN_IF_ERROR(trainer::load_checkpoint_tensors(run.info, *model, false));
  if (run.base) NS_RETURN_IF_ERROR(run.base->map_into(*model));
  return model;
}

}  // namespace app
