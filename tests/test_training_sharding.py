"""The same run on 1 device, on data=8 and on data=2 × fsdp=4 (8 virtual CPU devices), and on two
processes joined by ``jax.distributed``.

Tolerance: losses agree to rtol 1e-4 and params to atol 2e-5 after 3 float32 AdamW steps at lr 1e-3.
Sharding changes only the order of floating-point reductions (batch means, all-reduced gradients).
With Adam's usual eps of 1e-8 a gradient that is pure rounding noise (a bias whose true gradient is
~0) becomes a step of ±lr whose sign depends on that order, so the comparison runs with eps 1e-3,
which keeps such steps proportional to the (tiny) gradient."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
from conftest import FAST_XLA_FLAGS

MESHES = textwrap.dedent("""
    import json, sys, jax, numpy as np
    from hummingbird_jax.training.config import apply_overrides, load_experiment
    from hummingbird_jax.training.trainer import train
    assert jax.device_count() == 8
    out = {}
    for name, data, fsdp in (("one", 1, 1), ("data8", 8, 1), ("data2_fsdp4", 2, 4)):
        c = apply_overrides(load_experiment("stage1_distill", "tiny"), [
            "total_steps=3", "checkpoint_every=100", "data.batch_size=8", "data.synthetic_examples=16", "optim.eps=1e-3",
            f"mesh.data={data}", f"mesh.fsdp={fsdp}"])
        result = train(c, f"{sys.argv[1]}/{name}")
        params = result["state"]["params"]
        out[name] = {"losses": [h["loss"] for h in result["history"]],
                     "params": {"/".join(str(k.key) for k in path): np.asarray(v).ravel()[:64].tolist()
                                for path, v in jax.tree_util.tree_flatten_with_path(params)[0]},
                     "sharded": any(not s.is_fully_replicated for s in
                                    jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda a: a.sharding, params)))}
    print("RESULT " + json.dumps(out))
""")

PROCESS = textwrap.dedent("""
    import json, sys, jax, numpy as np
    from hummingbird_jax.training.config import apply_overrides, load_experiment
    from hummingbird_jax.training.trainer import train
    port, pid, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    c = apply_overrides(load_experiment("stage1_distill", "tiny"), [
        "total_steps=3", "checkpoint_every=100", "data.batch_size=2",
        f"distributed.coordinator_address='127.0.0.1:{port}'", "distributed.num_processes=2",
        f"distributed.process_id={pid}"])
    result = train(c, workdir)
    params = result["state"]["params"]
    local = [np.asarray(a.addressable_data(0)) for a in jax.tree_util.tree_leaves(params)]
    print("RESULT " + json.dumps({"processes": jax.process_count(), "devices": jax.device_count(),
                                  "step": int(np.asarray(result["state"]["step"].addressable_data(0))),
                                  "checksum": float(sum(np.sum(np.abs(a.astype(np.float64))) for a in local)),
                                  "first": local[0].ravel()[:32].tolist()}))
""")


def _result(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stdout[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.update(extra)
    return env


def test_data_and_fsdp_meshes_match_one_device(tmp_path):
    env = _env(XLA_FLAGS=f"--xla_force_host_platform_device_count=8 {FAST_XLA_FLAGS}", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", MESHES, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = _result(done.stdout)
    assert len(out["one"]["losses"]) == 3 and out["data2_fsdp4"]["sharded"] and not out["data8"]["sharded"]
    for name in ("data8", "data2_fsdp4"):
        np.testing.assert_allclose(out[name]["losses"], out["one"]["losses"], rtol=1e-4, err_msg=name)
        for key, value in out["one"]["params"].items():
            np.testing.assert_allclose(out[name]["params"][key], value, atol=2e-5, err_msg=f"{name} {key}")


def test_two_processes_train_together_and_agree(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _env(XLA_FLAGS=FAST_XLA_FLAGS, JAX_PLATFORMS="cpu")
    procs = [subprocess.Popen([sys.executable, "-c", PROCESS, str(port), str(i), str(tmp_path / "run")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    a, b = (_result(out) for out, _ in outs)
    assert a["processes"] == b["processes"] == 2 and a["devices"] == 2 and a["step"] == b["step"] == 3
    assert a["checksum"] == b["checksum"] and a["first"] == b["first"]
    assert (tmp_path / "run" / "checkpoints" / "3").is_dir()
