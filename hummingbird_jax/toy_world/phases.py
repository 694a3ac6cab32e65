"""The toy-world run as resumable phases: each writes its outputs atomically under ``OUT/<phase>/`` and
finishes by writing ``metrics.json``; a phase whose ``metrics.json`` exists is skipped, so re-running
the same command after an interruption continues where it stopped. The teacher also resumes mid-run
from its last 50-step chunk (its params and loss history; the optimizer moments restart).

    world → curation → classifier → vae → text → reward → teacher (+ the converted model directory)
    → stage1 → stage2 (both through the training engine) → evaluate (report.md, report.json)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hummingbird_jax import registry
from hummingbird_jax.convert.prune import prune_teacher_to_student
from hummingbird_jax.curation import read_manifest
from hummingbird_jax.curation.tables import write_json
from hummingbird_jax.diffusion.sampling import SamplerSpec
from hummingbird_jax.errors import WorkdirError
from hummingbird_jax.model_dir import save_component
from hummingbird_jax.toy_world import artifacts
from hummingbird_jax.toy_world.classifier import accuracy, train_classifier
from hummingbird_jax.toy_world.clips import manifest_clips, rendered_clips
from hummingbird_jax.toy_world.curate import curate
from hummingbird_jax.toy_world.dataset import build_world
from hummingbird_jax.toy_world.evaluate import (STUDENT_SAMPLING_STEPS, compile_samplers, evaluate_model, gif_grid,
                                                report_json)
from hummingbird_jax.toy_world.presets import GUIDANCE, STAGE1_STEPS, STAGE2_STEPS, Preset, latent_size
from hummingbird_jax.toy_world.report import write_report
from hummingbird_jax.toy_world.reward import ToyVideoTextReward, retrieval_accuracy, train_reward
from hummingbird_jax.toy_world.teacher import train_teacher
from hummingbird_jax.toy_world.text_encoder import (caption_energy, context_separation, encode_captions,
                                                    init_text_encoder, toy_text_config)
from hummingbird_jax.toy_world.vae import latents_of, reconstructions, toy_vae_config, train_vae
from hummingbird_jax.toy_world.world import ClipSpec, all_specs
from hummingbird_jax.training.checkpointing import checkpoint_dir, settings_difference
from hummingbird_jax.training.config import apply_overrides, load_experiment
from hummingbird_jax.training.export import student_from_checkpoint
from hummingbird_jax.training.trainer import train

PHASES = ("world", "curation", "classifier", "vae", "text", "reward", "teacher", "stage1", "stage2", "evaluate")
HELD_OUT_SEED = 50_000  # rendering seeds of the evaluation clips for the reward model


def _curated(out: Path):
    data = np.load(out / "curation" / "clips.npz", allow_pickle=False)
    specs = [None if s == "" else tuple(s.split("|")) for s in data["specs"]]
    return data["videos"], [str(c) for c in data["captions"]], specs


def _shape_subset(videos, specs):
    keep = [i for i, s in enumerate(specs) if s is not None]
    return videos[keep], [ClipSpec(*specs[i]) for i in keep]


def phase_world(out: Path, p: Preset, progress: bool) -> dict:
    raw = build_world(out / "world", p.world, progress=progress)
    table = pd.read_csv(raw)
    return {"raw_manifest": str(raw), "clips": int(len(table)), "by_kind": table["kind"].value_counts().to_dict()}


def phase_curation(out: Path, p: Preset, progress: bool) -> dict:
    result = curate(out / "world" / "raw.csv", out / "curation", progress=progress)
    videos, captions, specs = manifest_clips(read_manifest(result["manifest"]), size=p.world.size,
                                             frames=p.world.frames)
    tmp = out / "curation" / ".clips.tmp.npz"
    np.savez(tmp, videos=videos, captions=np.array(captions),
             specs=np.array(["" if s is None else "|".join(s.labels().values()) for s in specs]))
    tmp.replace(out / "curation" / "clips.npz")
    return {"manifest": result["manifest"], "kept_by_kind": result["kept"], "training_clips": int(len(videos))}


def phase_classifier(out: Path, p: Preset, progress: bool) -> dict:
    params, history = train_classifier(p.classifier, progress=progress)
    artifacts.save_params(out / "classifier" / "params.msgpack", params)
    videos, specs = _shape_subset(*_curated(out)[::2])
    return {"accuracy_on_curated_clips": accuracy(params, videos, specs), "final_loss": history[-1],
            "loss": history}


def phase_vae(out: Path, p: Preset, progress: bool) -> dict:
    videos, _, specs = _curated(out)
    params, history = train_vae(videos.reshape(-1, *videos.shape[2:]), p.vae, progress=progress)
    artifacts.save_params(out / "vae" / "params.msgpack", params)
    latents = latents_of(params, videos)
    tmp = out / "vae" / ".latents.tmp.npy"
    np.save(tmp, latents)
    tmp.replace(out / "vae" / "latents.npy")
    recon = reconstructions(params, videos)
    mse = float(np.mean((recon - videos) ** 2))
    shape_recon, shape_specs = _shape_subset(recon, specs)
    judged = accuracy(artifacts.load_params(out / "classifier" / "params.msgpack"), shape_recon, shape_specs)
    return {"reconstruction_psnr_db": float(10 * np.log10(4.0 / mse)), "latent_std": float(latents.std()),
            "classifier_accuracy_on_reconstructions": judged, "loss": history}


def phase_text(out: Path, p: Preset, progress: bool) -> dict:
    params = init_text_encoder(p.text_seed)
    artifacts.save_params(out / "text" / "params.msgpack", params)
    _, captions, _ = _curated(out)
    contexts = encode_captions(params, captions)
    uncond = encode_captions(params, [""])[0]
    tmp = out / "text" / ".contexts.tmp.npz"
    np.savez(tmp, contexts=contexts, uncond=uncond)
    tmp.replace(out / "text" / "contexts.npz")
    every_caption = [s.caption for s in all_specs()]
    return {"context_separation": context_separation(params, every_caption + [""]),
            "caption_energy": caption_energy(params, every_caption)}


def phase_reward(out: Path, p: Preset, progress: bool) -> dict:
    """The reward learns from the curated clips and from their VAE reconstructions: stage 2 scores decoded
    frames, whose shapes are softer than any clip's (a reward trained on clips alone retrieved the caption
    of 0.86 of held-out clips but of 0.64 of their reconstructions)."""
    videos, captions, _ = _curated(out)
    vae = artifacts.load_params(out / "vae" / "params.msgpack")
    reward = ToyVideoTextReward(frames=p.world.frames, size=p.world.size)
    params, history = train_reward(np.concatenate([videos, reconstructions(vae, videos)]), captions * 2, reward,
                                   p.reward, progress=progress)
    artifacts.save_params(out / "reward" / "params.msgpack", params)
    specs = all_specs()
    held_out = rendered_clips(specs, size=p.world.size, frames=p.world.frames, seed=HELD_OUT_SEED)
    names = [s.caption for s in specs]
    return {"retrieval_accuracy_held_out": retrieval_accuracy(reward, params, held_out, names, names),
            "retrieval_accuracy_held_out_decoded": retrieval_accuracy(reward, params, reconstructions(vae, held_out),
                                                                      names, names),
            "candidates": len(names), "final_loss": history[-1], "loss": history}


def phase_teacher(out: Path, p: Preset, progress: bool) -> dict:
    folder = out / "teacher"
    latents = np.load(out / "vae" / "latents.npy")
    ctx = np.load(out / "text" / "contexts.npz")
    partial = folder / "partial.msgpack"
    params, ema, start, history = None, None, 0, []
    if partial.exists():  # resume mid-run
        saved = artifacts.load_params(partial)
        params, ema, start = saved["params"], saved["ema"], int(saved["step"])
        history = list(np.asarray(saved["history"]))

    def checkpoint(state, step, hist):
        artifacts.save_params(partial, {**state, "step": np.int64(step), "history": np.asarray(history + hist)})

    t0 = time.perf_counter()
    params, new = train_teacher(latents, ctx["contexts"], ctx["uncond"], p.teacher, fps=p.world.fps, params=params,
                                ema=ema, start_step=start, progress=progress, on_chunk=checkpoint, chunk=50)
    history = history + new
    artifacts.save_params(folder / "params.msgpack", params)
    models = out / "models"  # the converted model directory the training engine reads (models.weights)
    save_component(str(models), "unet", params, registry.unet(p.teacher.unet), metadata={"teacher": True})
    save_component(str(models), "vae", artifacts.load_params(out / "vae" / "params.msgpack"), toy_vae_config())
    save_component(str(models), "text_encoder", artifacts.load_params(out / "text" / "params.msgpack"),
                   toy_text_config())
    tail = history[-max(1, len(history) // 10):]
    return {"steps": len(history), "final_loss_mean_last_10pct": float(np.mean(tail)),
            "first_loss": float(history[0]), "seconds": time.perf_counter() - t0, "model_dir": str(models),
            "loss": [float(x) for x in history]}


def _engine_run(out: Path, p: Preset, name: str, overrides: tuple[str, ...] = ()) -> dict:
    """Runs ``hummingbird_jax/toy_world/<name>.py`` (variant = preset) with the training engine, with the
    same ``--set key=value`` overrides ``hummingbird train`` takes."""
    config = load_experiment(str(Path(__file__).with_name(f"{name}.py")), p.name)
    apply_overrides(config, [f"models.weights={out / 'models'}", f"data.path={out / 'curation' / 'manifest.csv'}",
                             *overrides])
    workdir = out / name / "run"
    train(config, str(workdir))
    steps = sorted(int(d.name) for d in Path(checkpoint_dir(str(workdir))).iterdir() if d.name.isdigit())
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rewards = sorted(k for k in records[-1] if k.startswith("reward/"))
    return {"checkpoint": str(Path(checkpoint_dir(str(workdir))) / str(steps[-1])), "steps": steps[-1],
            "final_loss": records[-1]["loss"], "loss": [r["loss"] for r in records],
            "metrics_logged": sorted(records[-1]), **{k: [r[k] for r in records] for k in rewards}}


def phase_stage1(out: Path, p: Preset, progress: bool) -> dict:
    return _engine_run(out, p, "stage1")


def phase_stage2(out: Path, p: Preset, progress: bool) -> dict:
    stage1 = artifacts.load_json(out / "stage1" / "metrics.json")["checkpoint"]
    return _engine_run(out, p, "stage2", (f"models.student_init={stage1}",
                                          f"rewards.video_text.checkpoint={out / 'reward' / 'params.msgpack'}"))


def phase_evaluate(out: Path, p: Preset, progress: bool) -> dict:
    everything = all_specs()
    pick = np.linspace(0, len(everything) - 1, min(p.eval_prompts, len(everything))).round().astype(int)
    specs = [everything[i] for i in pick]
    text = artifacts.load_params(out / "text" / "params.msgpack")
    contexts, uncond = encode_captions(text, [s.caption for s in specs]), encode_captions(text, [""])[0]
    teacher_cfg, teacher = registry.unet(p.teacher.unet), artifacts.load_params(out / "teacher" / "params.msgpack")
    stage1, stage1_cfg = student_from_checkpoint(artifacts.load_json(out / "stage1" / "metrics.json")["checkpoint"])
    stage2, stage2_cfg = student_from_checkpoint(artifacts.load_json(out / "stage2" / "metrics.json")["checkpoint"])
    pruned = prune_teacher_to_student(teacher, stage1_cfg, teacher_cfg)
    vae_cfg = toy_vae_config()
    latent_shape = (p.world.frames, *latent_size(p.world.size), vae_cfg.embed_dim)
    common = dict(vae_cfg=vae_cfg, vae_params=artifacts.load_params(out / "vae" / "params.msgpack"),
                  classifier_params=artifacts.load_params(out / "classifier" / "params.msgpack"),
                  contexts=contexts, uncond=uncond, specs=specs, latent_shape=latent_shape)
    spec = functools.partial(SamplerSpec, guidance=GUIDANCE, fps=p.world.fps)  # at the clips' frame rate
    runs = [("teacher", teacher_cfg, teacher, spec("ddim_cfg", p.teacher_sampling_steps)),
            ("student_pruned", stage1_cfg, pruned, spec("ddim_cfg", 4)),
            ("student_stage1", stage1_cfg, stage1, spec("ddim", 4))]
    runs += [(f"student_stage2_{s}", stage2_cfg, stage2, spec("lcm", s))
             for s in STUDENT_SAMPLING_STEPS]
    print(f"[evaluate] compiling {len(runs)} samplers", flush=True)
    batch_size = min(8, len(specs))
    programs = compile_samplers(runs, uncond, latent_shape=latent_shape, batch_size=batch_size)
    results, videos = {}, {}
    for (name, cfg, params, spec), program in zip(runs, programs):
        print(f"[evaluate] sampling {name} ({spec.method}, {spec.steps} steps)", flush=True)
        results[name], videos[name] = evaluate_model(name, cfg, params, spec, **common, compiled=program,
                                                     batch_size=batch_size)
    shown = _one_prompt_per_motion(specs)
    columns = {"teacher": "teacher", "student_pruned": "pruned", "student_stage1": "stage 1",
               "student_stage2_4": "stage 2, 4 steps"}
    gif_grid({label: videos[k][shown] for k, label in columns.items()}, out / "samples.gif",
             [specs[i].caption for i in shown], rows=len(shown), scale=3)
    summary = report_json(results)
    write_json(summary, out / "report.json")
    write_report(out, results, p)
    return {"results": results, "report_json": summary}


SETTINGS_FILE = "settings.json"


def run_settings(preset: Preset) -> dict:
    """Everything a preset fixes about a run: its sizes, step counts and guidance (``OUT/settings.json``)."""
    return {"preset": preset.name, **dataclasses.asdict(preset), "stage1_steps": STAGE1_STEPS[preset.name],
            "stage2_steps": STAGE2_STEPS[preset.name], "guidance": GUIDANCE}


def claim_folder(out: Path, preset: Preset) -> None:
    """Records the run's settings in a new folder; refuses a folder whose finished phases were made with
    other settings (their outputs would be mixed into this run's report)."""
    wanted = run_settings(preset)
    record = out / SETTINGS_FILE
    if record.exists():
        have = artifacts.load_json(record)
        differ = settings_difference(have, wanted, first=("preset",))
        if differ:
            raise WorkdirError(f"{out} holds a run of preset {have.get('preset')!r} with other settings "
                               f"({differ}); resume it with the same preset or choose a new --out")
        return
    finished = sorted(p.parent.name for p in out.glob("*/metrics.json") if p.parent.name in PHASES)
    if finished:
        raise WorkdirError(f"{out} has finished phases ({', '.join(finished)}) but no {SETTINGS_FILE} saying "
                           f"which settings made them; choose a new --out")
    write_json(wanted, record)


def _one_prompt_per_motion(specs) -> list[int]:
    """Indices of the first prompt asking for each motion (the GIF grid's rows)."""
    first = {}
    for i, spec in enumerate(specs):
        first.setdefault(spec.motion, i)
    return sorted(first.values())


def run_phases(out, preset: Preset, phases=PHASES, progress: bool = True, log=print) -> dict:
    """Runs (or skips, when done) each phase; returns ``{phase: metrics}``. A folder is resumed only by
    the preset and settings that started it (:func:`claim_folder`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    claim_folder(out, preset)
    runners = {name: globals()[f"phase_{name}"] for name in PHASES}
    results = {}
    for name in phases:
        done = out / name / "metrics.json"
        if done.exists():
            log(f"[{name}] done already ({done}); skipping")
            results[name] = artifacts.load_json(done)
            continue
        log(f"[{name}] running")
        t0 = time.perf_counter()
        metrics = runners[name](out, preset, progress)
        metrics["phase_seconds"] = time.perf_counter() - t0
        write_json(metrics, done)
        log(f"[{name}] finished in {metrics['phase_seconds']:.1f} s")
        results[name] = metrics
    return results
