#!/usr/bin/env bash
# Installs every Debian 12 package that nightshift's build, tests and benchmarks need, plus the npm
# packages the tokenizer tests compare against (gpt-3-encoder; node-llama-cpp for llama.cpp's source). Safe to run twice: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config git
  libopenblas-openmp-dev          # cblas_sgemm, sharing the OpenMP thread pool with our loops
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libsqlite3-dev sqlite3          # the run log
  libncurses-dev                  # the dashboard
  libsensors-dev lm-sensors       # temperatures (lm-sensors gives the `sensors` command)
  libhwloc-dev hwloc              # host detection
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-torch python3-numpy   # the independent PyTorch reference and the benchmarks
  tmux                            # dashboard tests drive the TUI as a person would
  util-linux                      # unshare, for the fake hwmon tree test
  fortune-mod fortunes fortunes-min     # a real English corpus for the quick start
  nodejs npm                      # an independent GPT-2 tokenizer (gpt-3-encoder) for the tokenizer test
  libpcre2-dev                    # the models' tokenizers run their pre-tokenizer regexes with PCRE2
  libutf8proc-dev                 # Unicode normalization (NFC...) that tokenizer.json files ask for
  libsentencepiece-dev            # SentencePiece tokenizer.model files (Llama 2, Mistral, Gemma)
  sentencepiece                   # spm_train/spm_encode: the reference the SentencePiece tests compare with
  python3-yaml                    # imported by llama.cpp's gguf-py (tests/reference/llamacpp)
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# node and npm may already come from elsewhere on the machine; don't fight them.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do
    [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# The independent GPT-2 tokenizer used by tests/reference (not needed to run nightshift).
if [ ! -d tests/reference/js/node_modules/gpt-3-encoder ]; then
  if command -v npm >/dev/null; then
    mkdir -p tests/reference/js
    (cd tests/reference/js && npm install --no-audit --no-fund --silent gpt-3-encoder@1.1.4) \
      || echo "setup: npm install gpt-3-encoder failed; the tokenizer cross-check will be skipped"
  fi
fi
# llama.cpp's source (a git bundle inside the npm package node-llama-cpp, pinned) for its tokenizer
# test vectors (models/ggml-vocab-*.gguf with .inp/.out) and gguf-py, which reads them.
LLAMACPP=tests/reference/llamacpp
LLAMACPP_VERSION=3.21.1
if [ ! -f "$LLAMACPP/node_modules/node-llama-cpp/package.json" ] ||
   ! grep -q "\"version\": \"$LLAMACPP_VERSION\"" "$LLAMACPP/node_modules/node-llama-cpp/package.json"; then
  if command -v npm >/dev/null; then
    mkdir -p "$LLAMACPP"
    (cd "$LLAMACPP" && npm install --no-audit --no-fund --silent --no-save --ignore-scripts --omit=optional \
        "node-llama-cpp@$LLAMACPP_VERSION" "@node-llama-cpp/linux-x64@$LLAMACPP_VERSION") \
      || echo "setup: npm install node-llama-cpp failed; the llama.cpp tokenizer vectors will be skipped"
  fi
fi
if [ -f "$LLAMACPP/node_modules/node-llama-cpp/llama/gitRelease.bundle" ] && [ ! -d "$LLAMACPP/llama.cpp/models" ]; then
  rm -rf "$LLAMACPP/llama.cpp"
  git clone -q "$LLAMACPP/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$LLAMACPP/llama.cpp" 2>/dev/null \
    || echo "setup: cloning llama.cpp's source bundle failed; the llama.cpp tokenizer vectors will be skipped"
fi
echo "setup: done"
