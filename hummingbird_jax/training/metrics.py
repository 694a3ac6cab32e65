"""Where training metrics go: one JSON line per logged step (``WORKDIR/metrics.jsonl``) and
TensorBoard event files (``WORKDIR/tensorboard``), written by process 0 only."""

from __future__ import annotations

import json
import os


class MetricWriter:
    def __init__(self, workdir: str, enabled: bool = True):
        self.enabled = enabled
        self._jsonl = self._tb = None
        if enabled:
            self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", buffering=1)
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

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
