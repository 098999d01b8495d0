// `nightshift quantize CKPT --format nf4|q8|f16|bf16|f32 --out BASE`: writes a base file for lora /
// qlora runs (trainer/quant/base_file.h) from a full checkpoint (a run directory or one of its checkpoint
// directories). nf4 double-quantizes its scales unless --no-double-quant. Bad input (not a
// checkpoint, a lora checkpoint, an unknown format, an existing BASE without --force): one line,
// exit 2, nothing written.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "app/commands/command_registry.h"
#include "trainer/quant/base_file.h"

namespace app {
namespace {

namespace fs = std::filesystem;
using common::Status;

struct QuantizeArgs {
  std::string checkpoint;
  std::string format = "nf4";
  std::string out;
  bool no_double_quant = false;
  bool force = false;
};

int quantize_main(const QuantizeArgs& a) {
  auto format = trainer::parse_quant_format(a.format);
  if (!format.ok()) return report_error(format.status().with_context("--format"));
  std::error_code ec;
  if (!a.force && fs::exists(a.out, ec))
    return report_error(Status::InvalidArgument(a.out + ": already exists (use --force to replace it)"));
  auto source = trainer::BaseSource::open(a.checkpoint);
  if (!source.ok()) return report_error(source.status());
  if (!(*source)->converts_on_load())
    return report_error(Status::InvalidArgument(a.checkpoint + ": is already a base file (" +
                                                trainer::quant_format_name((*source)->info().format) +
                                                "); quantize the full checkpoint it came from"));
  trainer::BaseInfo info = (*source)->info();
  info.format = *format;
  info.double_quant = trainer::quant_format_type(*format).double_quant && !a.no_double_quant;
  Status st = trainer::write_base_file(a.out, info, (*source)->f32_lookup());
  if (!st.ok()) return report_error(st);
  const uint64_t bytes = fs::file_size(a.out, ec);
  // The source's weights: a GGUF file, or the safetensors files of a checkpoint or HF directory.
  uint64_t src_bytes = 0;
  if (fs::is_regular_file(info.source, ec)) {
    src_bytes = fs::file_size(info.source, ec);
  } else {
    for (const auto& e : fs::directory_iterator(info.source, ec))
      if (e.path().extension() == ".safetensors") src_bytes += e.file_size(ec);
  }
  const std::string share =
      src_bytes ? fmt::format(" ({:.1f}% of the source's weights)", 100.0 * static_cast<double>(bytes) / static_cast<double>(src_bytes)) : "";
  std::printf("%s: %s%s base of %s (%s), %.2f MiB%s, base id %s\n", a.out.c_str(),
              trainer::quant_format_name(info.format), info.double_quant ? " double-quantized" : "",
              info.config.name.c_str(), info.source.c_str(), static_cast<double>(bytes) / (1 << 20), share.c_str(),
              info.base_id.c_str());
  return kExitOk;
}

void register_quantize(CLI::App& root, Action& run) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = root.add_subcommand("quantize", "store a checkpoint's weights as a frozen base for lora/qlora");
  cmd->add_option("checkpoint", a->checkpoint, "run directory (latest checkpoint) or checkpoint directory")->required();
  cmd->add_option("--format", a->format, "nf4 | q8 | f16 | bf16 | f32 (default nf4)");
  cmd->add_option("--out", a->out, "base file to write (.safetensors)")->required();
  cmd->add_flag("--no-double-quant", a->no_double_quant, "nf4: keep the block scales in fp32");
  cmd->add_flag("--force", a->force, "replace an existing --out file");
  cmd->callback([&run, a] { run = [a] { return quantize_main(*a); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_quantize);
}  // namespace app
