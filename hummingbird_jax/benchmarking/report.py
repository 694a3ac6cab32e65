"""What every benchmark records about the machine, and how it writes its results.

Results go to ``benchmarks/results/<stem>.json`` (machine-readable) and ``<stem>.md`` (a table people
read), under the current directory unless a folder is given, both written atomically so an
interrupted run never leaves half a file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from importlib import metadata

import jax
import numpy as np

from hummingbird_jax import hardware
from hummingbird_jax.diffusion.sampling import DEFAULT_SIZE
from hummingbird_jax.hardware import backend_kind

RESULTS_DIR = os.path.join("benchmarks", "results")  # relative to the current directory: the repository root
_PLUGINS = ("jax-cuda12-plugin", "jax-cuda13-plugin", "jax-rocm60-plugin", "jax-rocm7-plugin", "libtpu")


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def relative_error(got, want) -> float:
    """``max|got − want| / max|want|``: the parity measure of the reference fixtures."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def wall_times(fn, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn()`` (which must wait for its result) after ``warmup``
    untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def load_average() -> list[float]:
    """1/5/15-minute load averages: timings on a busy shared CPU are only comparable within a run."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(with_jax: bool = True) -> dict:
    """The host, and (``with_jax``) the JAX backend, device and library versions."""
    info = {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_average": load_average(),
    }
    if with_jax:
        device = jax.devices()[0]
        plugins = {name: package_version(name) for name in _PLUGINS}
        info.update(
            backend=jax.default_backend(), backend_kind=backend_kind(), device_kind=device.device_kind,
            device_count=jax.device_count(), jax=jax.__version__, jaxlib=package_version("jaxlib"),
            flax=package_version("flax"), plugins={k: v for k, v in plugins.items() if v},
        )
    return info


def describe_machine(info: dict) -> str:
    """One Markdown sentence naming the machine a table was measured on."""
    text = f"{info['cpu_count']} CPUs, {info['memory_gib']} GiB RAM, {info['platform']}"
    if "backend" in info:
        text = f"{info['device_kind']} ({info['backend']}); {text}; jax {info['jax']}, jaxlib {info['jaxlib']}"
    return f"Machine: {text}; load average (1/5/15 min) {info['load_average']}."


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_results(stem: str, result: dict, markdown: str, out_dir: str = RESULTS_DIR) -> tuple[str, str]:
    """Write ``out_dir/stem.json`` and ``out_dir/stem.md``; returns both paths."""
    os.makedirs(out_dir, exist_ok=True)
    json_path, md_path = os.path.join(out_dir, stem + ".json"), os.path.join(out_dir, stem + ".md")
    _write_atomic(json_path, json.dumps(result, indent=1, default=str) + "\n")
    _write_atomic(md_path, markdown if markdown.endswith("\n") else markdown + "\n")
    return json_path, md_path


def compiled_memory(fn, *abstract_args) -> dict:
    """Compile ``jax.jit(fn)`` for abstract arguments (nothing runs) and read XLA's memory analysis."""
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*abstract_args).compile()
    seconds = time.perf_counter() - start
    mem = compiled.memory_analysis()
    return {
        "temp_bytes": int(mem.temp_size_in_bytes),
        "argument_bytes": int(mem.argument_size_in_bytes),
        "output_bytes": int(mem.output_size_in_bytes),
        "compile_s": round(seconds, 1),
    }


def add_video_memory_arguments(ap: argparse.ArgumentParser) -> None:
    """The decoded video a compiled-memory sweep differentiates through: K=5 frames at 320x512, fp32 by default."""
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--height", type=int, default=DEFAULT_SIZE[0])
    ap.add_argument("--width", type=int, default=DEFAULT_SIZE[1])
    ap.add_argument("--dtype", default="float32", choices=hardware.DTYPES)


def video_memory_result(what: str, args: argparse.Namespace, rows: list[dict]) -> dict:
    """The JSON record of a sweep over :func:`compiled_memory` rows, for the video of :func:`add_video_memory_arguments`."""
    return {
        "what": what, "frames": args.frames, "height": args.height, "width": args.width, "dtype": args.dtype,
        "machine": machine_info(), "rows": rows,
    }


def video_memory_stem(name: str, dtype: str) -> str:
    """``name`` for float32 results, ``name_<dtype>`` for others, so a bf16 sweep never overwrites the fp32 one."""
    return name if dtype == "float32" else f"{name}_{dtype}"


def video_memory_markdown(result: dict, title: str, intro: list[str], settings: dict[str, Callable[[dict], str]]) -> list[str]:
    """A sweep's Markdown lines: title, intro, machine, then per row its settings, temp memory and compile time.

    ``settings`` maps each setting's column header to the cell it shows for a row.
    """
    header = [*settings, "temp memory (MiB)", "compile (s)"]
    lines = [f"# {title}", "", *intro, "", describe_machine(result["machine"]), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(r) for cell in settings.values()) + f" | {r['temp_bytes'] / 2**20:,.0f} | "
              f"{r['compile_s']} |" for r in result["rows"]]
    return lines
