"""Ctrl-C and SIGTERM stop ``hummingbird train`` cleanly (real processes): exit 130, no traceback, no
temporary checkpoint directory, one line saying how to resume; a second Ctrl-C quits at once; the
resumed run logs every step once. A workdir refuses another experiment, and a finished run returns
at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import FAST_XLA_FLAGS

from hummingbird_jax import cli
from hummingbird_jax.errors import Interrupted
from hummingbird_jax.training.interruption import StopRequest

TOTAL = 6
RUN = ["-m", "hummingbird_jax.cli", "train", "stage1_distill", "--variant", "tiny", "--set", f"total_steps={TOTAL}",
       "--set", "checkpoint_every=100", "--set", "log_every=1"]


def _env(cache) -> dict:
    env = dict(os.environ, XLA_FLAGS=FAST_XLA_FLAGS, PYTHONUNBUFFERED="1")
    if cache is not None:  # one persistent compilation cache for the runs of the same program
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    return env


class Run:
    """A ``hummingbird train`` process with its stderr in a file that can be watched."""

    def __init__(self, workdir, log, cache):
        self.workdir, self.log = workdir, log
        self._err = open(log, "w")
        self.process = subprocess.Popen([sys.executable, *RUN, "--workdir", str(workdir)], env=_env(cache),
                                        stdout=self._err, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text()

    def compiling(self) -> bool:
        return "train:" in self.text() and "compiled the step" not in self.text()

    def logged_steps(self) -> int:
        path = self.workdir / "metrics.jsonl"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def wait_for(self, condition, timeout=600.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.process.poll() is None, f"the run ended before it could be interrupted:\n{self.text()[-2000:]}"

    def finish(self, timeout=600.0) -> int:
        code = self.process.wait(timeout=timeout)
        self._err.close()
        return code


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupt")
    cache = root / "cache"
    # Phase 1, side by side: Ctrl-C while the step compiles; Ctrl-C mid-training.
    compile_run = Run(root / "compile", root / "compile.log", cache)
    mid_run = Run(root / "mid", root / "mid.log", cache)
    compile_run.wait_for(compile_run.compiling)
    compile_run.process.send_signal(signal.SIGINT)
    mid_run.wait_for(lambda: mid_run.logged_steps() >= 2)
    mid_run.process.send_signal(signal.SIGINT)
    out = {"compile": (compile_run.finish(), compile_run.text()), "mid": (mid_run.finish(), mid_run.text())}
    out["mid_checkpoints"] = sorted(os.listdir(root / "mid" / "checkpoints"))
    out["mid_logged"] = mid_run.logged_steps()
    # A save killed outright (SIGKILL) leaves a temporary directory; the next run removes it.
    (root / "mid" / "checkpoints" / "5.orbax-checkpoint-tmp-1234").mkdir()
    # Phase 2, side by side: the resumed run; Ctrl-C twice while the step is traced and compiled.
    resumed = Run(root / "mid", root / "resumed.log", cache)
    twice = Run(root / "twice", root / "twice.log", cache)
    twice.wait_for(twice.compiling)
    twice.process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    sent = time.monotonic()
    twice.process.send_signal(signal.SIGINT)
    out["twice"] = (twice.finish(), twice.text(), time.monotonic() - sent)
    out["resumed"] = (resumed.finish(), resumed.text())
    out["root"] = root
    return out


def _assert_clean(code, text, expected=130):
    assert code == expected, text[-3000:]
    for bad in ("Traceback", "Segmentation", "Exception in thread", "KeyboardInterrupt"):
        assert bad not in text, text[-3000:]


@pytest.mark.slow
def test_ctrl_c_during_compilation_exits_130_with_how_to_resume(runs):
    code, text = runs["compile"]
    _assert_clean(code, text)
    last = text.strip().splitlines()[-1]
    assert "stopped at step 0 of 6" in last and "resume with: hummingbird train stage1_distill" in last
    checkpoints = runs["root"] / "compile" / "checkpoints"
    assert not checkpoints.exists() or not os.listdir(checkpoints)


@pytest.mark.slow
def test_ctrl_c_mid_training_saves_the_step_reached_and_leaves_no_temporary_directory(runs):
    code, text = runs["mid"]
    _assert_clean(code, text)
    steps = [name for name in runs["mid_checkpoints"] if name.isdigit()]
    assert steps and not [n for n in runs["mid_checkpoints"] if "tmp" in n]
    assert 2 <= int(steps[-1]) < TOTAL and runs["mid_logged"] >= int(steps[-1])
    assert "resume with:" in text.strip().splitlines()[-1]


@pytest.mark.slow
def test_resumed_run_logs_every_step_once_and_removes_leftover_temporary_directories(runs):
    code, text = runs["resumed"]
    _assert_clean(code, text, expected=0)
    assert "resumed from" in text
    steps = [json.loads(line)["step"] for line in (runs["root"] / "mid" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, TOTAL + 1))
    assert not [n for n in os.listdir(runs["root"] / "mid" / "checkpoints") if "tmp" in n]


@pytest.mark.slow
def test_second_ctrl_c_quits_at_once_without_a_crash(runs):
    code, text, seconds = runs["twice"]
    _assert_clean(code, text)
    assert seconds < 10 and "quitting now" in text


@pytest.mark.slow
def test_finished_run_returns_at_once(runs, capsys):
    start = time.perf_counter()
    assert cli.main(RUN[2:] + ["--workdir", str(runs["root"] / "mid")]) == 0
    out = capsys.readouterr().out
    assert "already finished" in out and "nan" not in out
    assert time.perf_counter() - start < 20


@pytest.mark.slow
def test_a_workdir_refuses_another_experiment_in_one_line(runs, capsys):
    argv = ["train", "stage2_turbo", "--variant", "tiny", "--workdir", str(runs["root"] / "mid")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "belongs to another run" in err[0] and "stage: 'stage1' there, 'stage2' here" in err[0]


def test_sigterm_is_a_stop_request_with_exit_code_143():
    before = signal.getsignal(signal.SIGTERM)  # not always SIG_DFL: ray.init installs its own
    with StopRequest(announce=False) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not stop.requested and time.monotonic() < deadline:
            time.sleep(0.01)
    assert stop.signum == signal.SIGTERM
    assert Interrupted(stop.signum, "stopped").exit_code == 143
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back
