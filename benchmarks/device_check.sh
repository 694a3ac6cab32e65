#!/usr/bin/env bash
# One prepared check of an accelerator machine, within a time budget (default 600 s for everything):
#
#   1. detect the GPU (nvidia-smi → the `cuda` extra, rocm-smi → the `rocm` extra of setup.cfg) and install
#      that extra unless JAX already sees the GPU; pytest too if it is missing;
#   2. the parity tests that matter on a new device: U-Net, VAE, text encoder, samplers, the 4-step
#      end-to-end pipeline (float32 matmuls at full precision, as the fixtures' 1e-4 tolerance needs);
#   3. `hummingbird bench latency` at full size (hb-0.7b, 16x320x512, 4 steps), bfloat16 then float32,
#      with `--torch-reference $OFFICIAL_DIR` when torch and einops import and OFFICIAL_DIR points to a
#      checkout of AMD-Hummingbird-T2V (on a GPU machine only when torch sees the GPU too).
#
# Without a GPU, or with DEVICE_CHECK_CPU=1, the same steps run at a tiny size on the CPU (no install;
# the U-Net parity test for the 0.7B layout only), so the script itself can be checked anywhere:
#
#   DEVICE_CHECK_CPU=1 OFFICIAL_DIR=/path/to/AMD-Hummingbird-T2V bash benchmarks/device_check.sh
#
# Each step prints one line (ok / FAILED / skipped, with the reason); its full output goes to a log file.
# The exit status is 0 only when every step passed. Environment:
#   DEVICE_CHECK_BUDGET_S  total seconds (default 600)      PYTHON  interpreter (default python3)
#   DEVICE_CHECK_OUT       results folder (default benchmarks/results; a temporary folder on the CPU path)
#   DEVICE_CHECK_LOGS      log folder (default a new temporary folder)
#   HUMMINGBIRD_REFERENCE  the parity fixtures (default ../shared/reference, as tests/conftest.py)
set -uo pipefail
cd "$(dirname "$0")/.."

BUDGET_S=${DEVICE_CHECK_BUDGET_S:-600}
DEADLINE=$((SECONDS + BUDGET_S))
PY=${PYTHON:-python3}
LOGS=${DEVICE_CHECK_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/device_check_logs.XXXXXX")}
mkdir -p "$LOGS"
FAILED=0

say() { echo "device_check: $*"; }

last_line() {  # the last non-empty line of a log, cut short: a traceback's error line, pytest's summary
    grep -v '^[[:space:]]*$' "$1" | tail -n 1 | cut -c 1-240
}

step() {  # step NAME MAX_SECONDS COMMAND...: run under `timeout` within the budget, report one line
    local name=$1 cap=$2
    shift 2
    local left=$((DEADLINE - SECONDS - 10))
    if ((left < 20)); then
        say "$name: skipped (time budget of $BUDGET_S s spent)"
        FAILED=1
        return 1
    fi
    local limit=$((cap < left ? cap : left)) start=$SECONDS log="$LOGS/${name// /_}.log"
    timeout --kill-after=5 "$limit" "$@" >"$log" 2>&1
    local rc=$?
    if ((rc == 0)); then
        say "$name: ok ($((SECONDS - start)) s): $(last_line "$log")"
        return 0
    fi
    if ((rc == 124 || rc == 137)); then
        say "$name: FAILED: timed out after $limit s (log: $log)"
    else
        say "$name: FAILED: $(last_line "$log") (log: $log)"
    fi
    FAILED=1
    return 1
}

# ---- 1. which device, and its extra ------------------------------------------------------------------
if [[ "${DEVICE_CHECK_CPU:-0}" == 1 ]]; then
    KIND=cpu
    say "CPU path (DEVICE_CHECK_CPU=1): tiny sizes"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    KIND=cuda
    say "NVIDIA GPU: $(nvidia-smi -L | head -n 1 | cut -c 1-120)"
elif command -v rocm-smi >/dev/null 2>&1 && rocm-smi >/dev/null 2>&1; then
    KIND=rocm
    say "AMD GPU (rocm-smi)"
else
    KIND=cpu
    say "no NVIDIA or AMD GPU found (nvidia-smi, rocm-smi): CPU path at tiny sizes"
fi
if ! command -v "$PY" >/dev/null 2>&1; then
    say "FAILED: no Python interpreter '$PY' (set PYTHON)"
    exit 1
fi

if [[ $KIND == cpu ]]; then
    OUT=${DEVICE_CHECK_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/device_check_results.XXXXXX")}
    if ! "$PY" -c "import hummingbird_jax, jax" >/dev/null 2>&1; then
        step "install" 300 "$PY" -m pip install -q -e .
    fi
else
    OUT=${DEVICE_CHECK_OUT:-benchmarks/results}
    if "$PY" -c "import sys, jax; sys.exit(jax.default_backend() != 'gpu')" >/dev/null 2>&1; then
        say "install: JAX already runs on the GPU; nothing to install"
    else
        step "install .[$KIND]" 240 "$PY" -m pip install -q -e ".[$KIND]" &&
            step "JAX sees the GPU" 60 "$PY" -c \
                "import sys, jax; b = jax.default_backend(); print('backend', b); sys.exit(b != 'gpu')"
    fi
fi
if ! "$PY" -c "import pytest" >/dev/null 2>&1; then
    step "install pytest" 120 "$PY" -m pip install -q pytest
fi

# ---- 2. parity tests ---------------------------------------------------------------------------------
PARITY=(tests/test_unet_parity.py tests/test_vae_parity.py tests/test_clip_text_encoder.py
        tests/test_diffusion_samplers.py tests/test_pipeline_e2e.py)
SELECT=()
if [[ $KIND == cpu ]]; then  # minutes on a small CPU otherwise: keep the 0.7B layout's U-Net, drop the extras
    SELECT=(-k "(hb_0.7b and xla) or not (test_forward_matches_official_module or test_bf16_error_against_fp32_is_small or test_no_timestep_cond)")
fi
REFERENCE=${HUMMINGBIRD_REFERENCE:-$(cd .. && pwd)/shared/reference}
if [[ -d $REFERENCE ]]; then
    # GPUs run float32 matmuls as TF32 by default; the fixtures' 1e-4 tolerance needs full float32.
    JAX_DEFAULT_MATMUL_PRECISION=highest HUMMINGBIRD_REFERENCE=$REFERENCE \
        step "parity tests" 240 "$PY" -m pytest -q -p no:cacheprovider "${PARITY[@]}" "${SELECT[@]}"
else
    say "parity tests: FAILED: no reference fixtures at $REFERENCE (set HUMMINGBIRD_REFERENCE)"
    FAILED=1
fi

# ---- 3. latency, JAX beside the official PyTorch code ------------------------------------------------
if [[ $KIND == cpu ]]; then
    SIZE=(--model tiny-0.7b --frames 2 --height 64 --width 64 --steps 4 --warmup 0 --repeats 1)
else
    SIZE=(--model hb-0.7b --frames 16 --height 320 --width 512 --steps 4 --warmup 1 --repeats 2)
fi
TORCH=()
if [[ -z "${OFFICIAL_DIR:-}" ]]; then
    say "torch reference: skipped (OFFICIAL_DIR is not set)"
elif ! "$PY" -c "import torch, einops" >/dev/null 2>&1; then
    say "torch reference: skipped (torch or einops does not import)"
elif [[ $KIND != cpu ]] && ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" >/dev/null 2>&1; then
    say "torch reference: skipped (torch does not see the GPU; the official run on the CPU would not fit the budget)"
else
    TORCH=(--torch-reference "$OFFICIAL_DIR")
    # JAX takes 75 % of the GPU at start; leave PyTorch room for the official run in the same process.
    export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.6}
fi
NOTES="benchmarks/device_check.sh ($KIND)"
# bfloat16 first (the deployment precision) with half the time left; float32 reuses its compiled float32
# programs through the persistent compilation cache and gets the rest.
step "latency bfloat16" $(((DEADLINE - SECONDS) / 2)) "$PY" -m hummingbird_jax.cli bench latency --random-init \
    "${SIZE[@]}" --dtype bfloat16 "${TORCH[@]}" --out "$OUT" --notes "$NOTES"
step "latency float32" "$BUDGET_S" "$PY" -m hummingbird_jax.cli bench latency --random-init \
    "${SIZE[@]}" --dtype float32 "${TORCH[@]}" --out "$OUT" --notes "$NOTES"

say "results in $OUT, logs in $LOGS; $((SECONDS)) s in all"
if ((FAILED)); then
    say "FAILED (see the lines above)"
    exit 1
fi
say "all steps passed"
