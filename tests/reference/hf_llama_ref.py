"""An independent Hugging Face llama in PyTorch (float64), built only from a model directory's
config.json and safetensors by their Hugging Face names, with a PEFT LoRA adapter applied by its
keys the way PEFT does it, for the export tests (tests/integration/export_hf_test.sh).

It follows transformers' LlamaForCausalLM: embed_tokens, per layer input_layernorm (RMSNorm),
self_attn q/k/v/o_proj with rotate-half RoPE (rope_theta, Llama 3.1 rope_scaling) and grouped KV
heads, post_attention_layernorm, SwiGLU mlp gate/up/down_proj, final norm, lm_head (or the tied
embedding). The adapter is read as PEFT's LoraModel reads adapter_config.json +
adapter_model.safetensors: every nn.Linear whose module path ends with one of target_modules gets
    y = W x + lora_B(lora_A(x)) * (lora_alpha / r)
from the keys "base_model.model.<module path>.lora_A.weight" / ".lora_B.weight"; a targeted module
without its keys, or a key that names no targeted module, is an error.

  python3 hf_llama_ref.py score DIR --ids FILE --seq T [--adapter DIR]
      the mean next-token NLL over windows of T + 1 tokens at 0, T, 2T, ... (nightshift eval --seq),
      printed as JSON {"loss", "tokens", "windows"}; FILE holds whitespace-separated token ids
  python3 hf_llama_ref.py greedy DIR --ids FILE --tokens N [--adapter DIR]
      the N greedy continuation ids of the prompt ids in FILE, space-separated
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def read_hf_weights(model_dir):
    """Every tensor of model.safetensors, or of the shards model.safetensors.index.json lists."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        weight_map = json.load(open(index))["weight_map"]
        out = {}
        for shard in sorted(set(weight_map.values())):
            tensors = st_io.read(os.path.join(model_dir, shard))
            for name, value in tensors.items():
                if weight_map.get(name) != shard:
                    raise ValueError(f"{shard}: {name} is not listed for this shard in the index")
                out[name] = value
        missing = set(weight_map) - set(out)
        if missing:
            raise ValueError(f"{index}: lists tensors no shard holds: {sorted(missing)[:3]}")
        return out
    return st_io.read(os.path.join(model_dir, "model.safetensors"))


class Peft:
    """A PEFT LoRA adapter: scaling and (A, B) per module path."""

    def __init__(self, adapter_dir):
        cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
        if cfg.get("peft_type") != "LORA":
            raise ValueError("not a LoRA adapter")
        if cfg.get("use_rslora") or cfg.get("use_dora") or cfg.get("fan_in_fan_out"):
            raise ValueError("rsLoRA, DoRA and fan_in_fan_out are not handled here")
        self.targets = cfg["target_modules"]
        self.scaling = cfg["lora_alpha"] / cfg["r"]
        self.r = cfg["r"]
        raw = st_io.read(os.path.join(adapter_dir, "adapter_model.safetensors"))
        self.factors, self.unused = {}, set(raw)
        self.raw = raw

    def targeted(self, module):
        return any(module == t or module.endswith("." + t) for t in self.targets)

    def take(self, module):
        a_key = f"base_model.model.{module}.lora_A.weight"
        b_key = f"base_model.model.{module}.lora_B.weight"
        if a_key not in self.raw or b_key not in self.raw:
            raise ValueError(f"targeted module {module} has no {a_key} / {b_key}")
        self.unused -= {a_key, b_key}
        a = torch.from_numpy(np.asarray(self.raw[a_key], dtype=np.float64))
        b = torch.from_numpy(np.asarray(self.raw[b_key], dtype=np.float64))
        if a.shape[0] != self.r or b.shape[1] != self.r:
            raise ValueError(f"{module}: shapes {tuple(a.shape)}, {tuple(b.shape)} disagree with r={self.r}")
        return a, b


class HfLlama:
    def __init__(self, model_dir, adapter_dir=None):
        self.cfg = json.load(open(os.path.join(model_dir, "config.json")))
        if self.cfg.get("model_type") not in ("llama", "mistral"):
            raise ValueError(f"model_type {self.cfg.get('model_type')} is not llama")
        raw = read_hf_weights(model_dir)
        self.w = {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in raw.items()}
        self.used = set()
        self.peft = Peft(adapter_dir) if adapter_dir else None
        self.lora = {}
        c = self.cfg
        self.L = c["num_hidden_layers"]
        self.H = c["num_attention_heads"]
        self.Hkv = c.get("num_key_value_heads") or self.H
        self.Dh = c.get("head_dim") or c["hidden_size"] // self.H
        self.eps = c.get("rms_norm_eps", 1e-6)
        for i in range(self.L):
            for m in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
                module = f"model.layers.{i}.{m}"
                if self.peft and self.peft.targeted(module):
                    self.lora[module] = self.peft.take(module)
        if self.peft and self.peft.unused:
            raise ValueError(f"adapter keys that name no targeted module: {sorted(self.peft.unused)[:3]}")

    def weight(self, name):
        self.used.add(name)
        return self.w[name]

    def linear(self, x, module):
        y = x @ self.weight(module + ".weight").T
        if module in self.lora:
            a, b = self.lora[module]
            y = y + (x @ a.T) @ b.T * self.peft.scaling
        return y

    def norm(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight(name)

    def inv_freq(self):
        c = self.cfg
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, self.Dh, 2, dtype=torch.float64) / self.Dh))
        s = c.get("rope_scaling") or {}
        if (s.get("rope_type") or s.get("type")) == "llama3":  # transformers' _compute_llama3_parameters
            factor, low, high = s["factor"], s.get("low_freq_factor", 1.0), s.get("high_freq_factor", 4.0)
            old = s.get("original_max_position_embeddings", 8192)
            low_wl, high_wl = old / low, old / high
            wl = 2 * math.pi / inv
            scaled = torch.where(wl > low_wl, inv / factor, inv)
            smooth = (old / wl - low) / (high - low)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = (wl >= high_wl) & (wl <= low_wl)
            inv = torch.where(medium, smoothed, scaled)
        return inv

    def forward(self, ids):
        """Logits (T, V) of one sequence of token ids."""
        ids = torch.as_tensor(ids, dtype=torch.long)
        T = ids.shape[0]
        x = self.weight("model.embed_tokens.weight")[ids]
        pos = torch.arange(T, dtype=torch.float64)
        ang = pos[:, None] * self.inv_freq()[None, :]
        cos = torch.cat([ang.cos(), ang.cos()], -1)
        sin = torch.cat([ang.sin(), ang.sin()], -1)

        def rope(t):  # (heads, T, Dh), rotate-half
            half = t.shape[-1] // 2
            rot = torch.cat([-t[..., half:], t[..., :half]], -1)
            return t * cos + rot * sin

        mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
        for i in range(self.L):
            p = f"model.layers.{i}."
            h = self.norm(x, p + "input_layernorm.weight")
            q = self.linear(h, p + "self_attn.q_proj").view(T, self.H, self.Dh).transpose(0, 1)
            k = self.linear(h, p + "self_attn.k_proj").view(T, self.Hkv, self.Dh).transpose(0, 1)
            v = self.linear(h, p + "self_attn.v_proj").view(T, self.Hkv, self.Dh).transpose(0, 1)
            q, k = rope(q), rope(k)
            rep = self.H // self.Hkv
            k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(self.Dh) + mask, -1)
            o = (att @ v).transpose(0, 1).reshape(T, self.H * self.Dh)
            x = x + self.linear(o, p + "self_attn.o_proj")
            h = self.norm(x, p + "post_attention_layernorm.weight")
            g = self.linear(h, p + "mlp.gate_proj")
            x = x + self.linear(torch.nn.functional.silu(g) * self.linear(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        x = self.norm(x, "model.norm.weight")
        head = "model.embed_tokens.weight" if self.cfg.get("tie_word_embeddings") else "lm_head.weight"
        logits = x @ self.weight(head).T
        unused = set(self.w) - self.used
        if unused:
            raise ValueError(f"tensors the llama layout does not use: {sorted(unused)[:3]}")
        return logits


def read_ids(path):
    return [int(t) for t in open(path).read().split()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["score", "greedy"])
    ap.add_argument("model_dir")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--adapter")
    a = ap.parse_args()
    m = HfLlama(a.model_dir, a.adapter)
    ids = read_ids(a.ids)
    with torch.no_grad():
        if a.mode == "score":
            windows = (len(ids) - 1) // a.seq
            total = 0.0
            for w in range(windows):
                win = ids[w * a.seq: w * a.seq + a.seq + 1]
                logp = torch.log_softmax(m.forward(win[:-1]), -1)
                total -= logp[torch.arange(a.seq), torch.tensor(win[1:])].sum().item()
            print(json.dumps({"loss": total / (windows * a.seq), "tokens": windows * a.seq, "windows": windows}))
        else:
            out = list(ids)
            for _ in range(a.tokens):
                out.append(int(m.forward(out)[-1].argmax()))
            print(" ".join(str(t) for t in out[len(ids):]))


if __name__ == "__main__":
    main()
