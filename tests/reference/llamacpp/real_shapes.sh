# The published configs' shapes as tests/reference/llamacpp/model_fixture.py arguments (random
# weights, real vocabularies from llama.cpp's models/ggml-vocab-*.gguf). Sourced by
# tests/integration/qlora_rss_test.sh and the benchmarks that train on these shapes (bench/qlora_rss.sh,
# bench/one_night.sh, bench/simd_levels.sh, bench/compute_dtype_bench.sh).
#   real_shape_args SHAPE LLAMACPP_SRC    SHAPE: smollm2-135m | qwen2.5-0.5b | llama-3.2-1b
real_shape_args() {
  case $1 in
    smollm2-135m) echo "llama --vocab $2/models/ggml-vocab-starcoder.gguf --tied --d 576 --layers 30 --heads 9 --kv-heads 3 --ff 1536" ;;
    qwen2.5-0.5b) echo "qwen2 --vocab $2/models/ggml-vocab-qwen2.gguf --tied --d 896 --layers 24 --heads 14 --kv-heads 2 --ff 4864" ;;
    llama-3.2-1b) echo "llama --vocab $2/models/ggml-vocab-llama-bpe.gguf --tied --rope-llama3 --d 2048 --layers 16 --heads 32 --kv-heads 8 --ff 8192" ;;
    *) echo "unknown shape $1 (smollm2-135m, qwen2.5-0.5b, llama-3.2-1b)" >&2; return 2 ;;
  esac
}

# make_real_q4km SHAPE LLAMACPP_SRC HARNESS OUT.gguf: the shape's F32 fixture (context 4096), quantized
# to Q4_K_M by llama.cpp's own quantizer (HARNESS model-quantize); the F32 file is removed after.
make_real_q4km() {
  local tmp rc
  tmp=$(mktemp -d "$(dirname "$4")/fixture.XXXXXX")
  # shellcheck disable=SC2046
  PYTHONPATH="$2/gguf-py" /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/model_fixture.py" $(real_shape_args "$1" "$2") \
    --ctx 4096 --gguf-only "$tmp" >/dev/null &&
    "$3" model-quantize --in "$tmp/model.gguf" --out "$4" --ftype Q4_K_M >/dev/null
  rc=$?
  rm -rf "$tmp"
  return $rc
}
