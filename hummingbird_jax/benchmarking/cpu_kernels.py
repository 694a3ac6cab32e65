"""GFLOP/s of the kernels that dominate the U-Net forward on a CPU, under several XLA CPU option sets, in
float32 and bfloat16, beside PyTorch on the same kernels when it is installed.

The kernels are those of the released U-Net at 16 frames x 40x64 latents:

* ``dense``: a level-0 projection (40960x320 @ 320x1280) and a level-2 one (10240x1280 @ 1280x1280);
* ``conv3x3``: the 3x3 convolution (padding 1) of level 0 (NHWC 16x40x64x320 -> 320) and level 2
  (16x10x16x1280 -> 1280) through ``lax.conv_general_dilated``;
* ``conv3x3_rows``: the same convolutions as three row matmuls: the padded input's three horizontal taps
  concatenated along channels (K = 3C), one ``jnp.dot`` per vertical tap over shifted rows, summed in
  float32;
* ``attention_scores``: ``einsum('bqd,bkd->bqk')`` of 80 heads x 2560 tokens x 64 channels.

Each runs in three precisions: float32; bfloat16 with a bfloat16 result; bfloat16 with float32 sums
(``preferred_element_type=float32``). A figure is ``flops / best seconds`` (2·M·N·K for a matmul) of
``--repeats`` calls after one warm-up call, each call waited for with ``jax.block_until_ready``.

XLA reads ``XLA_FLAGS`` once per process, so each option set runs in its own process
(``python -m hummingbird_jax.benchmarking.cpu_kernels --worker``), its flags appended to any ``XLA_FLAGS``
already set. A set whose process fails (some options make XLA fail to compile) or runs past
``--timeout`` is recorded as failed with the last line of its error output. PyTorch (``--no-torch`` to
skip) runs the same kernels in float32 and bfloat16 (``matmul``, ``conv2d`` on channels-last tensors,
``bmm``) under ``torch.inference_mode`` in this process::

    python -m benchmarks.cpu_kernels --quick                      # small shapes: seconds
    python -m benchmarks.cpu_kernels                              # full size, the default option sets
    python -m benchmarks.cpu_kernels --kernels dense,conv3x3 --flags= --flags=--xla_cpu_use_onednn=true

A ``--flags`` value starts with dashes, so give it with ``=``; ``--flags=`` is XLA's defaults. Writes
``<out>/<name>.{json,md}`` (default ``benchmarks/results/cpu_kernels``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import hummingbird_jax
from hummingbird_jax import hardware
from hummingbird_jax.benchmarking import report
from hummingbird_jax.models.layers import conv_as_matmuls

WORKER_MODULE = "hummingbird_jax.benchmarking.cpu_kernels"
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(hummingbird_jax.__file__)))

DEFAULT_FLAG_SETS = (
    "",
    "--xla_cpu_experimental_ynn_fusion_type=dot",
    "--xla_cpu_experimental_ynn_fusion_type=individual_convolution",
    "--xla_cpu_experimental_xnn_fusion_type=individual_convolution",
    "--xla_cpu_use_onednn=true",
    "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true",
)

# (full size, --quick size) of each kernel. dense: (m, k, n); conv3x3*: (frames, height, width, c_in, c_out);
# attention_scores: (batch, queries, keys, head channels). --quick keeps the channels, cuts rows and frames.
_CONV_SHAPES = (((16, 40, 64, 320, 320), (1, 5, 64, 320, 320)), ((16, 10, 16, 1280, 1280), (1, 2, 16, 1280, 1280)))
KERNEL_SHAPES = {
    "dense": (((40960, 320, 1280), (320, 320, 1280)), ((10240, 1280, 1280), (80, 1280, 1280))),
    "conv3x3": _CONV_SHAPES,
    "conv3x3_rows": _CONV_SHAPES,
    "attention_scores": (((80, 2560, 2560, 64), (2, 320, 2560, 64)),),
}
TORCH_OPS = {"dense": "matmul", "conv3x3": "conv2d", "conv3x3_rows": "conv2d", "attention_scores": "bmm"}


@dataclasses.dataclass(frozen=True)
class Mode:
    label: str
    dtype: str  # of the inputs
    sums: str | None  # preferred_element_type: None = the input dtype


MODES = {
    "float32": Mode("float32", "float32", None),
    "bfloat16": Mode("bf16→bf16", "bfloat16", None),
    "bfloat16_f32_sums": Mode("bf16, f32 sums", "bfloat16", "float32"),
}
TORCH_MODES = ("float32", "bfloat16")
NOTABLE_CHANGE = 0.10  # the option-effects summary lists ratios beyond ±10%


# ---- the kernels -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Case:
    kernel: str
    shape: tuple[int, ...]

    @property
    def id(self) -> str:
        return f"{self.kernel}_" + "x".join(map(str, self.shape))

    @property
    def flops(self) -> int:
        if self.kernel == "dense":
            m, k, n = self.shape
            return 2 * m * k * n
        if self.kernel == "attention_scores":
            b, q, k, d = self.shape
            return 2 * b * q * k * d
        f, h, w, cin, cout = self.shape
        return 2 * f * h * w * 9 * cin * cout

    @property
    def title(self) -> str:
        if self.kernel == "dense":
            m, k, n = self.shape
            return f"dense {m}×{k} @ {k}×{n}"
        if self.kernel == "attention_scores":
            b, q, k, d = self.shape
            return f"attention_scores {b}×{q}×{d} @ {b}×{d}×{k}"
        f, h, w, cin, cout = self.shape
        how = "three row matmuls" if self.kernel == "conv3x3_rows" else "conv_general_dilated"
        return f"{self.kernel} NHWC {f}×{h}×{w}×{cin} → {cout} ({how})"


def selected_cases(kernels: list[str], quick: bool) -> list[Case]:
    return [Case(k, quick_shape if quick else full) for k in kernels for full, quick_shape in KERNEL_SHAPES[k]]


def case_operands(case: Case, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 numpy operands: (x, w) with w in HWIO for the convolutions, (q, k) for attention scores."""
    rng = np.random.default_rng(seed)
    draw = lambda *shape: rng.standard_normal(shape, np.float32)
    if case.kernel == "dense":
        m, k, n = case.shape
        return draw(m, k), draw(k, n)
    if case.kernel == "attention_scores":
        b, q, k, d = case.shape
        return draw(b, q, d), draw(b, k, d)
    f, h, w, cin, cout = case.shape
    return draw(f, h, w, cin), draw(3, 3, cin, cout)


def conv3x3(x, w, sums=None):
    """3x3 convolution, NHWC input, HWIO weights, padding 1, through XLA's convolution."""
    return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    preferred_element_type=sums)


def jax_kernel(kernel: str, mode: str):
    """The function of two operands that computes ``kernel`` in ``mode``'s precision."""
    sums = MODES[mode].sums
    if kernel == "dense":
        return lambda x, w: jnp.dot(x, w, preferred_element_type=sums)
    if kernel == "conv3x3":
        return lambda x, w: conv3x3(x, w, sums)
    if kernel == "conv3x3_rows":
        # the U-Net's own bf16 convolution (three matmuls with K = 3C over shifted rows, float32 sums)
        return lambda x, w: conv_as_matmuls(x, w).astype(sums or MODES[mode].dtype)
    return lambda q, k: jnp.einsum("bqd,bkd->bqk", q, k, preferred_element_type=sums)


# ---- timing ----------------------------------------------------------------------------------------
def best_time(call, repeats: int) -> dict:
    """Best and median wall time of ``call()`` (which waits for its result) after one warm-up call."""
    times = report.wall_times(call, 1, repeats)
    return {"best_s": min(times), "median_s": statistics.median(times)}


def figures(flops: int, timing: dict) -> dict:
    return {"gflops_per_s": flops / timing["best_s"] / 1e9, **timing}


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def measure_jax(case: Case, mode: str, operands, repeats: int) -> dict:
    """Compile and time one kernel in one precision; a compile or run error is recorded, not raised."""
    try:
        args = tuple(jnp.asarray(a, MODES[mode].dtype) for a in operands)
        start = time.perf_counter()
        compiled = jax.jit(jax_kernel(case.kernel, mode)).lower(*args).compile()
        compile_s = time.perf_counter() - start
        timing = best_time(lambda: jax.block_until_ready(compiled(*args)), repeats)
    except jax.errors.JaxRuntimeError as err:  # some XLA options fail on some kernels: the others still count
        return {"error": last_line(f"{type(err).__name__}: {err}")}
    return {**figures(case.flops, timing), "compile_s": compile_s}


def run_worker(kernels: list[str], quick: bool, repeats: int) -> dict:
    """Every case in every precision, in this process (so under this process's ``XLA_FLAGS``)."""
    results = {}
    for case in selected_cases(kernels, quick):
        operands = case_operands(case)
        results[case.id] = {mode: measure_jax(case, mode, operands, repeats) for mode in MODES}
    return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "jax": jax.__version__, "results": results}


# ---- option sets, each in its own process -----------------------------------------------------------
def set_label(flags: str) -> str:
    """A short name: the flags without their ``--xla_cpu_`` and ``experimental_`` prefixes."""
    return re.sub(r"--xla_cpu_|experimental_", "", flags).strip() or "XLA defaults"


def failure_line(stderr: str, returncode: int) -> str:
    """The last glog fatal line (``F1203 ...``) where XLA aborted, else the last line of the error output."""
    fatal = [line for line in stderr.splitlines() if re.match(r"F\d{4} ", line)]
    return (fatal[-1] if fatal else last_line(stderr)) or f"exit status {returncode}"


def worker_command(args) -> list[str]:
    command = [sys.executable, "-m", WORKER_MODULE, "--worker", "--kernels", ",".join(args.kernels),
               "--repeats", str(args.repeats)]
    return command + (["--quick"] if args.quick else [])


def worker_environment(flags: str) -> dict:
    """This environment with ``flags`` appended to ``XLA_FLAGS``, and this package first on the path."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def run_option_set(flags: str, args) -> dict:
    """Run the worker under ``flags``; its results, or ``status: failed`` with why."""
    row = {"flags": flags, "label": set_label(flags), "status": "failed", "error": None, "results": {}}
    start = time.perf_counter()
    try:
        proc = subprocess.run(worker_command(args), env=worker_environment(flags), capture_output=True, text=True,
                              timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        proc = None
        row["error"] = f"timed out after {args.timeout:g} s"
    row["seconds"] = time.perf_counter() - start
    if proc is None:
        return row
    if proc.returncode != 0:
        row["error"] = failure_line(proc.stderr, proc.returncode)
        return row
    try:
        worker = json.loads(last_line(proc.stdout))
    except json.JSONDecodeError:
        row["error"] = "no result line; " + failure_line(proc.stderr, proc.returncode)
        return row
    row.update(status="ok", xla_flags=worker["xla_flags"], results=worker["results"])
    return row


# ---- PyTorch ----------------------------------------------------------------------------------------
def torch_kernel(case: Case, mode: str):
    """A no-argument call of the case's PyTorch op in ``mode``'s dtype (operands made once, here)."""
    import torch  # optional: only the PyTorch comparison needs it

    dtype = getattr(torch, MODES[mode].dtype)
    a, b = (torch.from_numpy(x).to(dtype) for x in case_operands(case))
    if case.kernel == "dense":
        return lambda: torch.matmul(a, b)
    if case.kernel == "attention_scores":
        kt = b.transpose(1, 2)
        return lambda: torch.bmm(a, kt)
    x = a.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)  # NHWC -> NCHW view, NHWC memory
    w = b.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)  # HWIO -> OIHW
    return lambda: torch.nn.functional.conv2d(x, w, padding=1)


def torch_results(cases: list[Case], repeats: int, threads: int | None) -> dict:
    """PyTorch's figures per case in float32 and bfloat16; the two conv3x3 formulations share one conv2d."""
    import torch  # optional: only the PyTorch comparison needs it

    if threads:
        torch.set_num_threads(threads)
    results, done = {}, {}
    with torch.inference_mode():
        for case in cases:
            key = (TORCH_OPS[case.kernel], case.shape)
            if key not in done:
                done[key] = {mode: measure_torch(case, mode, repeats) for mode in TORCH_MODES}
            results[case.id] = done[key]
    return {"version": torch.__version__, "threads": torch.get_num_threads(), "results": results,
            "ops": {case.id: TORCH_OPS[case.kernel] for case in cases}}


def measure_torch(case: Case, mode: str, repeats: int) -> dict:
    try:
        return figures(case.flops, best_time(torch_kernel(case, mode), repeats))
    except RuntimeError as err:  # e.g. an op without a bfloat16 CPU kernel in this build
        return {"error": last_line(str(err))}


# ---- comparisons computed from the figures -----------------------------------------------------------
def gflops(entry: dict | None) -> float | None:
    return entry.get("gflops_per_s") if entry else None


def best_figure(results: dict, modes) -> tuple[float, str] | None:
    """The highest GFLOP/s among ``modes`` of one case's results, and its mode."""
    found = [(gflops(results.get(m)), m) for m in modes if gflops(results.get(m))]
    return max(found) if found else None


def best_jax(case_id: str, sets: list[dict]) -> dict | None:
    best = None
    for s in sets:
        found = best_figure(s["results"].get(case_id, {}), MODES)
        if found and (best is None or found[0] > best["gflops_per_s"]):
            best = {"gflops_per_s": found[0], "mode": found[1], "set": s["label"]}
    return best


def case_comparison(case: Case, sets: list[dict], torch: dict | None) -> dict:
    """The best JAX figure over option sets and precisions, PyTorch's best, and their ratio."""
    jax_best = best_jax(case.id, sets)
    found = best_figure(torch["results"][case.id], TORCH_MODES) if torch else None
    torch_best = {"gflops_per_s": found[0], "mode": found[1]} if found else None
    ratio = jax_best["gflops_per_s"] / torch_best["gflops_per_s"] if jax_best and torch_best else None
    return {"best_jax": jax_best, "best_torch": torch_best, "best_jax_to_best_torch": ratio}


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def option_effect(option_set: dict, baseline: dict, cases: list[Case]) -> dict:
    """Per kernel and precision, the geometric mean over the kernel's shapes of GFLOP/s ÷ the baseline's."""
    ratios = {}
    for kernel in dict.fromkeys(c.kernel for c in cases):
        for mode in MODES:
            pairs = [(gflops(option_set["results"].get(c.id, {}).get(mode)),
                      gflops(baseline["results"].get(c.id, {}).get(mode))) for c in cases if c.kernel == kernel]
            values = [got / base for got, base in pairs if got and base]
            if values:
                ratios.setdefault(kernel, {})[mode] = geometric_mean(values)
    return ratios


def option_effects(sets: list[dict], cases: list[Case]) -> dict:
    """Each option set against XLA's defaults (the ``--flags=`` set), where that set ran."""
    baseline = next((s for s in sets if s["flags"] == "" and s["status"] == "ok"), None)
    if baseline is None:
        return {"baseline": None, "sets": {}}
    effects = {s["label"]: option_effect(s, baseline, cases) for s in sets if s is not baseline and s["status"] == "ok"}
    return {"baseline": baseline["label"], "sets": effects}


# ---- report ----------------------------------------------------------------------------------------
def cell(entry: dict | None) -> str:
    if not entry:
        return "n/a"
    return "error" if "error" in entry else f"{entry['gflops_per_s']:,.1f}"


def ratio_cell(results: dict, modes, torch_best: dict | None) -> str:
    found = best_figure(results, modes)
    return f"{found[0] / torch_best['gflops_per_s']:.2f}" if found and torch_best else "n/a"


def case_table(case: Case, sets: list[dict], torch: dict | None, comparison: dict) -> list[str]:
    header = ["option set", *(m.label for m in MODES.values())] + (["best / best PyTorch"] if torch else [])
    lines = [f"## {case.title}", "", f"{case.flops / 1e9:,.2f} GFLOP per call; GFLOP/s:", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    torch_best = comparison["best_torch"]
    for s in sets:
        results = s["results"].get(case.id, {})
        cells = [cell(results.get(m)) if s["status"] == "ok" else "failed" for m in MODES]
        extra = [ratio_cell(results, MODES, torch_best)] if torch else []
        lines.append(f"| `{s['label']}` | " + " | ".join(cells + extra) + " |")
    if torch:
        results = torch["results"][case.id]
        cells = [cell(results.get(m)) for m in MODES] + [ratio_cell(results, TORCH_MODES, torch_best)]
        lines.append(f"| PyTorch `{torch['ops'][case.id]}` | " + " | ".join(cells) + " |")
    lines += ["", *best_sentence(comparison)] + cell_errors(case, sets, torch)
    return lines


def best_sentence(comparison: dict) -> list[str]:
    jax_best, torch_best = comparison["best_jax"], comparison["best_torch"]
    if jax_best is None:
        return ["No JAX figure."]
    text = f"Best JAX: {jax_best['gflops_per_s']:,.1f} GFLOP/s (`{jax_best['set']}`, {MODES[jax_best['mode']].label})"
    if torch_best:
        text += (f", ×{comparison['best_jax_to_best_torch']:.2f} PyTorch's best {torch_best['gflops_per_s']:,.1f} "
                 f"({MODES[torch_best['mode']].label})")
    return [text + "."]


def cell_errors(case: Case, sets: list[dict], torch: dict | None) -> list[str]:
    rows = [(s["label"], s["results"].get(case.id, {})) for s in sets]
    rows += [("PyTorch", torch["results"][case.id])] if torch else []
    errors = [f"`{label}` {MODES[m].label}: {entry['error']}" for label, results in rows
              for m, entry in results.items() if "error" in entry]
    return ["", "Errors: " + "; ".join(errors)] if errors else []


def option_set_lines(result: dict) -> list[str]:
    lines = ["| option set | flags added to XLA_FLAGS | status | wall time (s) |", "|---|---|---|---|"]
    for s in result["option_sets"]:
        status = "ok" if s["status"] == "ok" else f"failed: {s['error']}"
        lines.append(f"| `{s['label']}` | `{s['flags'] or '(none)'}` | {status} | {s['seconds']:.1f} |")
    return lines


def effect_lines(result: dict) -> list[str]:
    effects = result["option_effects"]
    if effects["baseline"] is None:
        return ["No XLA-defaults set (`--flags=`) ran, so the option sets are not compared."]
    intro = (f"What each option set did: per kernel and precision, its GFLOP/s ÷ those of `{effects['baseline']}` "
             f"(geometric mean over the kernel's shapes); changes beyond ±{NOTABLE_CHANGE:.0%} are listed.")
    lines = [intro, ""]
    for s in result["option_sets"]:
        if s["status"] != "ok":
            lines.append(f"- `{s['label']}`: failed ({s['error']}).")
            continue
        ratios = effects["sets"].get(s["label"])
        if ratios is None:
            continue
        changes = [f"{kernel} {MODES[mode].label} ×{r:.2f}" for kernel, by_mode in ratios.items()
                   for mode, r in by_mode.items() if abs(r - 1) > NOTABLE_CHANGE]
        lines.append(f"- `{s['label']}`: " + ("; ".join(changes) if changes else
                                              f"every kernel within ±{NOTABLE_CHANGE:.0%}") + ".")
    return lines


def machine_lines(result: dict) -> list[str]:
    machine, setup = result["machine"], result["setup"]
    lines = [report.describe_machine(machine) + f" Load average after the run: {machine['load_average_after']}.",
             "", f"CPU: {machine['cpu']}; instruction sets: {', '.join(machine['cpu_features']) or 'n/a'}."]
    if setup["base_xla_flags"]:
        lines.append(f"XLA_FLAGS already set, under every option set: `{setup['base_xla_flags']}`.")
    return lines


def markdown(result: dict) -> str:
    setup = result["setup"]
    size = "quick (reduced rows and frames)" if setup["quick"] else "full U-Net size (16 frames × 40×64 latents)"
    intro = (f"GFLOP/s = nominal flops (2·M·N·K) ÷ the best of {setup['repeats']} calls after one warm-up call. "
             "Each option set ran in its own process. bf16→bf16: bfloat16 operands and result; bf16, f32 sums: "
             "bfloat16 operands, `preferred_element_type=float32`. The row-matmul convolution sums its three "
             "partial products in float32 in every precision.")
    lines = [f"# CPU kernels of the U-Net forward under XLA CPU options: {size}", "", intro, "",
             *machine_lines(result), "", *option_set_lines(result), ""]
    if result["torch"]:
        torch = result["torch"]
        lines += [(f"PyTorch {torch['version']} ({torch['threads']} threads, float32 and bfloat16, "
                   "`torch.inference_mode`); best / best PyTorch: the row's best figure ÷ PyTorch's best."), ""]
    for case, comparison in zip(result["cases"], result["comparisons"]):
        lines += case_table(Case(case["kernel"], tuple(case["shape"])), result["option_sets"], result["torch"],
                            comparison) + [""]
    lines += effect_lines(result)
    return "\n".join(lines) + "\n"


# ---- command line ------------------------------------------------------------------------------------
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernels", default=",".join(KERNEL_SHAPES),
                    help=f"comma-separated, of {', '.join(KERNEL_SHAPES)} (default: all)")
    ap.add_argument("--flags", action="append", default=None, metavar="XLA_FLAGS",
                    help="an option set, repeatable; give it as --flags='--xla_...' (--flags= is XLA's defaults; "
                         "default: the six sets of DEFAULT_FLAG_SETS)")
    ap.add_argument("--quick", action="store_true", help="small shapes (same channels, fewer rows): seconds")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per kernel; the best counts")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per option set's process")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even where it is installed")
    ap.add_argument("--torch-threads", type=int, default=None, help="PyTorch intra-op threads (default: its own)")
    ap.add_argument("--out", default=report.RESULTS_DIR, help="folder for the JSON and Markdown results")
    ap.add_argument("--name", default="cpu_kernels", help="file stem")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one option set's process
    args = ap.parse_args(argv)
    args.kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    bad = [k for k in args.kernels if k not in KERNEL_SHAPES]
    if bad or not args.kernels:
        ap.error(f"--kernels: unknown kernel(s) {bad}; expected some of {', '.join(KERNEL_SHAPES)}")
    if args.repeats < 1:
        ap.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.timeout <= 0:
        ap.error(f"--timeout must be > 0, got {args.timeout:g}")
    if args.torch_threads is not None and args.torch_threads < 1:
        ap.error(f"--torch-threads must be >= 1, got {args.torch_threads}")
    args.flags = [f.strip() for f in (DEFAULT_FLAG_SETS if args.flags is None else args.flags)]
    return args


def progress_line(option_set: dict) -> str:
    if option_set["status"] != "ok":
        return f"{option_set['label']}: failed after {option_set['seconds']:.1f} s: {option_set['error']}"
    float32 = [f"{case_id} {cell(by_mode.get('float32'))}" for case_id, by_mode in option_set["results"].items()]
    return f"{option_set['label']}: {option_set['seconds']:.1f} s; float32 GFLOP/s: " + ", ".join(float32)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        worker = run_worker(args.kernels, args.quick, args.repeats)
        print(json.dumps(worker), flush=True)
        return worker

    machine = {**report.machine_info(), "cpu_features": list(hardware.cpu_features())}
    cases = selected_cases(args.kernels, args.quick)
    sets = []
    for flags in args.flags:
        sets.append(run_option_set(flags, args))
        print(progress_line(sets[-1]), flush=True)
    torch = None
    if not args.no_torch and importlib.util.find_spec("torch") is not None:
        torch = torch_results(cases, args.repeats, args.torch_threads)
        print(f"pytorch {torch['version']}: done", flush=True)
    machine["load_average_after"] = report.load_average()

    result = {
        "what": "GFLOP/s of U-Net forward kernels under XLA CPU option sets, beside PyTorch",
        "setup": {"kernels": args.kernels, "quick": args.quick, "repeats": args.repeats, "timeout_s": args.timeout,
                  "torch_threads": args.torch_threads, "base_xla_flags": os.environ.get("XLA_FLAGS", "")},
        "machine": machine,
        "cases": [{"id": c.id, "kernel": c.kernel, "shape": list(c.shape), "title": c.title, "flops": c.flops}
                  for c in cases],
        "option_sets": sets,
        "torch": torch,
        "comparisons": [case_comparison(c, sets, torch) for c in cases],
        "option_effects": option_effects(sets, cases),
    }
    print("wrote", *report.write_results(args.name, result, markdown(result), args.out))
    return result


if __name__ == "__main__":
    main()
