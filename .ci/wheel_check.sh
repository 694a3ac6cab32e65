#!/usr/bin/env bash
# The package as a user installs it: a wheel built from this checkout holds only `hummingbird*` top-level
# names and, installed (not editable) into a fresh virtualenv without PyTorch, runs `hummingbird demo`,
# `hummingbird data run` and `hummingbird bench latency` from a folder outside the repository.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
step() { echo "[wheel check] $1 at $((SECONDS - start)) s"; }

python -m pip wheel --quiet --no-deps -w "$work/dist" "$repo"
wheel="$(ls "$work"/dist/*.whl)"
python - "$wheel" <<'PY'
import sys, zipfile

names = sorted({name.split("/")[0].split(".dist-info")[0] for name in zipfile.ZipFile(sys.argv[1]).namelist()})
foreign = [name for name in names if not name.startswith("hummingbird")]
if foreign:
    sys.exit(f"wheel {sys.argv[1]}: top-level names outside the hummingbird namespace: {foreign}")
print("wheel top-level names:", ", ".join(names))
PY
step "wheel built"

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$wheel"   # CPU dependencies from the registry, no torch
step "wheel installed"
export PATH="$work/venv/bin:$PATH"
unset PYTHONPATH
cd "$work"
python - <<'PY'
import importlib.util
import sys

import hummingbird_jax

if not hummingbird_jax.__file__.startswith(sys.prefix):
    sys.exit(f"hummingbird_jax imported from {hummingbird_jax.__file__}, not from the wheel in {sys.prefix}")
if importlib.util.find_spec("torch") is not None:
    sys.exit("torch is installed in the wheel's virtualenv: the run-time check would not show it is unneeded")
PY

hummingbird demo --preset smoke --out "$work/demo" > "$work/demo.log" 2>&1 || { tail -30 "$work/demo.log"; exit 1; }
tail -5 "$work/demo.log"
step "demo done"
hummingbird data run "$work/demo/world" --out "$work/curated" --skip-recaption --workers 1 --no-progress
test -s "$work/curated/manifest.csv"
step "data run done"
hummingbird bench latency --model tiny-0.7b --random-init --frames 2 --height 64 --width 64 --dtype float32 \
    --warmup 0 --repeats 1 \
    --no-compilation-cache --out "$work/bench"
ls "$work"/bench/*.json > /dev/null
echo "wheel check passed in $((SECONDS - start)) s"
