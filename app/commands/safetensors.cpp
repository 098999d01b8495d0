// `nightshift safetensors FILE [--json] [--rewrite OUT]`: validates a safetensors file (a checkpoint,
// a PEFT adapter, a reference fixture) and lists its metadata and tensors: name, dtype, shape, bytes,
// CRC-32 of the raw data and the sum of the values. --rewrite saves the same tensors and metadata
// through nightshift's own writer. A damaged file exits 2 with one line naming it and the problem.
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app/commands/command_registry.h"
#include "trainer/formats/checksum.h"
#include "trainer/formats/safetensors.h"

namespace app {
namespace {

struct SafetensorsArgs {
  std::string file;
  std::string rewrite;
  bool json = false;
};

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else {  // subnormal: renormalize
    exp = 113;
    while ((man & 0x400) == 0) man <<= 1, --exp;
    bits = sign | (exp << 23) | ((man & 0x3FF) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

double value_sum(const trainer::SafetensorsFile::Entry& e) {
  double sum = 0;
  const size_t n = e.bytes / trainer::dtype_size(e.dtype);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = e.data + i * trainer::dtype_size(e.dtype);
    switch (e.dtype) {
      case trainer::DType::kF32: { float v; std::memcpy(&v, p, 4); sum += v; break; }
      case trainer::DType::kF16: { uint16_t v; std::memcpy(&v, p, 2); sum += half_to_float(v); break; }
      case trainer::DType::kBF16: { uint32_t v = static_cast<uint32_t>(p[0] | (p[1] << 8)) << 16; float f; std::memcpy(&f, &v, 4); sum += f; break; }
      case trainer::DType::kI8: sum += static_cast<int8_t>(*p); break;
      case trainer::DType::kU8: sum += *p; break;
      case trainer::DType::kI32: { int32_t v; std::memcpy(&v, p, 4); sum += v; break; }
      case trainer::DType::kI64: { int64_t v; std::memcpy(&v, p, 8); sum += static_cast<double>(v); break; }
    }
  }
  return sum;
}

int safetensors_main(const SafetensorsArgs& a) {
  common::Result<std::unique_ptr<trainer::SafetensorsFile>> f = trainer::SafetensorsFile::open(a.file);
  if (!f.ok()) return report_error(f.status());
  nlohmann::ordered_json out = {{"file", a.file}, {"metadata", (*f)->metadata()}, {"tensors", nlohmann::json::array()}};
  std::vector<trainer::TensorRef> refs;
  size_t total_bytes = 0;
  for (const auto& [name, e] : (*f)->tensors()) {
    out["tensors"].push_back({{"name", name},
                              {"dtype", trainer::dtype_name(e.dtype)},
                              {"shape", e.shape},
                              {"bytes", e.bytes},
                              {"crc32", trainer::crc32(e.data, e.bytes)},
                              {"sum", value_sum(e)}});
    refs.push_back({name, e.dtype, e.shape, e.data, e.bytes});
    total_bytes += e.bytes;
  }
  if (!a.rewrite.empty()) {
    common::Status s = trainer::write_safetensors(a.rewrite, refs, (*f)->metadata());
    if (!s.ok()) return report_error(s);
  }
  if (a.json) {
    std::printf("%s\n", out.dump().c_str());
    return kExitOk;
  }
  std::printf("%s: %zu tensors, %zu bytes of data\n", a.file.c_str(), refs.size(), total_bytes);
  for (const auto& [k, v] : (*f)->metadata()) std::printf("  metadata %s = %s\n", k.c_str(), v.c_str());
  for (const auto& t : out["tensors"]) {
    std::string shape = "(";
    for (size_t i = 0; i < t["shape"].size(); ++i) shape += (i ? ", " : "") + std::to_string(t["shape"][i].get<int64_t>());
    shape += ")";
    std::printf("  %-40s %-5s %-20s %12zu B  crc32 %08x  sum %.6g\n", t["name"].get<std::string>().c_str(),
                t["dtype"].get<std::string>().c_str(), shape.c_str(), t["bytes"].get<size_t>(), t["crc32"].get<uint32_t>(),
                t["sum"].get<double>());
  }
  return kExitOk;
}

void register_safetensors(CLI::App& root, Action& run) {
  auto args = std::make_shared<SafetensorsArgs>();
  CLI::App* cmd = root.add_subcommand("safetensors", "validate a safetensors file and list its tensors");
  cmd->add_option("FILE", args->file, "a .safetensors file")->required();
  cmd->add_flag("--json", args->json, "one JSON object: file, metadata, tensors (name, dtype, shape, bytes, crc32, sum)");
  cmd->add_option("--rewrite", args->rewrite, "save the same tensors and metadata to this path with nightshift's writer");
  cmd->callback([&run, args] { run = [args] { return safetensors_main(*args); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_safetensors);
}  // namespace app
