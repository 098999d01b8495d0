// `nightshift eval RUN_DIR [--json] [--batches N]`: validation loss of the run's latest checkpoint on
// the held-out tail of its corpus, with the run's batch and sequence length.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/command_registry.h"
#include "app/run_loader.h"
#include "trainer/batch_source.h"
#include "trainer/dataset.h"

namespace app {
namespace {

struct EvalFlags {
  std::string run_dir;
  bool json = false;
  int batches = 0;
};

int eval_main(const EvalFlags& f) {
  auto run = load_run(f.run_dir);
  if (!run.ok()) return report_error(run.status());
  const RunConfig& c = run->run;
  trainer::DatasetOptions dopt;
  dopt.data_path = c.data_path;
  dopt.val_fraction = c.val_fraction;
  auto data = trainer::TokenDataset::open(dopt, *run->tokenizer);
  if (!data.ok()) return report_error(data.status());
  const int B = c.shape.batch, T = c.shape.seq_len;
  common::Status fits = trainer::BatchSampler::check_fits(**data, trainer::Split::kVal, B, T);
  if (!fits.ok()) return report_error(fits.with_context(c.data_path));
  auto model = load_inference_model(*run, B, T);
  if (!model.ok()) return report_error(model.status());
  trainer::SamplerBatchSource val(**data, trainer::Split::kVal, B, T, c.train.seed);
  const int batches = f.batches > 0 ? f.batches : c.eval_batches;
  auto e = trainer::evaluate_model(**model, val, batches);
  if (!e.ok()) return report_error(e.status());
  if (f.json) {
    nlohmann::json j{{"val_loss", e->val_loss},
                     {"step", run->info.step},
                     {"batches", e->batches},
                     {"tokens", static_cast<int64_t>(e->batches) * B * T},
                     {"train_loss", run->info.train_loss},
                     {"checkpoint", run->info.dir},
                     {"model", run->model.name}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("step %lld | val_loss %.4f | %d batches of %d x %d tokens | %s\n",
                static_cast<long long>(run->info.step), e->val_loss, e->batches, B, T, run->info.dir.c_str());
  }
  return kExitOk;
}

void register_eval(CLI::App& root, Action& run) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* cmd = root.add_subcommand("eval", "validation loss of a run's latest checkpoint");
  cmd->add_option("run_dir", f->run_dir, "run directory")->required();
  cmd->add_flag("--json", f->json, "print one JSON object (val_loss, step, ...)");
  cmd->add_option("--batches", f->batches, "validation batches (default: the run's eval_batches)");
  cmd->callback([&run, f] { run = [f] { return eval_main(*f); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_eval);
}  // namespace app
