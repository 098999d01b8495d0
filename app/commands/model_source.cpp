// open_model_source: a run directory through load_run, a pretrained model through ImportedModel.
#include "app/commands/model_source.h"

#include <algorithm>
#include <filesystem>

#include "trainer/quant/frozen_base.h"
#include "trainer/tokenizers/model_tokenizer.h"
#include "trainer/trainer.h"

namespace app {

using common::Result;
using common::Status;

bool ModelSource::full_weights() const { return !is_run() || run->info.shape.mode == trainer::TrainMode::kFull; }

Result<std::unique_ptr<trainer::Model>> ModelSource::inference_model(int batch, int seq_len) const {
  if (is_run()) return load_inference_model(*run, batch, seq_len);
  trainer::RunShape shape;
  shape.batch = batch;
  shape.seq_len = seq_len;
  shape.training = false;
  shape.max_threads = std::max(shape.max_threads, trainer::compute_threads());
  NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::Model> model, trainer::Model::create(config, shape));
  NS_RETURN_IF_ERROR(trainer::fill_weights(*model, imported->f32_reader(), path));
  return model;
}

Result<ModelSource> open_imported_source(const std::string& path, bool need_tokenizer) {
  ModelSource s;
  s.path = path;
  NS_ASSIGN_OR_RETURN(s.imported, trainer::ImportedModel::open(path));
  s.config = s.imported->config();
  const std::string& spec = s.imported->tokenizer_spec();
  if (spec.empty()) {
    if (need_tokenizer) return Status::InvalidArgument(path + ": the model carries no tokenizer");
    return s;
  }
  auto tok = trainer::tokenizers::make_model_tokenizer(spec);
  if (!tok.ok()) {
    if (need_tokenizer) return tok.status();
    return s;
  }
  s.own_tokenizer = std::move(*tok);
  if (s.own_tokenizer->vocab_size() > s.config.vocab_size) {
    return Status::InvalidArgument(path + ": its tokenizer has " + std::to_string(s.own_tokenizer->vocab_size()) +
                                   " tokens but the model only " + std::to_string(s.config.vocab_size));
  }
  s.tokenizer = s.own_tokenizer.get();
  return s;
}

Result<ModelSource> open_model_source(const std::string& path) {
  if (trainer::ImportedModel::is_importable(path)) return open_imported_source(path, true);
  // A run directory keeps its checkpoints in checkpoints/; load_run's own errors (a damaged
  // checkpoint, a base that has moved) are passed on as they are.
  std::error_code ec;
  if (!std::filesystem::is_directory(std::filesystem::path(path) / "checkpoints", ec)) {
    return Status::NotFound(path + ": neither a run directory (no checkpoints) nor a pretrained model (a .gguf file or a directory with config.json)");
  }
  NS_ASSIGN_OR_RETURN(LoadedRun run, load_run(path));
  ModelSource s;
  s.path = path;
  s.run = std::make_unique<LoadedRun>(std::move(run));
  s.config = s.run->model;
  s.tokenizer = s.run->tokenizer.get();
  return s;
}

}  // namespace app
