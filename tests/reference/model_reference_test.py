"""The C++ engine against the independent PyTorch implementation (nightshift_ref.py).

For each case (presets gpt-tiny, and hybrid-tiny / mamba-tiny when their preset files exist; custom
models with grouped KV heads, a sliding window, an untied head and bridges; one with q/k/v biases,
q/k norms and Llama-3.1 RoPE scaling; a custom hybrid with ssm and moe when those blocks exist) it runs

    $NIGHTSHIFT_BIN reference-dump (--preset NAME | --model FILE.toml) [--vocab V] --batch B --seq T
        --seed S --steps N --lr LR --weight-decay WD --out DIR

loads the engine's initial weights and batch into the PyTorch model and checks, against PyTorch in
float64 (the truth; PyTorch float32 is printed beside it as the noise floor): loss, ce and aux
parts, logits, every gradient (per tensor, relative norm of the difference), and the losses of N
AdamW steps (torch.optim.AdamW + clip_grad_norm_). Prints a table of the worst errors and exits
non-zero on any mismatch, including when the engine command is missing or fails.

    NIGHTSHIFT_BIN=build/app/nightshift /usr/bin/python3 tests/reference/model_reference_test.py [-k CASE] [--keep DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nightshift_ref as R  # noqa: E402
import st_io  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Tolerances (engine float32 against PyTorch float64).
TOL_LOSS = 1e-4      # relative, loss / ce / aux
TOL_LOGITS = 1e-4    # relative norm of the difference
TOL_GRAD = 1e-4      # relative norm of the difference, per tensor (measured worst: ~2e-6)
TOL_STEPS = 1e-4     # relative, each AdamW-step loss

LR, WD, STEPS = 2e-3, 0.1, 5

CUSTOM_ATTN = """
# grouped KV heads, sliding window, untied head, bridges (d_embed != d_model)
name = "ref-custom-attn"
vocab_size = 50
d_model = 48
d_embed = 32
tied_embedding = false
blocks = [{ block = "attn+mlp", repeat = 2 }]
[attn]
n_heads = 6
n_kv_heads = 2
window = 7
rope_theta = 500.0
[mlp]
d_ff = 80
"""

CUSTOM_QWEN = """
# Qwen2 q/k/v biases, Qwen3 per-head q/k norms (head_dim != d_model / n_heads), Llama-3.1 RoPE
# scaling with original_context chosen so that the 8 frequency pairs fall in all three bands
name = "ref-custom-qwen"
vocab_size = 50
d_model = 48
blocks = [{ block = "attn+mlp", repeat = 2 }]
[attn]
n_heads = 4
n_kv_heads = 2
head_dim = 16
qkv_bias = true
qk_norm = true
rope_scale_factor = 8.0
rope_low_freq_factor = 1.0
rope_high_freq_factor = 8.0
rope_original_context = 256
[mlp]
d_ff = 80
"""

# The biases start at 0 and the q/k norms at 1; a larger learning rate moves them further over the
# AdamW steps, so the step losses test the forward with them away from their initial values.
CASE_LR = {"custom-qwen": 1e-2}
# Cases run with the LM head fused with its loss (reference-dump --head-chunk C, as training runs it):
# they have no logits to compare; their loss, gradients and AdamW steps are checked as for the rest.
HEAD_CHUNK = {"custom-attn-fused-head": 7}

CUSTOM_HYBRID = """
# every kind: ssm, attn (GQA + window), moe with a shared expert; untied head, bridges
name = "ref-custom-hybrid"
vocab_size = 61
d_model = 32
d_embed = 24
tied_embedding = false
blocks = ["ssm", "attn+moe", "ssm+moe", "attn+mlp"]
[attn]
n_heads = 4
n_kv_heads = 2
window = 6
[mlp]
d_ff = 48
[ssm]
expand = 2
d_state = 8
d_conv = 4
dt_rank = 3
[moe]
n_experts = 4
top_k = 2
d_expert = 24
shared_expert = true
d_shared = 16
aux_loss_weight = 0.05
"""

CUSTOM_MOE_TOP1 = """
# moe without a shared expert, top-1 of 3, after attention with full causal context
name = "ref-custom-moe-top1"
vocab_size = 40
d_model = 32
blocks = [{ block = "attn+moe", repeat = 2 }]
[attn]
n_heads = 2
[moe]
n_experts = 3
top_k = 1
d_expert = 40
shared_expert = false
aux_loss_weight = 0.1
"""


def source_dir():
    return os.environ.get("NS_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))


def cases():
    """(name, preset or None, model TOML text or None, vocab override or None, B, T, seed)."""
    presets = os.path.join(source_dir(), "trainer", "arch", "presets")
    have = lambda p: os.path.exists(os.path.join(presets, p + ".toml"))  # noqa: E731
    out = [("gpt-tiny", "gpt-tiny", None, None, 2, 32, 11),
           ("custom-attn", None, CUSTOM_ATTN, 67, 3, 24, 12),
           ("custom-attn-fused-head", None, CUSTOM_ATTN, 67, 3, 24, 12),
           ("custom-qwen", None, CUSTOM_QWEN, None, 2, 24, 17)]
    ssm_moe = have("hybrid-tiny") or have("mamba-tiny")
    if have("mamba-tiny"):
        out.append(("mamba-tiny", "mamba-tiny", None, None, 2, 32, 13))
    if have("hybrid-tiny"):
        out.append(("hybrid-tiny", "hybrid-tiny", None, None, 2, 48, 14))  # T > window 32
    if ssm_moe:
        out.append(("custom-hybrid", None, CUSTOM_HYBRID, None, 2, 20, 15))
        out.append(("custom-moe-top1", None, CUSTOM_MOE_TOP1, None, 3, 16, 16))
    return out


def rel(a, b, floor=0.0):
    """||a - b|| / ||b|| (float64)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    d = float((a - b).norm())
    n = float(b.norm())
    if n <= floor:
        return d if d > 0 else 0.0
    return d / n


def run_dump(binary, out_dir, name, preset, model_toml, vocab, B, T, seed, lr):
    cmd = [binary, "reference-dump"]
    if preset:
        cmd += ["--preset", preset]
    else:
        path = os.path.join(out_dir, "model.toml")
        with open(path, "w") as f:
            f.write(model_toml)
        cmd += ["--model", path]
    if vocab:
        cmd += ["--vocab", str(vocab)]
    dump = os.path.join(out_dir, "dump")
    if name in HEAD_CHUNK:
        cmd += ["--head-chunk", str(HEAD_CHUNK[name])]
    cmd += ["--batch", str(B), "--seq", str(T), "--seed", str(seed), "--steps", str(STEPS),
            "--lr", repr(lr), "--weight-decay", repr(WD), "--out", dump]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {p.returncode}:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return dump


def check_init(cfg, weights, failures):
    """docs/model.md 'Init': norms 1, A_log = log(n+1), D = 1, conv.bias 0, dt in [0.001, 0.1]."""
    for name, w in weights.items():
        if name.endswith("norm.weight") and not np.all(w == 1.0):
            failures.append(f"init: {name} is not all ones")
        elif name.endswith("ssm.A_log"):
            want = np.log(np.arange(1, w.shape[1] + 1, dtype=np.float64))[None, :]
            if np.abs(w - want).max() > 1e-6:
                failures.append(f"init: {name} is not log(n+1)")
        elif name.endswith("ssm.D") and not np.all(w == 1.0):
            failures.append(f"init: {name} is not all ones")
        elif name.endswith(("ssm.conv.bias", "attn.q.bias", "attn.k.bias", "attn.v.bias")) and not np.all(w == 0.0):
            failures.append(f"init: {name} is not zero")
        elif name.endswith("ssm.dt_proj.bias"):
            dt = np.log1p(np.exp(w.astype(np.float64)))
            if dt.min() < 0.001 * (1 - 1e-4) or dt.max() > 0.1 * (1 + 1e-4):
                failures.append(f"init: softplus({name}) spans [{dt.min():.4g}, {dt.max():.4g}], not in [0.001, 0.1]")


def reference_run(cfg, weights, inputs, targets, dtype, opt_cfg, lr):
    """One model in `dtype` from the engine's initial weights: its first forward and backward (loss,
    ce, aux, logits, every gradient, the MoE routes), which is also the first of STEPS AdamW steps
    (torch.optim.AdamW + clip_grad_norm_), and the losses of those steps. The selective scan is the
    time-major one with a hand-written backward (same math as the sequential scan, several times
    faster; reference_self_test checks the two agree, gradients included, and gradchecks it)."""
    model = R.Model(cfg).to(dtype)
    model.set_scan("manual")
    model.load_named({k: torch.from_numpy(v) for k, v in weights.items()})
    opt = R.make_adamw(model, lr, WD, betas=(opt_cfg["beta1"], opt_cfg["beta2"]), eps=opt_cfg["eps"])
    first, losses = None, []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=False)
        loss, ce, aux, logits = model.loss(inputs, targets)
        losses.append(float(loss))
        loss.backward()
        if step == 0:  # the gradients before clipping, as the engine dumps them
            first = {"loss": float(loss), "ce": float(ce), "aux": float(aux), "logits": logits.detach(),
                     "grads": {n: p.grad.detach().clone() for n, p in model.named_parameters()},
                     "routes": [m.last_load.clone() for m in model.modules() if isinstance(m, R.MoE)]}
        for p in model.parameters():  # an expert that got no token still takes its AdamW step
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        torch.nn.utils.clip_grad_norm_(model.parameters(), opt_cfg["clip"])
        opt.step()
    return first, losses


def compare_case(binary, case, keep):
    """One case in a work folder: `keep`, or a temporary one removed afterwards."""
    if keep:
        os.makedirs(keep, exist_ok=True)
        return compare_case_in(binary, case, keep)
    with tempfile.TemporaryDirectory(prefix=f"nsref-{case[0]}-") as work:
        return compare_case_in(binary, case, work)


def compare_case_in(binary, case, work):
    name, preset, model_toml, vocab, B, T, seed = case
    failures = []
    lr = CASE_LR.get(name, LR)
    dump = run_dump(binary, work, name, preset, model_toml, vocab, B, T, seed, lr)

    if preset:
        cfg = R.preset_config(preset)
    else:
        cfg = R.load_config(os.path.join(work, "model.toml"))
    if vocab:
        cfg.vocab_size = vocab
    weights = st_io.read(os.path.join(dump, "weights.safetensors"))
    batch = st_io.read(os.path.join(dump, "batch.safetensors"))
    outs = st_io.read(os.path.join(dump, "outputs.safetensors"))
    with open(os.path.join(dump, "outputs.json")) as f:
        meta = json.load(f)

    inputs = torch.from_numpy(batch["inputs"].astype(np.int64))
    targets = torch.from_numpy(batch["targets"].astype(np.int64))
    if tuple(inputs.shape) != (B, T) or tuple(targets.shape) != (B, T):
        failures.append(f"batch shapes {tuple(inputs.shape)} {tuple(targets.shape)}, expected {(B, T)}")
    for n, w in weights.items():
        if w.dtype != np.float32:
            failures.append(f"weight {n} is {w.dtype}, expected float32")
    check_init(cfg, weights, failures)

    # AdamW settings as the engine reports them (checked below)
    opt_meta = meta.get("optimizer", {})
    opt_cfg = {"beta1": float(opt_meta.get("beta1", 0.9)), "beta2": float(opt_meta.get("beta2", 0.95)),
               "eps": float(opt_meta.get("eps", 1e-8)), "clip": float(opt_meta.get("grad_clip", opt_meta.get("clip", 1.0)))}
    r64, ref_losses = reference_run(cfg, weights, inputs, targets, torch.float64, opt_cfg, lr)
    r32, t32_losses = reference_run(cfg, weights, inputs, targets, torch.float32, opt_cfg, lr)
    for a, b in zip(r32["routes"], r64["routes"]):
        if not torch.allclose(a.double(), b, rtol=0, atol=1e-6):
            print(f"  note: {name}: float32 and float64 route differently (a near-tie in the router)")

    row = {"case": name, "params": sum(w.size for w in weights.values())}
    # loss and its parts
    loss_err = {}
    for key, ref_key in (("loss", "loss"), ("ce_loss", "ce"), ("aux_loss", "aux")):
        if key not in meta:
            failures.append(f"outputs.json has no '{key}'")
            continue
        ref = r64[ref_key]
        loss_err[key] = abs(meta[key] - ref) / max(abs(ref), 1e-6)
        if loss_err[key] > TOL_LOSS:
            failures.append(f"{key}: engine {meta[key]:.8g} vs reference {ref:.8g} (rel {loss_err[key]:.2e})")
    row["loss"] = loss_err.get("loss", float("nan"))
    row["loss_t32"] = abs(r32["loss"] - r64["loss"]) / abs(r64["loss"])

    # logits
    logits = outs.get("logits")
    if name in HEAD_CHUNK:
        if logits is not None:
            failures.append("a fused LM head dumped logits it should not hold")
        row["logits"] = float("nan")
    elif logits is None or tuple(logits.shape) != tuple(r64["logits"].shape):
        failures.append(f"logits missing or shaped {None if logits is None else logits.shape}, "
                        f"expected {tuple(r64['logits'].shape)}")
        row["logits"] = float("nan")
    else:
        row["logits"] = rel(logits, r64["logits"])
        if row["logits"] > TOL_LOGITS:
            diff = np.abs(logits.astype(np.float64) - r64["logits"].numpy())
            b, t, v = np.unravel_index(diff.argmax(), diff.shape)
            failures.append(f"logits: rel {row['logits']:.2e}; worst at batch {b} position {t} token {v}: "
                            f"engine {logits[b, t, v]:.6g} vs {float(r64['logits'][b, t, v]):.6g}")
    row["logits_t32"] = rel(r32["logits"], r64["logits"])

    # gradients, per tensor
    grad_errs = []
    for n, g64 in r64["grads"].items():
        ge = outs.get("grad." + n)
        if ge is None:
            failures.append(f"grad.{n} missing from outputs.safetensors")
            continue
        if tuple(ge.shape) != tuple(g64.shape):
            failures.append(f"grad.{n}: shape {ge.shape} vs {tuple(g64.shape)}")
            continue
        e = rel(ge, g64, floor=1e-30)
        e32 = rel(r32["grads"][n], g64, floor=1e-30)
        grad_errs.append((e, e32, n, float(g64.norm())))
    extra = sorted(k for k in outs if k.startswith("grad.") and k[5:] not in r64["grads"])
    if extra:
        failures.append(f"unexpected gradients in outputs.safetensors: {extra[:5]}")
    grad_errs.sort(reverse=True)
    if grad_errs:
        row["grad"], row["grad_t32"], row["grad_name"] = grad_errs[0][0], max(x[1] for x in grad_errs), grad_errs[0][2]
        bad = [x for x in grad_errs if x[0] > TOL_GRAD]
        for e, e32, n, norm in bad[:12]:
            failures.append(f"grad.{n}: rel {e:.2e} (torch fp32 {e32:.1e}, |g| {norm:.3e})")
        if bad:
            # Backward runs from the last layer to the first: the earliest-in-backward tensor that
            # disagrees points at the op.
            order = [n for n in reversed(list(r64["grads"]))]
            first = next(n for n in order if any(x[2] == n for x in bad))
            failures.append(f"first disagreeing gradient in backward order: {first}")
    else:
        row["grad"], row["grad_t32"], row["grad_name"] = float("nan"), float("nan"), "-"

    # AdamW steps
    for key, want in (("beta1", 0.9), ("beta2", 0.95), ("eps", 1e-8), ("clip", 1.0)):
        if abs(opt_cfg[key] - want) > 1e-12:
            failures.append(f"optimizer {key} = {opt_cfg[key]} (reported), the test expects {want}")
    eng_losses = meta.get("losses", [])
    if len(eng_losses) != STEPS:
        failures.append(f"outputs.json 'losses' has {len(eng_losses)} entries, expected {STEPS}")
        row["steps"] = float("nan")
    else:
        errs = [abs(a - b) / abs(b) for a, b in zip(eng_losses, ref_losses)]
        row["steps"] = max(errs)
        if row["steps"] > TOL_STEPS:
            failures.append("AdamW losses: engine " + " ".join(f"{x:.6f}" for x in eng_losses) +
                            " vs reference " + " ".join(f"{x:.6f}" for x in ref_losses))
        if not ref_losses[-1] < ref_losses[0]:
            failures.append(f"reference loss did not fall over {STEPS} AdamW steps: {ref_losses}")
    row["steps_t32"] = max(abs(a - b) / abs(b) for a, b in zip(t32_losses, ref_losses))
    row["loss0"], row["lossN"] = ref_losses[0], ref_losses[-1]
    return row, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", dest="only", help="run only the cases whose name contains this")
    ap.add_argument("--keep", help="keep the dumps under this directory")
    ap.add_argument("--bin", default=os.environ.get("NIGHTSHIFT_BIN"))
    args = ap.parse_args()
    if not args.bin or not os.path.exists(args.bin):
        print(f"FAIL: the engine binary is not available (NIGHTSHIFT_BIN={args.bin!r})")
        return 1

    rows, all_failures = [], []
    for case in cases():
        if args.only and args.only not in case[0]:
            continue
        keep = os.path.join(args.keep, case[0]) if args.keep else None
        try:
            row, failures = compare_case(args.bin, case, keep)
        except Exception as e:  # a missing command, a crash, a missing file: a failure, never a skip
            row, failures = {"case": case[0]}, [f"{type(e).__name__}: {e}"]
        rows.append(row)
        all_failures += [f"[{case[0]}] {f}" for f in failures]

    print("relative errors, engine fp32 vs PyTorch fp64 (in brackets: PyTorch fp32 vs fp64)")
    print(f"{'case':<17}{'params':>9}  {'loss':>18}  {'logits':>18}  {'worst grad':>18}  "
          f"{'AdamW losses':>18}  worst-grad tensor")
    fmt = lambda r, k: (f"{r[k]:.1e} [{r[k + '_t32']:.0e}]" if k in r else "-")  # noqa: E731
    for r in rows:
        print(f"{r['case']:<17}{r.get('params', 0):>9}  {fmt(r, 'loss'):>18}  {fmt(r, 'logits'):>18}  "
              f"{fmt(r, 'grad'):>18}  {fmt(r, 'steps'):>18}  {r.get('grad_name', '-')}")
    for r in rows:
        if "loss0" in r:
            print(f"  {r['case']}: reference loss {r['loss0']:.5f} -> {r['lossN']:.5f} over {STEPS} AdamW steps")
    if all_failures:
        print(f"\nFAIL ({len(all_failures)} problems):")
        for f in all_failures:
            print("  " + f)
        return 1
    print(f"\nOK: {len(rows)} cases agree (tolerances: loss {TOL_LOSS:g}, logits {TOL_LOGITS:g}, "
          f"gradients {TOL_GRAD:g} per tensor, AdamW losses {TOL_STEPS:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
