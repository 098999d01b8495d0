"""PyTorch side of the time-to-loss comparison: trains a model (tests/reference/nightshift_ref.py)
on a text file with byte tokens (default ../shared/data/tinyshakespeare.txt, last 10% held out)
until the validation loss reaches --target, and prints one JSON object: whether it got there, the
step, the training seconds (evaluation excluded) and the history of validation losses. Not a test.

Schedule as in the engine's trainer: linear warm-up, cosine decay to lr * --min-lr-ratio at
--max-steps, AdamW (0.9, 0.95, eps 1e-8, decay on 2-D weights), clipping at global norm 1.0.
Validation: --eval-batches batches of random windows of the held-out part, drawn once from a seed.
Like torch_train_bench.py it re-executes itself once with OMP_WAIT_POLICY=PASSIVE.

    /usr/bin/python3 bench/torch_time_to_loss.py --preset gpt-tiny --batch 12 --seq 64 --threads 2 --target 2.0
"""
import os
import sys

if "--no-passive" not in sys.argv and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            env["OMP_NUM_THREADS"] = sys.argv[i + 1]
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import nightshift_ref as R  # noqa: E402


def default_data():
    base = os.environ.get("NS_TEST_DATA_DIR") or os.path.join(HERE, "..", "..", "shared", "data")
    return os.path.normpath(os.path.join(base, "tinyshakespeare.txt"))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset")
    src.add_argument("--model")
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--target", type=float, default=2.0, help="stop when the validation loss is <= this")
    ap.add_argument("--max-steps", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-batches", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scan", choices=("sequential", "chunked", "manual"), default="manual")
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--no-passive", action="store_true")
    return ap.parse_args(argv)


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.max_steps - args.warmup))
    floor = args.lr * args.min_lr_ratio
    return floor + (args.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def windows(data, starts, T):
    idx = starts[:, None] + torch.arange(T + 1)[None, :]
    w = data[idx]
    return w[:, :-1], w[:, 1:]


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = R.preset_config(args.preset) if args.preset else R.load_config(args.model)
    if cfg.vocab_size < 256:
        raise SystemExit(f"byte tokens need vocab_size >= 256, {cfg.name} has {cfg.vocab_size}")
    with open(args.data, "rb") as f:
        data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()
    n_val = int(data.numel() * args.val_fraction)
    train, val = data[:-n_val], data[-n_val:]
    B, T = args.batch, args.seq

    torch.manual_seed(args.seed)
    model = R.Model(cfg)
    model.init_weights(args.seed)
    model.set_scan(args.scan, args.chunk)
    opt = R.make_adamw(model, args.lr, args.weight_decay)

    g = torch.Generator().manual_seed(args.seed + 7)
    val_starts = [torch.randint(0, val.numel() - T - 1, (B,), generator=g) for _ in range(args.eval_batches)]
    g_train = torch.Generator().manual_seed(args.seed + 1)

    def evaluate():
        model.eval()
        with torch.no_grad():
            losses = [float(model.loss(*windows(val, s, T))[1]) for s in val_starts]
        model.train()
        return sum(losses) / len(losses)

    history, train_s, reached, step, val_loss = [], 0.0, False, 0, float("nan")
    wall0 = time.perf_counter()
    for step in range(1, args.max_steps + 1):
        inputs, targets = windows(train, torch.randint(0, train.numel() - T - 1, (B,), generator=g_train), T)
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, args)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model.loss(inputs, targets)[0]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        train_s += time.perf_counter() - t0
        if step % args.eval_every == 0 or step == args.max_steps:
            val_loss = evaluate()
            history.append([step, round(val_loss, 4), round(train_s, 2)])
            print(f"step {step} train {float(loss):.4f} val {val_loss:.4f} ({train_s:.1f} s)", file=sys.stderr)
            if val_loss <= args.target:
                reached = True
                break
    print(json.dumps({
        "impl": "pytorch", "model": cfg.name, "params": R.count_params(model), "batch": B, "seq": T,
        "threads": torch.get_num_threads(), "target": args.target, "reached": reached, "steps": step,
        "val_loss": val_loss, "train_s": train_s, "wall_s": time.perf_counter() - wall0,
        "tokens_per_s": step * B * T / train_s, "history": history,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
