"""End-to-end training benchmark: nightshift against the PyTorch implementation of the same model
(tests/reference/nightshift_ref.py, driven by bench/torch_train_bench.py), side by side in one run.

For each preset x mode (full, qlora) x thread count it runs `nightshift train` and then PyTorch on
the same model, batch, sequence length, thread count and data (byte tokens of the corpus), --repeat
times alternately (ours, torch, ours, torch, ...), and reports the best tokens/s of each side (the
machine this runs on is shared: the spread of the repeats goes to the JSON), ms/step, peak resident
memory (the child's ru_maxrss), our/PyTorch ratio, model FLOPs utilisation against the measured
sgemm peak of that thread count, and the memory the planner (`nightshift budget-report --format
json`) planned for the run.

"ours" is nightshift as a user runs it: it re-executes itself with a short OpenMP spin (GOMP_SPINCOUNT)
unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set (app/main.cpp), so this script removes both from our
environment (PyTorch runs with OMP_WAIT_POLICY=PASSIVE, its best here, set by bench/torch_train_bench.py). A qlora row trains on an
NF4 base file made with `nightshift quantize` from the full run's checkpoint, as a user would: given
the full run directory as --base, nightshift quantizes while loading and keeps the fp32
model.safetensors mapped for the whole run, which adds that file's size (54 MiB for gpt-small) to the
peak resident set but not to the planned memory. Then time-to-loss: both train
gpt-tiny and hybrid-tiny on the corpus with the same schedule until the validation loss reaches a
target. Not a test: figures depend on the machine and its load; ratios are measured side by side.

    /usr/bin/python3 bench/end_to_end.py --bin build/app/nightshift --probe build/bench/machine_probe_bench

Our ms/step comes from the arrival times of the per-step progress lines (--log-every 1) after the
warm-up steps, so start-up, tokenization, the final evaluation and the checkpoint are excluded, as
PyTorch's timing excludes its start-up. A missing PyTorch makes its columns say so.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

# Batch and sequence per preset (the shapes of the speed anchors) and steps: (warm-up, timed).
SHAPES = {
    "gpt-tiny": (12, 64, 5, 30),
    "hybrid-tiny": (12, 64, 5, 30),
    "gpt-small": (4, 256, 2, 8),
    "hybrid-small": (4, 256, 2, 6),
    "mamba-tiny": (12, 64, 5, 30),
}
MODES = ("full", "qlora")
LORA_RANK = 16
STEP_RE = re.compile(r"step\s+(\d+)/(\d+) \| loss ([0-9.naninf]+)")
EVAL_RE = re.compile(r"eval\s+step (\d+) \| val_loss ([0-9.]+)")


def default_data():
    base = os.environ.get("NS_TEST_DATA_DIR") or os.path.join(REPO, "..", "shared", "data")
    return os.path.normpath(os.path.join(base, "tinyshakespeare.txt"))


def parse_list(text, known, what, on_bad=None):
    """The comma-separated items of text; an unknown one is refused through on_bad (default: fail)."""
    items = [x for x in text.split(",") if x]
    bad = [x for x in items if x not in known]
    if bad:
        (on_bad or fail)(f"unknown {what} {', '.join(bad)} (known: {', '.join(known)})")
    return items


def fail(message):
    """Bad input: one line on stderr, exit 2."""
    print(f"end_to_end.py: {message}", file=sys.stderr)
    sys.exit(2)


def run_streaming(cmd, env=None, on_line=None):
    """Runs cmd, timestamps each stderr line on arrival, returns (rc, lines, stdout, peak_rss_mib).
    on_line(t, line) may return True to stop the child (SIGTERM)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in p.stderr:
        t = time.perf_counter() - t0
        lines.append((t, line.rstrip("\n")))
        if on_line and on_line(t, line):
            p.terminate()
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, lines, out, usage.ru_maxrss / 1024.0


def torch_available():
    r = subprocess.run([PY, "-c", "import torch"], capture_output=True)
    return r.returncode == 0


def probe(path):
    r = subprocess.run([path, "--json"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def sgemm_peak(machine, threads):
    return machine["sgemm_gflops_1t"] if threads == 1 else machine["sgemm_gflops"]


def flops_per_token(preset, seq):
    """Model FLOPs per token (the reference's convention), computed without torch when possible."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import nightshift_ref as R; "
            "print(R.flops_per_token(R.preset_config(sys.argv[2]), int(sys.argv[3])))")
    r = subprocess.run([PY, "-c", code, os.path.join(REPO, "tests", "reference"), preset, str(seq)],
                       capture_output=True, text=True)
    return float(r.stdout) if r.returncode == 0 else float("nan")


def planned_bytes(args, preset, mode, batch, seq, threads):
    cmd = [args.bin, "budget-report", "--model", preset, "--mode", mode, "--batch", str(batch), "--seq", str(seq),
           "--threads", str(threads), "--format", "json"]
    if mode != "full":
        cmd += ["--rank", str(LORA_RANK)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)["training"]["total_bytes"] / 2**20
    except (KeyError, ValueError):
        return None


def quantize_base(args, run_dir, fmt="nf4"):
    """`nightshift quantize RUN_DIR --format FMT`: the base file a lora/qlora run trains on (None on failure)."""
    path = os.path.join(os.path.dirname(run_dir), os.path.basename(run_dir) + f"-base-{fmt}.safetensors")
    if os.path.exists(path):  # from an earlier run of this script (quantize refuses to overwrite)
        os.remove(path)
    r = subprocess.run([args.bin, "quantize", run_dir, "--format", fmt, "--out", path], capture_output=True,
                       text=True, env=args.env)
    if r.returncode != 0:
        print(f"note: quantize {run_dir} failed: {r.stderr.strip()}", file=sys.stderr)
        return None
    return path


def ours(args, preset, mode, threads, base):
    batch, seq, warm, timed = SHAPES[preset]
    out = os.path.join(args.workdir, f"{preset}-{mode}-{threads}t")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [args.bin, "train", "--data", args.data, "--steps", str(warm + timed), "--batch", str(batch),
           "--seq", str(seq), "--threads", str(threads), "--out", out, "--log-every", "1", "--eval-every", "0",
           "--eval-batches", "1", "--checkpoint-every", "0"]
    cmd += ["--preset", preset] if mode == "full" else ["--mode", mode, "--base", base, "--rank", str(LORA_RANK)]
    t_warm = []

    def on_line(t, line):  # a slow configuration stops (SIGTERM) after --max-seconds of timed steps
        m = STEP_RE.search(line)
        if not m:
            return False
        step = int(m.group(1))
        if step == warm:
            t_warm.append(t)
        return bool(t_warm) and step >= warm + 3 and t - t_warm[0] > args.max_seconds

    rc, lines, _, rss = run_streaming(cmd, env=args.env, on_line=on_line)
    steps = [(t, int(m.group(1))) for t, l in lines if (m := STEP_RE.search(l))]
    if not steps or steps[-1][1] < warm + 2 or (rc != 0 and steps[-1][1] < warm + 3):
        tail = lines[-1][1] if lines else ""
        return {"error": f"nightshift train failed (exit {rc}): {tail}"}, out
    t_w = next(t for t, s in steps if s == warm)
    t_end, last = steps[-1]
    ms = 1e3 * (t_end - t_w) / (last - warm)
    return {"ms_per_step": ms, "tokens_per_s": batch * seq / ms * 1e3, "peak_rss_mib": rss}, out


def pytorch(args, preset, mode, threads):
    if not args.have_torch:
        return {"error": "PyTorch not available (import torch failed in " + PY + ")"}
    batch, seq, warm, timed = SHAPES[preset]
    cmd = [PY, os.path.join(HERE, "torch_train_bench.py"), "--preset", preset, "--batch", str(batch), "--seq",
           str(seq), "--threads", str(threads), "--steps", str(timed), "--warmup", str(warm), "--data", args.data]
    if mode != "full":
        cmd += ["--lora-rank", str(LORA_RANK)]
    rc, lines, out, rss = run_streaming(cmd)
    if rc != 0:
        return {"error": f"torch_train_bench.py failed (exit {rc}): {lines[-1][1] if lines else ''}"}
    r = json.loads(out.strip().splitlines()[-1])
    return {"ms_per_step": r["ms_per_step"], "tokens_per_s": r["tokens_per_s"], "peak_rss_mib": rss,
            "scan": r.get("scan", "-")}


def time_to_loss_ours(args, preset):
    batch, seq = 12, 64
    out = os.path.join(args.workdir, f"{preset}-ttl")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [args.bin, "train", "--preset", preset, "--data", args.data, "--steps", str(args.ttl_max_steps),
           "--batch", str(batch), "--seq", str(seq), "--threads", "2", "--lr", "1e-3", "--min-lr", "1e-4",
           "--warmup", "100", "--eval-every", str(args.ttl_eval_every), "--eval-batches", "20", "--log-every",
           "100", "--checkpoint-every", "0", "--out", out]
    hit = {}

    def on_line(t, line):
        m = EVAL_RE.search(line)
        if m and float(m.group(2)) <= args.target and not hit:
            hit.update(step=int(m.group(1)), val_loss=float(m.group(2)), wall_s=t)
            return True
        return False

    rc, lines, _, _ = run_streaming(cmd, env=args.env, on_line=on_line)
    evals = [float(m.group(2)) for _, l in lines if (m := EVAL_RE.search(l))]
    if hit:
        return {"reached": True, **hit}
    return {"reached": False, "val_loss": evals[-1] if evals else None, "wall_s": lines[-1][0] if lines else None,
            "step": args.ttl_max_steps, "error": None if rc in (0, -15, 143) else f"exit {rc}"}


def time_to_loss_torch(args, preset):
    if not args.have_torch:
        return {"error": "PyTorch not available"}
    cmd = [PY, os.path.join(HERE, "torch_time_to_loss.py"), "--preset", preset, "--data", args.data, "--batch", "12",
           "--seq", "64", "--threads", "2", "--target", str(args.target), "--max-steps", str(args.ttl_max_steps),
           "--eval-every", str(args.ttl_eval_every), "--eval-batches", "20", "--lr", "1e-3", "--warmup", "100"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        return {"error": f"torch_time_to_loss.py failed: {r.stderr.strip().splitlines()[-1:]}"}
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return {"reached": j["reached"], "step": j["steps"], "val_loss": j["val_loss"], "wall_s": wall}


def fmt(x, spec="{:.0f}"):
    return "-" if x is None or (isinstance(x, float) and x != x) else spec.format(x)


def best_of(runs):
    """The run with the highest tokens/s, with every run's tokens/s, the spread (max-min)/max and the
    largest peak RSS of the repeats added; the last error when no run succeeded."""
    ok = [r for r in runs if "tokens_per_s" in r]
    if not ok:
        return runs[-1]
    tps = [r["tokens_per_s"] for r in ok]
    best = dict(max(ok, key=lambda r: r["tokens_per_s"]))
    best.update(runs_tokens_per_s=[round(x, 1) for x in tps], spread=(max(tps) - min(tps)) / max(tps),
                failed_runs=len(runs) - len(ok), peak_rss_mib=max(r["peak_rss_mib"] for r in ok))
    return best


def print_throughput(rows, repeat):
    print(f"\nTraining throughput, best of {repeat} alternating runs per side (MFU: model FLOPs / measured sgemm "
          "peak of that thread count; qlora's PyTorch column is LoRA on an fp32 base)")
    print("(ours: nightshift as a user runs it, with its default short OpenMP spin; PyTorch with OMP_WAIT_POLICY=PASSIVE; spread: "
          "(max-min)/max tok/s of the repeats; RSS: largest peak resident set of the repeats; planned: "
          "budget-report's training total)")
    head = ("preset", "mode", "thr", "B x T", "ours tok/s", "torch tok/s", "ratio", "ours spread", "torch spread",
            "ours ms/step", "torch ms/step", "ours MFU", "torch MFU", "ours RSS MiB", "torch RSS MiB", "planned MiB")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        o, t = r["ours"], r["torch"]
        cells = (r["preset"], r["mode"], str(r["threads"]), f"{r['batch']} x {r['seq']}", fmt(o.get("tokens_per_s")),
                 fmt(t.get("tokens_per_s")) if "error" not in t else "n/a", fmt(r.get("ratio"), "{:.2f}x"),
                 fmt(o.get("spread"), "{:.0%}"), fmt(t.get("spread"), "{:.0%}"),
                 fmt(o.get("ms_per_step"), "{:.1f}"), fmt(t.get("ms_per_step"), "{:.1f}"),
                 fmt(r.get("mfu"), "{:.1%}"), fmt(r.get("torch_mfu"), "{:.1%}"), fmt(o.get("peak_rss_mib")),
                 fmt(t.get("peak_rss_mib")), fmt(r.get("planned_mib")))
        print("| " + " | ".join(cells) + " |")
    for r in rows:
        for side in ("ours", "torch"):
            if r[side].get("error"):
                print(f"note: {r['preset']} {r['mode']} {r['threads']}t {side}: {r[side]['error']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "app", "nightshift"))
    ap.add_argument("--probe", default=os.path.join(REPO, "build", "bench", "machine_probe_bench"))
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--presets", default="gpt-tiny,gpt-small,hybrid-tiny")
    ap.add_argument("--modes", default="full,qlora")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--ttl", default="gpt-tiny,hybrid-tiny", help="presets for time-to-loss ('' to skip)")
    ap.add_argument("--target", type=float, default=2.5, help="validation loss of the time-to-loss runs")
    ap.add_argument("--ttl-max-steps", type=int, default=1000)
    ap.add_argument("--ttl-eval-every", type=int, default=50)
    ap.add_argument("--max-seconds", type=float, default=15.0, help="cap on our timed steps per configuration")
    ap.add_argument("--workdir", default=os.path.join(REPO, "build", "bench-runs"))
    ap.add_argument("--repeat", type=int, default=2, help="runs per side and configuration, alternating; best reported")
    ap.add_argument("--json", help="also write every figure to this JSON file")
    args = ap.parse_args()
    if args.repeat < 1:
        fail(f"--repeat {args.repeat}: needs at least 1")
    presets = parse_list(args.presets, list(SHAPES), "preset")
    modes = parse_list(args.modes, MODES, "mode")
    threads = [int(t) for t in parse_list(args.threads, ["1", "2", "3", "4", "8"], "thread count")]
    ttl = parse_list(args.ttl, ["gpt-tiny", "hybrid-tiny", "mamba-tiny"], "time-to-loss preset")
    for path, what in ((args.bin, "nightshift binary"), (args.probe, "machine probe"), (args.data, "data file")):
        if not os.path.exists(path):
            fail(f"{path}: {what} not found")
    os.makedirs(args.workdir, exist_ok=True)
    # nightshift as a user runs it: no wait policy forced from outside (it chooses its own).
    args.env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    args.env["XDG_CACHE_HOME"] = os.path.join(os.path.abspath(args.workdir), "cache")
    args.have_torch = torch_available()

    machine = probe(args.probe)
    print(f"machine: {machine['cpu']}, {machine['threads']} threads | sgemm {machine['sgemm_gflops_1t']:.1f} "
          f"GFLOP/s (1 thread), {machine['sgemm_gflops']:.1f} (all) | triad {machine['triad_gbs']:.1f} GB/s")
    if not args.have_torch:
        print(f"PyTorch: not available ({PY} cannot import torch); its columns say so")
    sys.stdout.flush()

    rows = []
    for preset in presets:
        batch, seq, _, _ = SHAPES[preset]
        fpt = flops_per_token(preset, seq)
        full_run = qbase = None
        for mode in modes:
            for n in threads:
                if mode != "full" and qbase is None:  # a qlora run trains on an NF4 base of a full checkpoint
                    if full_run is None:
                        _, full_run = ours(args, preset, "full", n, None)
                    qbase = quantize_base(args, full_run) or ""
                runs_o, runs_t = [], []
                for _ in range(args.repeat):  # alternate, so both sides meet the same moments of the load
                    if mode != "full" and not qbase:
                        runs_o.append({"error": "no quantized base (nightshift quantize failed)"})
                    else:
                        r, out = ours(args, preset, mode, n, qbase)
                        runs_o.append(r)
                        if mode == "full":
                            full_run = out
                    runs_t.append(pytorch(args, preset, mode, n))
                r_ours, r_torch = best_of(runs_o), best_of(runs_t)
                row = {"preset": preset, "mode": mode, "threads": n, "batch": batch, "seq": seq, "ours": r_ours,
                       "torch": r_torch, "repeat": args.repeat, "base": qbase if mode != "full" else None,
                       "planned_mib": planned_bytes(args, preset, mode, batch, seq, n)}
                if "tokens_per_s" in r_ours:
                    row["mfu"] = r_ours["tokens_per_s"] * fpt / 1e9 / sgemm_peak(machine, n)
                    if "tokens_per_s" in r_torch:
                        row["ratio"] = r_ours["tokens_per_s"] / r_torch["tokens_per_s"]
                if "tokens_per_s" in r_torch:
                    row["torch_mfu"] = r_torch["tokens_per_s"] * fpt / 1e9 / sgemm_peak(machine, n)
                rows.append(row)
                print(f"  {preset} {mode} {n}t: ours {fmt(r_ours.get('tokens_per_s'))} tok/s "
                      f"{r_ours.get('runs_tokens_per_s', '')}, torch {fmt(r_torch.get('tokens_per_s'))} tok/s "
                      f"{r_torch.get('runs_tokens_per_s', '')} {r_ours.get('error') or ''}{r_torch.get('error') or ''}",
                      file=sys.stderr, flush=True)

    if rows:
        print_throughput(rows, args.repeat)
    sys.stdout.flush()

    ttl_rows = []
    for preset in ttl:
        o = time_to_loss_ours(args, preset)
        t = time_to_loss_torch(args, preset)
        ttl_rows.append({"preset": preset, "ours": o, "torch": t})
    if ttl_rows:
        print(f"\nTime to validation loss <= {args.target} (byte tokens, B=12, T=64, 2 threads, lr 1e-3, warm-up 100, "
              f"eval every {args.ttl_eval_every} steps on 20 batches; wall seconds including evaluation and start-up; "
              f"PyTorch with OMP_WAIT_POLICY=PASSIVE, nightshift as a user runs it)")
        print("| preset | ours steps | ours s | torch steps | torch s | speed-up |")
        print("|---|---|---|---|---|---|")
        for r in ttl_rows:
            o, t = r["ours"], r["torch"]
            def cell(x):
                if x.get("error"):
                    return "n/a", "n/a"
                mark = "" if x.get("reached") else " (not reached)"
                return fmt(x.get("step")) + mark, fmt(x.get("wall_s"), "{:.1f}")
            (os_, ot), (ts, tt) = cell(o), cell(t)
            both = o.get("reached") and t.get("reached")
            speed = fmt(t["wall_s"] / o["wall_s"], "{:.2f}x") if both else "-"
            print(f"| {r['preset']} | {os_} | {ot} | {ts} | {tt} | {speed} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "throughput": rows, "time_to_loss": ttl_rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
