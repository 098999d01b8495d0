// lora/qlora setup of `nightshift train` (lora_run.h): [lora] table (toml++), flags, base, adapter.
#include "app/train/lora_run.h"

#include <set>

#include <nlohmann/json.hpp>

#include "common/toml/toml_fields.h"
#include "trainer/lora/merge.h"
#include "trainer/lora/plan.h"

namespace app {

using common::Result;
using common::Status;
using trainer::TrainMode;

namespace {

// "--targets all": every known target kind that this model has a linear map for (a pure attention
// model has no in_proj, a model without experts no router).
common::Result<std::vector<std::string>> targets_present(const trainer::ModelConfig& model) {
  trainer::RunShape probe;
  probe.training = false;
  NS_ASSIGN_OR_RETURN(std::vector<trainer::TensorSpec> specs, trainer::list_run_tensors(model, probe));
  std::set<std::string> present;
  for (const trainer::TensorSpec& t : specs) {
    if (t.linear) present.insert(trainer::lora_target_key(t.name));
  }
  std::vector<std::string> out;
  for (const std::string& k : trainer::known_lora_targets()) {
    if (present.count(k)) out.push_back(k);
  }
  return out;
}

// The [lora] table of a run TOML as flags (only what the table sets).
Result<LoraFlags> read_lora_table(const std::string& file) {
  LoraFlags f;
  if (file.empty()) return f;
  toml::table doc;
  try {
    doc = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    return common::tomlf::parse_error(e, file);
  }
  const toml::table* t = doc["lora"].as_table();
  if (t == nullptr) return f;
  // Errors name the table: "run.toml: [lora] rank must be an integer".
  common::tomlf::Fields fields(*t, file);
  fields.in_table("[lora]");
  for (const auto& [key, node] : *t) {
    const std::string k(key.str());
    const char* name = k.c_str();
    if (k == "mode") NS_RETURN_IF_ERROR(fields.string(name, &f.mode));
    else if (k == "base") NS_RETURN_IF_ERROR(fields.string(name, &f.base));
    else if (k == "adapter") NS_RETURN_IF_ERROR(fields.string(name, &f.adapter));
    else if (k == "base_format") NS_RETURN_IF_ERROR(fields.string(name, &f.base_format));
    else if (k == "compute_dtype") NS_RETURN_IF_ERROR(fields.string(name, &f.compute_dtype));
    else if (k == "rank") NS_RETURN_IF_ERROR(fields.integer(name, &f.rank));
    else if (k == "rank_floor") NS_RETURN_IF_ERROR(fields.integer(name, &f.rank_floor));
    else if (k == "rank_ceiling") NS_RETURN_IF_ERROR(fields.integer(name, &f.rank_ceiling));
    else if (k == "alpha") NS_RETURN_IF_ERROR(fields.number(name, &f.alpha));
    else if (k == "double_quant") {
      bool double_quant = true;
      NS_RETURN_IF_ERROR(fields.boolean(name, &double_quant));
      f.no_double_quant = !double_quant;
    } else if (k == "targets") {
      if (node.is_string()) {
        f.targets = node.value<std::string>();
      } else if (const toml::array* arr = node.as_array()) {
        std::string csv;
        for (const toml::node& n : *arr) {
          if (!n.is_string()) return fields.bad(name, "must hold strings");
          csv += (csv.empty() ? "" : ",") + *n.value<std::string>();
        }
        f.targets = csv;
      } else {
        return fields.bad(name, "must be a list of names");
      }
    } else {
      return Status::InvalidArgument(file + ": [lora] unknown key '" + k +
                                     "' (known: mode, base, rank, alpha, targets, rank_floor, rank_ceiling, "
                                     "adapter, base_format, double_quant, compute_dtype)");
    }
  }
  return f;
}

template <typename T>
void overlay(std::optional<T>* dst, const std::optional<T>& src) {
  if (src) *dst = src;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

// The base defines the model and the tokenizer; an unset run directory becomes runs/<model>-<mode>.
Status adopt_base_model(const trainer::BaseInfo& bi, const std::string& base, const std::string& mode,
                        bool out_flag_given, RunConfig* c) {
  if (!bi.tokenizer.empty()) {
    if (c->tokenizer != "byte" && c->tokenizer != bi.tokenizer)
      return Status::InvalidArgument(base + ": the base was trained with tokenizer " + bi.tokenizer + ", not " +
                                     c->tokenizer);
    c->tokenizer = bi.tokenizer;
  }
  const std::string default_out = default_run_dir(c->model.name);
  c->model = bi.config;
  c->model_source = "base:" + base;
  if (!out_flag_given && c->out_dir == default_out) c->out_dir = default_run_dir(bi.config.name + "-" + mode);
  return Status::Ok();
}

}  // namespace

void add_lora_flags(CLI::App* cmd, LoraFlags* f) {
  cmd->add_option("--mode", f->mode, "full | lora | qlora (lora/qlora train adapters on a frozen --base)");
  cmd->add_option("--base", f->base,
                  "the model to start from: a GGUF file, a Hugging Face model directory, a full checkpoint, or "
                  "(lora/qlora) a base file from nightshift quantize");
  cmd->add_option("--rank", f->rank, "LoRA rank r (default 16)");
  cmd->add_option("--alpha", f->alpha, "LoRA alpha; scale = alpha / rank (default alpha = rank)");
  cmd->add_option("--targets", f->targets, "adapted matrices: q,k,v,o,gate,up,down,in_proj,out_proj,... or all");
  cmd->add_option("--rank-floor", f->rank_floor, "lowest rank the governor may shrink to (default 1)");
  cmd->add_option("--rank-ceiling", f->rank_ceiling, "highest rank the adapters may grow to (default --rank)");
  cmd->add_option("--adapter", f->adapter, "continue from a PEFT adapter directory (sets rank, alpha, targets)");
  cmd->add_option("--base-format,--quant", f->base_format,
                  "storage of a base quantized on load (a checkpoint, an HF model in qlora mode): nf4 | q8_0 | q4_k (qlora), "
                  "f32 | f16 | bf16 (lora); a GGUF base keeps its own types");
  cmd->add_flag("--no-double-quant", f->no_double_quant, "nf4 base from a checkpoint: keep the block scales in fp32");
  cmd->add_option("--compute-dtype", f->compute_dtype,
                  "arithmetic of the frozen base's products (lora/qlora): fp32 (default) | bf16 (bf16 dot products "
                  "accumulating in fp32, CPUs with AVX512_BF16) | auto (bf16 where the CPU has it, else fp32)");
  cmd->add_flag("--stream-base", f->stream_base,
                "a base read from its file (.gguf; HF directory in lora mode) that may exceed the memory budget: "
                "the page cache keeps what fits, the rest is read from disk every step");
}

Result<LoraRun> resolve_lora(const std::string& config_file, const LoraFlags& flags, bool model_flag_given,
                             bool out_flag_given, RunConfig* c) {
  NS_ASSIGN_OR_RETURN(LoraFlags f, read_lora_table(config_file));
  overlay(&f.mode, flags.mode);
  overlay(&f.base, flags.base);
  overlay(&f.targets, flags.targets);
  overlay(&f.adapter, flags.adapter);
  overlay(&f.base_format, flags.base_format);
  overlay(&f.compute_dtype, flags.compute_dtype);
  overlay(&f.rank, flags.rank);
  overlay(&f.rank_floor, flags.rank_floor);
  overlay(&f.rank_ceiling, flags.rank_ceiling);
  overlay(&f.alpha, flags.alpha);
  if (flags.no_double_quant) f.no_double_quant = true;
  if (flags.stream_base) f.stream_base = true;

  LoraRun run;
  const std::string mode = f.mode.value_or("full");
  if (mode == "lora") run.mode = TrainMode::kLora;
  else if (mode == "qlora") run.mode = TrainMode::kQlora;
  else if (mode != "full") return Status::InvalidArgument("--mode: unknown mode '" + mode + "' (known: full, lora, qlora)");
  if (run.mode == TrainMode::kFull) {
    if (f.rank || f.alpha || f.targets || f.adapter || f.rank_floor || f.rank_ceiling || f.base_format || f.stream_base ||
        (f.compute_dtype && *f.compute_dtype != "fp32"))
      return Status::InvalidArgument("--rank, --alpha, --targets, --adapter, --base-format, --stream-base, --compute-dtype "
                                     "and the rank limits need --mode lora or qlora");
    if (!f.base) return run;
  }
  if (!f.base)
    return Status::InvalidArgument("--mode " + mode + " needs --base BASE (a GGUF file, a Hugging Face model directory, a base "
                                   "file from nightshift quantize, or a full checkpoint)");
  if (model_flag_given) return Status::InvalidArgument("the base defines the model: drop --preset / --model");
  run.base_path = *f.base;
  NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::BaseSource> base, trainer::BaseSource::open(*f.base));
  run.base = std::move(base);
  const trainer::BaseInfo& bi = run.base->info();
  if (run.mode == TrainMode::kFull) {
    if (!run.base->converts_on_load())
      return Status::InvalidArgument(*f.base + ": a base file is a frozen base for --mode lora or qlora; a full "
                                     "fine-tune starts from the checkpoint or model it came from");
    NS_RETURN_IF_ERROR(adopt_base_model(bi, *f.base, mode, out_flag_given, c));
    return run;
  }

  trainer::RunShape& s = c->shape;
  s.mode = run.mode;
  run.compute_dtype_request = f.compute_dtype.value_or("fp32");
  NS_ASSIGN_OR_RETURN(s.lora.compute_dtype, resolve_compute_dtype(run.compute_dtype_request));
  const trainer::ImportedModel* imported = run.base->imported();
  if (imported != nullptr && (std::string(imported->format()) == "gguf" || run.mode == TrainMode::kLora)) {
    // A GGUF base stays in its own types, an HF base in lora mode in its F16/BF16/F32: both mapped.
    if (f.base_format)
      return Status::InvalidArgument(*f.base + ": this base stays memory-mapped in its own types; --base-format / --quant "
                                     "apply to a Hugging Face base in qlora mode");
    s.lora.mapped_base = true;
  } else if (imported != nullptr && f.base_format && (*f.base_format == "q4_k" || *f.base_format == "q4_K")) {
    // An HF base in qlora mode, encoded into ggml's Q4_K on load (rows that are not whole 256-value
    // blocks into Q8_0, as llama-quantize's Q4_K_M falls back) and multiplied through the type table.
    NS_RETURN_IF_ERROR(run.base->encode_on_load("q4_K"));
    s.lora.mapped_base = true;
    s.lora.mapped_encoding = "q4_K";
  } else if (run.base->converts_on_load()) {
    std::string fmt = f.base_format.value_or(run.mode == TrainMode::kQlora ? "nf4" : "f32");
    if (fmt == "q8_0") fmt = "q8";
    auto parsed = trainer::parse_quant_format(fmt);
    if (!parsed.ok()) return parsed.status().with_context("--base-format");
    s.lora.base_format = *parsed;
    s.lora.double_quant = trainer::quant_format_type(*parsed).double_quant && !f.no_double_quant;
  } else {
    if (f.base_format && *f.base_format != trainer::quant_format_name(bi.format))
      return Status::InvalidArgument(*f.base + ": the base file is stored as " + trainer::quant_format_name(bi.format) +
                                     ", not " + *f.base_format + "; quantize the full checkpoint to " + *f.base_format);
    s.lora.base_format = bi.format;
    s.lora.double_quant = bi.double_quant;
  }
  NS_RETURN_IF_ERROR(trainer::validate_lora_settings([&] {
                       trainer::RunShape probe = s;
                       probe.lora_rank = 1;
                       return probe;
                     }())
                         .with_context(*f.base));

  if (f.adapter) {
    run.adapter_dir = *f.adapter;
    NS_ASSIGN_OR_RETURN(trainer::PeftAdapter a, trainer::read_peft_adapter(
                                                   *f.adapter, &bi.config, imported ? &imported->architecture() : nullptr));
    NS_RETURN_IF_ERROR(trainer::check_adapter_matches_base(a, bi, *f.adapter));
    if (f.rank && *f.rank != a.rank)
      return Status::InvalidArgument(*f.adapter + ": the adapter has rank " + std::to_string(a.rank) + ", not --rank " +
                                     std::to_string(*f.rank));
    if (f.alpha && *f.alpha != a.lora_alpha)
      return Status::InvalidArgument(*f.adapter + ": the adapter has lora_alpha " + std::to_string(a.lora_alpha) +
                                     ", not --alpha " + std::to_string(*f.alpha));
    if (f.targets && *f.targets != join(a.target_modules))
      return Status::InvalidArgument(*f.adapter + ": the adapter adapts " + join(a.target_modules) + ", not --targets " +
                                     *f.targets);
    f.rank = a.rank;
    f.alpha = a.lora_alpha;
    f.targets = join(a.target_modules);
    run.adapter = std::make_shared<trainer::PeftAdapter>(std::move(a));
  }
  s.lora_rank = f.rank.value_or(16);
  s.lora.alpha = f.alpha.value_or(0.0);
  if (f.rank_ceiling && *f.rank_ceiling < s.lora_rank)
    return Status::InvalidArgument("--rank-ceiling " + std::to_string(*f.rank_ceiling) + " is below --rank " +
                                   std::to_string(s.lora_rank));
  if (f.rank_floor && (*f.rank_floor < 1 || *f.rank_floor > s.lora_rank))
    return Status::InvalidArgument("--rank-floor must be between 1 and --rank " + std::to_string(s.lora_rank));
  s.lora.rank_max = f.rank_ceiling.value_or(s.lora_rank);
  s.lora.rank_floor = f.rank_floor.value_or(1);
  s.lora.base_id = bi.base_id;
  s.lora.targets.clear();
  if (f.targets && *f.targets == "all") {
    NS_ASSIGN_OR_RETURN(s.lora.targets, targets_present(bi.config));
  } else if (f.targets) {
    NS_ASSIGN_OR_RETURN(s.lora.targets, trainer::parse_lora_targets(*f.targets));
  }
  NS_RETURN_IF_ERROR(adopt_base_model(bi, *f.base, mode, out_flag_given, c));
  if (s.lora.mapped_base) {
    NS_ASSIGN_OR_RETURN(s.lora.mapped_bytes, run.base->mapped_bytes(c->model));
  }
  if (f.stream_base && !(s.lora.mapped_base && s.lora.mapped_encoding.empty())) {
    return Status::InvalidArgument(
        "--stream-base: only a base read in its file's own types can be streamed (lora/qlora over a .gguf, or lora "
        "over a Hugging Face directory, without --base-format or --quant)");
  }
  s.lora.stream_base = f.stream_base;
  return run;
}

Result<trainer::quant::ComputeDtype> resolve_compute_dtype(const std::string& value) {
  using trainer::quant::ComputeDtype;
  const bool has_bf16 = trainer::quant::cpu_has_avx512_bf16();
  if (value == "fp32") return ComputeDtype::kF32;
  if (value == "auto") return has_bf16 ? ComputeDtype::kBf16 : ComputeDtype::kF32;
  if (value == "bf16") {
    if (!has_bf16)
      return Status::InvalidArgument("--compute-dtype bf16: this CPU has no AVX512_BF16 (bf16 dot products); use fp32, "
                                     "or auto to compute in bf16 only where the CPU has it");
    return ComputeDtype::kBf16;
  }
  return Status::InvalidArgument("--compute-dtype: unknown value '" + value + "' (known: fp32, bf16, auto)");
}

Status check_lora_resume(const trainer::CheckpointInfo& info, const RunConfig& c) {
  const trainer::RunShape& a = info.shape;
  const trainer::RunShape& b = c.shape;
  if (a.mode != b.mode)
    return Status::InvalidArgument(c.out_dir + ": holds a " + trainer::train_mode_name(a.mode) + " run, not " +
                                   trainer::train_mode_name(b.mode) + "; choose another --out");
  if (a.mode == TrainMode::kFull) return Status::Ok();
  if (a.lora.base_id != b.lora.base_id || a.lora.base_format != b.lora.base_format ||
      a.lora.mapped_base != b.lora.mapped_base || a.lora.mapped_encoding != b.lora.mapped_encoding ||
      trainer::lora_rank_capacity(a) != trainer::lora_rank_capacity(b) || a.lora.targets != b.lora.targets ||
      a.lora_rank != b.lora_rank || a.lora.alpha != b.lora.alpha)
    return Status::InvalidArgument(c.out_dir + ": holds a " + trainer::train_mode_name(a.mode) +
                                   " run with another base, rank, alpha or targets; choose another --out");
  return Status::Ok();
}

Status prepare_lora_model(const LoraRun& run, trainer::Model& model, bool resumed) {
  if (resumed) {
    // The checkpoint holds every weight but a mapped base's: point those at the file again.
    if (run.mode != TrainMode::kFull && model.shape().lora.mapped_base) return run.base->map_into(model);
    return Status::Ok();
  }
  if (run.mode == TrainMode::kFull) {
    if (!run.base) return Status::Ok();
    NS_RETURN_IF_ERROR(run.base->fill_full(model));
    run.base->release_resident_pages();
    return Status::Ok();
  }
  NS_RETURN_IF_ERROR(run.base->fill(model));
  // The frozen base is now in the model's own memory: the file's pages need not stay resident for
  // the whole run (the planner counts the base once).
  run.base->release_resident_pages();
  if (run.adapter) NS_RETURN_IF_ERROR(trainer::load_peft_adapter(*run.adapter, model, run.adapter_dir));
  return Status::Ok();
}

std::string add_lora_to_run_json(const std::string& run_json, const LoraRun& run) {
  nlohmann::json j = nlohmann::json::parse(run_json, nullptr, false);
  if (!j.is_object()) j = nlohmann::json::object();
  if (run.mode != TrainMode::kFull)
    j["lora"] = {{"mode", trainer::train_mode_name(run.mode)},
                 {"base", run.base_path},
                 {"adapter", run.adapter_dir},
                 {"compute_dtype", run.compute_dtype_request}};
  else if (run.base)
    j["base"] = run.base_path;
  return j.dump();
}

}  // namespace app
