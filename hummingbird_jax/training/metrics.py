"""Where training metrics go: one JSON line per logged step (``WORKDIR/metrics.jsonl``) and
TensorBoard event files (``WORKDIR/tensorboard``), written by process 0 only.

A resumed run replays the steps after its checkpoint, so the writer first forgets what was logged
after the restored step: ``metrics.jsonl`` is cut back to it, and TensorBoard is told to purge
later events. Each step then appears once.
"""

from __future__ import annotations

import json
import os

METRICS_FILE = "metrics.jsonl"


def truncate_metrics(path: str, step: int) -> int:
    """Keep the records of steps ``<= step`` (and drop a torn last line); returns the lines dropped."""
    if not os.path.isfile(path):
        return 0
    with open(path) as fh:
        lines = fh.read().splitlines()
    kept = []
    for line in lines:
        try:
            if int(json.loads(line)["step"]) <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a line torn by a killed process
    if len(kept) != len(lines):
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("".join(line + "\n" for line in kept))
        os.replace(tmp, path)
    return len(lines) - len(kept)


class MetricWriter:
    def __init__(self, workdir: str, enabled: bool = True, start_step: int = 0):
        self.enabled = enabled
        self._jsonl = self._tb = None
        if enabled:
            path = os.path.join(workdir, METRICS_FILE)
            truncate_metrics(path, start_step)
            self._jsonl = open(path, "a", buffering=1)
            from tensorboardX import SummaryWriter

            # purge_step: TensorBoard drops the events of the replayed steps written by the earlier run.
            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                                     purge_step=start_step + 1 if start_step else None)

    def write(self, step: int, scalars: dict) -> None:
        if not self.enabled:
            return
        self._jsonl.write(json.dumps({"step": int(step), **{k: float(v) for k, v in scalars.items() if k != "step"}})
                          + "\n")
        for name, value in scalars.items():
            if name != "step":
                self._tb.add_scalar(name, float(value), int(step))

    def close(self) -> None:
        if self.enabled:
            self._jsonl.close()
            self._tb.close()


def step_flops(compiled, num_devices: int) -> float:
    """FLOPs of one step over all devices, from XLA's cost analysis of the compiled (per-device)
    program; 0 when the backend reports none."""
    try:
        cost = compiled.cost_analysis()
    except Exception:  # some backends do not implement it
        return 0.0
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0)) * num_devices
