// Byte costs of each weight precision; Q8 and NF4 delegate to the engine's own layout.
#include "budget/precision.h"

#include "trainer/quant/format.h"

namespace budget {

using common::Result;
using common::Status;

namespace {

struct PrecisionName {
  Precision p;
  const char* name;
};
constexpr PrecisionName kNames[] = {
    {Precision::kF32, "f32"},     {Precision::kF16, "f16"}, {Precision::kBF16, "bf16"},
    {Precision::kQ8, "q8"},       {Precision::kQ4, "q4"},   {Precision::kNF4, "nf4"},
    {Precision::kNF4DoubleQuant, "nf4-dq"}, {Precision::kTernary, "ternary"}};

constexpr int64_t kQ4Block = 32;       // values per fp16 scale (ggml Q4_0)
constexpr int64_t kTritsPerByte = 5;   // 3^5 = 243 <= 256

}  // namespace

const char* precision_name(Precision p) {
  for (const PrecisionName& n : kNames) {
    if (n.p == p) return n.name;
  }
  return "?";
}

Result<Precision> parse_precision(std::string_view name) {
  for (const PrecisionName& n : kNames) {
    if (name == n.name) return n.p;
  }
  if (name == "nf4dq") return Precision::kNF4DoubleQuant;
  std::string known;
  for (const PrecisionName& n : kNames) known += (known.empty() ? "" : ", ") + std::string(n.name);
  return Status::InvalidArgument("unknown precision '" + std::string(name) + "' (known: " + known + ")");
}

bool nightshift_writes(Precision p) { return p != Precision::kQ4 && p != Precision::kTernary; }

const std::vector<Precision>& report_precisions() {
  static const std::vector<Precision> kList = {Precision::kF32, Precision::kF16, Precision::kQ8,
                                               Precision::kQ4,  Precision::kNF4, Precision::kTernary};
  return kList;
}

uint64_t matrix_bytes(Precision p, int64_t rows, int64_t cols) {
  const uint64_t n = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols);
  auto engine = [&](trainer::QuantFormat f, bool dq) {
    trainer::QuantLayout l;
    l.format = f;
    l.rows = rows;
    l.cols = cols;
    l.double_quant = dq;
    return static_cast<uint64_t>(l.total_bytes());
  };
  switch (p) {
    case Precision::kF32: return engine(trainer::QuantFormat::kF32, false);
    case Precision::kF16: return engine(trainer::QuantFormat::kF16, false);
    case Precision::kBF16: return engine(trainer::QuantFormat::kBF16, false);
    case Precision::kQ8: return engine(trainer::QuantFormat::kQ8, false);
    case Precision::kNF4: return engine(trainer::QuantFormat::kNF4, false);
    case Precision::kNF4DoubleQuant: return engine(trainer::QuantFormat::kNF4, true);
    case Precision::kQ4: {
      uint64_t blocks = (n + kQ4Block - 1) / kQ4Block;
      return blocks * (kQ4Block / 2 + 2);
    }
    case Precision::kTernary: {
      uint64_t per_row = (static_cast<uint64_t>(cols) + kTritsPerByte - 1) / kTritsPerByte + 4;
      return per_row * static_cast<uint64_t>(rows);
    }
  }
  return n * 4;
}

double bits_per_element(Precision p) {
  constexpr int64_t kRows = 4096, kCols = 4096;
  return 8.0 * static_cast<double>(matrix_bytes(p, kRows, kCols)) / static_cast<double>(kRows * kCols);
}

}  // namespace budget
