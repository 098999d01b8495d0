// `nightshift inspect MODEL [--json]`: what nightshift reads from a pretrained model of another tool
// (a .gguf file or a Hugging Face directory, trainer/arch/imported_model.h): its architecture and
// format, the config as nightshift's model TOML (trainer/model_config_toml.h), the tokenizer spec and
// its vocabulary size when it loads, the parameter count, and every tensor stored in the file with
// type, shape and bytes. A run directory (its latest checkpoint's model and tokenizer) or a model
// TOML is listed the same way, its tensors being the fp32 weights nightshift lays out for it.
// Anything else exits 2 with one line naming the path.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/commands/command_registry.h"
#include "app/commands/model_source.h"
#include "trainer/layout.h"
#include "trainer/model_config_toml.h"
#include "trainer/tokenizers/model_tokenizer.h"

namespace app {
namespace {

struct InspectFlags {
  std::string model;
  bool json = false;
};

struct Listing {
  std::string architecture, format;
  trainer::ModelConfig config;
  std::string tokenizer;        // spec, "" when none
  int vocab = -1;               // the tokenizer's vocabulary; -1 when none or it does not load
  std::string tokenizer_error;  // why it did not load
  int64_t params = 0;
  std::vector<trainer::ImportedModel::StoredTensor> tensors;
};

// The fp32 weights nightshift lays out for `config` (a run directory, a model TOML).
common::Status list_weights(const trainer::ModelConfig& config, Listing* out) {
  trainer::RunShape shape;
  shape.training = false;
  NS_ASSIGN_OR_RETURN(std::vector<trainer::TensorSpec> specs, trainer::list_run_tensors(config, shape));
  for (const trainer::TensorSpec& s : specs) {
    if (s.role != trainer::TensorRole::kWeight && s.role != trainer::TensorRole::kFrozenWeight) continue;
    out->tensors.push_back({s.name, "F32", s.shape, s.bytes});
  }
  NS_ASSIGN_OR_RETURN(out->params, trainer::count_parameters(config));
  return common::Status::Ok();
}

common::Result<Listing> list_model(const std::string& path) {
  Listing l;
  if (trainer::ImportedModel::is_importable(path)) {
    NS_ASSIGN_OR_RETURN(ModelSource src, open_imported_source(path, false));
    l.architecture = src.imported->architecture().name;
    l.format = src.imported->format();
    l.config = src.config;
    l.tokenizer = src.imported->tokenizer_spec();
    l.params = src.imported->parameter_count();
    l.tensors = src.imported->stored_tensors();
    if (src.tokenizer != nullptr) l.vocab = src.tokenizer->vocab_size();
    return l;
  }
  if (path.ends_with(".toml")) {
    NS_ASSIGN_OR_RETURN(l.config, trainer::load_model_config_file(path));
    l.architecture = "nightshift";
    l.format = "toml";
    NS_RETURN_IF_ERROR(list_weights(l.config, &l));
    return l;
  }
  NS_ASSIGN_OR_RETURN(ModelSource src, open_model_source(path));
  l.architecture = "nightshift";
  l.format = "run";
  l.config = src.config;
  l.tokenizer = src.run->info.tokenizer_spec;
  l.vocab = src.tokenizer->vocab_size();
  NS_RETURN_IF_ERROR(list_weights(l.config, &l));
  return l;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

int inspect_main(const InspectFlags& f) {
  auto listed = list_model(f.model);
  if (!listed.ok()) return report_error(listed.status());
  Listing& l = *listed;
  // A tokenizer that does not load is reported, not fatal: the weights are still listed.
  if (!l.tokenizer.empty() && l.vocab < 0) {
    auto tok = trainer::tokenizers::make_model_tokenizer(l.tokenizer);
    if (tok.ok()) l.vocab = (*tok)->vocab_size();
    else l.tokenizer_error = tok.status().message();
  }
  uint64_t total_bytes = 0;
  for (const auto& t : l.tensors) total_bytes += t.bytes;
  const std::string toml = trainer::model_config_to_toml(l.config);
  if (f.json) {
    nlohmann::ordered_json j{{"path", f.model},
                             {"architecture", l.architecture},
                             {"format", l.format},
                             {"config", toml},
                             {"tokenizer", l.tokenizer},
                             {"tokenizer_vocab", l.vocab >= 0 ? nlohmann::ordered_json(l.vocab) : nlohmann::ordered_json(nullptr)},
                             {"parameters", l.params},
                             {"tensor_bytes", total_bytes},
                             {"tensors", nlohmann::json::array()}};
    if (!l.tokenizer_error.empty()) j["tokenizer_error"] = l.tokenizer_error;
    for (const auto& t : l.tensors) j["tensors"].push_back({{"name", t.name}, {"type", t.type}, {"shape", t.shape}, {"bytes", t.bytes}});
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return kExitOk;
  }
  std::printf("%s: %s (%s), %lld parameters, %zu tensors, %llu bytes of data\n", f.model.c_str(), l.architecture.c_str(),
              l.format.c_str(), static_cast<long long>(l.params), l.tensors.size(),
              static_cast<unsigned long long>(total_bytes));
  if (l.tokenizer.empty()) std::printf("tokenizer: none\n");
  else if (l.vocab >= 0) std::printf("tokenizer: %s (%d tokens)\n", l.tokenizer.c_str(), l.vocab);
  else std::printf("tokenizer: %s (does not load: %s)\n", l.tokenizer.c_str(), l.tokenizer_error.c_str());
  std::printf("config (model TOML):\n");
  for (size_t start = 0; start < toml.size();) {
    const size_t nl = toml.find('\n', start);
    const std::string line = toml.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    std::printf("%s%s\n", line.empty() ? "" : "  ", line.c_str());
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  std::printf("tensors:\n");
  for (const auto& t : l.tensors) {
    std::printf("  %-40s %-6s %-20s %12llu B\n", t.name.c_str(), t.type.c_str(), shape_text(t.shape).c_str(),
                static_cast<unsigned long long>(t.bytes));
  }
  return kExitOk;
}

void register_inspect(CLI::App& root, Action& run) {
  auto f = std::make_shared<InspectFlags>();
  CLI::App* cmd = root.add_subcommand(
      "inspect", "list a pretrained model (.gguf file, Hugging Face directory), a run or a model TOML as nightshift reads it");
  cmd->add_option("MODEL", f->model, "a .gguf file, a Hugging Face directory, a run directory or a model .toml")->required();
  cmd->add_flag("--json", f->json,
                "one JSON object: path, architecture, format, config (model TOML), tokenizer, tokenizer_vocab, "
                "parameters, tensor_bytes, tensors (name, type, shape, bytes)");
  cmd->callback([&run, f] { run = [f] { return inspect_main(*f); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_inspect);
}  // namespace app
