"""``hummingbird demo --preset smoke|default|full --out DIR``: the whole method on the toy world.

Synthesises a captioned text-video world (real mp4 files), curates it with the data pipeline, trains
a judge classifier, a small VAE, a video-text reward and a teacher U-Net, prunes and distils the
student through the training engine (stage 1, stage 2), then evaluates teacher and students and
writes ``DIR/report.md`` and ``DIR/report.json``. Re-running the same command resumes: finished
phases are skipped.
"""

from __future__ import annotations

import os
import shlex
import sys

from hummingbird_jax import toy_world  # lazy facade: the phases (Grain, Orbax) load on first use, not on --help
from hummingbird_jax.errors import CommandError, Interrupted
from hummingbird_jax.toy_world.presets import PRESETS, get_preset


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="end-to-end Hummingbird run on a synthetic text-video world (CPU)")
    p.add_argument("--preset", choices=PRESETS, default="default",
                   help="smoke (a quick check), default (the README's run), full (longer, better)")
    p.add_argument("--out", required=True, help="output folder (phases resume from what is already there)")
    p.set_defaults(func=run)


def run(args) -> int:
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CommandError(f"--out {args.out!r} exists and is not a folder")
    try:
        results = toy_world.run_phases(args.out, get_preset(args.preset), progress=True,
                             log=lambda message: print(message, flush=True))
    except Interrupted as stop:
        command = shlex.join(["hummingbird", *sys.argv[1:]])
        raise Interrupted(stop.signum, f"{stop}; finished phases are kept, resume with: {command}") from None
    summary = results["evaluate"]["report_json"]
    print(f"report: {os.path.join(args.out, 'report.md')} and report.json")
    for name in ("teacher", "student_pruned", "student_stage1", "student_stage2"):
        r = summary[name]
        print(f"  {name:15s} steps {r['steps']:2d}  semantic accuracy {r['semantic_accuracy']:.3f}  "
              f"latency {r['latency_s']:.4f} s/video  params {r['params']:,}")
    return 0
