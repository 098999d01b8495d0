// What `eval`, `sample` and `inspect` read a model from: a run directory (its latest checkpoint) or a
// pretrained model of another tool that trainer::ImportedModel opens (a .gguf file or a Hugging Face
// directory), with its tokenizer and, on demand, a forward-only model holding its weights.
#pragma once

#include <memory>
#include <string>

#include "app/train/run_loader.h"
#include "common/status.h"
#include "trainer/arch/imported_model.h"
#include "trainer/model.h"
#include "trainer/tokenizers/tokenizer.h"

namespace app {

struct ModelSource {
  std::string path;
  std::unique_ptr<LoadedRun> run;                      // set for a run directory
  std::unique_ptr<trainer::ImportedModel> imported;    // set for a pretrained model
  trainer::ModelConfig config;
  const trainer::Tokenizer* tokenizer = nullptr;       // the run's or the model's own
  std::unique_ptr<trainer::Tokenizer> own_tokenizer;   // the imported model's

  bool is_run() const { return run != nullptr; }
  // Whether the weights are plain fp32 (recurrent generation): a full-mode run or a pretrained model.
  bool full_weights() const;
  // A forward-only model of shape (batch, seq_len) with the weights loaded.
  common::Result<std::unique_ptr<trainer::Model>> inference_model(int batch, int seq_len) const;
};

// A pretrained model (ImportedModel::is_importable) or else a run directory. Errors name the path:
// one that is neither says so; a model without a tokenizer, or whose tokenizer's vocabulary
// exceeds the model's, is InvalidArgument.
common::Result<ModelSource> open_model_source(const std::string& path);

// A pretrained model with its tokenizer. Without need_tokenizer, a model that carries none or whose
// tokenizer does not load is opened with `tokenizer` null.
common::Result<ModelSource> open_imported_source(const std::string& path, bool need_tokenizer);

}  // namespace app
