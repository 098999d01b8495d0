"""The hybrid model fixtures of model_fixture.py (see its docstring): granitehybrid (Granite-4.0-H, dense
and MoE), bamba and jamba, each returning (HF tensors, config.json, a function writing the GGUF) as
llama.cpp's converter writes the architecture."""
import sys

import numpy as np

from fixture_common import llama_permute, partial_permute


def granite_mixer(hf, p, kind, rng, mat, norm, dims):
    """A Granite-4.0-H / Bamba mixer layer's weights under prefix p, in one draw order: the Mamba-2 mixer
    (heads of 16) or attention. dims: d, H, K, hd, di, n, kc, groups, heads, cx."""
    d, H, K, hd, di, n, kc, groups, heads, cx = dims
    if kind == "mamba":
        dt = np.exp(rng.uniform(np.log(1e-2), np.log(3e-1), heads))
        hf[p + "mamba.in_proj.weight"] = mat(2 * di + 2 * groups * n + heads, d, 2.0)
        hf[p + "mamba.conv1d.weight"] = (rng.standard_normal((cx, 1, kc)) * 0.5).astype(np.float32)
        hf[p + "mamba.conv1d.bias"] = (0.1 * rng.standard_normal(cx)).astype(np.float32)
        hf[p + "mamba.dt_bias"] = (dt + np.log(-np.expm1(-dt))).astype(np.float32)
        hf[p + "mamba.A_log"] = np.log(rng.uniform(1.0, 16.0, heads)).astype(np.float32)
        hf[p + "mamba.D"] = (1.0 + 0.1 * rng.standard_normal(heads)).astype(np.float32)
        hf[p + "mamba.norm.weight"] = norm(di)
        hf[p + "mamba.out_proj.weight"] = mat(d, di, 3.0)
    else:
        hf[p + "self_attn.q_proj.weight"] = mat(H * hd, d, 3.0)
        hf[p + "self_attn.k_proj.weight"] = mat(K * hd, d, 3.0)
        hf[p + "self_attn.v_proj.weight"] = mat(K * hd, d)
        hf[p + "self_attn.o_proj.weight"] = mat(d, H * hd, 3.0)


def granite_mixer_to_gguf(w, hf, p, g, kind, dims, pair_rows, H, K):
    """granite_mixer's weights into the GGUF as llama.cpp's converter writes a granitehybrid layer: the
    conv weight squeezed, A as -exp(A_log), A, D as (H, 1), the norm as (G, Di/G); q/k rows paired by
    pair_rows(tensor, heads) for llama.cpp's RoPE. dims: heads, groups, di."""
    heads, groups, di = dims
    w.add_tensor(g + "attn_norm.weight", hf[p + "input_layernorm.weight"])
    if kind == "mamba":
        w.add_tensor(g + "ssm_in.weight", hf[p + "mamba.in_proj.weight"])
        w.add_tensor(g + "ssm_conv1d.weight", np.ascontiguousarray(hf[p + "mamba.conv1d.weight"][:, 0, :]))
        w.add_tensor(g + "ssm_conv1d.bias", hf[p + "mamba.conv1d.bias"])
        w.add_tensor(g + "ssm_dt.bias", hf[p + "mamba.dt_bias"])
        w.add_tensor(g + "ssm_a", (-np.exp(hf[p + "mamba.A_log"])).astype(np.float32).reshape(heads, 1))
        w.add_tensor(g + "ssm_d", hf[p + "mamba.D"].reshape(heads, 1))
        w.add_tensor(g + "ssm_norm.weight", hf[p + "mamba.norm.weight"].reshape(groups, di // groups))
        w.add_tensor(g + "ssm_out.weight", hf[p + "mamba.out_proj.weight"])
    else:
        w.add_tensor(g + "attn_q.weight", pair_rows(hf[p + "self_attn.q_proj.weight"], H))
        w.add_tensor(g + "attn_k.weight", pair_rows(hf[p + "self_attn.k_proj.weight"], K))
        w.add_tensor(g + "attn_v.weight", hf[p + "self_attn.v_proj.weight"])
        w.add_tensor(g + "attn_output.weight", hf[p + "self_attn.o_proj.weight"])


def granitehybrid(a, rng, vocab):
    """Granite-4.0-H as transformers names it (GraniteMoeHybridForCausalLM) and llama.cpp's
    converter writes it: Mamba-2 layers as for mamba2 (heads of 16, one group), attention without
    RoPE whose q/k rows are still permuted, the shared MLP's fused input_linear split into ffn_gate
    (first half of the rows) and ffn_up, head_count_kv 0 for a Mamba layer, the µP multipliers.
    With experts (the tiny/small MoE variants): block_sparse_moe's router and fused expert tensors
    (input_linear (X, 2F, D) split into ffn_gate_exps and ffn_up_exps, output_linear as
    ffn_down_exps), the shared MLP then as ffn_*_shexp."""
    d, ff, H, K = a.d, a.ff, a.heads, a.kv_heads
    kinds = a.pattern.split(",")
    assert all(k in ("mamba", "attn") for k in kinds), kinds
    # One group, as Granite-4.0-H has (llama.cpp's gated norm is per group; transformers' Granite one
    # is over the whole inner width: the two agree only for one group).
    hd, di, n, kc, p_head, groups = d // H, 2 * d, 16, 4, 16, 1
    heads, cx, L, X = di // p_head, di + 2 * groups * n, len(kinds), a.experts
    mult = {"embedding_multiplier": 0.3, "attention_multiplier": 0.2, "residual_multiplier": 1.3,
            "logits_scaling": 1.25}

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    def norm(m=d):
        return (1.0 + 0.1 * rng.standard_normal(m)).astype(np.float32)

    hf = {"model.embed_tokens.weight": mat(vocab, d, 16.0)}
    for i, kind in enumerate(kinds):
        p = f"model.layers.{i}."
        hf[p + "input_layernorm.weight"] = norm()
        granite_mixer(hf, p, kind, rng, mat, norm, (d, H, K, hd, di, n, kc, groups, heads, cx))
        hf[p + "post_attention_layernorm.weight"] = norm()
        hf[p + "shared_mlp.input_linear.weight"] = mat(2 * ff, d)
        hf[p + "shared_mlp.output_linear.weight"] = mat(d, ff, 3.0)
        if X:
            hf[p + "block_sparse_moe.router.layer.weight"] = mat(X, d, 4.0)
            hf[p + "block_sparse_moe.input_linear.weight"] = np.stack([mat(2 * ff, d) for _ in range(X)])
            hf[p + "block_sparse_moe.output_linear.weight"] = np.stack([mat(d, ff, 3.0) for _ in range(X)])
    hf["model.norm.weight"] = norm()
    if not a.tied:
        hf["lm_head.weight"] = mat(vocab, d, 8.0)
    config = {
        "architectures": ["GraniteMoeHybridForCausalLM"], "model_type": "granitemoehybrid", "hidden_size": d,
        "intermediate_size": ff, "shared_intermediate_size": ff, "num_local_experts": X,
        "num_experts_per_tok": a.top_k if X else 0, "router_aux_loss_coef": 0.0,
        "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": K,
        "layer_types": ["mamba" if k == "mamba" else "attention" for k in kinds], "position_embedding_type": "nope",
        "mamba_n_heads": heads, "mamba_d_head": p_head, "mamba_d_state": n, "mamba_n_groups": groups,
        "mamba_d_conv": kc, "mamba_expand": 2, "mamba_chunk_size": 256, "mamba_conv_bias": True,
        "mamba_proj_bias": False, "attention_bias": False, "hidden_act": "silu", "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "max_position_embeddings": a.ctx, "vocab_size": vocab, "tie_word_embeddings": a.tied,
        "torch_dtype": "float32", **mult,
    }

    def to_gguf(w):
        w.add_context_length(a.ctx)
        w.add_embedding_length(d)
        w.add_feed_forward_length(ff)
        if X:
            w.add_expert_count(X)
            w.add_expert_used_count(a.top_k)
            w.add_expert_shared_feed_forward_length(ff)
        w.add_block_count(L)
        w.add_head_count(H)
        w.add_head_count_kv([K if k == "attn" else 0 for k in kinds])
        w.add_rope_dimension_count(hd)
        w.add_rope_freq_base(10000.0)
        w.add_rope_scaling_finetuned(False)  # the converter's switch for "no RoPE" in a hybrid
        w.add_layer_norm_rms_eps(1e-5)
        w.add_ssm_conv_kernel(kc)
        w.add_ssm_state_size(n)
        w.add_ssm_group_count(groups)
        w.add_ssm_inner_size(di)
        w.add_ssm_time_step_rank(heads)
        w.add_attention_scale(mult["attention_multiplier"])
        w.add_embedding_scale(mult["embedding_multiplier"])
        w.add_residual_scale(mult["residual_multiplier"])
        w.add_logit_scale(mult["logits_scaling"])
        w.add_vocab_size(vocab)
        w.add_tensor("token_embd.weight", hf["model.embed_tokens.weight"])
        for i, kind in enumerate(kinds):
            p, g = f"model.layers.{i}.", f"blk.{i}."
            granite_mixer_to_gguf(w, hf, p, g, kind, (heads, groups, di),
                                  llama_permute, H, K)
            w.add_tensor(g + "ffn_norm.weight", hf[p + "post_attention_layernorm.weight"])
            gate, up = np.split(hf[p + "shared_mlp.input_linear.weight"], 2, axis=0)
            sh = "_shexp" if X else ""
            w.add_tensor(g + f"ffn_gate{sh}.weight", np.ascontiguousarray(gate))
            w.add_tensor(g + f"ffn_up{sh}.weight", np.ascontiguousarray(up))
            w.add_tensor(g + f"ffn_down{sh}.weight", hf[p + "shared_mlp.output_linear.weight"])
            if X:
                w.add_tensor(g + "ffn_gate_inp.weight", hf[p + "block_sparse_moe.router.layer.weight"])
                gate_e, up_e = np.split(hf[p + "block_sparse_moe.input_linear.weight"], 2, axis=1)
                w.add_tensor(g + "ffn_gate_exps.weight", np.ascontiguousarray(gate_e))
                w.add_tensor(g + "ffn_up_exps.weight", np.ascontiguousarray(up_e))
                w.add_tensor(g + "ffn_down_exps.weight", hf[p + "block_sparse_moe.output_linear.weight"])
        w.add_tensor("output_norm.weight", hf["model.norm.weight"])
        if not a.tied:
            w.add_tensor("output.weight", hf["lm_head.weight"])

    return hf, config, to_gguf


def period_offset(layers, L):
    """The smallest (period, offset), offset < period, such that layer i is in `layers` exactly when
    i % period == offset (transformers' JambaConfig rule; period L + 1 and offset L give no layer), or
    None when no such pair gives the set."""
    for period in range(1, L + 2):
        for offset in range(period):
            if all((i % period == offset) == (i in layers) for i in range(L)):
                return period, offset
    return None


def jamba(a, rng, vocab):
    """Jamba as transformers names it (JambaForCausalLM) and llama.cpp's converter writes it: Mamba-1
    layers (expand 2, dt_rank ceil(d/16)) with RMS norms on dt, B and C (ssm_dt_norm, ssm_b_norm,
    ssm_c_norm), the conv weight squeezed, A as -exp(A_log); attention layers without RoPE whose q/k
    rows are NOT permuted; head_count_kv per layer (0 for a Mamba layer). The layers of --moe-layers
    have a softmax top-K router over X experts of width --ff (stacked into ffn_*_exps, no shared
    expert, the top-K weights not renormalized), the others a dense SwiGLU MLP of width --ff."""
    d, ff, H, K, X = a.d, a.ff, a.heads, a.kv_heads, a.experts
    kinds = a.pattern.split(",")
    assert all(k in ("mamba", "attn") for k in kinds), kinds
    L = len(kinds)
    moe = sorted({int(x) for x in a.moe_layers.split(",") if x.strip()})
    assert all(0 <= i < L for i in moe), (moe, L)
    assert not moe or 1 < X and 0 < a.top_k <= X, "MoE layers need --experts of at least 2 and 0 < --top-k <= it"
    assert d % H == 0 and H % K == 0, (d, H, K)
    hd, di, n, kc, r = d // H, 2 * d, 16, 4, (d + 15) // 16

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    def norm(m=d):
        return (1.0 + 0.1 * rng.standard_normal(m)).astype(np.float32)

    hf = {"model.embed_tokens.weight": mat(vocab, d, 16.0)}
    for i, kind in enumerate(kinds):
        p = f"model.layers.{i}."
        hf[p + "input_layernorm.weight"] = norm()
        if kind == "mamba":
            dt = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), di))
            hf[p + "mamba.in_proj.weight"] = mat(2 * di, d, 2.0)
            hf[p + "mamba.conv1d.weight"] = (rng.standard_normal((di, 1, kc)) * 0.5).astype(np.float32)
            hf[p + "mamba.conv1d.bias"] = (0.1 * rng.standard_normal(di)).astype(np.float32)
            hf[p + "mamba.x_proj.weight"] = mat(r + 2 * n, di)
            hf[p + "mamba.dt_layernorm.weight"] = norm(r)
            hf[p + "mamba.b_layernorm.weight"] = norm(n)
            hf[p + "mamba.c_layernorm.weight"] = norm(n)
            hf[p + "mamba.dt_proj.weight"] = mat(di, r)
            hf[p + "mamba.dt_proj.bias"] = (dt + np.log(-np.expm1(-dt))).astype(np.float32)
            hf[p + "mamba.A_log"] = np.log(np.tile(np.arange(1, n + 1, dtype=np.float32), (di, 1))).astype(np.float32)
            hf[p + "mamba.D"] = np.ones(di, np.float32)
            hf[p + "mamba.out_proj.weight"] = mat(d, di, 2.0)
        else:
            hf[p + "self_attn.q_proj.weight"] = mat(H * hd, d, 2.0)
            hf[p + "self_attn.k_proj.weight"] = mat(K * hd, d, 2.0)
            hf[p + "self_attn.v_proj.weight"] = mat(K * hd, d)
            hf[p + "self_attn.o_proj.weight"] = mat(d, H * hd, 2.0)
        hf[p + "pre_ff_layernorm.weight"] = norm()
        if i in moe:
            hf[p + "feed_forward.router.weight"] = mat(X, d, 4.0)
            for e in range(X):
                hf[p + f"feed_forward.experts.{e}.gate_proj.weight"] = mat(ff, d)
                hf[p + f"feed_forward.experts.{e}.up_proj.weight"] = mat(ff, d)
                hf[p + f"feed_forward.experts.{e}.down_proj.weight"] = mat(d, ff, 2.0)
        else:
            hf[p + "feed_forward.gate_proj.weight"] = mat(ff, d)
            hf[p + "feed_forward.up_proj.weight"] = mat(ff, d)
            hf[p + "feed_forward.down_proj.weight"] = mat(d, ff, 2.0)
    hf["model.final_layernorm.weight"] = norm()
    if not a.tied:
        hf["lm_head.weight"] = mat(vocab, d, 8.0)
    # transformers' JambaConfig derives the layer kinds from period/offset alone (its layers_block_type
    # and layers_num_experts are properties it computes, which a config.json must not set): written
    # when they give the layers, else the explicit list, which only nightshift reads.
    periods = {}
    lists = {"attn": ("layers_block_type", ["mamba" if k == "mamba" else "attention" for k in kinds]),
             "expert": ("layers_num_experts", [X if i in moe else 1 for i in range(L)])}
    for what, layers in (("attn", {i for i, k in enumerate(kinds) if k == "attn"}), ("expert", set(moe))):
        po = period_offset(layers, L)
        if po is None:
            print(f"note: the {what} layers {sorted(layers)} are not periodic: {lists[what][0]} in config.json "
                  "(transformers cannot read it)", file=sys.stderr)
            periods[lists[what][0]] = lists[what][1]
        else:
            periods[f"{what}_layer_period"], periods[f"{what}_layer_offset"] = po
    config = {
        "architectures": ["JambaForCausalLM"], "model_type": "jamba", "vocab_size": vocab, "hidden_size": d,
        "intermediate_size": ff, "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": K,
        "hidden_act": "silu", "rms_norm_eps": 1e-6, "tie_word_embeddings": a.tied, "num_experts": X,
        "num_experts_per_tok": a.top_k, **periods,
        "mamba_d_state": n, "mamba_d_conv": kc, "mamba_expand": 2, "mamba_dt_rank": r, "mamba_conv_bias": True,
        "mamba_proj_bias": False, "router_aux_loss_coef": 0.001, "max_position_embeddings": a.ctx,
        "torch_dtype": "float32",
    }

    def to_gguf(w):
        w.add_block_count(L)
        w.add_context_length(a.ctx)
        w.add_embedding_length(d)
        w.add_feed_forward_length(ff)
        w.add_head_count(H)
        w.add_head_count_kv([K if k == "attn" else 0 for k in kinds])
        w.add_ssm_conv_kernel(kc)
        w.add_ssm_inner_size(di)
        w.add_ssm_state_size(n)
        w.add_ssm_time_step_rank(r)
        w.add_layer_norm_rms_eps(1e-6)
        w.add_expert_count(X)
        w.add_expert_used_count(a.top_k)
        w.add_vocab_size(vocab)
        w.add_tensor("token_embd.weight", hf["model.embed_tokens.weight"])
        for i, kind in enumerate(kinds):
            p, g = f"model.layers.{i}.", f"blk.{i}."
            w.add_tensor(g + "attn_norm.weight", hf[p + "input_layernorm.weight"])
            if kind == "mamba":
                w.add_tensor(g + "ssm_in.weight", hf[p + "mamba.in_proj.weight"])
                w.add_tensor(g + "ssm_conv1d.weight", np.ascontiguousarray(hf[p + "mamba.conv1d.weight"][:, 0, :]))
                w.add_tensor(g + "ssm_conv1d.bias", hf[p + "mamba.conv1d.bias"])
                w.add_tensor(g + "ssm_x.weight", hf[p + "mamba.x_proj.weight"])
                w.add_tensor(g + "ssm_dt_norm.weight", hf[p + "mamba.dt_layernorm.weight"])
                w.add_tensor(g + "ssm_b_norm.weight", hf[p + "mamba.b_layernorm.weight"])
                w.add_tensor(g + "ssm_c_norm.weight", hf[p + "mamba.c_layernorm.weight"])
                w.add_tensor(g + "ssm_dt.weight", hf[p + "mamba.dt_proj.weight"])
                w.add_tensor(g + "ssm_dt.bias", hf[p + "mamba.dt_proj.bias"])
                w.add_tensor(g + "ssm_a", -np.exp(hf[p + "mamba.A_log"]).astype(np.float32))
                w.add_tensor(g + "ssm_d", hf[p + "mamba.D"])
                w.add_tensor(g + "ssm_out.weight", hf[p + "mamba.out_proj.weight"])
            else:
                for x in ("q", "k", "v"):  # no RoPE: the converter keeps the rows as they are
                    w.add_tensor(g + f"attn_{x}.weight", hf[p + f"self_attn.{x}_proj.weight"])
                w.add_tensor(g + "attn_output.weight", hf[p + "self_attn.o_proj.weight"])
            w.add_tensor(g + "ffn_norm.weight", hf[p + "pre_ff_layernorm.weight"])
            if i in moe:
                w.add_tensor(g + "ffn_gate_inp.weight", hf[p + "feed_forward.router.weight"])
                for wid, name in (("down_proj", "ffn_down_exps"), ("gate_proj", "ffn_gate_exps"),
                                  ("up_proj", "ffn_up_exps")):
                    w.add_tensor(g + name + ".weight",
                                 np.stack([hf[p + f"feed_forward.experts.{e}.{wid}.weight"] for e in range(X)]))
            else:
                w.add_tensor(g + "ffn_gate.weight", hf[p + "feed_forward.gate_proj.weight"])
                w.add_tensor(g + "ffn_up.weight", hf[p + "feed_forward.up_proj.weight"])
                w.add_tensor(g + "ffn_down.weight", hf[p + "feed_forward.down_proj.weight"])
        w.add_tensor("output_norm.weight", hf["model.final_layernorm.weight"])
        if not a.tied:
            w.add_tensor("output.weight", hf["lm_head.weight"])

    return hf, config, to_gguf



def bamba(a, rng, vocab):
    """Bamba as transformers names it (BambaForCausalLM): Mamba-2 layers as granitehybrid's (heads of 16,
    one group) and attention layers at attn_layer_indices with partial RoPE (attn_rotary_emb = half the
    head), each followed by a SwiGLU MLP (feed_forward.*_proj after pre_ff_layernorm), no µP
    multipliers, untied unless --tied. The GGUF is a granitehybrid with rope.dimension_count, q/k rows
    paired for llama.cpp's RoPE over the rotated dims only (its converter pairs whole heads: for a
    partial rotary that is another model than transformers', so the fixture writes the pairing that
    keeps the two copies one model)."""
    d, ff, H, K = a.d, a.ff, a.heads, a.kv_heads
    kinds = a.pattern.split(",")
    assert all(k in ("mamba", "attn") for k in kinds), kinds
    hd, di, n, kc, p_head, groups = d // H, 2 * d, 16, 4, 16, 1
    heads, cx, L, rot = di // p_head, di + 2 * groups * n, len(kinds), (d // H) // 2

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    def norm(m=d):
        return (1.0 + 0.1 * rng.standard_normal(m)).astype(np.float32)

    hf = {"model.embed_tokens.weight": mat(vocab, d, 16.0)}
    for i, kind in enumerate(kinds):
        p = f"model.layers.{i}."
        hf[p + "input_layernorm.weight"] = norm()
        granite_mixer(hf, p, kind, rng, mat, norm, (d, H, K, hd, di, n, kc, groups, heads, cx))
        hf[p + "pre_ff_layernorm.weight"] = norm()
        hf[p + "feed_forward.gate_proj.weight"] = mat(ff, d)
        hf[p + "feed_forward.up_proj.weight"] = mat(ff, d)
        hf[p + "feed_forward.down_proj.weight"] = mat(d, ff, 3.0)
    hf["model.final_layernorm.weight"] = norm()
    if not a.tied:
        hf["lm_head.weight"] = mat(vocab, d, 8.0)
    config = {
        "architectures": ["BambaForCausalLM"], "model_type": "bamba", "hidden_size": d, "intermediate_size": ff,
        "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": K,
        "attn_layer_indices": [i for i, k in enumerate(kinds) if k == "attn"], "attn_rotary_emb": rot,
        "mamba_n_heads": heads, "mamba_d_head": p_head, "mamba_d_state": n, "mamba_n_groups": groups,
        "mamba_d_conv": kc, "mamba_expand": 2, "mamba_chunk_size": 256, "mamba_conv_bias": True,
        "mamba_proj_bias": False, "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "max_position_embeddings": a.ctx, "vocab_size": vocab, "tie_word_embeddings": a.tied,
        "torch_dtype": "float32",
    }

    def to_gguf(w):
        w.add_context_length(a.ctx)
        w.add_embedding_length(d)
        w.add_feed_forward_length(ff)
        w.add_block_count(L)
        w.add_head_count(H)
        w.add_head_count_kv([K if k == "attn" else 0 for k in kinds])
        w.add_rope_dimension_count(rot)
        w.add_rope_freq_base(10000.0)
        w.add_rope_scaling_finetuned(True)  # the converter's switch: Bamba has RoPE
        w.add_layer_norm_rms_eps(1e-5)
        w.add_ssm_conv_kernel(kc)
        w.add_ssm_state_size(n)
        w.add_ssm_group_count(groups)
        w.add_ssm_inner_size(di)
        w.add_ssm_time_step_rank(heads)
        w.add_vocab_size(vocab)
        w.add_tensor("token_embd.weight", hf["model.embed_tokens.weight"])
        for i, kind in enumerate(kinds):
            p, g = f"model.layers.{i}.", f"blk.{i}."
            granite_mixer_to_gguf(w, hf, p, g, kind, (heads, groups, di),
                                  lambda t, n: partial_permute(t, n, rot), H, K)
            w.add_tensor(g + "ffn_norm.weight", hf[p + "pre_ff_layernorm.weight"])
            for t in ("gate", "up", "down"):
                w.add_tensor(g + f"ffn_{t}.weight", hf[p + f"feed_forward.{t}_proj.weight"])
        w.add_tensor("output_norm.weight", hf["model.final_layernorm.weight"])
        if not a.tied:
            w.add_tensor("output.weight", hf["lm_head.weight"])

    return hf, config, to_gguf
