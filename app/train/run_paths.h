// What makes a run directory self-contained: the data and tokenizer paths of a run are stored
// absolute (so `eval` and `sample` work from any directory), and a gpt2 tokenizer's files are
// copied into RUN_DIR/tokenizer/ (so the run still decodes after the original folder moved).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "trainer/tokenizers/tokenizer.h"

namespace app {

// The folder of a run directory holding its copy of the tokenizer files.
inline constexpr const char* kRunTokenizerDir = "tokenizer";

// `path` made absolute (against the working directory) and normalized; "" stays "".
std::string absolute_path(const std::string& path);
// "gpt2:DIR" with DIR absolute; other specs ("byte") unchanged.
std::string absolute_tokenizer_spec(const std::string& spec);

// Copies the files of a "gpt2:DIR" tokenizer into RUN_DIR/tokenizer/ (written atomically); nothing
// for other tokenizers. IOError naming the file that could not be read or written.
common::Status copy_tokenizer_into_run(const std::string& spec, const std::string& run_dir);

// The tokenizer of a run: `spec` itself, or, when a gpt2 folder can no longer be read, the copy in
// RUN_DIR/tokenizer/. The original error when neither works.
common::Result<std::unique_ptr<trainer::Tokenizer>> open_run_tokenizer(const std::string& spec,
                                                                      const std::string& run_dir);

}  // namespace app
