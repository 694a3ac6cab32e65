"""Every named model of the project, in one table per kind, and how each U-Net samples by default.

One name means one model everywhere: ``hummingbird generate --random-init``, ``hummingbird info``, the
benchmarks, the experiment configs (``models.student``, ``models.vae``, ``rewards.*.size``), the toy world
and the tests all look names up here, and an unknown name is a :class:`~hummingbird_jax.errors.ConfigError`
that lists the known ones. The models' own variants stay beside them (``UNet3DConfig.vc2_teacher``,
``VAEConfig.sd_kl_f8``, ``CLIPTextConfig.vit_h_14`` …, as big_vision keeps ``decode_variant`` beside
its ViT); this module names them, defines the reduced-width ones used on CPUs, and pairs each U-Net
with the VAE and text tower its latents and context come from.

The reduced-width models, each for a different job:

* ``tiny-0.7b``: the 0.7B student's four levels at 32 channels, with the ``tiny-f8`` VAE and the
  ``tiny-w48`` text tower: the shapes of the reference fixtures (CPU smoke runs of ``generate``,
  ``bench latency``, conversion round trips).
* ``tiny-teacher`` / ``tiny-student``: one U-Net level of 32 channels (VC2's and the 0.7B's block
  structure at toy width), with the ``tiny-f2`` VAE and the ``tiny-w32`` text tower: the training
  engine's smoke runs, and the U-Nets of ``hummingbird demo --preset smoke``.
* ``toy-teacher`` / ``toy-student``: the same with a second, 64-channel level, ``tiny-f4`` VAE and
  ``tiny-w32-16tok`` text tower: the toy world (``hummingbird demo``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from hummingbird_jax.diffusion.samplers import LCM_GUIDANCE_SCALE, LCM_STEPS, VC2_DDIM_STEPS, VC2_GUIDANCE_SCALE
from hummingbird_jax.diffusion.sampling import SamplerSpec
from hummingbird_jax.errors import ConfigError
from hummingbird_jax.models.bert import BertConfig
from hummingbird_jax.models.clip import CLIPConfig, CLIPTextConfig, CLIPVisionConfig
from hummingbird_jax.models.internvideo2 import InternVideo2Config
from hummingbird_jax.models.internvideo2_vision import InternVideo2VisionConfig
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.vae import VAEConfig
from hummingbird_jax.models.viclip import ViCLIPConfig
from hummingbird_jax.text.wordpiece import character_vocabulary

GUIDANCE_EMBED_DIM = 256  # T2V-Turbo's time_cond_proj input width (the guidance embedding of students)

# ---- default samplers ------------------------------------------------------------------------------
# The released students: LCM multistep, w through the guidance embedding (the release's steps and w).
STUDENT_SAMPLER = SamplerSpec("lcm", LCM_STEPS, LCM_GUIDANCE_SCALE)
# The released VideoCrafter2 teacher: DDIM with classifier-free guidance and its scale_arr correction.
TEACHER_SAMPLER = SamplerSpec("ddim_cfg", VC2_DDIM_STEPS, VC2_GUIDANCE_SCALE, scale_arr=True)
# A teacher trained here on the plain latent: the same sampling without scale_arr (training samples).
PLAIN_TEACHER_SAMPLER = TEACHER_SAMPLER.replace(scale_arr=False)


# ---- U-Nets ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class UNetEntry:
    """A named U-Net: its config (``build(**overrides)``), the VAE and text tower it works with, and
    how it samples by default."""

    build: Callable[..., UNet3DConfig]
    vae: str
    text: str
    sampler: SamplerSpec
    about: str

    @property
    def is_teacher(self) -> bool:
        """Samples with classifier-free guidance (the undistilled teacher)."""
        return self.sampler.guided


def _tiny_0_7b(**overrides) -> UNet3DConfig:
    return UNet3DConfig.hummingbird_0_7b(
        **{**dict(model_channels=32, channel_mult=(1, 2, 2, 2), num_head_channels=16, context_dim=48), **overrides})


# One U-Net level of 32 channels with attention, GroupNorm in 8 groups of 4 channels (32 groups would erase
# every channel's per-frame mean, and with it a clip's colours: a toy teacher trained that way reached
# 0.056 eps-MSE in 400 steps against 0.036). VC2's block structure at toy width, without its ``init_attn``
# (``addition_attention=False``, a VC2 flag): its 8 heads make it 4× the model's width, 38 % of a training
# step's FLOPs and ~19 % of its time on a CPU. They are trained here, so they predict v (LVDM's training
# configs do): an eps loss gives the noisiest steps, where which frame holds what is decided, almost no
# weight, and a temporal model trained on it samples frames that do not follow each other
# (see ``training.losses.denoising_loss``).
_ONE_LEVEL = dict(model_channels=32, channel_mult=(1,), attention_resolutions=(1,), num_head_channels=16,
                  context_dim=32, temporal_length=4, norm_groups=8, addition_attention=False, parameterization="v")


def _one_level(num_res_blocks: int, use_middle_block: bool, **overrides) -> UNet3DConfig:
    return UNet3DConfig(num_res_blocks=num_res_blocks, use_middle_block=use_middle_block,
                        **{**_ONE_LEVEL, **overrides})


# The toy world's U-Nets: a second level (64 channels at half resolution) over the one above. On 8×8
# latents of a shape crossing the frame, its 4×4 level sees the whole frame, and there a frame-to-frame
# move is under one cell: in 800-step probes on the toy world this teacher moved 80 % of its samples the
# captioned way, the one-level teacher 42 % after 1,200 steps (the axis right, the sign a coin flip).
_TOY_LEVELS = dict(channel_mult=(1, 2), attention_resolutions=(1, 2))


def _two_levels(num_res_blocks: int, use_middle_block: bool, **overrides) -> UNet3DConfig:
    return _one_level(num_res_blocks, use_middle_block, **{**_TOY_LEVELS, **overrides})


UNETS: dict[str, UNetEntry] = {
    "vc2": UNetEntry(UNet3DConfig.vc2_teacher, "sd-kl-f8", "vit-h-14", TEACHER_SAMPLER,
                     "VideoCrafter2, the teacher (1.41B parameters)"),
    "hb-0.9b": UNetEntry(UNet3DConfig.hummingbird_0_9b, "sd-kl-f8", "vit-h-14", STUDENT_SAMPLER,
                         "Hummingbird 0.9B student (middle block kept)"),
    "hb-0.7b": UNetEntry(UNet3DConfig.hummingbird_0_7b, "sd-kl-f8", "vit-h-14", STUDENT_SAMPLER,
                         "Hummingbird 0.7B student (no middle block)"),
    "tiny-0.7b": UNetEntry(_tiny_0_7b, "tiny-f8", "tiny-w48", STUDENT_SAMPLER,
                           "the 0.7B's four levels at 32 channels (reference fixtures, CPU smoke runs)"),
    "tiny-teacher": UNetEntry(functools.partial(_one_level, 2, True), "tiny-f2", "tiny-w32", PLAIN_TEACHER_SAMPLER,
                              "one 32-channel level, 2 res blocks and a middle block (engine smoke runs)"),
    "tiny-student": UNetEntry(functools.partial(_one_level, 1, False), "tiny-f2", "tiny-w32", STUDENT_SAMPLER,
                              "one 32-channel level, 1 res block, no middle block (the 0.7B's shape at toy width)"),
    "toy-teacher": UNetEntry(functools.partial(_two_levels, 2, True), "tiny-f4", "tiny-w32-16tok",
                             PLAIN_TEACHER_SAMPLER,
                             "levels of 32 and 64 channels, VC2's block structure (the toy world)"),
    "toy-student": UNetEntry(functools.partial(_two_levels, 1, False), "tiny-f4", "tiny-w32-16tok", STUDENT_SAMPLER,
                             "toy-teacher pruned to the 0.7B's block structure (the toy world)"),
}

# ---- VAEs --------------------------------------------------------------------------------------------
VAES: dict[str, Callable[..., VAEConfig]] = {
    "sd-kl-f8": VAEConfig.sd_kl_f8,  # the real VAE of VideoCrafter2 / Hummingbird
    "tiny-f8": functools.partial(VAEConfig, ch=32, ch_mult=(1, 2, 2, 2)),  # kl-f8's levels at 32 channels
    "tiny-f4": functools.partial(VAEConfig, ch=32, ch_mult=(1, 2, 2), num_res_blocks=1),  # ×4, the toy world's
    "tiny-f2": functools.partial(VAEConfig, ch=32, ch_mult=(1, 2), num_res_blocks=1),  # ×2, engine smoke runs
}

# ---- text towers -------------------------------------------------------------------------------------
_TINY_W32 = CLIPTextConfig(width=32, heads=2, layers=2)
TEXT_TOWERS: dict[str, Callable[[], CLIPTextConfig]] = {
    "vit-h-14": CLIPTextConfig.vit_h_14,  # OpenCLIP ViT-H-14, VideoCrafter2's conditioner
    "tiny-w48": lambda: CLIPTextConfig(width=48, heads=4, layers=2),  # the reference fixtures' tower
    "tiny-w32": lambda: _TINY_W32,
    # Short prompts (the toy world's captions are at most 13 tokens with SOT and EOT): a 16-token context
    # keeps padding states from outnumbering the words the U-Net has to read.
    "tiny-w32-16tok": lambda: dataclasses.replace(_TINY_W32, context_length=16),
}


# ---- reward models (kind → size → config for a number of frames) ------------------------------------
def _tiny_hpsv2(frames: int) -> CLIPConfig:
    return CLIPConfig(embed_dim=16, vision=CLIPVisionConfig(width=32, layers=2, heads=2, patch_size=8, image_size=32),
                      text=_TINY_W32)


def tiny_internvideo2(frames: int = 4) -> InternVideo2Config:
    """A few-thousand-parameter InternVideo2 of the same structure for CPU smoke runs (character vocabulary)."""
    vision = InternVideo2VisionConfig(img_size=28, patch_size=7, embed_dim=32, depth=2, num_heads=4,
                                      num_frames=frames, attn_pool_num_heads=4, clip_embed_dim=24)
    bert = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                      vocab_size=len(character_vocabulary()), max_position_embeddings=64)
    return InternVideo2Config(vision, bert, embed_dim=16, fusion_layer=2)


def _tiny_viclip(frames: int) -> ViCLIPConfig:
    return ViCLIPConfig(input_resolution=28, patch_size=7, width=32, layers=2, heads=2, output_dim=16, kernel_size=1,
                        num_frames=frames, embed_dim=16, context_length=32, transformer_width=32,
                        transformer_heads=2, transformer_layers=2)


REWARDS: dict[str, dict[str, Callable[[int], object]]] = {
    "hpsv2": {"vit-h-14": lambda frames: CLIPConfig.vit_h_14(), "tiny": _tiny_hpsv2},  # HPSv2.1
    "internvideo2": {"stage2-1b": lambda frames: InternVideo2Config.stage2_1b(num_frames=frames),
                     "tiny": tiny_internvideo2},  # InternVideo2-Stage2
    "viclip": {"vit-l14": lambda frames: ViCLIPConfig.vit_l14(), "tiny": _tiny_viclip},  # ViCLIP
}

# ---- DOVER video-quality models (curation): name → the official dover.yml's model.args --------------
DOVER: dict[str, dict] = {
    "dover": {"backbone": {"technical": {"type": "swin_tiny_grpb"}, "aesthetic": {"type": "conv_tiny"}},
              "backbone_preserve_keys": "technical,aesthetic", "divide_head": True,
              "vqa_head": {"in_channels": 768, "hidden_channels": 64}},
    "dover-mobile": {"backbone": {"technical": {"type": "conv_femto"}, "aesthetic": {"type": "conv_femto"}},
                     "backbone_preserve_keys": "technical,aesthetic", "divide_head": True,
                     "vqa_head": {"in_channels": 384, "hidden_channels": 32}},
}

# ---- evaluation backbones (VBench dimensions) ---------------------------------------------------------
BACKBONES: dict[str, Callable[[], object]] = {
    "dino-vit-b-16": CLIPVisionConfig.dino_vit_b_16,  # subject consistency
    "openai-vit-b-32": CLIPVisionConfig.openai_vit_b_32,  # background consistency
    "openai-vit-l-14": CLIPVisionConfig.openai_vit_l_14,  # aesthetic quality
    "viclip-vit-l14": ViCLIPConfig.vit_l14,  # overall consistency, temporal style
}


# ---- lookups -----------------------------------------------------------------------------------------
def _entry(table: dict, kind: str, name: str):
    if name not in table:
        raise ConfigError(f"unknown {kind} {name!r}; expected one of {', '.join(table)}")
    return table[name]


def unet_entry(name: str) -> UNetEntry:
    """The named U-Net's entry (config factory, VAE, text tower, default sampler)."""
    return _entry(UNETS, "U-Net preset", name)


def unet(name: str, **overrides) -> UNet3DConfig:
    """The named U-Net's config with ``overrides`` (``time_cond_proj_dim``, dtypes, remat …)."""
    return unet_entry(name).build(**overrides)


def vae(name: str, **overrides) -> VAEConfig:
    return _entry(VAES, "VAE", name)(**overrides)


def text_tower(name: str) -> CLIPTextConfig:
    return _entry(TEXT_TOWERS, "text tower", name)()


def reward_config(kind: str, size: str, frames: int):
    """Config of reward ``kind`` at ``size`` for videos of ``frames`` frames (image rewards ignore it)."""
    return _entry(_entry(REWARDS, "reward kind", kind), f"{kind} reward size", size)(frames)


def backbone(name: str):
    return _entry(BACKBONES, "evaluation backbone", name)()
