"""``--engine ray``: the curation stages on a real local Ray (2 CPUs), against the local engine.

One Ray session serves the module; a second driver (a real subprocess) joins it by address and is
killed with SIGKILL mid-stage; stage workers kill themselves to test Ray's retries.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")
from ray import cloudpickle  # noqa: E402  (the copy Ray pickles tasks with)

from hummingbird_jax.cli import main  # noqa: E402
from hummingbird_jax.curation import Stage, read_manifest, run_stage  # noqa: E402
from hummingbird_jax.curation.motion_clips import render_clip, write_video  # noqa: E402
from hummingbird_jax.curation.recaption import SYSTEM_PROMPT  # noqa: E402
from hummingbird_jax.curation.tiny_lm import build_tiny_chat_model  # noqa: E402
from hummingbird_jax.data.ray_cluster import RayOptions, parse_stage_resources  # noqa: E402

# Ray workers import classes by module name; this test module is not importable there.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_session():
    if ray.is_initialized():
        ray.shutdown()
    context = ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    for i, label in enumerate(["pan", "zoom_out", "dolly_zoom", "object_motion"]):
        write_video(root / f"{label}.mp4", render_clip(label, size=(64, 96), frames=16, seed=30 + i))
    cut = np.concatenate([render_clip("tilt", size=(64, 96), frames=20, seed=1),
                          render_clip("static", size=(64, 96), frames=20, seed=2)])
    write_video(root / "two_scenes.mp4", cut)  # one cut: split gives two clips
    (root / "pan.txt").write_text("a city street at night")
    (root / "empty.mp4").write_bytes(b"")
    data = (root / "pan.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "notes.mp4").write_text("definitely not a movie")
    return root


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    return build_tiny_chat_model(tmp_path_factory.mktemp("llm"), [SYSTEM_PROMPT])  # random weights, saved locally


def _run_argv(folder, out, llm, *extra):
    return ["data", "run", str(folder), "--out", str(out), "--split", "--min-scene-len", "8", "--model", str(llm),
            "--batch-size", "4", "--max-new-tokens", "6", "--workers", "1", "--no-progress", *extra]


def _timeless(summary: dict) -> dict:
    return {stage: {k: v for k, v in s.items() if k not in ("seconds", "output", "input")} for stage, s in summary.items()}


def test_data_run_and_every_stage_on_ray_write_the_same_manifests_as_local(ray_session, folder, llm, tmp_path):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert main(_run_argv(folder, local, llm)) in (0, None)
    # One actor for split and recaption: each new actor process imports its libraries (tens of seconds here).
    resources = ["--stage-resources", "split:actors=1", "--stage-resources", "recaption:actors=1"]
    assert main(_run_argv(folder, on_ray, llm, "--engine", "ray", *resources)) in (0, None)

    names = ["01_ingest.csv", "02_split.csv", "03_motion.csv", "04_recaption.csv", "manifest.csv"]
    for name in names:
        assert (on_ray / name).read_bytes() == (local / name).read_bytes(), name
    summary = json.loads((local / "summary.json").read_text())
    assert _timeless(json.loads((on_ray / "summary.json").read_text())) == _timeless(summary)
    assert summary["ingest"]["failures"] == {"empty": 1, "unreadable": 2}
    assert summary["split"]["rows_out"] == summary["split"]["rows_in"] + 1  # the cut
    assert summary["recaption"]["processed"] == 6

    # A stage command alone (the other stage commands share its path: run_stage with the engine flags).
    argv = ["data", "motion", str(local / "02_split.csv"), "--out", str(tmp_path / "motion.csv"), "--engine", "ray",
            "--rows-per-task", "2", "--actors", "2", "--no-progress"]
    assert main(argv) in (0, None)
    assert (tmp_path / "motion.csv").read_bytes() == (local / "03_motion.csv").read_bytes()


class SlowStage(Stage):
    """A CPU stage that takes a while per row, so a driver can be killed part-way."""

    name = "slow"
    columns = ("digest",)

    def __init__(self, delay=0.4):
        self.delay = delay

    def process(self, rows):
        time.sleep(self.delay * len(rows))
        return [{"digest": sum(map(ord, Path(r["path"]).name))} for r in rows]


class KillOnceStage(Stage):
    """Kills its own worker process (SIGKILL) the first time it sees ``victim``, then works."""

    name = "kill_once"
    columns = ("digest", "pid")

    def __init__(self, marker, victim):
        self.marker, self.victim = str(marker), victim

    def process(self, rows):
        for row in rows:
            if Path(row["path"]).name == self.victim and not os.path.exists(self.marker):
                Path(self.marker).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return [{"digest": sum(map(ord, Path(r["path"]).name)), "pid": os.getpid()} for r in rows]


class KillOnceActorStage(KillOnceStage):
    """The same on actors (a stage with ``setup``)."""

    def setup(self):
        self.ready = True


def _table(n):
    return pd.DataFrame({"path": [f"/videos/clip_{i:03d}.mp4" for i in range(n)], "text": ["x"] * n})


@pytest.mark.slow
def test_driver_killed_mid_stage_then_rerun_commits_every_row_exactly_once(ray_session, tmp_path):
    rows = 12
    manifest = tmp_path / "in.csv"
    _table(rows).to_csv(manifest, index=False)
    out = tmp_path / "out.csv"
    # The driver runs this module's SlowStage, handed over pickled by value (the module is not importable there).
    stage = tmp_path / "stage.pkl"
    stage.write_bytes(cloudpickle.dumps(SlowStage()))
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(f"""
        import pickle
        from pathlib import Path
        from hummingbird_jax.curation import run_stage
        from hummingbird_jax.data.ray_cluster import RayOptions

        run_stage(pickle.loads(Path({str(stage)!r}).read_bytes()), {str(manifest)!r}, {str(out)!r}, engine="ray",
                  progress=False, ray=RayOptions(address={ray_session!r}, rows_per_task=1))
    """))
    journal = tmp_path / "out.csv.journal.jsonl"
    driver = subprocess.Popen([sys.executable, str(script)], cwd=Path(__file__).resolve().parents[1],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    committed = 0
    while time.monotonic() < deadline and driver.poll() is None:
        committed = len(journal.read_text().splitlines()) - 1 if journal.exists() else 0
        if committed >= 3:
            break
        time.sleep(0.05)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    driver.stderr.close()
    assert not out.exists()
    committed = len(journal.read_text().splitlines()) - 1
    assert 3 <= committed < rows

    summary = run_stage(SlowStage(delay=0.0), manifest, out, engine="ray", progress=False,
                        ray=RayOptions(rows_per_task=4))
    assert summary.reused >= 3 and summary.reused + summary.processed == rows
    result = read_manifest(out)
    assert len(result) == rows and result["path"].is_unique
    assert list(result["path"]) == list(_table(rows)["path"])
    assert list(result["digest"]) == [sum(map(ord, Path(p).name)) for p in result["path"]]
    assert result["error"].isna().all()


@pytest.mark.slow
@pytest.mark.parametrize("stage_class", [KillOnceStage, KillOnceActorStage], ids=["task", "actor"])
def test_worker_killed_mid_run_is_retried(ray_session, tmp_path, stage_class):
    marker = tmp_path / "killed"
    stage = stage_class(marker, victim="clip_005.mp4")
    summary = run_stage(stage, _table(10), tmp_path / "out.csv", engine="ray", progress=False,
                        ray=RayOptions(rows_per_task=2))
    killed_pid = int(marker.read_text())
    result = read_manifest(tmp_path / "out.csv")
    assert summary.processed == 10 and summary.failures == {}
    assert result["error"].isna().all() and len(result) == 10
    assert list(result["digest"]) == [sum(map(ord, Path(p).name)) for p in result["path"]]
    victim = result.set_index("path").loc["/videos/clip_005.mp4"]
    assert victim["pid"] != killed_pid and not victim.isna()["digest"]  # its batch was redone by another worker


def test_stage_resources_come_from_flags_then_the_stage_class():
    class Heavy(Stage):
        name, kind, batch_size, num_cpus = "heavy", "model", 4, 2

    options = RayOptions(actors=3, stages=parse_stage_resources(["heavy:num_gpus=0.5,rows_per_task=16"]))
    chosen = options.resources(Heavy(), {"CPU": 8, "GPU": 2})
    assert (chosen.num_cpus, chosen.num_gpus, chosen.actors, chosen.rows_per_task) == (2, 0.5, 3, 16)
    # Model stages default to one GPU per actor when the cluster has one, batches of their batch size.
    chosen = RayOptions().resources(Heavy(), {"CPU": 8, "GPU": 1})
    assert (chosen.num_gpus, chosen.rows_per_task) == (1.0, 4)
    assert RayOptions().resources(Heavy(), {"CPU": 8}).num_gpus == 0.0


@pytest.mark.parametrize("bad", ["motion", "motion:gpus=1", "motion:actors=many"])
def test_malformed_stage_resources_are_a_one_line_error(tmp_path, capsys, bad):
    (tmp_path / "in.csv").write_text("path,text\na.mp4,x\n")
    argv = ["data", "motion", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv"), "--engine", "ray",
            "--stage-resources", bad]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert "--stage-resources" in error and "\n" not in error


def test_encode_on_ray_actors_writes_the_same_tfds_dataset(ray_session, reference_dir, tmp_path):
    import tensorflow_datasets as tfds

    from hummingbird_jax.data import write_video as write_test_video

    lines = ["path,text"]
    for i, (n, h, w) in enumerate([(14, 48, 64), (10, 32, 48), (12, 40, 40)]):
        write_test_video(str(tmp_path / f"v{i}.mp4"), num_frames=n, fps=24, height=h, width=w)
        lines.append(f"v{i}.mp4,video {i}")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "manifest.csv").write_text("\n".join(lines + ["empty.mp4,empty"]) + "\n")
    common = ["data", "encode", str(tmp_path / "manifest.csv"), "--model", str(reference_dir / "vae.safetensors"),
              "--config", str(reference_dir / "vae.yaml"), "--frames", "3", "--stride", "2", "--size", "32", "48",
              "--batch-size", "2", "--chunk-size", "2", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--engine", "ray", "--actors", "1"]) == 0

    def records(folder):
        source = tfds.data_source("hummingbird_latents", data_dir=str(folder), split="train")
        return {int(source[i]["index"]): source[i] for i in range(len(source))}

    local, on_ray = records(tmp_path / "local"), records(tmp_path / "ray")
    assert sorted(on_ray) == sorted(local) == [0, 1, 2]
    for index, example in local.items():
        for key in ("mean", "logvar", "tokens", "fps", "start"):
            np.testing.assert_array_equal(on_ray[index][key], example[key])


@pytest.mark.parametrize("address", ["127.0.0.1:1", "no-port-here"])
def test_an_address_without_a_ray_head_fails_in_seconds(address):
    from hummingbird_jax.data.ray_cluster import RayUnavailable, _check_reachable

    with pytest.raises(RayUnavailable, match=f"--ray-address {address}"):
        _check_reachable(address)
