#!/usr/bin/env bash
# Installs every Debian 12 package that nightshift's build, tests and benchmarks need, plus the npm
# packages the tests compare against (gpt-3-encoder; node-llama-cpp for llama.cpp's libraries and
# source). Safe to run twice: it installs only what is missing.
# `--aarch64` installs the cross toolchain and arm64 libraries instead (scripts/test-aarch64.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config git ccache
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
  time                            # GNU time: peak resident memory of real runs (qlora_rss_test)
  fortune-mod fortunes fortunes-min     # a real English corpus for the quick start
  nodejs npm                      # an independent GPT-2 tokenizer (gpt-3-encoder) for the tokenizer test
  libpcre2-dev                    # the models' tokenizers run their pre-tokenizer regexes with PCRE2
  libutf8proc-dev                 # Unicode normalization (NFC...) that tokenizer.json files ask for
  libsentencepiece-dev            # SentencePiece tokenizer.model files (Llama 2, Mistral, Gemma)
  sentencepiece                   # spm_train/spm_encode: the reference the SentencePiece tests compare with
  python3-yaml                    # imported by llama.cpp's gguf-py (tests/reference/llamacpp)
  clang-format                    # the house style (.clang-format), for new and changed code
)
# `setup.sh --aarch64` (scripts/test-aarch64.sh): the cross toolchain, qemu, and the arm64 builds of
# the libraries nightshift links, installed side by side through Debian multiarch.
PACKAGES_AARCH64=(
  g++-aarch64-linux-gnu           # the cross compiler (with the arm64 libstdc++ and libgomp)
  qemu-user                       # qemu-aarch64 runs the arm64 test binaries here
  libopenblas-openmp-dev:arm64 libfmt-dev:arm64 libtomlplusplus-dev:arm64
  libsqlite3-dev:arm64 libncurses-dev:arm64 libsensors-dev:arm64 libhwloc-dev:arm64
  libgtest-dev:arm64 libgmock-dev:arm64
  libpcre2-dev:arm64 libutf8proc-dev:arm64    # the models' tokenizers
)
# Debian 12's libsentencepiece0 and libsentencepiece-dev are not Multi-Arch: same: installing the
# arm64 ones removes the host's. Their arm64 files are unpacked (not installed) into this folder
# instead, which cmake/aarch64-linux-gnu.cmake searches.
UNPACK_AARCH64=(libsentencepiece0:arm64 libsentencepiece-dev:arm64)
AARCH64_SYSROOT=build-aarch64-sysroot

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if [ "${1:-}" = "--aarch64" ]; then
  PACKAGES=("${PACKAGES_AARCH64[@]}")
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "setup: adding the arm64 architecture (Debian multiarch)"
    $SUDO dpkg --add-architecture arm64
    $SUDO apt-get update -q
  fi
fi

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

if [ "${1:-}" = "--aarch64" ]; then
  if [ ! -f "$AARCH64_SYSROOT/.done" ]; then
    echo "setup: unpacking ${UNPACK_AARCH64[*]} into $AARCH64_SYSROOT/"
    rm -rf "$AARCH64_SYSROOT" && mkdir -p "$AARCH64_SYSROOT/debs"
    (cd "$AARCH64_SYSROOT/debs" && apt-get download -q "${UNPACK_AARCH64[@]}")
    for deb in "$AARCH64_SYSROOT"/debs/*.deb; do dpkg-deb -x "$deb" "$AARCH64_SYSROOT"; done
    # The .pc files name /usr; point them at the unpacked tree.
    sed -i "s|^prefix=/usr\$|prefix=$PWD/$AARCH64_SYSROOT/usr|" "$AARCH64_SYSROOT"/usr/lib/aarch64-linux-gnu/pkgconfig/*.pc
    touch "$AARCH64_SYSROOT/.done"
  fi
  echo "setup: done (aarch64 cross packages)"
  exit 0
fi

# The independent GPT-2 tokenizer used by tests/reference (not needed to run nightshift).
if [ ! -d tests/reference/js/node_modules/gpt-3-encoder ]; then
  if command -v npm >/dev/null; then
    mkdir -p tests/reference/js
    (cd tests/reference/js && npm install --no-audit --no-fund --silent gpt-3-encoder@1.1.4) \
      || echo "setup: npm install gpt-3-encoder failed; the tokenizer cross-check will be skipped"
  fi
fi
# llama.cpp as the independent reference for GGUF files, ggml's block types and tokenizers: the
# prebuilt libraries of node-llama-cpp's linux-x64 package, and llama.cpp's source (its git bundle
# in the same package: headers, gguf-py, vocab test files). Tests that need them skip when absent.
LLAMACPP=tests/reference/llamacpp
LLAMACPP_VERSION=3.21.1
if [ ! -f "$LLAMACPP/node_modules/@node-llama-cpp/linux-x64/package.json" ] ||
   ! grep -q "\"version\": \"$LLAMACPP_VERSION\"" "$LLAMACPP/node_modules/node-llama-cpp/package.json" 2>/dev/null; then
  if command -v npm >/dev/null; then
    (cd "$LLAMACPP" && npm install --no-audit --no-fund --silent --no-save --ignore-scripts --omit=optional \
        "node-llama-cpp@$LLAMACPP_VERSION" "@node-llama-cpp/linux-x64@$LLAMACPP_VERSION") \
      || echo "setup: npm install node-llama-cpp failed; the llama.cpp cross-checks will be skipped"
  fi
fi
if [ -f "$LLAMACPP/node_modules/node-llama-cpp/llama/gitRelease.bundle" ] && [ ! -f "$LLAMACPP/llama.cpp/include/llama.h" ]; then
  rm -rf "$LLAMACPP/llama.cpp"
  git clone -q "$LLAMACPP/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$LLAMACPP/llama.cpp" 2>/dev/null \
    || echo "setup: cloning llama.cpp's source bundle failed; the llama.cpp cross-checks will be skipped"
fi
echo "setup: done"
