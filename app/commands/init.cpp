// `nightshift init --preset P --format nf4|q8|f16|bf16|f32 --out BASE`: writes a randomly initialized
// frozen base for lora/qlora runs (a base file, trainer/quant/base_file.h) directly in its stored
// form, tensor by tensor (trainer/quant/base_stream.h): the weights are those `train --preset P
// --seed S` would start from (trainer/weight_init.h), quantized as `nightshift quantize` would, but the
// fp32 model never exists, so a base far larger than memory in fp32 can be made. The vocabulary
// follows --tokenizer, as in train. Bad input (unknown preset, format or tokenizer, an existing BASE
// without --force, an output that cannot be written or does not fit on its disk): one line, exit 2,
// nothing written.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "app/commands/command_registry.h"
#include "app/governors/disk_space.h"
#include "common/units.h"
#include "trainer/formats/checksum.h"
#include "trainer/layout.h"
#include "trainer/model_config_toml.h"
#include "trainer/quant/base_stream.h"
#include "trainer/tokenizers/tokenizer.h"
#include "trainer/trainer.h"
#include "trainer/weight_init.h"

namespace app {
namespace {

namespace fs = std::filesystem;
using common::Status;

struct InitBaseArgs {
  std::string preset;
  std::string format = "nf4";
  std::string out;
  std::string tokenizer = "byte";
  uint64_t seed = trainer::TrainOptions{}.seed;
  bool no_double_quant = false;
  bool force = false;
};

// InvalidArgument naming `out` when its directory is missing or not writable, or has less than
// `bytes` free.
Status check_output(const std::string& out, uint64_t bytes) {
  const fs::path parent = fs::absolute(fs::path(out)).parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec))
    return Status::InvalidArgument(out + ": " + parent.string() +
                                   (fs::exists(parent, ec) ? " is not a directory" : ": no such directory"));
  if (fs::is_directory(out, ec)) return Status::InvalidArgument(out + ": is a directory");
  if (::access(parent.c_str(), W_OK) != 0)
    return Status::InvalidArgument(out + ": cannot write in " + parent.string() + " (permission denied)");
  auto free_bytes = free_disk_bytes(parent.string());
  if (!free_bytes.ok()) return Status::InvalidArgument(out + ": " + free_bytes.status().message());
  if (*free_bytes < bytes)
    return Status::InvalidArgument(out + ": the base needs " + common::format_bytes(bytes) + ", " + parent.string() +
                                   " has " + common::format_bytes(*free_bytes) + " free");
  return Status::Ok();
}

int init_base_main(const InitBaseArgs& a) {
  auto format = trainer::parse_quant_format(a.format);
  if (!format.ok()) return report_error(format.status().with_context("--format"));
  auto config = trainer::model_preset(a.preset);
  if (!config.ok()) return report_error(config.status().with_context("--preset"));
  auto tokenizer = trainer::make_tokenizer(a.tokenizer);
  if (!tokenizer.ok()) return report_error(tokenizer.status().with_context("--tokenizer"));
  config->vocab_size = (*tokenizer)->vocab_size();  // as train: the embedding has the tokenizer's rows
  Status valid = trainer::validate_model_config(*config, "preset " + a.preset);
  if (!valid.ok()) return report_error(valid);
  std::error_code ec;
  if (!a.force && fs::exists(a.out, ec))
    return report_error(Status::InvalidArgument(a.out + ": already exists (use --force to replace it)"));

  trainer::BaseInfo info;
  info.format = *format;
  info.double_quant = trainer::quant_format_type(*format).double_quant && !a.no_double_quant;
  info.config = *config;
  info.model_toml = trainer::model_config_to_toml(*config);
  info.tokenizer = a.tokenizer;
  info.source = "nightshift init --preset " + a.preset + " --seed " + std::to_string(a.seed);
  // The identity of random weights is what made them: the model, the seed and the storage.
  info.base_id = trainer::hex64(trainer::fnv1a64(info.source + "\n" + info.model_toml + "\n" + a.format +
                                                 (info.double_quant ? " dq" : "")));
  auto data_bytes = trainer::base_data_bytes(info);
  if (!data_bytes.ok()) return report_error(data_bytes.status());
  Status out_ok = check_output(a.out, *data_bytes);
  if (!out_ok.ok()) return report_error(out_ok);

  const auto start = std::chrono::steady_clock::now();
  auto weights = trainer::InitialWeights::create(*config, a.seed);
  if (!weights.ok()) return report_error(weights.status());
  Status st = trainer::write_base_file_streamed(a.out, info, (*weights)->lookup());
  // A write that fails is the output's fault (its disk or its directory); nothing is left at --out.
  if (!st.ok()) return report_error(Status::InvalidArgument(st.message()));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto params = trainer::count_parameters(*config);
  std::printf("%s: %s%s base of %s, random init (seed %llu), %.1fM parameters, %s, base id %s (%.1f s)\n",
              a.out.c_str(), trainer::quant_format_name(info.format), info.double_quant ? " double-quantized" : "",
              config->name.c_str(), static_cast<unsigned long long>(a.seed),
              params.ok() ? static_cast<double>(*params) / 1e6 : 0.0,
              common::format_bytes(fs::file_size(a.out, ec)).c_str(), info.base_id.c_str(), seconds);
  return kExitOk;
}

void register_init_base(CLI::App& root, Action& run) {
  auto a = std::make_shared<InitBaseArgs>();
  CLI::App* cmd = root.add_subcommand(
      "init", "write a randomly initialized frozen base for lora/qlora, tensor by tensor (never the fp32 model)");
  cmd->add_option("--preset", a->preset, "model preset name")->required();
  cmd->add_option("--format", a->format, "nf4 | q8 | f16 | bf16 | f32 (default nf4)");
  cmd->add_option("--out", a->out, "base file to write (.safetensors)")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "byte | gpt2:DIR | a model's tokenizer: the vocabulary (as train)")
      ->default_str(a->tokenizer);
  cmd->add_option("--seed", a->seed, "seed of the weights (train --preset P --seed S starts from the same)")
      ->default_str(std::to_string(a->seed));
  cmd->add_flag("--no-double-quant", a->no_double_quant, "nf4: keep the block scales in fp32");
  cmd->add_flag("--force", a->force, "replace an existing --out file");
  cmd->callback([&run, a] { run = [a] { return init_base_main(*a); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_init_base);
}  // namespace app
