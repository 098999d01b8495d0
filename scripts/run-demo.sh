#!/usr/bin/env bash
# The README's main job: set up, build, and train the default model (gpt-tiny) for a few minutes on
# the fortune-cookie database (Debian's fortunes packages), with progress on the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/app/nightshift train --preset gpt-tiny --data /usr/share/games/fortunes \
  --tokenizer byte --steps 600 --batch 12 --seq 128 --eval-every 100 --out runs/fortunes "$@"
./build/app/nightshift sample runs/fortunes --prompt "The " --tokens 200
