"""safetensors interoperability: files written by an independent writer (tests/reference/st_io.py,
numpy + torch, not the safetensors package) are read by nightshift, and files written by nightshift's
writer are read back by st_io, bit for bit. Uses `nightshift safetensors FILE --json --rewrite OUT`.
Also: damaged files make nightshift exit 2 with one line naming the file."""
import json
import os
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

BIN = os.environ.get("NIGHTSHIFT_BIN")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True)


def main():
    if not BIN or not os.path.exists(BIN):
        print("SKIP: NIGHTSHIFT_BIN is not set to a built nightshift")
        return 77
    rng = np.random.default_rng(3)
    tensors = {
        "blocks.0.attn.q.weight": rng.standard_normal((8, 16)).astype(np.float32),
        "embed.weight": rng.standard_normal((50, 4)).astype(np.float32),
        "half": rng.standard_normal((3, 5)).astype(np.float16),
        "ids": np.arange(-5, 7, dtype=np.int32).reshape(3, 4),
        "step": np.array(123456789012, dtype=np.int64),
        "q8": rng.integers(-128, 128, (4, 4), dtype=np.int8),
        "nf4": rng.integers(0, 256, (16,), dtype=np.uint8),
        "empty": np.zeros((0, 7), np.float32),
        "bf16": torch.randn(6, 2).to(torch.bfloat16),
    }
    metadata = {"format": "pt", "step": "42", "note": "written by st_io"}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        a, b = os.path.join(tmp, "a.safetensors"), os.path.join(tmp, "b.safetensors")
        st_io.write(a, tensors, metadata=metadata)
        p = run("safetensors", a, "--json", "--rewrite", b)
        if p.returncode != 0:
            print(p.stdout, p.stderr)
            return 1
        listing = json.loads(p.stdout)
        if listing["metadata"] != metadata:
            failures.append(f"metadata read by nightshift: {listing['metadata']}")
        seen = {t["name"]: t for t in listing["tensors"]}
        if set(seen) != set(tensors):
            failures.append(f"tensor names: {sorted(seen)}")
        for name, value in tensors.items():
            raw = value.view(torch.int16).numpy().tobytes() if name == "bf16" else np.ascontiguousarray(value).tobytes()
            t = seen.get(name, {})
            expect_shape = list(value.shape)
            if t.get("shape") != expect_shape or t.get("bytes") != len(raw) or t.get("crc32") != zlib.crc32(raw):
                failures.append(f"{name}: nightshift read {t}, expected shape {expect_shape}, {len(raw)} bytes, crc {zlib.crc32(raw)}")
            ref_sum = float(value.float().sum()) if name == "bf16" else float(np.asarray(value, dtype=np.float64).sum())
            if abs(t.get("sum", 0.0) - ref_sum) > 1e-3 * max(1.0, abs(ref_sum)):
                failures.append(f"{name}: sum {t.get('sum')} vs {ref_sum}")
        back, back_meta = st_io.read(b, with_metadata=True)
        if back_meta != metadata:
            failures.append(f"metadata read back by st_io: {back_meta}")
        for name, value in tensors.items():
            want = value.float().numpy() if name == "bf16" else value
            if name not in back or back[name].dtype != want.dtype or not np.array_equal(back[name], want):
                failures.append(f"{name}: st_io read back {back.get(name)!r} from nightshift's file")
        with open(b, "rb") as f:
            blob = f.read()
        header_len = int.from_bytes(blob[:8], "little")
        if (8 + header_len) % 8 != 0:
            failures.append(f"nightshift's header is not padded to 8 bytes ({header_len})")

        # Damaged files: one line naming the file, exit 2.
        damaged = {
            "truncated": blob[: len(blob) - 3],
            "header-too-long": (len(blob) * 2).to_bytes(8, "little") + blob[8:],
            "not-json": blob[:8] + b"{" * header_len + blob[8 + header_len:],
        }
        for what, data in damaged.items():
            path = os.path.join(tmp, what + ".safetensors")
            with open(path, "wb") as f:
                f.write(data)
            p = run("safetensors", path)
            lines = p.stderr.strip().splitlines()
            if p.returncode != 2 or len(lines) != 1 or path not in lines[0]:
                failures.append(f"{what}: exit {p.returncode}, stderr {p.stderr!r}")
            else:
                print(f"ok   {what}: {lines[0]}")
    for f in failures:
        print("FAIL", f)
    if failures:
        return 1
    print(f"ok   {len(tensors)} tensors of 7 dtypes: st_io -> nightshift -> nightshift writer -> st_io, bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
