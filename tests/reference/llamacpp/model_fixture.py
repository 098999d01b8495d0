"""Random-weight pretrained models in real layouts, for the import tests: the same weights written
as a GGUF file (with llama.cpp's gguf-py, following llama.cpp's converter: q/k rows permuted for
its RoPE, mamba's A as -exp(A_log), the conv weight squeezed, MoE experts stacked) and as a Hugging
Face directory (config.json + model.safetensors with the transformers names and layouts). The
hybrid architectures (granitehybrid, bamba, jamba) are in hybrid_fixtures.py beside this file.

  PYTHONPATH=<llama.cpp>/gguf-py python3 model_fixture.py ARCH OUT_DIR [options]
    ARCH        llama | qwen2 (q/k/v biases) | qwen3 (q/k norms, head_dim of its own) | mamba |
                mamba2 (heads of 16 sharing B and C in 2 groups) |
                lfm2 (short-conv and attention layers of --pattern, e.g. conv,conv,attn,conv,conv,attn) |
                bamba (BambaForCausalLM: granitehybrid's layers with partial RoPE, no multipliers; the
                GGUF is a granitehybrid, as llama.cpp's converter writes Bamba) |
                granitehybrid (Granite-4.0-H dense: Mamba-2 and attention layers of --pattern, e.g.
                mamba,mamba,mamba,attn,mamba,mamba; no RoPE, the µP multipliers, the fused shared MLP;
                with --experts X --top-k K the MoE variant: X experts of width --ff beside the shared MLP) |
                jamba (JambaForCausalLM: Mamba-1 and attention layers of --pattern, default
                mamba,mamba,attn,mamba; RMS norms on the Mamba layers' dt, B and C; no RoPE, q/k rows
                unpermuted; the layers of --moe-layers MoE (a softmax top-K router over X experts of width
                --ff, X 4 and K 2 unless --experts/--top-k say otherwise, no shared expert), the others a
                dense SwiGLU MLP of width --ff; config.json has attn_/expert_layer_period/offset as
                transformers reads them, or, where no period and offset give the layers, the lists
                layers_block_type / layers_num_experts (properties transformers computes: only nightshift
                reads them from the file);
                llama.cpp's hybrid memory needs at least one layer of each kind)
    --vocab F   copy the tokenizer of a llama.cpp vocabulary file (models/ggml-vocab-*.gguf) into the
                GGUF; the model's vocabulary is that size (else 64 tokens and no tokenizer)
    --hf-tokenizer DIR   copy DIR/tokenizer.json (and tokenizer_config.json) into the HF directory
    --n-vocab N without --vocab: the model's vocabulary size (no tokenizer; default 64)
    --tied      tied embeddings (no output.weight / lm_head.weight)
    --layers N --d D --heads H --kv-heads K --ff F --seed S --ctx C
    --rope-llama3  (llama) Llama 3.1 RoPE scaling: rope_scaling in config.json, rope_freqs.weight (the
                   per-frequency factors, computed as llama.cpp's converter does) in the GGUF; a short
                   original context so that the scaling changes many frequencies
    --pattern P    (lfm2, granitehybrid, jamba) the layer types, comma-separated conv / attn or mamba /
                   attn (sets the number of layers)
    --moe-layers I (jamba) the comma-separated indices of the MoE layers ("" for none; default the odd
                   layers, Jamba's expert_layer_period 2 and offset 1)
    --experts X --top-k K   (granitehybrid) the MoE variant (router, X experts, K of them per token);
                   (jamba) the experts of the MoE layers (default X 4, K 2)
    --no-permute   write llama's q/k rows unpermuted into the GGUF (a wrong file: the tests show it
                   is caught)
    --gguf-only    write OUT_DIR/model.gguf alone (no HF directory)
Writes OUT_DIR/model.gguf and OUT_DIR/hf/. Weights are scaled so that predictions are peaked: a wrong
convention anywhere changes the greedy continuation.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

import gguf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import st_io  # noqa: E402
from fixture_common import llama_permute  # noqa: E402
from hybrid_fixtures import bamba, granitehybrid, jamba  # noqa: E402


def copy_tokenizer(writer, vocab_path):
    """Every tokenizer.* key of a vocabulary GGUF; returns its number of tokens."""
    r = gguf.GGUFReader(vocab_path)
    n = 0
    for name, field in r.fields.items():
        if not name.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if name == "tokenizer.ggml.tokens":
            n = len(value)
        writer.add_key_value(name, value, vtype, sub)
    return n


def llama(a, rng, vocab):
    """llama, and qwen2/qwen3 (the same blocks plus biases or q/k norms; llama.cpp keeps their q/k
    rows in rotate-half order)."""
    d, ff, L, H, K = a.d, a.ff, a.layers, a.heads, a.kv_heads
    hd = d // H if a.arch != "qwen3" else 2 * d // H  # qwen3's head_dim differs from d / heads
    permute = a.arch == "llama" and not a.no_permute

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    def norm(n=d):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    hf = {"model.embed_tokens.weight": mat(vocab, d, 16.0)}
    for i in range(L):
        p = f"model.layers.{i}."
        hf[p + "input_layernorm.weight"] = norm()
        hf[p + "self_attn.q_proj.weight"] = mat(H * hd, d, 2.0)
        hf[p + "self_attn.k_proj.weight"] = mat(K * hd, d, 2.0)
        hf[p + "self_attn.v_proj.weight"] = mat(K * hd, d)
        hf[p + "self_attn.o_proj.weight"] = mat(d, H * hd)
        if a.arch == "qwen2":
            for x, n in (("q", H), ("k", K), ("v", K)):
                hf[p + f"self_attn.{x}_proj.bias"] = (0.5 * rng.standard_normal(n * hd)).astype(np.float32)
        if a.arch == "qwen3":
            hf[p + "self_attn.q_norm.weight"] = norm(hd)
            hf[p + "self_attn.k_norm.weight"] = norm(hd)
        hf[p + "post_attention_layernorm.weight"] = norm()
        hf[p + "mlp.gate_proj.weight"] = mat(ff, d)
        hf[p + "mlp.up_proj.weight"] = mat(ff, d)
        hf[p + "mlp.down_proj.weight"] = mat(d, ff)
    hf["model.norm.weight"] = norm()
    if not a.tied:
        hf["lm_head.weight"] = mat(vocab, d, 8.0)
    arch_class = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}[a.arch]
    config = {
        "architectures": [arch_class], "model_type": a.arch, "hidden_act": "silu",
        "hidden_size": d, "intermediate_size": ff, "num_hidden_layers": L, "num_attention_heads": H,
        "num_key_value_heads": K, "head_dim": hd, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "max_position_embeddings": a.ctx, "vocab_size": vocab, "tie_word_embeddings": a.tied,
        "torch_dtype": "float32",
    }
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64}
    if a.rope_llama3:
        config["rope_scaling"] = rope

    def rope_factors():
        freqs = 1.0 / (10000.0 ** (np.arange(0, hd, 2, dtype=np.float32) / hd))
        old, low, high, factor = rope["original_max_position_embeddings"], rope["low_freq_factor"], \
            rope["high_freq_factor"], rope["factor"]
        out = []
        for f in freqs:
            wavelen = 2 * np.pi / f
            if wavelen < old / high:
                out.append(1.0)
            elif wavelen > old / low:
                out.append(factor)
            else:
                smooth = (old / wavelen - low) / (high - low)
                out.append(1 / ((1 - smooth) / factor + smooth))
        return np.array(out, dtype=np.float32)

    def to_gguf(w):
        w.add_context_length(a.ctx)
        w.add_embedding_length(d)
        w.add_feed_forward_length(ff)
        if a.rope_llama3:
            w.add_tensor("rope_freqs.weight", rope_factors())
        w.add_block_count(L)
        w.add_head_count(H)
        w.add_head_count_kv(K)
        w.add_rope_dimension_count(hd)
        w.add_key_length(hd)
        w.add_value_length(hd)
        w.add_rope_freq_base(10000.0)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_vocab_size(vocab)
        w.add_tensor("token_embd.weight", hf["model.embed_tokens.weight"])
        for i in range(L):
            p, g = f"model.layers.{i}.", f"blk.{i}."
            q, k = hf[p + "self_attn.q_proj.weight"], hf[p + "self_attn.k_proj.weight"]
            if permute:
                q, k = llama_permute(q, H), llama_permute(k, K)
            w.add_tensor(g + "attn_norm.weight", hf[p + "input_layernorm.weight"])
            w.add_tensor(g + "attn_q.weight", np.ascontiguousarray(q))
            w.add_tensor(g + "attn_k.weight", np.ascontiguousarray(k))
            w.add_tensor(g + "attn_v.weight", hf[p + "self_attn.v_proj.weight"])
            w.add_tensor(g + "attn_output.weight", hf[p + "self_attn.o_proj.weight"])
            for x in ("q", "k", "v"):
                if p + f"self_attn.{x}_proj.bias" in hf:
                    w.add_tensor(g + f"attn_{x}.bias", hf[p + f"self_attn.{x}_proj.bias"])
            if p + "self_attn.q_norm.weight" in hf:
                w.add_tensor(g + "attn_q_norm.weight", hf[p + "self_attn.q_norm.weight"])
                w.add_tensor(g + "attn_k_norm.weight", hf[p + "self_attn.k_norm.weight"])
            w.add_tensor(g + "ffn_norm.weight", hf[p + "post_attention_layernorm.weight"])
            w.add_tensor(g + "ffn_gate.weight", hf[p + "mlp.gate_proj.weight"])
            w.add_tensor(g + "ffn_up.weight", hf[p + "mlp.up_proj.weight"])
            w.add_tensor(g + "ffn_down.weight", hf[p + "mlp.down_proj.weight"])
        w.add_tensor("output_norm.weight", hf["model.norm.weight"])
        if not a.tied:
            w.add_tensor("output.weight", hf["lm_head.weight"])

    return hf, config, to_gguf


def mamba(a, rng, vocab):
    d, L = a.d, a.layers
    di, n, kc = 2 * d, 16, 4
    r = (d + 15) // 16

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    hf = {"backbone.embeddings.weight": mat(vocab, d, 16.0)}
    for i in range(L):
        p = f"backbone.layers.{i}."
        dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), di))
        hf[p + "norm.weight"] = (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)
        hf[p + "mixer.in_proj.weight"] = mat(2 * di, d, 2.0)
        hf[p + "mixer.conv1d.weight"] = (rng.standard_normal((di, 1, kc)) * 0.5).astype(np.float32)
        hf[p + "mixer.conv1d.bias"] = (0.1 * rng.standard_normal(di)).astype(np.float32)
        hf[p + "mixer.x_proj.weight"] = mat(r + 2 * n, di)
        hf[p + "mixer.dt_proj.weight"] = mat(di, r)
        hf[p + "mixer.dt_proj.bias"] = (dt + np.log(-np.expm1(-dt))).astype(np.float32)
        hf[p + "mixer.A_log"] = np.log(np.tile(np.arange(1, n + 1, dtype=np.float32), (di, 1))).astype(np.float32)
        hf[p + "mixer.D"] = np.ones(di, np.float32)
        hf[p + "mixer.out_proj.weight"] = mat(d, di, 2.0)
    hf["backbone.norm_f.weight"] = (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)
    if not a.tied:
        hf["lm_head.weight"] = mat(vocab, d, 8.0)
    config = {
        "architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": d, "state_size": n,
        "num_hidden_layers": L, "conv_kernel": kc, "expand": 2, "time_step_rank": r, "vocab_size": vocab,
        "layer_norm_epsilon": 1e-5, "use_bias": False, "use_conv_bias": True, "pad_vocab_size_multiple": 8,
        "tie_word_embeddings": a.tied, "torch_dtype": "float32",
    }

    def to_gguf(w):
        w.add_context_length(a.ctx)
        w.add_embedding_length(d)
        w.add_feed_forward_length(0)
        w.add_head_count(0)
        w.add_block_count(L)
        w.add_ssm_conv_kernel(kc)
        w.add_ssm_inner_size(di)
        w.add_ssm_state_size(n)
        w.add_ssm_time_step_rank(r)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_tensor("token_embd.weight", hf["backbone.embeddings.weight"])
        for i in range(L):
            p, g = f"backbone.layers.{i}.", f"blk.{i}."
            w.add_tensor(g + "attn_norm.weight", hf[p + "norm.weight"])
            w.add_tensor(g + "ssm_in.weight", hf[p + "mixer.in_proj.weight"])
            w.add_tensor(g + "ssm_conv1d.weight", np.ascontiguousarray(hf[p + "mixer.conv1d.weight"][:, 0, :]))
            w.add_tensor(g + "ssm_conv1d.bias", hf[p + "mixer.conv1d.bias"])
            w.add_tensor(g + "ssm_x.weight", hf[p + "mixer.x_proj.weight"])
            w.add_tensor(g + "ssm_dt.weight", hf[p + "mixer.dt_proj.weight"])
            w.add_tensor(g + "ssm_dt.bias", hf[p + "mixer.dt_proj.bias"])
            w.add_tensor(g + "ssm_a", -np.exp(hf[p + "mixer.A_log"]).astype(np.float32))
            w.add_tensor(g + "ssm_d", hf[p + "mixer.D"])
            w.add_tensor(g + "ssm_out.weight", hf[p + "mixer.out_proj.weight"])
        w.add_tensor("output_norm.weight", hf["backbone.norm_f.weight"])
        if not a.tied:
            w.add_tensor("output.weight", hf["lm_head.weight"])

    return hf, config, to_gguf


def mamba2(a, rng, vocab):
    """Mamba-2 as transformers names it (Mamba2ForCausalLM) and llama.cpp's converter writes it: the
    conv weight squeezed, A as -exp(A_log) and A, D as (H, 1), the gated norm's weight as (G, Di/G)."""
    d, L = a.d, a.layers
    di, n, kc, p_head, groups = 2 * d, 16, 4, 16, 2
    heads = di // p_head
    cx = di + 2 * groups * n

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    hf = {"backbone.embeddings.weight": mat(vocab, d, 16.0)}
    for i in range(L):
        p = f"backbone.layers.{i}."
        dt = np.exp(rng.uniform(np.log(1e-2), np.log(3e-1), heads))
        hf[p + "norm.weight"] = (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)
        hf[p + "mixer.in_proj.weight"] = mat(2 * di + 2 * groups * n + heads, d, 2.0)
        hf[p + "mixer.conv1d.weight"] = (rng.standard_normal((cx, 1, kc)) * 0.5).astype(np.float32)
        hf[p + "mixer.conv1d.bias"] = (0.1 * rng.standard_normal(cx)).astype(np.float32)
        hf[p + "mixer.dt_bias"] = (dt + np.log(-np.expm1(-dt))).astype(np.float32)
        hf[p + "mixer.A_log"] = np.log(rng.uniform(1.0, 16.0, heads)).astype(np.float32)
        hf[p + "mixer.D"] = (1.0 + 0.1 * rng.standard_normal(heads)).astype(np.float32)
        hf[p + "mixer.norm.weight"] = (1.0 + 0.1 * rng.standard_normal(di)).astype(np.float32)
        hf[p + "mixer.out_proj.weight"] = mat(d, di, 2.0)
    hf["backbone.norm_f.weight"] = (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32)
    if not a.tied:
        hf["lm_head.weight"] = mat(vocab, d, 8.0)
    config = {
        "architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "hidden_size": d, "state_size": n,
        "num_hidden_layers": L, "conv_kernel": kc, "expand": 2, "head_dim": p_head, "num_heads": heads,
        "n_groups": groups, "vocab_size": vocab, "layer_norm_epsilon": 1e-5, "use_bias": False,
        "use_conv_bias": True, "rms_norm": True, "pad_vocab_size_multiple": 16, "chunk_size": 256,
        "tie_word_embeddings": a.tied, "torch_dtype": "float32",
    }

    def to_gguf(w):
        w.add_context_length(a.ctx)
        w.add_embedding_length(d)
        w.add_feed_forward_length(0)
        w.add_head_count(0)
        w.add_block_count(L)
        w.add_ssm_conv_kernel(kc)
        w.add_ssm_inner_size(di)
        w.add_ssm_state_size(n)
        w.add_ssm_time_step_rank(heads)
        w.add_ssm_group_count(groups)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_tensor("token_embd.weight", hf["backbone.embeddings.weight"])
        for i in range(L):
            p, g = f"backbone.layers.{i}.", f"blk.{i}."
            w.add_tensor(g + "attn_norm.weight", hf[p + "norm.weight"])
            w.add_tensor(g + "ssm_in.weight", hf[p + "mixer.in_proj.weight"])
            w.add_tensor(g + "ssm_conv1d.weight", np.ascontiguousarray(hf[p + "mixer.conv1d.weight"][:, 0, :]))
            w.add_tensor(g + "ssm_conv1d.bias", hf[p + "mixer.conv1d.bias"])
            w.add_tensor(g + "ssm_dt.bias", hf[p + "mixer.dt_bias"])
            w.add_tensor(g + "ssm_a", (-np.exp(hf[p + "mixer.A_log"])).astype(np.float32).reshape(heads, 1))
            w.add_tensor(g + "ssm_d", hf[p + "mixer.D"].reshape(heads, 1))
            w.add_tensor(g + "ssm_norm.weight", hf[p + "mixer.norm.weight"].reshape(groups, di // groups))
            w.add_tensor(g + "ssm_out.weight", hf[p + "mixer.out_proj.weight"])
        w.add_tensor("output_norm.weight", hf["backbone.norm_f.weight"])
        if not a.tied:
            w.add_tensor("output.weight", hf["lm_head.weight"])

    return hf, config, to_gguf


def lfm2(a, rng, vocab):
    """LFM2 as transformers names it (Lfm2ForCausalLM) and llama.cpp's converter writes it: the conv
    weight (d, 1, L) squeezed to (d, L), head_count_kv per layer (0 for conv layers), the final norm
    `embedding_norm` as token_embd_norm, the MLP width auto-adjusted from block_ff_dim."""
    d, ff, H, K, lc = a.d, a.ff, a.heads, a.kv_heads, 3
    kinds = a.pattern.split(",")
    assert all(k in ("conv", "attn") for k in kinds), kinds
    hd = d // H

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    def norm(n=d):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    hf = {"model.embed_tokens.weight": mat(vocab, d, 16.0)}
    for i, kind in enumerate(kinds):
        p = f"model.layers.{i}."
        hf[p + "operator_norm.weight"] = norm()
        if kind == "conv":
            hf[p + "conv.in_proj.weight"] = mat(3 * d, d, 1.5)
            hf[p + "conv.conv.weight"] = (rng.standard_normal((d, 1, lc)) * 0.6).astype(np.float32)
            hf[p + "conv.out_proj.weight"] = mat(d, d)
        else:
            hf[p + "self_attn.q_proj.weight"] = mat(H * hd, d, 2.0)
            hf[p + "self_attn.k_proj.weight"] = mat(K * hd, d, 2.0)
            hf[p + "self_attn.v_proj.weight"] = mat(K * hd, d)
            hf[p + "self_attn.out_proj.weight"] = mat(d, H * hd)
            hf[p + "self_attn.q_layernorm.weight"] = norm(hd)
            hf[p + "self_attn.k_layernorm.weight"] = norm(hd)
        hf[p + "ffn_norm.weight"] = norm()
        hf[p + "feed_forward.w1.weight"] = mat(ff, d)
        hf[p + "feed_forward.w3.weight"] = mat(ff, d)
        hf[p + "feed_forward.w2.weight"] = mat(d, ff)
    hf["model.embedding_norm.weight"] = norm()
    if not a.tied:
        hf["lm_head.weight"] = mat(vocab, d, 8.0)
    # block_ff_dim 3/2 of the width: LFM2's auto-adjustment (2/3, rounded up to block_multiple_of) gives ff.
    assert ff % 32 == 0, "--ff must be a multiple of 32 for lfm2"
    config = {
        "architectures": ["Lfm2ForCausalLM"], "model_type": "lfm2", "hidden_size": d, "block_ff_dim": 3 * ff // 2,
        "intermediate_size": 3 * ff // 2, "block_auto_adjust_ff_dim": True, "block_ffn_dim_multiplier": 1.0,
        "block_multiple_of": 32, "num_hidden_layers": len(kinds), "num_attention_heads": H,
        "num_key_value_heads": K, "layer_types": ["conv" if k == "conv" else "full_attention" for k in kinds],
        "conv_L_cache": lc, "conv_bias": False, "norm_eps": 1e-5, "rope_theta": 1000000.0,
        "max_position_embeddings": a.ctx, "vocab_size": vocab, "tie_embedding": a.tied,
        "tie_word_embeddings": a.tied, "torch_dtype": "float32",
    }

    def to_gguf(w):
        w.add_context_length(a.ctx)
        w.add_embedding_length(d)
        w.add_feed_forward_length(ff)
        w.add_block_count(len(kinds))
        w.add_head_count(H)
        w.add_head_count_kv([K if k == "attn" else 0 for k in kinds])
        w.add_rope_freq_base(1000000.0)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_shortconv_l_cache(lc)
        w.add_vocab_size(vocab)
        w.add_tensor("token_embd.weight", hf["model.embed_tokens.weight"])
        for i, kind in enumerate(kinds):
            p, g = f"model.layers.{i}.", f"blk.{i}."
            w.add_tensor(g + "attn_norm.weight", hf[p + "operator_norm.weight"])
            if kind == "conv":
                w.add_tensor(g + "shortconv.in_proj.weight", hf[p + "conv.in_proj.weight"])
                w.add_tensor(g + "shortconv.conv.weight", np.ascontiguousarray(hf[p + "conv.conv.weight"][:, 0, :]))
                w.add_tensor(g + "shortconv.out_proj.weight", hf[p + "conv.out_proj.weight"])
            else:
                for x in ("q", "k", "v"):
                    w.add_tensor(g + f"attn_{x}.weight", hf[p + f"self_attn.{x}_proj.weight"])
                w.add_tensor(g + "attn_output.weight", hf[p + "self_attn.out_proj.weight"])
                w.add_tensor(g + "attn_q_norm.weight", hf[p + "self_attn.q_layernorm.weight"])
                w.add_tensor(g + "attn_k_norm.weight", hf[p + "self_attn.k_layernorm.weight"])
            w.add_tensor(g + "ffn_norm.weight", hf[p + "ffn_norm.weight"])
            w.add_tensor(g + "ffn_gate.weight", hf[p + "feed_forward.w1.weight"])
            w.add_tensor(g + "ffn_up.weight", hf[p + "feed_forward.w3.weight"])
            w.add_tensor(g + "ffn_down.weight", hf[p + "feed_forward.w2.weight"])
        w.add_tensor("token_embd_norm.weight", hf["model.embedding_norm.weight"])
        if not a.tied:
            w.add_tensor("output.weight", hf["lm_head.weight"])

    return hf, config, to_gguf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("arch", choices=["llama", "qwen2", "qwen3", "mamba", "mamba2", "lfm2", "granitehybrid", "jamba", "bamba"])
    ap.add_argument("out")
    ap.add_argument("--vocab")
    ap.add_argument("--hf-tokenizer")
    ap.add_argument("--tied", action="store_true")
    ap.add_argument("--n-vocab", type=int, default=64)
    ap.add_argument("--no-permute", action="store_true")
    ap.add_argument("--pattern")
    ap.add_argument("--rope-llama3", action="store_true")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ff", type=int, default=128)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--gguf-only", action="store_true")
    ap.add_argument("--experts", type=int, default=0)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--moe-layers")
    a = ap.parse_args()
    if a.pattern is None:
        a.pattern = {"granitehybrid": "mamba,mamba,mamba,attn,mamba,mamba", "bamba": "mamba,mamba,mamba,attn,mamba,mamba",
                     "jamba": "mamba,mamba,attn,mamba"}.get(a.arch, "conv,conv,attn,conv,conv,attn")
    if a.arch == "jamba":
        if a.moe_layers is None:  # Jamba's expert_layer_period 2, expert_layer_offset 1
            a.moe_layers = ",".join(str(i) for i in range(1, len(a.pattern.split(",")), 2))
        if a.experts == 0:
            a.experts = 4
    os.makedirs(a.out if a.gguf_only else os.path.join(a.out, "hf"), exist_ok=True)
    gguf_path = os.path.join(a.out, "model.gguf")
    w = gguf.GGUFWriter(gguf_path, arch="granitehybrid" if a.arch == "bamba" else a.arch)  # as llama.cpp's converter
    w.add_name(f"fixture-{a.arch}")
    vocab = copy_tokenizer(w, a.vocab) if a.vocab else a.n_vocab
    if not a.vocab:
        w.add_tokenizer_model("no_vocab")
    rng = np.random.default_rng(a.seed)
    hf, config, to_gguf = {"mamba": mamba, "mamba2": mamba2, "lfm2": lfm2, "granitehybrid": granitehybrid,
                           "jamba": jamba, "bamba": bamba}.get(a.arch, llama)(a, rng, vocab)
    to_gguf(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if a.gguf_only:
        print(json.dumps({"gguf": gguf_path, "vocab": vocab}))
        return
    with open(os.path.join(a.out, "hf", "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    st_io.write(os.path.join(a.out, "hf", "model.safetensors"), hf, metadata={"format": "pt"})
    if a.hf_tokenizer:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            src = os.path.join(a.hf_tokenizer, name)
            if os.path.exists(src):
                shutil.copy(src, os.path.join(a.out, "hf", name))
    print(json.dumps({"gguf": gguf_path, "hf": os.path.join(a.out, "hf"), "vocab": vocab}))


if __name__ == "__main__":
    main()
