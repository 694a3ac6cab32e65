"""``hummingbird train EXPERIMENT --workdir DIR [--variant tiny] [--set key=value ...]``.

Runs (or resumes: re-run the same command) an experiment config, a Python file such as
``experiments/stage2_turbo.py``.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys

from hummingbird_jax import training  # lazy facade: Grain and Orbax load on first use, not on --help
from hummingbird_jax.errors import CommandError, Interrupted
from hummingbird_jax.training.config import apply_overrides, load_experiment


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a stage-1 or stage-2 experiment (resumes from WORKDIR)")
    p.add_argument("experiment", help="experiment file (experiments/stage2_turbo.py) or bare name "
                   "(stage2_turbo: experiments/stage2_turbo.py under the current directory)")
    p.add_argument("--workdir", required=True, help="run directory: checkpoints/, metrics.jsonl, tensorboard/")
    p.add_argument("--variant", default="full", help="config variant: full (default) or tiny (2-core CPU smoke run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=3e-5 --set mesh.fsdp=4 (repeatable)")
    p.set_defaults(func=run)


def run(args) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("hummingbird_jax").setLevel(logging.INFO)
    if os.path.exists(args.workdir) and not os.path.isdir(args.workdir):
        raise CommandError(f"--workdir {args.workdir} exists and is not a directory (expected a run directory)")
    try:
        config = apply_overrides(load_experiment(args.experiment, args.variant), args.overrides)
        training.validate(config)
    except (KeyError, ValueError) as err:
        raise CommandError(str(err).strip("'\"")) from None
    try:
        result = training.train(config, args.workdir)
    except Interrupted as stop:
        command = shlex.join(["hummingbird", *sys.argv[1:]])
        raise Interrupted(stop.signum, f"{stop}; resume with: {command}") from None
    step = int(result["start_step"]) if result.get("finished") else int(result["state"]["step"])
    if result.get("finished"):
        print(f"already finished: {args.workdir} is at step {step} (total_steps {config.total_steps}); nothing to do "
              "(--set total_steps=N trains further)")
        return 0
    last = result["history"][-1] if result["history"] else {}
    loss = f" (loss {last['loss']:.5g})" if "loss" in last else ""
    print(f"trained to step {step}{loss}; checkpoints in {args.workdir}/checkpoints")
    return 0
