"""The whole text-to-video generation through the official PyTorch modules, timed stage by stage in
float32 and under ``torch.autocast(dtype=torch.bfloat16)``, beside the JAX run of ``bench latency``.

Same weights (the JAX float32 params converted, see :mod:`hummingbird_jax.benchmarking.official`), same
prompts and tokens, same initial latents and per-step noise (the JAX draws), same sampler, steps,
guidance and fps, so the official float32 video is the JAX float32 video up to float rounding.

The sampling loop is written here around the official U-Net: the official LCM scheduler
(``scheduler/t2v_turbo_scheduler.py``) needs ``diffusers`` and the official ``DDIMSampler`` pins its
buffers to CUDA, and both draw their own noise. Its constants come from :mod:`hummingbird_jax.diffusion`
(``lcm_timesteps``, ``alphas_cumprod``, ``boundary_scalings``, ``vc2_ddim_schedule``, the guidance
embedding), which the sampler parity tests pin to the official code; the arithmetic is float32, as in
the official pipeline and in the JAX sampler, whatever the U-Net computes in.

PyTorch runs on CUDA when ``torch.cuda.is_available()`` (compare like with like on a GPU machine), else
on the CPU; every stage is timed after a device synchronisation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import time
from typing import Any, Sequence

import jax.numpy as jnp
import numpy as np

from hummingbird_jax.benchmarking import official
from hummingbird_jax.diffusion.samplers import (
    VC2_DDIM_ETA,
    lcm_timesteps,
    vc2_ddim_schedule,
)
from hummingbird_jax.diffusion.sampling import SamplerSpec
from hummingbird_jax.diffusion.schedule import alphas_cumprod, boundary_scalings
from hummingbird_jax.models.embeddings import guidance_embedding
from hummingbird_jax.text import tokenize
from hummingbird_jax.video_io import to_uint8

PRECISIONS = ("float32", "bfloat16")
STAGES = ("text", "unet_step", "unet_loop", "vae_decode", "end_to_end")


@dataclasses.dataclass
class OfficialPipeline:
    """The official text embedder, U-Net and VAE decoder with one bundle's weights, and how to sample."""

    text: Any
    unet: Any
    vae: Any
    spec: SamplerSpec
    context_length: int
    scale_factor: float
    time_cond_proj_dim: int | None
    device: str
    modules: dict

    @classmethod
    def build(cls, code_dir: str, bundle, steps: int, threads: int | None = None) -> "OfficialPipeline":
        """From a float32 :class:`~hummingbird_jax.inference.TextToVideo` (its weights and default sampler);
        ``threads`` sets PyTorch's intra-op threads (default: its own choice)."""
        import torch  # deferred: PyTorch is needed only with --torch-reference

        if bundle.dtype != "float32":
            raise ValueError(f"the official reference takes float32 weights, got a {bundle.dtype} bundle")
        if threads:
            # On a shared machine PyTorch's per-op thread barriers suffer most from oversubscription.
            torch.set_num_threads(threads)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        text = official.build_text_encoder(code_dir, bundle.text_config, bundle.params["text_encoder"])
        unet = official.build_unet(code_dir, bundle.unet_config, bundle.params["unet"])
        vae = official.build_vae_decoder(code_dir, bundle.vae_config, bundle.params["vae"])
        spec = bundle.default_sampler.replace(steps=steps)
        modules = {
            "text": f"{official.TEXT_MODULE}.FrozenOpenCLIPEmbedder.encode_with_transformer over an OpenCLIP "
                    "text tower rebuilt from torch.nn (open_clip's names and block)",
            "unet": f"{official.official_target(bundle.unet_config)}.UNetModel",
            "sampler": f"{spec.method} loop around the official U-Net, constants of hummingbird_jax.diffusion",
            "vae_decode": f"{official.VAE_MODULE}.Decoder after post_quant_conv, frame by frame",
        }
        return cls(text.to(device), unet.to(device), vae.to(device), spec, bundle.text_config.context_length,
                   bundle.vae_config.scale_factor, bundle.unet_config.time_cond_proj_dim, device, modules)

    def describe(self) -> dict:
        """Where and how the official code ran, for the results."""
        import torch  # deferred: PyTorch is needed only with --torch-reference

        return {"device": self.device, "threads": torch.get_num_threads(), "torch": torch.__version__,
                "modules": self.modules,
                "weights": "the JAX float32 weights through hummingbird_jax.convert, loaded with strict=True",
                "bfloat16": f"torch.autocast({self.device!r}, dtype=torch.bfloat16)"}

    def _sync(self):
        import torch  # deferred: PyTorch is needed only with --torch-reference

        if self.device == "cuda":
            torch.cuda.synchronize()

    def _tensor(self, array, dtype=None):
        import torch  # deferred: PyTorch is needed only with --torch-reference

        return torch.from_numpy(np.array(array, dtype)).to(self.device)  # a writable, contiguous copy

    def encode(self, prompts: Sequence[str]):
        return self.text.encode_with_transformer(self._tensor(tokenize(list(prompts), self.context_length), np.int64))

    def precision(self, name: str):
        """The context a generation runs in: float32 as built, or bfloat16 autocast."""
        import torch  # deferred: PyTorch is needed only with --torch-reference

        if name == "float32":
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=torch.bfloat16)

    # ---- sampling loops (float32 arithmetic; the U-Net's output is read as float32 noise) -------------
    def _eps(self, x, t: int, context, fps, cond=None):
        import torch  # deferred: PyTorch is needed only with --torch-reference

        ts = torch.full((x.shape[0],), int(t), dtype=torch.long, device=self.device)
        kwargs = {} if cond is None else {"timestep_cond": cond}
        return self.unet(x, ts, context=context, fps=fps, **kwargs).float()

    def _lcm(self, x, context, fps, noise, guidance: float):
        """The official pipeline's LCM multistep loop (``T2VTurboScheduler.step``); returns ``denoised``."""
        cond = None
        if self.time_cond_proj_dim is not None:
            cond = self._tensor(guidance_embedding(jnp.full((x.shape[0],), guidance), self.time_cond_proj_dim))
        ts = lcm_timesteps(self.spec.steps)
        ac = alphas_cumprod()
        one = np.float32(1.0)
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else t  # the last step re-noises to its own t
            eps = self._eps(x, t, context, fps, cond)
            c_skip, c_out = (float(np.asarray(v)) for v in boundary_scalings(t))
            x0 = (x - float(np.sqrt(one - ac[t])) * eps) / float(np.sqrt(ac[t]))
            denoised = c_out * x0 + c_skip * x
            x = float(np.sqrt(ac[t_prev])) * denoised + float(np.sqrt(one - ac[t_prev])) * noise[i]
        return denoised

    def _ddim(self, x, context, uncond, fps, noise, guidance: float | None):
        """VideoCrafter2's ``p_sample_ddim`` loop (eta 1, CFG in one batched call, ``scale_arr`` as the spec says)."""
        import torch  # deferred: PyTorch is needed only with --torch-reference

        sched = vc2_ddim_schedule(self.spec.steps, VC2_DDIM_ETA)
        b = x.shape[0]
        for i, index in enumerate(range(len(sched.timesteps) - 1, -1, -1)):
            t, a, a_prev, sigma, s, s_prev = (v[index] for v in sched)
            if guidance is None:
                eps = self._eps(x, t, context, fps)
            else:
                both = self._eps(torch.cat([x, x]), t, torch.cat([context, uncond]), torch.cat([fps, fps]))
                eps = both[b:] + guidance * (both[:b] - both[b:])
            pred_x0 = (x - float(np.sqrt(np.float32(1.0) - a)) * eps) / float(np.sqrt(a))
            if self.spec.scale_arr:
                pred_x0 = pred_x0 * float(s_prev / s)
            dir_xt = float(np.sqrt(np.maximum(np.float32(1.0) - a_prev - sigma**2, np.float32(0.0)))) * eps
            x = float(np.sqrt(a_prev)) * pred_x0 + dir_xt + float(sigma) * noise[i]
        return x

    def generate(self, prompts: Sequence[str], latents, noise, *, fps: int, guidance: float,
                 precision: str) -> tuple[np.ndarray, dict]:
        """One whole generation → (float video ``(b, t, H, W, 3)``, seconds per stage).

        ``latents (b, t, h, w, c)`` and ``noise (rows, b, t, h, w, c)`` are the JAX draws (channels last).
        """
        import torch  # deferred: PyTorch is needed only with --torch-reference

        x = self._tensor(np.transpose(np.asarray(latents, np.float32), (0, 4, 1, 2, 3)))
        noise = self._tensor(np.transpose(np.asarray(noise, np.float32), (0, 1, 5, 2, 3, 4)))
        fps_t = torch.full((x.shape[0],), fps, dtype=torch.long, device=self.device)
        with torch.inference_mode(), self.precision(precision):
            begin = time.perf_counter()
            context = self.encode(prompts).float()
            self._sync()
            text_s = time.perf_counter() - begin
            # As in the JAX pipeline, CFG's empty-prompt context is encoded outside the text and loop stages.
            uncond = self.encode([""] * len(prompts)).float() if self.spec.guided else None
            start = time.perf_counter()
            if self.spec.method == "lcm":
                denoised = self._lcm(x, context, fps_t, noise, guidance)
            else:
                denoised = self._ddim(x, context, uncond, fps_t, noise, guidance if self.spec.guided else None)
            self._sync()
            loop_s = time.perf_counter() - start
            start = time.perf_counter()
            video = official.decode_latents(self.vae, denoised, self.scale_factor).float()
            self._sync()
            vae_s = time.perf_counter() - start
            video = np.transpose(video.cpu().numpy(), (0, 2, 3, 4, 1))  # b c t h w -> b t h w c
            to_uint8(video)
            end_s = time.perf_counter() - begin
        return video, {"text": text_s, "unet_loop": loop_s, "unet_step": loop_s / self.spec.steps,
                       "vae_decode": vae_s, "end_to_end": end_s}


def _summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs_s": times}


def time_precisions(pipe: OfficialPipeline, prompts, latents, noise, *, fps: int, guidance: float, warmup: int,
                    repeats: int, log=print) -> tuple[dict, dict]:
    """Every precision's stages (median/min/max over ``repeats`` after ``warmup``) and its last video."""
    stages, videos = {}, {}
    for precision in PRECISIONS:
        runs = []
        for index in range(warmup + repeats):
            video, record = pipe.generate(prompts, latents, noise, fps=fps, guidance=guidance, precision=precision)
            if index >= warmup:
                runs.append(record)
            log(f"official PyTorch {precision} {'timed' if index >= warmup else 'warm-up'} run "
                f"{index + 1}/{warmup + repeats}: text {record['text']:.3f} s, U-Net {record['unet_step']:.3f} "
                f"s/step, VAE {record['vae_decode']:.2f} s, end to end {record['end_to_end']:.2f} s")
        stages[precision] = {name: _summary([r[name] for r in runs]) for name in STAGES}
        videos[precision] = video
    return stages, videos


def compare(jax_stages: dict, torch_stages: dict) -> dict:
    """Per stage: which PyTorch precision is faster ("best"), and JAX/PyTorch median-time ratios."""
    out = {}
    for name in STAGES:
        medians = {p: torch_stages[p][name]["median_s"] for p in PRECISIONS}
        best = min(PRECISIONS, key=medians.get)
        jax_s = jax_stages[name]["median_s"]
        out[name] = {"best_torch": best, "best_torch_median_s": medians[best],
                     **{f"jax_to_torch_{p}": jax_s / medians[p] for p in PRECISIONS},
                     "jax_to_best_torch": jax_s / medians[best]}
    return out


def markdown(result: dict) -> list[str]:
    """The side-by-side table of the JAX and official stages, and the video errors."""
    ref, st, s = result["torch_reference"], result["stages"], result["setup"]
    titles = {"text": "text encoding", "unet_step": "U-Net step", "unet_loop": f"U-Net loop ({s['steps']} steps)",
              "vae_decode": f"VAE decode ({s['frames']} frames)", "end_to_end": "end to end"}
    lines = ["", f"## Official PyTorch, same weights and noise ({ref['device']}, {ref['threads']} threads)", "",
             f"| stage | JAX {s['dtype']} (s) | PyTorch float32 (s) | PyTorch bf16 autocast (s) | JAX / PyTorch fp32 "
             "| JAX / PyTorch bf16 | JAX / best PyTorch |", "|---|---|---|---|---|---|---|"]
    for name, title in titles.items():
        torch_s = [ref["stages"][p][name]["median_s"] for p in PRECISIONS]
        r = ref["ratios"][name]
        lines.append(f"| {title} | {st[name]['median_s']:.3f} | {torch_s[0]:.3f} | {torch_s[1]:.3f} | "
                     f"{r['jax_to_torch_float32']:.2f} | {r['jax_to_torch_bfloat16']:.2f} | "
                     f"{r['jax_to_best_torch']:.2f} ({r['best_torch']}) |")
    lines += ["", "Medians; a ratio below 1 means JAX is faster. Modules: "
              + "; ".join(f"{k}: `{v}`" for k, v in ref["modules"].items()) + "."]
    return lines
