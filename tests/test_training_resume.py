"""A stage-2 run killed with SIGKILL and resumed ends bitwise where an uninterrupted run ends; its
checkpoint exports to an official-layout state dict with the LoRA adapters merged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from conftest import FAST_XLA_FLAGS

from hummingbird_jax.training import checkpointing

RUN = ["-m", "hummingbird_jax.cli", "train", "stage2_turbo", "--variant", "tiny",
       "--set", "total_steps=6", "--set", "checkpoint_every=1", "--set", "keep_checkpoints=10"]


def training_env(cache_dir) -> dict:
    """Subprocess environment: one shared persistent compilation cache (the three runs compile one
    program) and XLA's cheaper CPU code generation (compiling dominates tiny runs)."""
    env = dict(os.environ)
    env.update(JAX_COMPILATION_CACHE_DIR=str(cache_dir), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
               XLA_FLAGS=FAST_XLA_FLAGS)
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    env = training_env(root / "cache")
    whole = subprocess.Popen([sys.executable, *RUN, "--workdir", str(root / "whole")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed = subprocess.Popen([sys.executable, *RUN, "--workdir", str(root / "killed")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    step3 = root / "killed" / "checkpoints" / "3"
    deadline = time.monotonic() + 600
    while not step3.is_dir() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (root / "killed" / "checkpoints" / "6").exists()
    out, _ = whole.communicate(timeout=600)
    assert whole.returncode == 0, out.decode()[-3000:]
    resumed = subprocess.run([sys.executable, *RUN, "--workdir", str(root / "killed")], env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr
    return root


def test_resume_after_sigkill_is_bitwise_identical(runs):
    whole = checkpointing.read_state(str(runs / "whole" / "checkpoints" / "6"))
    resumed = checkpointing.read_state(str(runs / "killed" / "checkpoints" / "6"))
    for part in ("params", "base", "opt_state"):
        a, b = jax.tree_util.tree_leaves(whole[part]), jax.tree_util.tree_leaves(resumed[part])
        assert len(a) == len(b) > 0
        assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b)), part
    assert int(whole["step"]) == int(resumed["step"]) == 6


def test_checkpoint_step_exports_the_merged_student(runs, tmp_path):
    from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
    from hummingbird_jax.convert.unet import unet_torch_shapes
    from hummingbird_jax.training.export import student_from_checkpoint
    from hummingbird_jax.training.lora import lora_delta

    step_dir = runs / "whole" / "checkpoints" / "6"
    out = tmp_path / "student.safetensors"
    done = subprocess.run([sys.executable, "-m", "hummingbird_jax.cli", "convert", "jax-to-torch", str(step_dir),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    state_dict = load_torch_checkpoint(str(out))
    params, cfg = student_from_checkpoint(str(step_dir))
    assert {k: tuple(v.shape) for k, v in state_dict.items()} == unet_torch_shapes(cfg)
    # The exported kernel is base + LoRA (the adapters were trained, so the difference is not zero).
    state = checkpointing.read_state(str(step_dir))
    pair = state["params"]["out.2"]["kernel"]
    merged = np.asarray(state["base"]["out.2"]["kernel"]) + np.asarray(lora_delta(pair["lora_a"], pair["lora_b"], 1.0))
    assert np.any(np.asarray(lora_delta(pair["lora_a"], pair["lora_b"], 1.0)))
    np.testing.assert_allclose(np.transpose(state_dict["model.diffusion_model.out.2.weight"], (2, 3, 1, 0)), merged,
                               rtol=1e-6, atol=1e-7)
