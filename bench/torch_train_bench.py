"""PyTorch side of the end-to-end training benchmark: trains the same model as `nightshift train`
(preset or model file, same B, T and thread count; the model is tests/reference/nightshift_ref.py)
for a number of steps and prints one JSON object with tokens/s and ms/step. Not a test.

Each step is what the engine's step does: forward, cross-entropy (+ MoE aux), backward, clip by
global norm 1.0, AdamW (betas 0.9/0.95, decoupled decay on 2-D weights). Timing excludes warm-up.

PyTorch is measured at its best: torch.set_num_threads(--threads), and OMP_WAIT_POLICY=PASSIVE
(without it PyTorch's OpenMP threads spin against OpenBLAS's and it loses ~1.5x on 2 cores).
This script sets OMP_WAIT_POLICY=PASSIVE and OMP_NUM_THREADS itself by re-executing once when
they are missing (pass --no-passive to measure the default). For SSM layers it uses the fastest
scan it has: --scan auto times each of the sequential scan (autograd through a per-timestep loop),
the chunked scan (log-depth within chunks) and the manual one (a torch.autograd.Function with a
hand-written backward, one fused multiply-add per timestep each way) for two steps, keeps the
fastest and reports all three.

--lora-rank R (R > 0) measures the LoRA counterpart of `nightshift train --mode lora|qlora`: every
weight frozen, rank-R adapters (scale alpha/R with alpha = R) on the linear maps named q, k, v, o,
gate, up, down, in_proj, out_proj, AdamW on the adapters only. The frozen base stays fp32 (PyTorch
has no NF4 matmul on the CPU), so against a qlora run it is an upper bound on PyTorch's speed.

    /usr/bin/python3 bench/torch_train_bench.py --preset gpt-tiny --batch 12 --seq 64 --threads 2 --steps 30
"""
import os
import sys

if "--no-passive" not in sys.argv and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            env["OMP_NUM_THREADS"] = sys.argv[i + 1]
        elif a.startswith("--threads="):
            env["OMP_NUM_THREADS"] = a.split("=", 1)[1]
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import nightshift_ref as R  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="a preset name (trainer/arch/presets/NAME.toml)")
    src.add_argument("--model", help="a model file (.toml or .json; a run config's [model] table works)")
    ap.add_argument("--vocab", type=int, help="override vocab_size")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", help="a text file read as byte tokens (default: uniform random tokens)")
    ap.add_argument("--scan", choices=("auto", "sequential", "chunked", "manual"), default="auto")
    ap.add_argument("--chunk", type=int, default=16, help="chunk length of the chunked scan")
    ap.add_argument("--lora-rank", type=int, default=0, help="train rank-R LoRA adapters on a frozen base (0: full)")
    ap.add_argument("--no-passive", action="store_true", help="do not force OMP_WAIT_POLICY=PASSIVE")
    return ap.parse_args(argv)


LORA_TARGETS = {"q", "k", "v", "o", "gate", "up", "down", "in_proj", "out_proj"}


class LoraLinear(torch.nn.Module):
    """y = base(x) + scale * (x Aᵀ) Bᵀ with the base frozen; B starts at zero."""

    def __init__(self, base, rank):
        super().__init__()
        self.base = base
        self.a = torch.nn.Parameter(torch.randn(rank, base.in_features) / base.in_features ** 0.5)
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = 1.0

    def forward(self, x):
        return self.base(x) + (x @ self.a.t()) @ self.b.t() * self.scale


def add_lora(model, rank):
    for p in model.parameters():
        p.requires_grad_(False)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if name in LORA_TARGETS and isinstance(child, torch.nn.Linear):
                setattr(parent, name, LoraLinear(child, rank))


def build(args):
    cfg = R.preset_config(args.preset) if args.preset else R.load_config(args.model)
    if args.vocab:
        cfg.vocab_size = args.vocab
    torch.manual_seed(args.seed)
    model = R.Model(cfg)
    model.init_weights(args.seed)
    if args.lora_rank > 0:
        add_lora(model, args.lora_rank)
        trainable = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(trainable, lr=args.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
    else:
        opt = R.make_adamw(model, args.lr, args.weight_decay)
    return cfg, model, opt


def batches(args, vocab):
    """An endless iterator of (inputs, targets) int64 (B, T)."""
    g = torch.Generator().manual_seed(args.seed + 1)
    B, T = args.batch, args.seq
    if args.data:
        with open(args.data, "rb") as f:
            data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
        if int(data.max()) >= vocab:
            raise SystemExit(f"{args.data}: byte tokens need vocab_size >= 256, the model has {vocab}")
        while True:
            starts = torch.randint(0, data.numel() - T - 1, (B,), generator=g)
            idx = starts[:, None] + torch.arange(T + 1)[None, :]
            w = data[idx]
            yield w[:, :-1], w[:, 1:]
    while True:
        w = torch.randint(0, vocab, (B, T + 1), generator=g)
        yield w[:, :-1], w[:, 1:]


def train_step(model, opt, inputs, targets):
    opt.zero_grad(set_to_none=True)
    loss = model.loss(inputs, targets)[0]
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    opt.step()
    return float(loss)


def timed_steps(model, opt, data, n):
    times, loss = [], float("nan")
    for _ in range(n):
        inputs, targets = next(data)
        t0 = time.perf_counter()
        loss = train_step(model, opt, inputs, targets)
        times.append(time.perf_counter() - t0)
    return times, loss


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg, model, opt = build(args)
    data = batches(args, cfg.vocab_size)
    has_ssm = cfg.n_layers_of("ssm") > 0

    scan, scan_probe = "-", {}
    if has_ssm:
        if args.scan == "auto":
            for kind in ("sequential", "chunked", "manual"):
                model.set_scan(kind, args.chunk)
                timed_steps(model, opt, data, 1)
                scan_probe[kind] = round(1e3 * min(timed_steps(model, opt, data, 2)[0]), 2)
            scan = min(scan_probe, key=scan_probe.get)
        else:
            scan = args.scan
        model.set_scan(scan, args.chunk)

    timed_steps(model, opt, data, args.warmup)
    times, loss = timed_steps(model, opt, data, args.steps)
    tokens = args.batch * args.seq
    total = sum(times)
    fpt = R.flops_per_token(cfg, args.seq)
    out = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "model": cfg.name,
        "params": R.count_params(model),
        "batch": args.batch,
        "seq": args.seq,
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "steps": args.steps,
        "tokens_per_s": tokens * args.steps / total,
        "ms_per_step": 1e3 * total / args.steps,
        "ms_per_step_median": 1e3 * statistics.median(times),
        "ms_per_step_min": 1e3 * min(times),
        "flops_per_token": fpt,
        "gflop_per_s": fpt * tokens * args.steps / total / 1e9,
        "last_loss": loss,
        "scan": scan,
        "lora_rank": args.lora_rank,
    }
    if scan_probe:
        out["scan_probe_ms"] = scan_probe
        out["scan_chunk"] = args.chunk
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
