"""Compiled memory of the HPSv2.1 reward gradient: decode K latent frames, score them, back-propagate.

This is the image-reward part of a stage-2 training step: ``grad(score(decode(latents)))`` w.r.t.
the latents, with the full SD KL-f8 VAE and the full OpenCLIP ViT-H-14. It only lowers and compiles
(params and inputs are ``ShapeDtypeStruct`` s from ``jax.eval_shape``; nothing full-size is
allocated or run) and reads XLA's memory analysis, for three settings: no checkpointing, a
checkpointed VAE decode, and a checkpointed decode plus frame-by-frame checkpointed image encoding.

    python -m benchmarks.reward_memory                  # K=5 frames at 320x512, fp32

Writes ``benchmarks/results/reward_memory[_<dtype>].{json,md}``.
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp

from hummingbird_jax import registry
from hummingbird_jax.benchmarking import report
from hummingbird_jax.models.vae import decode_video_latents, vae_param_shapes
from hummingbird_jax.rewards.hps import HPSv2Reward

SETTINGS = (  # (checkpointed VAE decode, checkpointed image encoding)
    (False, False),
    (True, False),
    (True, True),
)


def reward_gradient_memory(frames: int, height: int, width: int, dtype: str, remat_decode: bool, remat_reward: bool) -> dict:
    vae_cfg = registry.vae("sd-kl-f8", dtype=dtype, param_dtype=dtype)
    reward = HPSv2Reward(registry.reward_config("hpsv2", "vit-h-14", 1), dtype=jnp.dtype(dtype), remat=remat_reward)
    f = vae_cfg.downsample_factor
    latents = jax.ShapeDtypeStruct((1, frames, height // f, width // f, vae_cfg.embed_dim), jnp.float32)
    tokens = jax.ShapeDtypeStruct((1, reward.config.text.context_length), jnp.int32)
    params = {"vae": vae_param_shapes(vae_cfg), "hps": reward.params_shapes()}

    def loss(lat, p, tok):
        video = decode_video_latents(p["vae"], lat, vae_cfg, remat=remat_decode)
        frames01 = jnp.clip((video + 1.0) / 2.0, 0.0, 1.0)
        return -jnp.sum(reward.score(p["hps"], frames01, tok))

    return {"remat_decode": remat_decode, "remat_reward": remat_reward,
            **report.compiled_memory(jax.grad(loss), latents, params, tokens)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    report.add_video_memory_arguments(ap)
    args = ap.parse_args(argv)

    rows = []
    for remat_decode, remat_reward in SETTINGS:
        row = reward_gradient_memory(args.frames, args.height, args.width, args.dtype, remat_decode, remat_reward)
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = report.video_memory_result(
        "grad w.r.t. latents of -HPSv2.1(decode_video_latents(latents)), SD KL-f8 VAE + OpenCLIP ViT-H-14", args, rows)
    yes_no = {True: "yes", False: "no"}
    lines = report.video_memory_markdown(
        result,
        f"HPSv2.1 reward gradient memory: decode + score {args.frames} frames at {args.height}x{args.width}, {args.dtype}",
        ["XLA compiled memory analysis of `grad(-score(decode(latents)))`;",
         f"VAE and ViT-H-14 params are arguments ({rows[0]['argument_bytes'] / 2**20:,.0f} MiB). Compiled only, never run."],
        {"checkpointed decode": lambda r: yes_no[r["remat_decode"]],
         "checkpointed image encoding": lambda r: yes_no[r["remat_reward"]]},
    )
    stem = report.video_memory_stem("reward_memory", args.dtype)
    print("wrote", *report.write_results(stem, result, "\n".join(lines)))


if __name__ == "__main__":
    main()
