// Test helpers for the llama.cpp reference (tests/reference/llamacpp, installed by scripts/setup.sh):
// where the harness and gguf-py are, running them, and a scratch folder. A test that needs a piece
// that is absent skips, saying what is missing.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace llamacpp_ref {

inline std::string harness() { return NS_LLAMACPP_HARNESS; }
inline std::string gguf_py() { return std::string(NS_LLAMACPP_SRC) + "/gguf-py"; }
inline std::string tool() { return std::string(NS_SOURCE_DIR) + "/tests/reference/llamacpp/gguf_py_tool.py"; }

// Runs a shell command and returns its stdout; `ok` is false when it exits non-zero.
inline std::string run(const std::string& cmd, bool* ok) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *ok = false;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  *ok = ::pclose(p) == 0;
  return out;
}

// Empty when gguf-py can run (Debian's python3 with numpy, and the cloned source); else why not.
inline std::string gguf_py_missing() {
  if (!std::filesystem::exists(gguf_py() + "/gguf/__init__.py")) {
    return "llama.cpp's gguf-py is not installed (run scripts/setup.sh)";
  }
  bool ok = false;
  run("PYTHONPATH='" + gguf_py() + "' /usr/bin/python3 -c 'import numpy, gguf' 2>/dev/null", &ok);
  return ok ? "" : "python3 cannot import numpy and gguf-py (apt-get install python3-numpy python3-yaml)";
}
inline std::string harness_missing() {
#if defined(__x86_64__)
  return harness().empty() || !std::filesystem::exists(harness())
             ? "the llama.cpp harness is not built (run scripts/setup.sh, then reconfigure with cmake)"
             : "";
#else
  return "the llama.cpp harness links node-llama-cpp's prebuilt x86-64 libraries: not built for this architecture";
#endif
}

// gguf_py_tool.py with the given arguments; its stdout.
inline std::string gguf_tool(const std::string& args, bool* ok) {
  return run("PYTHONPATH='" + gguf_py() + "' /usr/bin/python3 '" + tool() + "' " + args, ok);
}

// A fresh scratch folder under the build tree, removed with the object.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    path_ = std::string(NS_BINARY_DIR) + "/test_scratch/" + name + "." + std::to_string(::getpid());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::vector<char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
inline void write_bytes(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

}  // namespace llamacpp_ref
