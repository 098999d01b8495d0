// `nightshift export RUN_DIR --out PATH [--format safetensors|hf|gguf] [--force]`: the model of a
// run's newest valid checkpoint — a full run's model, or a lora/qlora run's merged model (the frozen
// base as the run used it, decoded to fp32, plus scale · B·A; app/commands/export_model.h):
//   safetensors (the default)  one file in nightshift's tensor names (docs/model.md); with --adapter
//                              only a lora/qlora run's adapter (the adapter_model.safetensors of
//                              `export-adapter`)
//   hf                         a Hugging Face model directory (trainer/formats/hf_export.h):
//                              config.json of the model's architecture, model.safetensors in HF
//                              names (sharded past --max-shard-size, with the index), and the
//                              tokenizer files of the base's directory; nightshift's own presets
//                              as `llama` (or `mamba`) where that expresses them exactly
//   gguf                       a GGUF file for llama.cpp (app/commands/export_gguf.h)
// Everything is written atomically. Bad input (no valid checkpoint, --adapter on a full run, a model
// without an HF architecture, PATH already there without --force): one line naming the file, exit 2,
// nothing written.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/commands/command_registry.h"
#include "app/commands/export_gguf.h"
#include "app/commands/export_model.h"
#include "common/atomic_file.h"
#include "trainer/arch/hf_layout.h"
#include "trainer/formats/hf_export.h"
#include "trainer/formats/peft.h"
#include "trainer/formats/safetensors.h"


namespace app {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

struct ExportArgs {
  std::string run_dir;
  std::string out;
  std::string format;           // "" = safetensors (today's default, kept for existing scripts)
  std::string outtype = "f32";  // gguf
  std::string max_shard_size = "5GB";
  std::string base_name;  // hf: config.json _name_or_path
  bool adapter = false;
  bool force = false;
};

Status write_weights(const std::string& out, const trainer::Model& model, const trainer::CheckpointInfo& info,
                     const std::string& kind) {
  const trainer::TensorStore& store = model.tensors();
  std::vector<trainer::TensorRef> refs;
  for (size_t i = 0; i < store.specs().size(); ++i) {
    const trainer::TensorSpec& s = store.specs()[i];
    if (s.role == trainer::TensorRole::kWeight) refs.push_back({s.name, s.dtype, s.shape, store.data(i), s.bytes});
  }
  const std::map<std::string, std::string> meta{{"format", "pt"},
                                                {"nightshift.kind", kind},
                                                {"nightshift.step", std::to_string(info.step)},
                                                {"nightshift.model_toml", info.model_toml},
                                                {"nightshift.tokenizer", info.tokenizer_spec}};
  return trainer::write_safetensors(out, refs, meta);  // temporary file, fsync, rename, fsync of the folder
}

// The adapter alone: export_peft_adapter into a private folder beside `out`, then its
// adapter_model.safetensors renamed to `out` (same file system, so the rename is atomic).
Status write_adapter(const std::string& out, const ExportSource& src) {
  const fs::path tmp = fs::path(out).parent_path() / (".export-" + std::to_string(::getpid()) + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  const trainer::HfLayout hf = src.hf_layout();
  Status st = trainer::export_peft_adapter(tmp.string(), *src.checkpoint, base_model_name(src),
                                           src.run.info.shape.lora.base_id, src.run.info.model_toml, &hf);
  if (st.ok() && ::rename((tmp / "adapter_model.safetensors").c_str(), out.c_str()) != 0)
    st = Status::IOError(out + ": cannot rename into place: " + std::strerror(errno));
  if (st.ok()) st = common::fsync_parent_dir(out);
  fs::remove_all(tmp, ec);
  return st;
}

std::string what_of(const ExportSource& src) {
  if (src.full()) return "model";
  return std::string("merged model (") + trainer::train_mode_name(src.run.info.shape.mode) +
         " r=" + std::to_string(src.checkpoint->lora()->rank()) + ")";
}

int export_safetensors(const ExportArgs& a) {
  std::error_code ec;
  if (!a.force && fs::exists(a.out, ec))
    return report_error(Status::InvalidArgument(a.out + ": already exists (use --force to replace it)"));
  const fs::path parent = fs::path(a.out).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    return report_error(Status::NotFound(a.out + ": the folder " + parent.string() + " does not exist"));
  auto src = open_export_source(a.run_dir);
  if (!src.ok()) return report_error(src.status());
  if (a.adapter && src->full())
    return report_error(
        Status::InvalidArgument(a.run_dir + ": a full fine-tuning run has no adapter (drop --adapter)"));
  std::string what;
  Status st;
  if (a.adapter) {
    what = "LoRA adapter r=" + std::to_string(src->checkpoint->lora()->rank());
    st = write_adapter(a.out, *src);
  } else {
    auto model = merged_model(*src);
    if (!model.ok()) return report_error(model.status());
    what = what_of(*src);
    st = write_weights(a.out, **model, src->run.info, src->full() ? "model" : "merged");
  }
  if (!st.ok()) return report_error(st);
  std::printf("%s: %s of %s, step %lld\n", a.out.c_str(), what.c_str(), src->run.info.dir.c_str(),
              static_cast<long long>(src->run.info.step));
  return kExitOk;
}

// The tokenizer files beside the base (an HF directory), or in the folder of the run's hf:/spm:
// tokenizer: what transformers' AutoTokenizer reads.
std::vector<std::string> tokenizer_files(const ExportSource& src) {
  static const char* kNames[] = {"tokenizer.json",  "tokenizer_config.json", "special_tokens_map.json",
                                 "tokenizer.model", "added_tokens.json",     "generation_config.json"};
  std::error_code ec;
  std::vector<fs::path> dirs;
  if (!src.base_path.empty() && fs::is_directory(src.base_path, ec)) dirs.push_back(src.base_path);
  const std::string& spec = src.run.info.tokenizer_spec;
  if (spec.starts_with("hf:") || spec.starts_with("spm:")) {
    const fs::path p = spec.substr(spec.find(':') + 1);
    dirs.push_back(fs::is_directory(p, ec) ? p : p.parent_path());
  }
  for (const fs::path& d : dirs) {
    std::vector<std::string> out;
    for (const char* n : kNames)
      if (fs::is_regular_file(d / n, ec)) out.push_back((d / n).string());
    if (!out.empty()) return out;
  }
  return {};
}

int export_hf(const ExportArgs& a) {
  if (a.adapter)
    return report_error(
        Status::InvalidArgument("--adapter: an adapter for Hugging Face is written by export-adapter --format peft"));
  auto shard = trainer::parse_byte_size(a.max_shard_size);
  if (!shard.ok()) return report_error(shard.status().with_context("--max-shard-size"));
  std::error_code ec;
  if (!a.force && fs::exists(a.out, ec) && !(fs::is_directory(a.out, ec) && fs::is_empty(a.out, ec)))
    return report_error(Status::InvalidArgument(a.out + ": already exists (use --force to replace it)"));
  auto src = open_export_source(a.run_dir);
  if (!src.ok()) return report_error(src.status());
  const trainer::HfLayout layout = src->hf_layout();
  if (layout.arch == nullptr)
    return report_error(Status::InvalidArgument(a.run_dir + ": cannot be written for Hugging Face: " + layout.why_not));
  std::string base_config;
  if (!src->base_path.empty() && fs::is_regular_file(fs::path(src->base_path) / "config.json", ec)) {
    auto text = common::read_file((fs::path(src->base_path) / "config.json").string());
    if (!text.ok()) return report_error(text.status());
    base_config = *text;
  }
  const std::string name = a.base_name.empty() ? base_model_name(*src) : a.base_name;
  auto config = trainer::hf_config_json(src->run.model, layout, base_config, name);
  if (!config.ok()) return report_error(config.status().with_context(src->base_path));
  auto model = merged_model(*src);
  if (!model.ok()) return report_error(model.status());
  trainer::HfDirOptions opt;
  opt.config_json = *config;
  opt.copy_files = tokenizer_files(*src);
  opt.max_shard_bytes = *shard;
  opt.replace = a.force;
  trainer::HfDirSummary sum;
  Status st = trainer::write_hf_model_dir(a.out, **model, layout, opt, &sum);
  if (!st.ok()) return report_error(st);
  std::printf(
      "%s: %s of %s, step %lld, as Hugging Face %s: %d tensors, %.1f MB in %d safetensors file%s, %zu tokenizer "
      "file%s\n",
      a.out.c_str(), what_of(*src).c_str(), src->run.info.dir.c_str(), static_cast<long long>(src->run.info.step),
      layout.model_type.c_str(), sum.tensors, static_cast<double>(sum.total_bytes) / 1e6, sum.shards,
      sum.shards == 1 ? "" : "s", opt.copy_files.size(), opt.copy_files.size() == 1 ? "" : "s");
  if (opt.copy_files.empty())
    std::fprintf(stderr, "note: the base has no Hugging Face tokenizer files (tokenizer %s); add them to %s\n",
                 src->run.info.tokenizer_spec.c_str(), a.out.c_str());
  return kExitOk;
}

int export_main(const ExportArgs& a) {
  if (a.format.empty() || a.format == "safetensors") return export_safetensors(a);
  if (a.format == "hf") return export_hf(a);
  if (a.format == "gguf") return export_gguf_model(a.run_dir, a.out, a.outtype, a.force);
  if (a.format == "peft")
    return report_error(
        Status::InvalidArgument("--format peft: a PEFT adapter is written by nightshift export-adapter RUN --out DIR"));
  return report_error(
      Status::InvalidArgument("--format: unknown format '" + a.format + "' (known: safetensors, hf, gguf)"));
}

void register_export(CLI::App& root, Action& run) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd =
      root.add_subcommand("export", "write the newest model of a run: safetensors, a Hugging Face directory or GGUF");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required();
  cmd->add_option("--out", a->out, "the file (safetensors, gguf) or directory (hf) to write")->required();
  cmd->add_option("--format", a->format,
                  "safetensors (default: nightshift names) | hf (Hugging Face directory) | gguf");
  cmd->add_option("--outtype", a->outtype, "gguf: f32 | f16 | bf16 | q8_0 | q4_0 | q4_k_m (default f32)");
  cmd->add_option("--max-shard-size", a->max_shard_size, "hf: largest safetensors file before sharding (default 5GB)");
  cmd->add_option("--base-name", a->base_name, "hf: the model id written as config.json _name_or_path");
  cmd->add_flag("--adapter", a->adapter, "safetensors of a lora/qlora run: only the adapter tensors (PEFT names)");
  cmd->add_flag("--force", a->force, "replace --out if it exists");
  cmd->callback([&run, a] { run = [a] { return export_main(*a); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_export);
}  // namespace app
