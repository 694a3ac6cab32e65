"""Curation throughput by engine: clips/s of ``motion`` and of ``data run``, local (1 and 2 worker
processes) against Ray Data, Ray's overhead per clip, and a 2-node Ray cluster on one machine.

* Clips: ``--clips`` synthetic H.264 mp4 files (``render_clip``: textured scenes with a known camera
  motion, ``--size`` H W, ``--frames`` frames at 24 fps) plus one zero-byte and one non-video file.
* ``motion``: the motion stage alone on the probed manifest, each engine from an empty journal.
* ``data run``: ingest -> split -> motion -> filter (no re-captioning: it needs an LLM), each engine
  into a fresh folder.
* Ray overhead per clip: a stage that does nothing, run through each engine; seconds per row.
* Ray runs use a local Ray (``ray.init(num_cpus=2)``, started once before the clock; its start-up time
  is reported separately). ``--two-nodes`` also starts a head (1 CPU) and a second raylet (1 CPU, its
  own temp dir) on this machine with ``ray start`` and runs ``motion`` on that cluster through
  ``--ray-address``, recording which node did each clip.

    python -m benchmarks.curation_ray                 # about five minutes on 2 busy cores
    python -m benchmarks.curation_ray --two-nodes

Writes ``benchmarks/results/curation_ray.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from hummingbird_jax.benchmarking import report
from hummingbird_jax.curation import MotionStage, Stage, ingest, read_manifest, run_curation, run_stage
from hummingbird_jax.curation.motion_clips import MOTION_CLASSES, render_clip, write_video


class NoopStage(Stage):
    """Does nothing per row: what remains is the engine's own cost."""

    name = "noop"
    columns = ("noop",)
    batch_size = 1

    def process(self, rows):
        return [{"noop": 1} for _ in rows]


class NodeMotionStage(MotionStage):
    """The motion stage, also recording the Ray node that did each clip."""

    columns = (*MotionStage.columns, "node")

    def process(self, rows):
        import ray

        node = ray.get_runtime_context().get_node_id()[:8] if ray.is_initialized() else "local"
        return [{**scores, "node": node} for scores in super().process(rows)]


def make_clips(folder: Path, count: int, size, frames: int) -> None:
    for i in range(count):
        label = MOTION_CLASSES[i % len(MOTION_CLASSES)]
        write_video(folder / f"{label}_{i:03d}.mp4", render_clip(label, size=size, frames=frames, seed=i))
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video")


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


ENGINES = [("local, 1 worker", dict(engine="local", workers=1)), ("local, 2 workers", dict(engine="local", workers=2)),
           ("ray, new session", dict(engine="ray", workers=1)), ("ray, same session again", dict(engine="ray", workers=1))]


def bench_engines(work: Path, clips: Path, rows: int) -> dict:
    probed = work / "probed.csv"
    ingest(clips, probed, workers=2, progress=False)
    out: dict[str, dict] = {"motion": {}, "data_run": {}, "noop": {}}
    for number, (label, kwargs) in enumerate(ENGINES):
        tag = f"{number}-{kwargs['engine']}-{kwargs['workers']}"
        target = work / f"motion-{tag}.csv"
        summary, seconds = timed(lambda: run_stage(MotionStage(), probed, target, progress=False, **kwargs))
        out["motion"][label] = {"seconds": round(seconds, 2), "clips": summary.processed,
                                "clips_per_s": round(summary.processed / seconds, 2)}
        folder = work / f"run-{tag}"
        _, seconds = timed(lambda: run_curation(clips, folder, split=True, recaption=False, progress=False,
                                                log=lambda *_: None, **kwargs))
        out["data_run"][label] = {"seconds": round(seconds, 2), "clips": rows,
                                  "clips_per_s": round(rows / seconds, 2)}
        # Engine cost: a no-op stage on the manifest and on it repeated 20 times; the difference gives
        # the cost per row, the rest is the fixed cost of starting a stage.
        table = read_manifest(probed)
        runs = []
        for repeat in (1, 20):
            target = work / f"noop{repeat}-{tag}.csv"
            big = pd.concat([table] * repeat, ignore_index=True)
            summary, seconds = timed(lambda: run_stage(NoopStage(), big, target, progress=False, **kwargs))
            runs.append((summary.processed, seconds))
        (n1, t1), (n2, t2) = runs
        per_row = (t2 - t1) / (n2 - n1)
        out["noop"][label] = {"rows": [n1, n2], "seconds": [round(t1, 2), round(t2, 2)],
                              "ms_per_row": round(1000 * per_row, 2), "fixed_s": round(t1 - n1 * per_row, 2)}
    same = all((work / "run-0-local-1" / n).read_bytes() == (work / "run-2-ray-1" / n).read_bytes()
               for n in ("01_ingest.csv", "02_split.csv", "03_motion.csv", "manifest.csv"))
    out["ray_outputs_identical_to_local"] = same
    return out


def bench_two_nodes(work: Path, probed: Path, port: int = 6391) -> dict:
    """``ray start`` a head and a second raylet (1 CPU each) on this machine; motion through both."""
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head_tmp, worker_tmp = work / "ray-head", work / "ray-node2"
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    commands = [
        [ray_bin, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
         f"--temp-dir={head_tmp}", "--disable-usage-stats"],
        [ray_bin, "start", f"--address=127.0.0.1:{port}", "--num-cpus=1", f"--temp-dir={worker_tmp}",
         "--disable-usage-stats"],
    ]
    result: dict = {"commands": [" ".join(Path(c[0]).name if i == 0 else c[i] for i in range(len(c))) for c in commands]}
    try:
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
            if done.returncode != 0:
                result["error"] = f"{' '.join(command[1:3])}: exit {done.returncode}: {done.stderr.strip()[-600:]}"
                return result
        script = (
            "import json, sys, time\n"
            "import ray\n"
            "from benchmarks.curation_ray import NodeMotionStage\n"
            "from hummingbird_jax.curation import read_manifest, run_stage\n"
            "from hummingbird_jax.data.ray_cluster import RayOptions, connect\n"
            f"ray_mod = connect('127.0.0.1:{port}')\n"
            "nodes = [n['NodeID'][:8] for n in ray.nodes() if n['Alive']]\n"
            "start = time.perf_counter()\n"
            f"s = run_stage(NodeMotionStage(), {str(probed)!r}, {str(work / 'motion-2nodes.csv')!r}, engine='ray',\n"
            f"              progress=False, ray=RayOptions(address='127.0.0.1:{port}', rows_per_task=2))\n"
            "seconds = time.perf_counter() - start\n"
            f"table = read_manifest({str(work / 'motion-2nodes.csv')!r})\n"
            "per_node = table['node'].dropna().value_counts().to_dict()\n"
            "print(json.dumps(dict(nodes=nodes, seconds=seconds, clips=s.processed, per_node=per_node)))\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900,
                              cwd=Path(__file__).resolve().parents[1])
        if done.returncode != 0:
            result["error"] = f"driver: exit {done.returncode}: {done.stderr.strip()[-800:]}"
            return result
        import json

        measured = json.loads(done.stdout.strip().splitlines()[-1])
        measured["clips_per_s"] = round(measured["clips"] / measured["seconds"], 2)
        measured["seconds"] = round(measured["seconds"], 2)
        result.update(measured)
        return result
    finally:
        stop_processes_under(worker_tmp)
        stop_processes_under(head_tmp)


def processes_under(temp_dir: Path) -> list[int]:
    """PIDs of the Ray processes started with ``temp_dir`` (their command lines name it)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(temp_dir) in cmdline:
            pids.append(int(proc.name))
    return pids


def stop_processes_under(temp_dir: Path) -> None:
    """Ends this benchmark's raylets one PID at a time (``ray stop`` would end every Ray on the
    machine): SIGTERM, then SIGKILL for any left after 10 s (the GCS server may ignore SIGTERM)."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_under(temp_dir):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        while processes_under(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.5)


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# Curation throughput by engine",
        "",
        report.describe_machine(m),
        f"Clips: {result['clips']} synthetic H.264 mp4 ({result['size'][0]}×{result['size'][1]}, {result['frames']} "
        f"frames) + 1 zero-byte + 1 non-video file. Local Ray start-up (`ray.init(num_cpus=2)`, not in the figures): "
        f"{result['ray_init_s']} s. Command: `python -m benchmarks.curation_ray{' --two-nodes' if 'two_nodes' in result else ''}`.",
        "",
        "| engine | `motion` clips/s | `data run` clips/s (ingest, split, motion, filter) "
        "| engine cost per row (ms) | engine start per stage (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, _ in ENGINES:
        noop = result["noop"][label]
        lines.append(f"| {label} | {result['motion'][label]['clips_per_s']} | {result['data_run'][label]['clips_per_s']} "
                     f"| {noop['ms_per_row']} | {noop['fixed_s']} |")
    local, ray = result["noop"]["local, 1 worker"]["ms_per_row"], result["noop"]["ray, same session again"]["ms_per_row"]
    lines += ["", "Engine cost: a stage that does nothing, on the manifest and on it repeated 20 times (the "
              "difference per row; the rest is the fixed start of a stage: worker processes, Ray scheduling). "
              f"Ray's cost per row minus in-process: {round(ray - local, 2)} ms (the local runner fsyncs its "
              "journal after every batch of the stage's `batch_size` rows, 1 here; Ray once per block of "
              f"`--rows-per-task` = 8 rows), plus {result['noop']['ray, same session again']['fixed_s']} s per stage. "
              "'new session': the first stages of a fresh local Ray (`ray.init(num_cpus=2)`), whose worker "
              "processes still import the stage's libraries (cv2, PyAV, pandas); 'same session again': the "
              "same runs once those workers exist. Local worker processes are spawned anew for every stage. "
              f"Ray outputs byte-identical to the local engine's: {result['ray_outputs_identical_to_local']}."]
    two = result.get("two_nodes")
    if two is not None:
        lines += ["", "## Two raylets on this machine (1 CPU each)", ""]
        if "error" in two:
            lines.append(f"Not measured: {two['error']}")
        else:
            lines.append(f"`motion` through `--ray-address` on {len(two['nodes'])} nodes: {two['clips_per_s']} clips/s "
                         f"({two['clips']} clips in {two['seconds']} s); clips per node: {two['per_node']}. "
                         "Started with `" + "` and `".join(two["commands"]) + "` (each raylet with its own "
                         "temp dir; `RAY_AUTH_MODE=disabled` unless set: a throw-away cluster). Both raylets share the same two cores here, so this shows the work "
                         "spreading over nodes, not a speed-up.")
    lines += ["", "## Scaling", "",
              "Each stage becomes one Ray Data operator. Stages without state run as tasks, up to "
              "cluster CPUs / `num_cpus` at once (`--actors` caps it); stages with `setup()` (split) or "
              "`kind=\"model\"` (recaption; and `data encode`) hold a pool of actors: by default as many as "
              "the cluster's CPUs (or GPUs, one per actor, for model stages) allow, or `--actors` / "
              "`--stage-resources STAGE:actors=N`. Throughput then grows with the nodes until the driver's "
              "journal commit (one fsync per block of `--rows-per-task` rows) or the shared file system "
              "holding the videos is the limit; raise `--rows-per-task` for very short per-clip work."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=42)
    parser.add_argument("--size", type=int, nargs=2, default=(144, 256))
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--two-nodes", action="store_true", help="also measure a 2-raylet cluster on this machine")
    args = parser.parse_args(argv)

    import ray

    result = {"machine": report.machine_info(with_jax=False), "clips": args.clips, "size": list(args.size),
              "frames": args.frames, "ray": report.package_version("ray")}
    with tempfile.TemporaryDirectory() as tmp:
        work, clips = Path(tmp), Path(tmp) / "clips"
        clips.mkdir()
        make_clips(clips, args.clips, tuple(args.size), args.frames)
        _, result["ray_init_s"] = timed(lambda: ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING"))
        result["ray_init_s"] = round(result["ray_init_s"], 1)
        result.update(bench_engines(work, clips, args.clips + 2))
        ray.shutdown()
        if args.two_nodes:
            result["two_nodes"] = bench_two_nodes(work, work / "probed.csv")
    result["machine"]["load_average_end"] = report.load_average()
    json_path, md_path = report.write_results("curation_ray", result, markdown(result))
    print(markdown(result))
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
