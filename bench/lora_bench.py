"""LoRA/QLoRA benchmark of `nightshift train` (issue "QLoRA" benchmarks), two sections:

1. rank: tokens/s of qlora training (NF4 double-quantized base) at several LoRA ranks (default 64,
   16, 4) on each preset at its end-to-end shape (bench/end_to_end.py SHAPES: B=4, T=256 for the
   small presets): how much a rank shrink saves. The ranks run round-robin --repeat times and the
   best tokens/s of each is reported, with the spread of the repeats (the machine is shared).
2. memory: peak resident memory of full training, lora (fp32 frozen base) and qlora (NF4 base) on
   each preset at the same batch, sequence and rank, next to the planner's breakdown
   (`nightshift budget-report --format json`, its "training_by_mode"): trainable weights, frozen
   base, gradients, optimizer moments, activations, scratch and runtime overhead.

Every run is short (a few steps). The base of the lora/qlora runs is made as a user makes it: a
full run's checkpoint (a few steps of training; its peak RSS is the memory section's full row),
then `nightshift quantize RUN --format nf4` (qlora) and `--format f32` (lora). Peak RSS is the
child's ru_maxrss (the kernel's high-water mark of the resident set, file-backed pages included);
the resident set is also sampled every 20 ms from /proc/PID/status to split its peak into
anonymous memory (what the planner plans) and mapped files (the binary, its libraries and the
mapped base file). nightshift waits passively in OpenMP by default (app/main.cpp); this script
sets no wait policy. Not a test: figures depend on the machine and its load.

    /usr/bin/python3 bench/lora_bench.py --bin build/app/nightshift
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import end_to_end as E  # noqa: E402  (SHAPES, STEP_RE, default_data)

MODES = ("full", "lora", "qlora")
PLAN_FIELDS = (("weights_bytes", "trainable"), ("frozen_weights_bytes", "frozen base"), ("gradients_bytes", "grads"),
               ("optimizer_moments_bytes", "optimizer"), ("activations_bytes", "activations"),
               ("scratch_bytes", "scratch"), ("runtime_overhead_bytes", "runtime"))


def fail(message):
    """Bad input: one line on stderr, exit 2."""
    print(f"lora_bench.py: {message}", file=sys.stderr)
    sys.exit(2)


def parse_list(text, known, what):
    return E.parse_list(text, known, what, on_bad=fail)


def parse_ranks(text):
    ranks = []
    for x in (x for x in text.split(",") if x):
        if not x.isdigit() or int(x) < 1:
            fail(f"--ranks: '{x}' is not a positive integer")
        ranks.append(int(x))
    return ranks


def status_kib(pid):
    """VmRSS, RssAnon, RssFile of a live process, in KiB ({} once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f)
                    if k in ("VmRSS", "RssAnon", "RssFile")}
    except (OSError, ValueError):
        return {}


def run_train(args, cmd, warm):
    """Runs `nightshift train ...` with per-step progress lines. Returns a dict: tokens/s and ms/step
    after `warm` steps (from the lines' arrival times), ru_maxrss and the sampled peaks, in MiB."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=args.env)
    peaks, done = {}, threading.Event()

    def sample():
        while not done.is_set():
            for k, v in status_kib(p.pid).items():
                peaks[k] = max(peaks.get(k, 0), v)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = []
    for line in p.stderr:
        lines.append((time.perf_counter() - t0, line.rstrip("\n")))
    _, status, usage = os.wait4(p.pid, 0)
    done.set()
    sampler.join()
    rc = os.waitstatus_to_exitcode(status)
    steps = [(t, int(m.group(1))) for t, line in lines if (m := E.STEP_RE.search(line))]
    r = {"peak_rss_mib": usage.ru_maxrss / 1024.0, "cpu_s": usage.ru_utime + usage.ru_stime,
         "sampled_peak_mib": {k: round(v / 1024.0, 1) for k, v in peaks.items()}}
    if rc != 0 or not steps:
        r["error"] = f"nightshift train failed (exit {rc}): {lines[-1][1] if lines else ''}"
        return r
    timed = [(t, s) for t, s in steps if s >= warm]
    if len(timed) >= 2:
        ms = 1e3 * (timed[-1][0] - timed[0][0]) / (timed[-1][1] - timed[0][1])
        r.update(ms_per_step=ms, tokens_per_s=args.tokens_per_step * 1e3 / ms)
    return r


def train_cmd(args, preset, mode, out, steps, base=None, rank=None):
    batch, seq, _, _ = E.SHAPES[preset]
    args.tokens_per_step = batch * seq
    shutil.rmtree(out, ignore_errors=True)
    cmd = [args.bin, "train", "--data", args.data, "--steps", str(steps), "--batch", str(batch), "--seq", str(seq),
           "--threads", str(args.threads), "--out", out, "--log-every", "1", "--eval-every", "0", "--eval-batches",
           "1", "--checkpoint-every", "0"]
    return cmd + (["--preset", preset] if mode == "full" else ["--mode", mode, "--base", base, "--rank", str(rank)])


def plan(args, preset, rank):
    """budget-report's training plan of every mode for this preset (lora/qlora at `rank`)."""
    batch, seq, _, _ = E.SHAPES[preset]
    cmd = [args.bin, "budget-report", "--model", preset, "--mode", "qlora", "--batch", str(batch), "--seq", str(seq),
           "--threads", str(args.threads), "--rank", str(rank), "--format", "json"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=args.env)
    if r.returncode != 0:
        return {}
    j = json.loads(r.stdout)
    return j.get("training_by_mode", {"qlora": j["training"]})


def make_bases(args, preset):
    """A short full run (its checkpoint is the base), then its NF4 and f32 base files."""
    out = os.path.join(args.workdir, f"{preset}-full")
    full = run_train(args, train_cmd(args, preset, "full", out, args.memory_steps), 1)
    bases = {}
    for mode, fmt in (("qlora", "nf4"), ("lora", "f32")):
        path = os.path.join(args.workdir, f"{preset}-base-{fmt}.safetensors")
        if os.path.exists(path):  # from an earlier run of this script (quantize refuses to overwrite)
            os.remove(path)
        r = subprocess.run([args.bin, "quantize", out, "--format", fmt, "--out", path], capture_output=True,
                           text=True, env=args.env)
        bases[mode] = path if r.returncode == 0 else None
        if r.returncode != 0:
            print(f"note: quantize {out} --format {fmt} failed: {r.stderr.strip()}", file=sys.stderr)
    return full, bases


def fmt(x, spec="{:.0f}"):
    return "-" if x is None else spec.format(x)


def rank_section(args, preset, base):
    _, _, warm, timed = E.SHAPES[preset]
    runs = {r: [] for r in args.ranks}
    for _ in range(args.repeat):  # round-robin over the ranks, so each meets the same moments of the load
        for rank in args.ranks:
            out = os.path.join(args.workdir, f"{preset}-qlora-r{rank}")
            runs[rank].append(run_train(args, train_cmd(args, preset, "qlora", out, warm + timed, base, rank), warm))
    rows = []
    for rank in args.ranks:
        ok = [r for r in runs[rank] if "tokens_per_s" in r]
        p = plan(args, preset, rank).get("qlora", {})
        row = {"preset": preset, "rank": rank, "runs": runs[rank], "planned_mib": p.get("total_bytes", 0) / 2**20,
               "trainable_params": p.get("trainable_params")}
        if ok:
            tps = [r["tokens_per_s"] for r in ok]
            best = max(ok, key=lambda r: r["tokens_per_s"])
            row.update(tokens_per_s=best["tokens_per_s"], ms_per_step=best["ms_per_step"],
                       spread=(max(tps) - min(tps)) / max(tps), peak_rss_mib=max(r["peak_rss_mib"] for r in ok),
                       cpu_s=min(r["cpu_s"] for r in ok))
        else:
            row["error"] = runs[rank][-1].get("error", "no timed steps")
        rows.append(row)
        print(f"  {preset} qlora r{rank}: {fmt(row.get('tokens_per_s'))} tok/s "
              f"{[round(r.get('tokens_per_s', 0)) for r in runs[rank]]} {row.get('error', '')}", file=sys.stderr,
              flush=True)
    return rows


def print_ranks(args, rows):
    print(f"\nqlora tokens/s by LoRA rank (NF4 double-quantized base, default targets, {args.threads} threads, best of "
          f"{args.repeat} round-robin runs; spread: (max-min)/max of the repeats; vs r{args.ranks[0]}: speed against "
          f"the first rank's; CPU s: the least user+system time of a whole run, start-up and checkpoint included, "
          f"less sensitive to the load than wall time)")
    print("| preset | B x T | rank | trainable params | tok/s | ms/step | spread | vs r%d | CPU s | peak RSS MiB | "
          "planned MiB |" % args.ranks[0])
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    first = {}
    for r in rows:
        first.setdefault(r["preset"], r.get("tokens_per_s"))
        b, t, _, _ = E.SHAPES[r["preset"]]
        ref = first[r["preset"]]
        vs = r["tokens_per_s"] / ref if ref and r.get("tokens_per_s") else None
        print(f"| {r['preset']} | {b} x {t} | {r['rank']} | {fmt(r.get('trainable_params'), '{:,}')} | "
              f"{fmt(r.get('tokens_per_s'))} | {fmt(r.get('ms_per_step'), '{:.1f}')} | {fmt(r.get('spread'), '{:.0%}')} | "
              f"{fmt(vs, '{:.2f}x')} | {fmt(r.get('cpu_s'), '{:.1f}')} | {fmt(r.get('peak_rss_mib'))} | "
              f"{fmt(r.get('planned_mib'))} |")
        if r.get("error"):
            print(f"note: {r['preset']} rank {r['rank']}: {r['error']}")


def memory_section(args, preset, full, bases):
    plans = plan(args, preset, args.memory_rank)
    rows = []
    for mode in args.memory:
        if mode == "full":
            r = full
        elif bases.get(mode) is None:
            r = {"error": f"no {mode} base (nightshift quantize failed)"}
        else:
            out = os.path.join(args.workdir, f"{preset}-{mode}-mem")
            r = run_train(args, train_cmd(args, preset, mode, out, args.memory_steps, bases[mode], args.memory_rank), 1)
        rows.append({"preset": preset, "mode": mode, "rank": 0 if mode == "full" else args.memory_rank,
                     "measured": r, "plan": plans.get(mode, {})})
        print(f"  {preset} {mode}: peak RSS {fmt(r.get('peak_rss_mib'))} MiB {r.get('error', '')}", file=sys.stderr,
              flush=True)
    return rows


def print_memory(args, rows):
    print(f"\nPeak resident memory vs the planner (MiB; B x T of end_to_end.py, {args.threads} threads, "
          f"{args.memory_steps} steps, lora/qlora rank {args.memory_rank}; peak RSS: ru_maxrss; anon / file: sampled "
          f"peaks of RssAnon / RssFile; planned: budget-report's training total and its parts)")
    head = ["preset", "mode", "peak RSS", "anon", "file", "planned"] + [label for _, label in PLAN_FIELDS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        m, p = r["measured"], r["plan"]
        s = m.get("sampled_peak_mib", {})
        mib = [fmt(p[k] / 2**20, "{:.1f}") if k in p else "-" for k, _ in PLAN_FIELDS]
        cells = [r["preset"], r["mode"], fmt(m.get("peak_rss_mib"), "{:.1f}"), fmt(s.get("RssAnon"), "{:.1f}"),
                 fmt(s.get("RssFile"), "{:.1f}"), fmt(p["total_bytes"] / 2**20 if "total_bytes" in p else None, "{:.1f}")]
        print("| " + " | ".join(cells + mib) + " |")
        if m.get("error"):
            print(f"note: {r['preset']} {r['mode']}: {m['error']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(E.REPO, "build", "app", "nightshift"))
    ap.add_argument("--data", default=E.default_data())
    ap.add_argument("--presets", default="gpt-small,hybrid-small")
    ap.add_argument("--ranks", default="64,16,4", help="LoRA ranks of the qlora speed section ('' skips it)")
    ap.add_argument("--memory", default="full,lora,qlora", help="modes of the memory section ('' skips it)")
    ap.add_argument("--memory-rank", type=int, default=16)
    ap.add_argument("--memory-steps", type=int, default=3, help="steps of each memory run (and of the base's run)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="round-robin runs per rank; best reported")
    ap.add_argument("--workdir", default=os.path.join(E.REPO, "build", "bench-runs", "lora"))
    ap.add_argument("--json", help="also write every figure to this JSON file")
    args = ap.parse_args()
    presets = parse_list(args.presets, list(E.SHAPES), "preset")
    args.ranks = parse_ranks(args.ranks)
    args.memory = parse_list(args.memory, MODES, "mode")
    for value, what in ((args.memory_rank, "--memory-rank"), (args.memory_steps, "--memory-steps"),
                        (args.threads, "--threads"), (args.repeat, "--repeat")):
        if value < 1:
            fail(f"{what} {value}: needs at least 1")
    for path, what in ((args.bin, "nightshift binary"), (args.data, "data file")):
        if not os.path.exists(path):
            fail(f"{path}: {what} not found")
    os.makedirs(args.workdir, exist_ok=True)
    args.env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    args.env["XDG_CACHE_HOME"] = os.path.join(os.path.abspath(args.workdir), "cache")

    rank_rows, memory_rows = [], []
    for preset in presets if (args.ranks or args.memory) else []:
        full, bases = make_bases(args, preset)
        if args.ranks:
            if bases["qlora"]:
                rank_rows += rank_section(args, preset, bases["qlora"])
            else:
                print(f"note: {preset}: no NF4 base, rank section skipped", file=sys.stderr)
        if args.memory:
            memory_rows += memory_section(args, preset, full, bases)
    if rank_rows:
        print_ranks(args, rank_rows)
    if memory_rows:
        print_memory(args, memory_rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ranks": rank_rows, "memory": memory_rows, "threads": args.threads}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
