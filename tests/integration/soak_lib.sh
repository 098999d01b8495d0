#!/usr/bin/env bash
# Shared pieces of the crash and full-disk tests (sourced, not a test itself): a small generated
# corpus, a model small enough to train a few hundred steps in seconds, and an independent checker
# of a checkpoint folder (sizes and FNV-1a-64 checksums recorded in state.json), written in Python
# so that it does not share code with the trainer it checks.

# write_corpus FILE: ~60 KB of deterministic pseudo-random sentences.
write_corpus() {
  awk 'BEGIN {
    split("the a one every some no this that my your", det, " ");
    split("fox dog cat owl night lamp clock river stone cloud tree ship road door", noun, " ");
    split("jumps sleeps runs waits sings turns falls hides glows drifts", verb, " ");
    split("quickly slowly quietly often never always softly", adv, " ");
    x = 12345;
    for (i = 0; i < 2400; i++) {
      x = (x * 1103515245 + 12345) % 2147483648; d = det[1 + x % 10];
      x = (x * 1103515245 + 12345) % 2147483648; n = noun[1 + x % 14];
      x = (x * 1103515245 + 12345) % 2147483648; v = verb[1 + x % 10];
      x = (x * 1103515245 + 12345) % 2147483648; a = adv[1 + x % 7];
      printf "%s %s %s %s.\n", d, n, v, a;
    }
  }' > "$1"
}

# write_model FILE: 2 x (attention + SwiGLU), d_model 64, byte vocabulary.
write_model() {
  cat > "$1" <<'TOML'
name = "soak-tiny"
vocab_size = 256
d_model = 64
tied_embedding = true
blocks = [{ block = "attn+mlp", repeat = 2 }]

[attn]
n_heads = 4

[mlp]
d_ff = 128
TOML
}

# check_checkpoint DIR: exit 0 when every file listed in DIR/state.json has its size and checksum.
check_checkpoint() {
  /usr/bin/python3 - "$1" <<'PY'
import json, os, sys, zlib
d = sys.argv[1]
try:
    state = json.load(open(os.path.join(d, "state.json")))
    files = state["files"]
    assert "model.safetensors" in files
    for name, want in files.items():
        data = open(os.path.join(d, name), "rb").read()
        if len(data) != want["bytes"]:
            raise SystemExit(f"{d}/{name}: {len(data)} bytes, state.json says {want['bytes']}")
        if f"{zlib.crc32(data):08x}" != want["crc32"]:
            raise SystemExit(f"{d}/{name}: checksum mismatch")
except (OSError, ValueError, KeyError, AssertionError) as e:
    raise SystemExit(f"{d}: {e!r}")
PY
}

# newest_checkpoint RUN_DIR: the step-N folder with the highest N (valid or not), or nothing.
newest_checkpoint() {
  [ -d "$1/checkpoints" ] || return 0
  find "$1/checkpoints" -mindepth 1 -maxdepth 1 -type d -name 'step-*' ! -name '*.tmp' | sort | tail -n 1
}
