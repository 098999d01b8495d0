#!/usr/bin/env bash
# `nightshift budget-report`, `profiles` and `profile show` from the outside: exit codes and messages
# for bad input, the JSON keys scripts rely on, 80-column text, and the `budget-report` alias.
set -u
NS="${NIGHTSHIFT_BIN:?NIGHTSHIFT_BIN is not set}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail=0
check() {  # check NAME EXPECTED_RC CMD... ; stdout+stderr saved in $TMP/out
  local name="$1" want="$2"
  shift 2
  "$@" >"$TMP/out" 2>&1
  local rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL $name: exit $rc, expected $want"; sed 's/^/  | /' "$TMP/out" | head -20; fail=1
  else
    echo "ok   $name"
  fi
}
expect_text() {  # expect_text NAME TEXT: the last output contains TEXT
  if ! grep -qF -- "$2" "$TMP/out"; then echo "FAIL $1: output lacks '$2'"; sed 's/^/  | /' "$TMP/out" | head -20; fail=1; fi
}

check "profiles lists devices" 0 "$NS" profiles
expect_text "profiles lists devices" "macbook-air-m4-16gb"
expect_text "profiles lists host" "host"
check "profile show" 0 "$NS" profile show raspberry-pi-5-8gb
expect_text "profile show explains memory" "= available"
check "profile show host" 0 "$NS" profile show host
expect_text "profile show host (hwloc)" "topology (hwloc)"
check "profile show unknown" 2 "$NS" profile show pdp-11
expect_text "unknown profile lists known" "x86-laptop-16gb"

printf 'name = "broken"\n[memory]\ntotal_mib = = 3\n' >"$TMP/broken.toml"
check "malformed profile" 2 "$NS" budget-report --profile "$TMP/broken.toml" --model gpt-tiny
expect_text "malformed profile names file:line:column" "$TMP/broken.toml:3:"
check "unknown profile" 2 "$NS" budget-report --profile nope --model gpt-tiny
expect_text "unknown profile lists known" "macbook-air-m4-16gb"
check "unknown model" 2 "$NS" budget-report --profile x86-laptop-16gb --model gpt-huge
expect_text "unknown model lists presets" "bit-axon-3b"
printf 'vocab_size = 64\nd_model = [\n' >"$TMP/model.toml"
check "malformed model file" 2 "$NS" budget-report --profile x86-laptop-16gb --model "$TMP/model.toml"
expect_text "malformed model names file" "$TMP/model.toml:"
check "negative seq" 2 "$NS" budget-report --profile x86-laptop-16gb --model gpt-tiny --seq -5
check "absurd batch" 2 "$NS" budget-report --profile x86-laptop-16gb --model gpt-tiny --batch 100000000
check "zero rank" 2 "$NS" budget-report --profile x86-laptop-16gb --model gpt-tiny --mode lora --rank 0
check "unknown mode" 2 "$NS" budget-report --profile x86-laptop-16gb --model gpt-tiny --mode half
check "qlora on f32" 2 "$NS" budget-report --profile x86-laptop-16gb --model gpt-tiny --mode qlora --base-format f32
check "unknown format" 2 "$NS" budget-report --profile x86-laptop-16gb --model gpt-tiny --format yaml

# bit-axon-3b qlora without checkpointing does not fit 16 GB (exit 3 like train) but the whole report
# is printed. (--grad-checkpoint auto, the default, plans it with checkpointing: that fits.)
check "text report" 3 "$NS" budget-report --profile macbook-air-m4-16gb --model bit-axon-3b --mode qlora --grad-checkpoint off
for section in "Available memory" "Parameters by component" "Weight memory by precision" "SSM state" \
               "KV cache by context" "Inference memory" "Training memory by mode" "Recommended configuration"; do
  expect_text "text has $section" "$section"
done
if awk 'length($0) > 80 { bad = 1 } END { exit bad }' "$TMP/out"; then echo "ok   text fits 80 columns"
else echo "FAIL text wider than 80 columns"; awk 'length($0) > 80' "$TMP/out" | head -5; fail=1; fi

check "markdown report" 3 "$NS" budget-report --profile jetson-orin-nano-8gb --model magellano-1b --mode lora --format markdown
expect_text "markdown table" "|---|"

check "json report" 3 "$NS" budget-report --profile macbook-air-m4-16gb --model bit-axon-3b --mode qlora --grad-checkpoint off --format json
cp "$TMP/out" "$TMP/report.json"
if /usr/bin/python3 - "$TMP/report.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for k in ["profile", "model", "available_bytes", "params_total", "weights_bytes", "kv_cache_bytes",
          "inference_bytes", "training", "fits"]:
    assert k in j, k
assert j["profile"] == "macbook-air-m4-16gb" and j["model"] == "bit-axon-3b"
assert set(["f32", "f16", "q8", "q4", "nf4", "ternary"]) <= set(j["weights_bytes"])
assert set(["1024", "4096", "16384", "32768", "65536"]) <= set(j["kv_cache_bytes"])
t = j["training"]
assert t["mode"] == "qlora" and isinstance(t["total_bytes"], int)
items = [v for k, v in t.items() if k.endswith("_bytes") and k not in ("total_bytes", "margin_bytes")]
assert sum(items) == t["total_bytes"], (sum(items), t["total_bytes"])
assert isinstance(j["fits"], bool) and j["fits"] == (t["total_bytes"] <= j["available_bytes"])
assert j["params_total"] > 5_000_000_000
PY
then echo "ok   json keys"; else echo "FAIL json keys"; fail=1; fi

check "fit" 0 "$NS" budget-report --profile raspberry-pi-5-8gb --model mamba-moe-300m --mode lora --fit
expect_text "fit answers" "max seq length"
expect_text "fit recommends" "recommended"

ALIAS="$(dirname "$NS")/budget-report"
if [ -x "$ALIAS" ]; then
  check "budget-report alias" 0 "$ALIAS" --profile x86-laptop-16gb --model gpt-tiny --format json
  expect_text "alias runs the report" '"profile": "x86-laptop-16gb"'
else
  echo "FAIL no budget-report link beside $NS"; fail=1
fi
exit $fail
