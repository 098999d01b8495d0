"""Independent PyTorch implementation of nightshift's models, written from docs/model.md alone.

Used to check the C++ engine (tests/reference/model_reference_test.py) and as the PyTorch side of
the speed benchmarks (bench/torch_*.py). Parameter names are exactly the tensor names of
docs/model.md, so `model.state_dict()` loads from and compares with the engine's safetensors.
It is not a training program: no data pipeline, no checkpoints, no schedules.
Run with Debian's python3 (torch 1.13): /usr/bin/python3.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

KINDS = ("attn", "mlp", "ssm", "moe")


# --------------------------------------------------------------------------------------------
# Configuration (mirrors trainer/model_config.h: same keys, same "0 = default" rules)
# --------------------------------------------------------------------------------------------

@dataclass
class AttnConfig:
    n_heads: int = 4
    n_kv_heads: int = 0
    head_dim: int = 0
    window: int = 0
    rope_theta: float = 10000.0
    qkv_bias: bool = False             # q, k, v projection biases (Qwen2)
    qk_norm: bool = False              # per-head RMSNorm of q and k before RoPE (Qwen3)
    rope_scale_factor: float = 0.0     # Llama-3.1 RoPE scaling ("llama3"); 0 = off
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_context: int = 8192


@dataclass
class MlpConfig:
    d_ff: int = 0


@dataclass
class SsmConfig:
    expand: int = 2
    d_state: int = 16
    d_conv: int = 4
    dt_rank: int = 0


@dataclass
class MoeConfig:
    n_experts: int = 8
    top_k: int = 2
    d_expert: int = 0
    shared_expert: bool = True
    d_shared: int = 0
    aux_loss_weight: float = 0.01


@dataclass
class ModelConfig:
    name: str = "custom"
    vocab_size: int = 256
    d_model: int = 128
    d_embed: int = 0
    tied_embedding: bool = True
    norm_eps: float = 1e-5
    init_std: float = 0.02
    blocks: list = field(default_factory=list)  # list of lists of kinds, one per block
    attn: AttnConfig = field(default_factory=AttnConfig)
    mlp: MlpConfig = field(default_factory=MlpConfig)
    ssm: SsmConfig = field(default_factory=SsmConfig)
    moe: MoeConfig = field(default_factory=MoeConfig)

    # Resolved dimensions.
    @property
    def embed_dim(self) -> int:
        return self.d_embed if self.d_embed > 0 else self.d_model

    @property
    def has_bridge(self) -> bool:
        return self.embed_dim != self.d_model

    @property
    def kv_heads(self) -> int:
        return self.attn.n_kv_heads if self.attn.n_kv_heads > 0 else self.attn.n_heads

    @property
    def head_dim(self) -> int:
        return self.attn.head_dim if self.attn.head_dim > 0 else self.d_model // self.attn.n_heads

    @property
    def ff_dim(self) -> int:
        return self.mlp.d_ff if self.mlp.d_ff > 0 else 4 * self.d_model

    @property
    def inner_dim(self) -> int:
        return self.ssm.expand * self.d_model

    @property
    def dt_rank(self) -> int:
        return self.ssm.dt_rank if self.ssm.dt_rank > 0 else (self.d_model + 15) // 16

    @property
    def expert_dim(self) -> int:
        return self.moe.d_expert if self.moe.d_expert > 0 else 2 * self.d_model

    @property
    def shared_dim(self) -> int:
        return self.moe.d_shared if self.moe.d_shared > 0 else self.expert_dim

    def n_layers_of(self, kind: str) -> int:
        return sum(1 for b in self.blocks for k in b if k == kind)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["blocks"] = ["+".join(b) for b in self.blocks]
        return d


def default_presets_dir() -> str:
    src = os.environ.get("NS_SOURCE_DIR")
    if not src:
        src = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    return os.path.join(src, "trainer", "arch", "presets")


def _parse_block_spec(text: str) -> list:
    kinds = text.split("+")
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown block kind '{k}' in '{text}'")
    return kinds


def _read_blocks(items) -> list:
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(_parse_block_spec(item))
        elif isinstance(item, dict):
            spec = _parse_block_spec(item["block"])
            for _ in range(int(item.get("repeat", 1))):
                out.append(list(spec))
        else:
            raise ValueError(f"bad block entry {item!r}")
    return out


def _apply_table(cfg: ModelConfig, t: dict, presets_dir: str, depth: int = 0) -> None:
    if "model" in t and isinstance(t["model"], dict):
        t = t["model"]
    if "preset" in t:
        if depth > 4:
            raise ValueError("presets refer to each other too deeply")
        with open(os.path.join(presets_dir, t["preset"] + ".toml"), "rb") as f:
            _apply_table(cfg, tomllib.load(f), presets_dir, depth + 1)
    for key in ("name", "vocab_size", "d_model", "d_embed", "tied_embedding", "norm_eps", "init_std"):
        if key in t:
            setattr(cfg, key, type(getattr(cfg, key))(t[key]))
    if "blocks" in t:
        b = t["blocks"]
        cfg.blocks = _read_blocks(b) if b and not isinstance(b[0], list) else [list(x) for x in b]
    for section in ("attn", "mlp", "ssm", "moe"):
        if section in t:
            sub = getattr(cfg, section)
            for k, v in t[section].items():
                if not hasattr(sub, k):
                    raise ValueError(f"unknown key '{k}' in [{section}]")
                setattr(sub, k, type(getattr(sub, k))(v))


def config_from_dict(t: dict, presets_dir: str | None = None) -> ModelConfig:
    """A model table (TOML or JSON shape, top level or under "model"; "preset" is honoured)."""
    cfg = ModelConfig()
    _apply_table(cfg, t, presets_dir or default_presets_dir())
    if not cfg.blocks:
        raise ValueError("model has no blocks")
    return cfg


def load_config(path: str, presets_dir: str | None = None) -> ModelConfig:
    """A model from a .toml or .json file."""
    if path.endswith(".json"):
        with open(path) as f:
            return config_from_dict(json.load(f), presets_dir)
    with open(path, "rb") as f:
        return config_from_dict(tomllib.load(f), presets_dir)


def preset_config(name: str, presets_dir: str | None = None) -> ModelConfig:
    return config_from_dict({"preset": name}, presets_dir)


# --------------------------------------------------------------------------------------------
# Ops
# --------------------------------------------------------------------------------------------

def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return rmsnorm(x, self.weight, self.eps)


def llama3_inv_freq(inv_freq: torch.Tensor, factor: float, low_freq_factor: float, high_freq_factor: float,
                    original_context: int) -> torch.Tensor:
    """Hugging Face's rope_type "llama3" (transformers _compute_llama3_parameters): frequencies whose
    wavelength is below original_context / high_freq_factor stay, those above
    original_context / low_freq_factor are divided by factor, the ones between are blended."""
    low_freq_wavelen = original_context / low_freq_factor
    high_freq_wavelen = original_context / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (original_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def rope_tables(T: int, head_dim: int, theta: float, dtype, device=None, attn: AttnConfig | None = None):
    """cos, sin of shape (T, Dh/2): angle t * theta^(-2i/Dh), with the llama3 scaling of `attn` when
    its rope_scale_factor is set. Computed in float64, then cast."""
    half = head_dim // 2
    i = torch.arange(half, dtype=torch.float64, device=device)
    inv_freq = theta ** (-2.0 * i / head_dim)
    if attn is not None and attn.rope_scale_factor > 0:
        inv_freq = llama3_inv_freq(inv_freq, attn.rope_scale_factor, attn.rope_low_freq_factor,
                                   attn.rope_high_freq_factor, attn.rope_original_context)
    t = torch.arange(T, dtype=torch.float64, device=device)
    ang = t[:, None] * inv_freq[None, :]
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (B, heads, T, Dh); rotate-half: out = (x1 cos - x2 sin, x2 cos + x1 sin)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def attention_mask(T: int, window: int, device=None) -> torch.Tensor:
    """Boolean (T, T), True where query t may see key s: s <= t and (window == 0 or t - s < window)."""
    t = torch.arange(T, device=device)[:, None]
    s = torch.arange(T, device=device)[None, :]
    ok = s <= t
    if window > 0:
        ok = ok & (t - s < window)
    return ok


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D, H, Hkv, Dh = cfg.d_model, cfg.attn.n_heads, cfg.kv_heads, cfg.head_dim
        self.H, self.Hkv, self.Dh = H, Hkv, Dh
        self.window, self.theta = cfg.attn.window, cfg.attn.rope_theta
        self.cfg_attn = cfg.attn
        bias = cfg.attn.qkv_bias
        self.q = nn.Linear(D, H * Dh, bias=bias)
        self.k = nn.Linear(D, Hkv * Dh, bias=bias)
        self.v = nn.Linear(D, Hkv * Dh, bias=bias)
        self.o = nn.Linear(H * Dh, D, bias=False)
        if cfg.attn.qk_norm:  # one weight of Dh shared by all heads, eps of the model's norms
            self.q_norm = RMSNorm(Dh, cfg.norm_eps)
            self.k_norm = RMSNorm(Dh, cfg.norm_eps)

    def forward(self, x):
        B, T, _ = x.shape
        H, Hkv, Dh = self.H, self.Hkv, self.Dh
        q = self.q(x).view(B, T, H, Dh).transpose(1, 2)
        k = self.k(x).view(B, T, Hkv, Dh).transpose(1, 2)
        v = self.v(x).view(B, T, Hkv, Dh).transpose(1, 2)
        if self.cfg_attn.qk_norm:  # per head, before RoPE
            q, k = self.q_norm(q), self.k_norm(k)
        cos, sin = rope_tables(T, Dh, self.theta, x.dtype, x.device, self.cfg_attn)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if Hkv != H:  # query head h uses KV head h // (H / Hkv)
            k = k.repeat_interleave(H // Hkv, dim=1)
            v = v.repeat_interleave(H // Hkv, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(Dh)
        scores = scores.masked_fill(~attention_mask(T, self.window, x.device), float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v
        return self.o(y.transpose(1, 2).reshape(B, T, H * Dh))


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


# ---- the selective scan -------------------------------------------------------------------
# s[t] = a[t] * s[t-1] + b[t], s[-1] = 0, with a = exp(dt A), b = (dt x) ⊗ Bm; y[t] = s[t]·C[t].
# All variants take a, b of shape (B, T, Di, N) and return the states (B, T, Di, N).

def scan_sequential(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The recurrence as written. The inputs are split into per-timestep views with one unbind and
    the states joined with one stack, so autograd's backward stays linear in T (indexing a[:, t]
    per step would make every step's backward touch the whole tensor: quadratic)."""
    a_t, b_t = a.unbind(1), b.unbind(1)
    s = b_t[0]
    out = [s]
    for t in range(1, len(a_t)):
        s = a_t[t] * s + b_t[t]
        out.append(s)
    return torch.stack(out, dim=1)


def _scan_log_depth(a: torch.Tensor, b: torch.Tensor, dim: int):
    """Inclusive scan of the affine maps s -> a s + b along `dim` (Hillis-Steele, log2 steps).
    Returns (A, S): A[t] = prod_{u<=t} a[u], S[t] = state at t starting from 0."""
    n = a.shape[dim]
    d = 1
    while d < n:
        a_prev = a.narrow(dim, 0, n - d)
        b_prev = b.narrow(dim, 0, n - d)
        a_cur = a.narrow(dim, d, n - d)
        b_cur = b.narrow(dim, d, n - d)
        b = torch.cat((b.narrow(dim, 0, d), a_cur * b_prev + b_cur), dim=dim)
        a = torch.cat((a.narrow(dim, 0, d), a_cur * a_prev), dim=dim)
        d *= 2
    return a, b


def scan_chunked(a: torch.Tensor, b: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """Vectorised scan: a log-depth scan inside chunks of `chunk` steps (all chunks at once), then a
    short sequential pass carrying the state across chunk boundaries. Only products of decays
    (all in (0, 1]) appear, so it is as stable as the sequential form."""
    Bsz, T = a.shape[0], a.shape[1]
    rest = a.shape[2:]
    L = min(chunk, T)
    pad = (-T) % L
    if pad:
        a = torch.cat((a, a.new_ones((Bsz, pad) + rest)), dim=1)
        b = torch.cat((b, b.new_zeros((Bsz, pad) + rest)), dim=1)
    nc = (T + pad) // L
    a = a.reshape((Bsz, nc, L) + rest)
    b = b.reshape((Bsz, nc, L) + rest)
    A, S = _scan_log_depth(a, b, dim=2)
    if nc > 1:
        A_end, S_end = A[:, :, -1].unbind(1), S[:, :, -1].unbind(1)
        carry = [torch.zeros_like(S_end[0])]
        for c in range(1, nc):  # state entering chunk c
            carry.append(A_end[c - 1] * carry[-1] + S_end[c - 1])
        S = S + A * torch.stack(carry, dim=1).unsqueeze(2)
    S = S.reshape((Bsz, nc * L) + rest)
    return S[:, :T] if pad else S


class _TimeMajorScan(torch.autograd.Function):
    """The recurrence on time-major tensors (T, B, Di, N) with a hand-written backward: one fused
    multiply-add per timestep each way, written into preallocated per-timestep slices (no autograd
    graph per step), then the gradient of a in one vectorised product.
        forward:  S[t] = a[t] * S[t-1] + b[t]
        backward: G[t] = dS[t] + a[t+1] * G[t+1];  da[t] = G[t] * S[t-1] (0 at t = 0);  db = G"""

    @staticmethod
    def forward(ctx, a, b):
        S = torch.empty_like(b)
        S[0].copy_(b[0])
        for t in range(1, b.shape[0]):
            torch.addcmul(b[t], a[t], S[t - 1], out=S[t])
        ctx.save_for_backward(a, S)
        return S

    @staticmethod
    def backward(ctx, dS):
        a, S = ctx.saved_tensors
        G = dS.clone(memory_format=torch.contiguous_format)
        for t in range(G.shape[0] - 2, -1, -1):
            G[t].addcmul_(a[t + 1], G[t + 1])
        da = torch.empty_like(G)
        da[0].zero_()
        torch.mul(G[1:], S[:-1], out=da[1:])
        return da, G


def scan_manual(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Same result as scan_sequential, through _TimeMajorScan (inputs batch-major (B, T, ...))."""
    aT = a.transpose(0, 1).contiguous()
    bT = b.transpose(0, 1).contiguous()
    return _TimeMajorScan.apply(aT, bT).transpose(0, 1)


class SSM(nn.Module):
    """Mamba-1 selective state-space layer, docs/model.md 'ssm'."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D, Di, N, R, K = cfg.d_model, cfg.inner_dim, cfg.ssm.d_state, cfg.dt_rank, cfg.ssm.d_conv
        self.Di, self.N, self.R, self.K = Di, N, R, K
        self.in_proj = nn.Linear(D, 2 * Di, bias=False)
        self.conv = nn.Module()
        self.conv.weight = nn.Parameter(torch.empty(Di, K))
        self.conv.bias = nn.Parameter(torch.zeros(Di))
        self.x_proj = nn.Linear(Di, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, Di, bias=True)
        self.A_log = nn.Parameter(torch.empty(Di, N))
        self.D = nn.Parameter(torch.ones(Di))
        self.out_proj = nn.Linear(Di, D, bias=False)
        self.scan = "sequential"  # or "chunked" / "manual": same math, faster (see those scans)
        self.chunk = 16

    def forward(self, x):
        B, T, _ = x.shape
        Di, N, R, K = self.Di, self.N, self.R, self.K
        xz = self.in_proj(x)
        x_in, z = xz[..., :Di], xz[..., Di:]
        # causal depthwise conv: out[t] = sum_j w[j] x_in[t - K + 1 + j]
        xc = F.conv1d(x_in.transpose(1, 2), self.conv.weight.unsqueeze(1), self.conv.bias,
                      padding=K - 1, groups=Di)[..., :T].transpose(1, 2)
        xc = F.silu(xc)
        dbc = self.x_proj(xc)
        dt_low, Bm, Cm = dbc[..., :R], dbc[..., R:R + N], dbc[..., R + N:]
        dt = F.softplus(self.dt_proj(dt_low))                       # (B, T, Di)
        A = -torch.exp(self.A_log)                                  # (Di, N)
        if self.scan == "manual":  # time-major throughout: the big tensors never get transposed
            dtT, xcT, BmT, CmT = (u.transpose(0, 1).contiguous() for u in (dt, xc, Bm, Cm))
            aT = torch.exp(dtT.unsqueeze(-1) * A)                   # (T, B, Di, N)
            bT = (dtT * xcT).unsqueeze(-1) * BmT.unsqueeze(2)
            sT = _TimeMajorScan.apply(aT, bT)
            y = (sT @ CmT.unsqueeze(-1)).squeeze(-1).transpose(0, 1) + self.D * xc
            return self.out_proj(y * F.silu(z))
        a = torch.exp(dt.unsqueeze(-1) * A)                         # (B, T, Di, N)
        b = (dt * xc).unsqueeze(-1) * Bm.unsqueeze(2)               # (B, T, Di, N)
        if self.scan == "chunked":
            s = scan_chunked(a, b, self.chunk)
        else:
            s = scan_sequential(a, b)
        y = (s @ Cm.unsqueeze(-1)).squeeze(-1) + self.D * xc       # (B, T, Di)
        return self.out_proj(y * F.silu(z))


class MoE(nn.Module):
    """Softmax router, top-k experts with renormalised gates, optional shared expert, Switch aux."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D, X = cfg.d_model, cfg.moe.n_experts
        self.X, self.k = X, cfg.moe.top_k
        self.router = nn.Linear(D, X, bias=False)
        self.experts = nn.ModuleList(SwiGLU(D, cfg.expert_dim) for _ in range(X))
        self.shared = SwiGLU(D, cfg.shared_dim) if cfg.moe.shared_expert else None
        self.last_aux = None
        self.last_load = None  # fraction of assignments per expert (detached), for reports

    def forward(self, x):
        B, T, D = x.shape
        xf = x.reshape(B * T, D)
        p = torch.softmax(self.router(xf), dim=-1)                   # (BT, X)
        # top-k by p, ties to the lower expert index: a stable descending sort keeps index order.
        order = torch.sort(p.detach(), dim=-1, descending=True, stable=True).indices
        top = order[:, :self.k]                                      # (BT, k)
        p_top = torch.gather(p, 1, top)
        gates = p_top / p_top.sum(-1, keepdim=True)
        out = torch.zeros_like(xf)
        flat_e = top.reshape(-1)
        flat_tok = torch.arange(B * T, device=x.device).repeat_interleave(self.k)
        flat_gate = gates.reshape(-1)
        for e in range(self.X):  # dispatch: each expert runs once over the tokens routed to it
            sel = (flat_e == e).nonzero(as_tuple=True)[0]
            if sel.numel() == 0:
                continue
            tok = flat_tok[sel]
            ye = self.experts[e](xf.index_select(0, tok)) * flat_gate[sel].unsqueeze(-1)
            out = out.index_add(0, tok, ye)
        if self.shared is not None:
            out = out + self.shared(xf)
        counts = torch.bincount(flat_e, minlength=self.X).to(p.dtype)
        f = (counts / flat_e.numel()).detach()
        P = p.mean(0)
        self.last_aux = self.X * (f * P).sum()
        self.last_load = f
        return out.reshape(B, T, D)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, kinds: list):
        super().__init__()
        self.kinds = list(kinds)
        ctor = {"attn": Attention, "mlp": lambda c: SwiGLU(c.d_model, c.ff_dim), "ssm": SSM, "moe": MoE}
        for k in self.kinds:
            setattr(self, k + "_norm", RMSNorm(cfg.d_model, cfg.norm_eps))
            setattr(self, k, ctor[k](cfg))

    def forward(self, h, aux: list):
        for k in self.kinds:
            layer = getattr(self, k)
            h = h + layer(getattr(self, k + "_norm")(h))
            if k == "moe":
                aux.append(layer.last_aux)
        return h


class Model(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        V, D, E = cfg.vocab_size, cfg.d_model, cfg.embed_dim
        self.embed = nn.Embedding(V, E)
        if cfg.has_bridge:
            self.bridge_in = nn.Linear(E, D, bias=False)
            self.bridge_out = nn.Linear(D, E, bias=False)
        self.blocks = nn.ModuleList(Block(cfg, kinds) for kinds in cfg.blocks)
        self.final_norm = RMSNorm(D, cfg.norm_eps)
        if not cfg.tied_embedding:
            self.lm_head = nn.Linear(E, V, bias=False)
        self.init_weights()

    def init_weights(self, seed: int | None = None):
        """Normal(0, init_std) for matrices and the embedding, norms 1, SSM per docs/model.md.
        (Only used when training from scratch; comparisons load the engine's weights.)"""
        g = torch.Generator().manual_seed(0 if seed is None else seed)
        std = self.cfg.init_std
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("_norm.weight") or name == "final_norm.weight" or name.endswith("ssm.D"):
                    p.fill_(1.0)
                elif name.endswith(("conv.bias", "attn.q.bias", "attn.k.bias", "attn.v.bias")):
                    p.zero_()
                elif name.endswith("A_log"):
                    N = p.shape[1]
                    p.copy_(torch.log(torch.arange(1, N + 1, dtype=p.dtype)).expand_as(p))
                elif name.endswith("dt_proj.bias"):
                    u = torch.rand(p.shape, generator=g, dtype=torch.float64)
                    dt = torch.exp(u * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
                    p.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1
                elif name.endswith("conv.weight"):
                    bound = 1.0 / math.sqrt(p.shape[1])
                    p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(-bound, bound, generator=g))
                else:
                    p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * std)

    def head_weight(self):
        return self.embed.weight if self.cfg.tied_embedding else self.lm_head.weight

    def forward(self, tokens: torch.Tensor):
        """Returns (logits (B, T, V), list of aux losses of the moe layers)."""
        h = self.embed(tokens)
        if self.cfg.has_bridge:
            h = self.bridge_in(h)
        aux = []
        for blk in self.blocks:
            h = blk(h, aux)
        h = self.final_norm(h)
        if self.cfg.has_bridge:
            h = self.bridge_out(h)
        return h @ self.head_weight().t(), aux

    def loss(self, tokens, targets):
        """Returns (loss, ce_loss, aux_sum, logits)."""
        logits, aux = self(tokens)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long())
        aux_sum = torch.stack(aux).sum() if aux else logits.new_zeros(())
        return ce + self.cfg.moe.aux_loss_weight * aux_sum, ce, aux_sum, logits

    def set_scan(self, kind: str, chunk: int = 16):
        for m in self.modules():
            if isinstance(m, SSM):
                m.scan, m.chunk = kind, chunk

    def load_named(self, tensors: dict, strict: bool = True):
        """Copies weights by name (docs/model.md names); shapes must match; with strict, the name
        sets must be equal."""
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(tensors))
        extra = sorted(set(tensors) - set(params))
        if strict and (missing or extra):
            raise ValueError(f"weight names differ: missing {missing[:8]}, unexpected {extra[:8]}")
        with torch.no_grad():
            for name, p in params.items():
                if name not in tensors:
                    continue
                t = torch.as_tensor(tensors[name])
                if tuple(t.shape) != tuple(p.shape):
                    raise ValueError(f"{name}: shape {tuple(t.shape)} != expected {tuple(p.shape)}")
                p.copy_(t.to(p.dtype))


# --------------------------------------------------------------------------------------------
# Optimizer (the engine's AdamW setting)
# --------------------------------------------------------------------------------------------

def decays(name: str, p: torch.Tensor) -> bool:
    """Decoupled weight decay applies to 2-D '.weight' tensors, except the SSM conv kernel."""
    return p.dim() == 2 and name.endswith(".weight") and not name.endswith("ssm.conv.weight")


def make_adamw(model: nn.Module, lr: float, weight_decay: float, betas=(0.9, 0.95), eps=1e-8):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if decays(name, p) else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_token(cfg: ModelConfig, T: int) -> float:
    """Forward+backward FLOPs per token of the matrix products (6 per weight element touched, plus
    attention's QK and PV products), the usual model-FLOPs convention. MoE counts top_k experts."""
    D, E, V = cfg.d_model, cfg.embed_dim, cfg.vocab_size
    f = 0.0
    for kinds in cfg.blocks:
        for k in kinds:
            if k == "attn":
                H, Hkv, Dh = cfg.attn.n_heads, cfg.kv_heads, cfg.head_dim
                f += 6 * D * (2 * H * Dh + 2 * Hkv * Dh)
                w = cfg.attn.window if cfg.attn.window > 0 else T
                ctx = sum(min(t + 1, w) for t in range(T)) / T  # mean keys seen per query
                f += 3 * 4 * H * Dh * ctx  # QK^T and PV, forward and twice that in backward
            elif k == "mlp":
                f += 6 * 3 * D * cfg.ff_dim
            elif k == "ssm":
                Di, N, R = cfg.inner_dim, cfg.ssm.d_state, cfg.dt_rank
                f += 6 * (D * 2 * Di + Di * (R + 2 * N) + R * Di + Di * D)
            elif k == "moe":
                f += 6 * (D * cfg.moe.n_experts + cfg.moe.top_k * 3 * D * cfg.expert_dim)
                if cfg.moe.shared_expert:
                    f += 6 * 3 * D * cfg.shared_dim
    if cfg.has_bridge:
        f += 6 * 2 * D * E
    f += 6 * E * V
    return f
