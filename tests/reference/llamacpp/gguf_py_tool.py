"""llama.cpp's gguf-py as an independent GGUF writer, reader and (de)quantizer for the C++ tests.

Run with Debian's python3 and PYTHONPATH set to the gguf-py folder of llama.cpp's source (cloned by
scripts/setup.sh into tests/reference/llamacpp/llama.cpp/gguf-py). Commands:
  fixtures DIR        writes DIR/meta.gguf (every metadata type, general.alignment 64, tensors of
                      several types) and DIR/quant.gguf (for each type gguf-py can quantize:
                      "<type>.src" fp32 values, "<type>.q" gguf-py's quantization of them and
                      "<type>.deq" gguf-py's dequantization of that), and prints a JSON summary.
  read FILE           prints FILE as gguf-py's GGUFReader sees it: metadata and tensors (type,
                      ggml-order dims, offset, raw bytes in hex).
  dequant TYPE IN OUT gguf-py's dequantization of the raw blocks in IN, as fp32 to OUT.
  tiny-llama OUT      a random-weight 2-layer llama (d 256, GQA 4/2 heads, vocab 64 without a
                      tokenizer: "no_vocab") in F32, for the harness's eval and model-quantize.
  tiny-lora ADAPTER MERGED  a GGUF LoRA adapter for tiny-llama, and tiny-llama with it merged in.
"""
import json
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V

LEGACY = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "F16", "BF16"]


def source_values(rng, rows, cols):
    """Random rows plus the blocks quantizers handle specially: zeros, a constant, outliers, ties."""
    x = (rng.standard_normal((rows, cols)) * rng.uniform(0.01, 3.0, size=(rows, 1))).astype(np.float32)
    x[0, :32] = 0.0                                  # an all-zero block
    x[0, 32:64] = 0.75                               # a constant block
    x[1, :32] = rng.standard_normal(32).astype(np.float32) * 1e-3
    x[1, 5] = 40.0                                   # one outlier
    x[2, :32] = np.arange(-16, 16, dtype=np.float32) / 4  # values on the grid (rounding ties)
    x[3, :32] = -x[3, :32] ** 2                      # all negative
    return x


def fixtures(out_dir):
    rng = np.random.default_rng(1234)
    w = gguf.GGUFWriter(f"{out_dir}/meta.gguf", arch="llama")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 0.1)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo ▁wörld")
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float64("t.f64", 1e-300)
    w.add_array("t.ints", [1, -2, 3])
    w.add_array("t.floats", [0.5, -1.25])
    w.add_array("t.strings", ["a", "", "ç", "<|end|>"])
    w.add_key_value("t.nested", [[1, 2], [3]], V.ARRAY)
    w.add_custom_alignment(64)
    f32 = rng.standard_normal((3, 5)).astype(np.float32)
    w.add_tensor("f32.weight", f32)
    f16 = rng.standard_normal((2, 7)).astype(np.float16)
    w.add_tensor("f16.weight", f16)
    q8 = gguf.quants.quantize(source_values(rng, 4, 64), Q.Q8_0)
    w.add_tensor("q8.weight", q8, raw_dtype=Q.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    w = gguf.GGUFWriter(f"{out_dir}/quant.gguf", arch="llama")
    summary = {}
    for name in LEGACY:
        qt = Q[name]
        x = source_values(rng, 6, 256)
        q = gguf.quants.quantize(x, qt)
        deq = gguf.quants.dequantize(q, qt).astype(np.float32)
        w.add_tensor(f"{name}.src", x)
        w.add_tensor(f"{name}.q", q, raw_dtype=qt)
        w.add_tensor(f"{name}.deq", deq)
        summary[name] = int(q.nbytes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(json.dumps(summary))


def plain(v):
    if isinstance(v, (list, tuple)):
        return [plain(e) for e in v]
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8")
    if isinstance(v, np.generic):
        return v.item()
    return v


def read(path):
    r = gguf.GGUFReader(path)
    meta = {}
    for key, field in r.fields.items():
        if key.startswith("GGUF."):
            continue
        vtype = field.types[0]
        if vtype == V.ARRAY and len(field.types) > 1 and field.types[1] == V.ARRAY:
            value = None  # gguf-py's reader does not decode nested arrays' contents
        else:
            value = plain(field.contents())
        meta[key] = {"type": vtype.name, "elem": field.types[1].name if len(field.types) > 1 else None,
                     "value": value}
    tensors = []
    for t in r.tensors:
        tensors.append({"name": t.name, "type": t.tensor_type.name, "dims": [int(d) for d in t.shape],
                        "offset": int(t.data_offset), "hex": t.data.tobytes().hex()})
    print(json.dumps({"metadata": meta, "tensors": tensors, "alignment": int(r.alignment)}))


def dequant(type_name, src, dst):
    qt = Q[type_name.upper()] if type_name.upper() in Q.__members__ else Q[type_name]
    raw = np.fromfile(src, dtype=np.uint8)
    gguf.quants.dequantize(raw, qt).astype(np.float32).tofile(dst)


def tiny_llama(out, deltas=None):
    deltas = deltas or {}
    rng = np.random.default_rng(7)
    d, ff, n_vocab, n_layer, n_head, n_kv = 256, 512, 64, 2, 4, 2
    hd = d // n_head
    w = gguf.GGUFWriter(out, arch="llama")
    w.add_context_length(128)
    w.add_embedding_length(d)
    w.add_feed_forward_length(ff)
    w.add_block_count(n_layer)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_tokenizer_model("no_vocab")

    def mat(rows, cols, gain=1.0):  # scaled so that predictions are peaked
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    def norm():
        return (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)

    def add(name, value):  # a merged LoRA update is added to its base weight in fp32
        w.add_tensor(name, (value + deltas[name]).astype(np.float32) if name in deltas else value)

    add("token_embd.weight", mat(n_vocab, d, 16.0))
    for i in range(n_layer):
        add(f"blk.{i}.attn_norm.weight", norm())
        add(f"blk.{i}.attn_q.weight", mat(d, d, 2.0))
        add(f"blk.{i}.attn_k.weight", mat(n_kv * hd, d, 2.0))
        add(f"blk.{i}.attn_v.weight", mat(n_kv * hd, d))
        add(f"blk.{i}.attn_output.weight", mat(d, d))
        add(f"blk.{i}.ffn_norm.weight", norm())
        add(f"blk.{i}.ffn_gate.weight", mat(ff, d))
        add(f"blk.{i}.ffn_up.weight", mat(ff, d))
        add(f"blk.{i}.ffn_down.weight", mat(d, ff))
    add("output_norm.weight", norm())
    add("output.weight", mat(n_vocab, d, 8.0))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tiny_lora(adapter_out, merged_out):
    """A LoRA adapter for tiny-llama in llama.cpp's GGUF adapter layout (lora_a: numpy (r, in),
    lora_b: numpy (out, r); scale alpha / r), and the same model with the update merged in."""
    rng = np.random.default_rng(11)
    rank, alpha = 4, 8.0
    shapes = {"blk.0.attn_q.weight": (256, 256), "blk.1.ffn_down.weight": (256, 512), "output.weight": (64, 256)}
    w = gguf.GGUFWriter(adapter_out, arch="llama")
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", alpha)
    deltas = {}
    for name, (n_out, n_in) in shapes.items():
        a = (rng.standard_normal((rank, n_in)) / np.sqrt(n_in)).astype(np.float32)
        b = (rng.standard_normal((n_out, rank)) * 0.5).astype(np.float32)
        w.add_tensor(name + ".lora_a", a)
        w.add_tensor(name + ".lora_b", b)
        deltas[name] = (alpha / rank) * (b.astype(np.float64) @ a.astype(np.float64))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tiny_llama(merged_out, deltas)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "fixtures":
        fixtures(sys.argv[2])
    elif cmd == "read":
        read(sys.argv[2])
    elif cmd == "tiny-llama":
        tiny_llama(sys.argv[2])
    elif cmd == "tiny-lora":
        tiny_lora(sys.argv[2], sys.argv[3])
    elif cmd == "dequant":
        dequant(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown command {cmd}")
