"""``hummingbird train EXPERIMENT --workdir DIR [--variant tiny] [--set key=value ...]``.

Runs (or resumes: re-run the same command) an experiment config from ``experiments/``.
"""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a stage-1 or stage-2 experiment (resumes from WORKDIR)")
    p.add_argument("experiment", help="experiment file (experiments/stage2_turbo.py) or module name (stage2_turbo)")
    p.add_argument("--workdir", required=True, help="run directory: checkpoints/, metrics.jsonl, tensorboard/")
    p.add_argument("--variant", default="full", help="config variant: full (default) or tiny (2-core CPU smoke run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=3e-5 --set mesh.fsdp=4 (repeatable)")
    p.set_defaults(func=run)


def run(args) -> int:
    import logging

    from hummingbird_jax.cli import CommandError
    from hummingbird_jax.training.config import apply_overrides, load_experiment

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("hummingbird_jax").setLevel(logging.INFO)
    try:
        config = apply_overrides(load_experiment(args.experiment, args.variant), args.overrides)
        from hummingbird_jax.training.trainer import train, validate

        validate(config)
    except (KeyError, ValueError) as err:
        raise CommandError(str(err).strip("'\"")) from None
    result = train(config, args.workdir)
    last = result["history"][-1] if result["history"] else {}
    step = int(result["state"]["step"])
    print(f"trained to step {step} (loss {last.get('loss', float('nan')):.5g}); checkpoints in {args.workdir}/checkpoints")
    return 0
