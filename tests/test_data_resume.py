"""Loader state saved after k batches and restored in a new process continues with the same batches."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hummingbird_jax.data import ClipConfig, clip_loader, write_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = ClipConfig(frames=3, size=(32, 48), max_stride=3, skip_first=2)

# Builds the same loader as the test, restores the saved state, prints digests of the next batches.
RESTORE = textwrap.dedent(
    """
    import hashlib, json, sys
    import numpy as np
    from hummingbird_jax.data import ClipConfig, clip_loader

    manifest, state_dir, mode, workers, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    cfg = ClipConfig(frames=3, size=(32, 48), max_stride=3, skip_first=2)
    loader = clip_loader(manifest, cfg, batch_size=2, seed=11, num_workers=workers, shard_index=0, shard_count=1)
    if mode == "json":
        with open(state_dir + "/state.json") as f:
            loader.set_state(json.load(f))
    else:
        import grain
        import orbax.checkpoint as ocp
        mngr = ocp.CheckpointManager(state_dir)
        mngr.restore(mngr.latest_step(), args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(loader)))

    def digest(batch):
        return {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
                for k, v in sorted(batch.items()) if np.asarray(v).dtype.kind in "biuf"}

    out = {"batches": [digest(next(loader)) for _ in range(n)], "skipped": loader.skip_counts}
    loader.close()
    print(json.dumps(out))
    """
)


def _digest(batch):
    return {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
            for k, v in sorted(batch.items()) if np.asarray(v).dtype.kind in "biuf"}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    lines = ["path,text"]
    for i, (n, fps) in enumerate([(20, 24), (30, 30), (16, 12), (25, 25), (18, 15)]):
        write_video(str(root / f"v{i}.mp4"), num_frames=n, fps=fps, height=48, width=64)
        lines.append(f"v{i}.mp4,video {i}")
    (root / "broken.mp4").write_bytes(b"\x00" * 100)
    lines.append("broken.mp4,broken")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return str(root / "manifest.csv")


def _restore_in_new_process(manifest, state_dir, mode, workers, n):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", RESTORE, manifest, str(state_dir), mode, str(workers), str(n)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_resume_from_json_state_in_a_new_process_gives_the_next_batches(manifest, tmp_path):
    loader = clip_loader(manifest, CFG, batch_size=2, seed=11, shard_index=0, shard_count=1)
    for _ in range(4):  # past one epoch: the broken file has been met and counted
        next(loader)
    state = loader.get_state()
    (tmp_path / "state.json").write_text(json.dumps(state))
    skipped = loader.skip_counts
    expected = [_digest(next(loader)) for _ in range(3)]
    got = _restore_in_new_process(manifest, tmp_path, "json", 0, 3)
    assert got["batches"] == expected
    assert skipped["unreadable"] >= 1 and got["skipped"]["unreadable"] >= skipped["unreadable"]


def test_resume_through_orbax_with_a_worker_process(manifest, tmp_path):
    import grain
    import orbax.checkpoint as ocp

    loader = clip_loader(manifest, CFG, batch_size=2, seed=11, num_workers=1, shard_index=0, shard_count=1)
    for _ in range(3):
        next(loader)
    mngr = ocp.CheckpointManager(str(tmp_path / "ckpt"))
    mngr.save(3, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(loader)))
    mngr.wait_until_finished()
    expected = [_digest(next(loader)) for _ in range(3)]
    loader.close()
    got = _restore_in_new_process(manifest, tmp_path / "ckpt", "orbax", 1, 3)
    assert got["batches"] == expected


def test_restored_state_differs_from_a_fresh_start(manifest):
    # Guards the tests above: the batches after k steps are not simply the first batches again.
    fresh = clip_loader(manifest, CFG, batch_size=2, seed=11, shard_index=0, shard_count=1)
    first = [_digest(next(fresh)) for _ in range(3)]
    later = [_digest(next(fresh)) for _ in range(3)]
    assert first != later
