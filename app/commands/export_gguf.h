// GGUF output of `nightshift export --format gguf` and `nightshift export-adapter --format gguf`
// (app/commands/export_gguf.cpp): the model of a run, or a lora/qlora run's adapter, as files that
// llama.cpp, ollama and LM Studio load. Each returns the command's exit code.
#pragma once

#include <string>

namespace app {

// The newest checkpoint's model (a full run's weights, or a lora/qlora run's base with its adapters
// merged) as a GGUF at `out` with 2-D weights of `outtype` (f32|f16|bf16|q8_0|q4_0|q4_k_m).
int export_gguf_model(const std::string& run_dir, const std::string& out, const std::string& outtype, bool force);

// A lora/qlora run's adapter as a llama.cpp LoRA GGUF at `out` (used with `--lora` over the base's GGUF).
int export_gguf_adapter(const std::string& run_dir, const std::string& out, bool force);

}  // namespace app
